"""DeepMind Lab environments behind the runtime's `Environment` contract.

`DmLabEnvironment` drives a `deepmind_lab.Lab` the way the released code does
(docs/impala.md §5):

  * the agent picks one of the 9 actions of `ACTION_SET`, each mapped to
    DMLab's int32[7] action vector (look_lr, look_du, strafe_lr, move_bf,
    fire, jump, crouch);
  * each agent step repeats that action `num_action_repeats` (4) frames via
    `lab.step(action, num_steps=4)` and returns the summed raw reward;
  * observations are `RGB_INTERLEAVED` (uint8 [height, width, 3]) and `INSTR`
    (the language instruction, returned as bytes; b'' on non-language levels);
  * when the engine stops running the episode is over: the step returns
    done=True and the first observation of a new episode, reset with a seed
    drawn from `np.random.RandomState(seed)` (one draw per reset);
  * test mode (`is_test=True`) allows the held-out levels and fixes the
    level mixer seed, as the released code's test runs do.

Level names (`full_level_name`): DMLab-30 names (`dmlab30.ALL_LEVELS`) are
prefixed `contributed/dmlab30/`; any other name is passed to DeepMind Lab
unchanged, so core levels such as 'seekavoid_arena_01' (paper Tables 1/2) and
full paths such as 'contributed/dmlab30/rooms_watermaze' work as given.

DeepMind Lab is only imported when an environment is created, inside the
actor process that owns it; importing this module needs numpy only.
"""

import importlib
import operator
from typing import Any, Dict, Optional, Tuple

from absl import logging
import numpy as np

from dmlab30.levels import ALL_LEVELS
from dmlab30.levels import LEVEL_PREFIX
from scalable_agent_tf2.environment import Environment
from scalable_agent_tf2.environment import EpisodeTracker
from scalable_agent_tf2.structures import StepOutput

# The 9 actions of the paper (docs/impala.md §5), as DMLab's 7-int action vectors
# (look_left_right, look_down_up, strafe_left_right, move_back_forward, fire,
# jump, crouch). Index i is action i of the agent's policy.
ACTION_SET = (
    (0, 0, 0, 1, 0, 0, 0),    # Forward
    (0, 0, 0, -1, 0, 0, 0),   # Backward
    (0, 0, -1, 0, 0, 0, 0),   # Strafe Left
    (0, 0, 1, 0, 0, 0, 0),    # Strafe Right
    (-20, 0, 0, 0, 0, 0, 0),  # Look Left
    (20, 0, 0, 0, 0, 0, 0),   # Look Right
    (-20, 0, 0, 1, 0, 0, 0),  # Look Left + Forward
    (20, 0, 0, 1, 0, 0, 0),   # Look Right + Forward
    (0, 0, 0, 0, 1, 0, 0),    # Fire
)

# DMLab's `step` requires an np.intc (int32) array of shape [7].
_ACTION_ARRAYS = tuple(np.array(a, dtype=np.intc) for a in ACTION_SET)

# The observations the agent consumes (docs/impala.md §5).
OBSERVATIONS = ('RGB_INTERLEAVED', 'INSTR')

# Test-mode level mixer seed of the released code (docs/impala.md §5).
TEST_MIXER_SEED = 0x600D5EED

_NOT_INSTALLED_MESSAGE = (
    'DeepMind Lab (the `deepmind_lab` Python module) is not installed. No '
    'package registry ships it: it must be built from source with Bazel. '
    'Clone https://github.com/deepmind/lab, run '
    '`bazel build -c opt //python/pip_package:build_pip_package`, then '
    '`./bazel-bin/python/pip_package/build_pip_package /tmp/dmlab_pkg` and '
    '`pip install /tmp/dmlab_pkg/deepmind_lab-*.whl` into this environment. '
    'See the README section "DeepMind Lab".')


def full_level_name(level_name: str) -> str:
  """The level path DeepMind Lab loads for `level_name`.

  DMLab-30 names (train or test, see `dmlab30.ALL_LEVELS`) get the
  `contributed/dmlab30/` prefix; every other name (core levels such as
  'seekavoid_arena_01', or names that already contain '/') is returned
  unchanged.

  Raises:
    ValueError: `level_name` is not a non-empty str.
  """
  if not isinstance(level_name, str) or not level_name:
    raise ValueError('level_name must be a non-empty str, got %r.'
                     % (level_name,))
  if level_name in ALL_LEVELS:
    return LEVEL_PREFIX + level_name
  return level_name


def _is_test_double(module: Any) -> bool:
  return bool(getattr(module, '__test_double__', False))


def import_deepmind_lab():
  """Imports and returns the `deepmind_lab` module.

  Raises:
    ImportError: DeepMind Lab is not installed; the message says how to build
      it.
  """
  try:
    return importlib.import_module('deepmind_lab')
  except ImportError as e:
    raise ImportError(_NOT_INSTALLED_MESSAGE) from e


def deepmind_lab_available() -> bool:
  """True if the real DeepMind Lab module is importable (not a test double)."""
  try:
    module = importlib.import_module('deepmind_lab')
  except ImportError:
    return False
  return not _is_test_double(module)


def _check_positive_int(name: str, value: Any) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ValueError('%s must be an int, got %r.' % (name, value))
  if value <= 0:
    raise ValueError('%s must be positive, got %d.' % (name, value))
  return int(value)


def lab_config(width: int, height: int, is_test: bool,
               dataset_path: str = '') -> Dict[str, str]:
  """The `config` dict passed to `deepmind_lab.Lab` (all values str).

  docs/impala.md §5: width, height, datasetPath (only when given), logLevel WARN;
  test mode adds allowHoldOutLevels='true' (the held-out `*_test` levels may
  be loaded) and mixerSeed=0x600D5EED (test episodes use seeds disjoint from
  training). DeepMind Lab rejects non-str values, hence the str() calls.
  """
  config = {
      'width': str(width),
      'height': str(height),
      'logLevel': 'WARN',
  }
  if dataset_path:
    config['datasetPath'] = str(dataset_path)
  if is_test:
    config['allowHoldOutLevels'] = 'true'
    config['mixerSeed'] = str(TEST_MIXER_SEED)
  return config


class DmLabEnvironment(Environment):
  """One DeepMind Lab level with the paper's action set and action repeat.

  Attributes:
    level_name: str, the name as given (e.g. 'rooms_watermaze' or a train
      name); used for summaries and scoring.
    num_actions: int, 9 (`len(ACTION_SET)`).
    frame_shape: (height, width, 3).
    config: dict of str, the config passed to `deepmind_lab.Lab`.
  """

  def __init__(self, level_name: str, seed: int, is_test: bool = False,
               width: int = 96, height: int = 72, num_action_repeats: int = 4,
               dataset_path: str = '', level_cache: Any = None,
               lab_module: Any = None):
    """Creates the engine (imports `deepmind_lab` when `lab_module` is None).

    Args:
      level_name: DMLab-30 name, core level name or level path (see
        `full_level_name`).
      seed: int in [0, 2**32), seeds the RandomState that draws one engine
        seed per episode reset (the released code uses actor index + 1).
      is_test: test mode (held-out levels, fixed mixer seed).
      width, height: frame size in pixels (paper: 96x72).
      num_action_repeats: frames per agent step (paper: 4).
      dataset_path: DMLab `datasetPath` for levels that need external data
        (e.g. psychlab_visual_search's Brady images); omitted when empty.
      level_cache: passed to `deepmind_lab.Lab(level_cache=...)`.
      lab_module: a module with DeepMind Lab's `Lab` API; None imports
        `deepmind_lab`.

    Raises:
      ValueError: bad arguments.
      ImportError: `lab_module` is None and DeepMind Lab is not installed.
    """
    self._lab = None  # So close() works if __init__ fails below.
    self._full_level_name = full_level_name(level_name)
    width = _check_positive_int('width', width)
    height = _check_positive_int('height', height)
    self._num_action_repeats = _check_positive_int(
        'num_action_repeats', num_action_repeats)
    if (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or
        not 0 <= seed < 2**32):
      raise ValueError('seed must be an int in [0, 2**32), got %r.' % (seed,))
    if not isinstance(dataset_path, str):
      raise ValueError('dataset_path must be a str, got %r.' % (dataset_path,))

    if lab_module is None:
      lab_module = import_deepmind_lab()
    if _is_test_double(lab_module):
      logging.warning(
          '*** %s is a TEST DOUBLE of DeepMind Lab, NOT DeepMind Lab. Results '
          'of this run (level %s) are NOT DeepMind Lab results. ***',
          getattr(lab_module, '__name__', lab_module), self._full_level_name)

    self.level_name = level_name
    self.num_actions = len(ACTION_SET)
    self.frame_shape = (height, width, 3)
    self.config = lab_config(width, height, is_test, dataset_path)
    self._random_state = np.random.RandomState(int(seed))
    self._tracker = EpisodeTracker()
    self._started = False
    self._lab = lab_module.Lab(
        level=self._full_level_name,
        observations=list(OBSERVATIONS),
        config=dict(self.config),
        level_cache=level_cache)

  def _reset(self) -> None:
    # One engine seed per episode from the actor's RandomState, as the
    # released code does, so runs are reproducible given `seed`.
    self._lab.reset(seed=self._random_state.randint(0, 2**31 - 1))

  def _observation(self) -> Tuple[np.ndarray, bytes]:
    """(frame uint8 [height, width, 3], instruction bytes) of the engine."""
    observations = self._lab.observations()
    frame = np.asarray(observations['RGB_INTERLEAVED'])
    if frame.shape != self.frame_shape or frame.dtype != np.uint8:
      raise RuntimeError(
          'DeepMind Lab returned a %s %s frame, expected uint8 %s.'
          % (frame.dtype, frame.shape, self.frame_shape))
    self._rgb = frame  # Test-mode videos (rgb_frame).
    instruction = observations['INSTR']
    if isinstance(instruction, np.ndarray):
      instruction = instruction.item()
    if isinstance(instruction, str):
      instruction = instruction.encode('utf-8')
    return frame, bytes(instruction)

  def rgb_frame(self):
    """The last RGB_INTERLEAVED observation, uint8 [height, width, 3]."""
    return getattr(self, '_rgb', None)

  def initial(self) -> StepOutput:
    """Starts a new episode; see `Environment.initial`."""
    if self._lab is None:
      raise RuntimeError('initial() on a closed DmLabEnvironment.')
    self._reset()
    self._started = True
    info = self._tracker.reset()
    return StepOutput(np.float32(0.0), info, True, self._observation())

  def step(self, action: int) -> StepOutput:
    """Repeats `ACTION_SET[action]` for `num_action_repeats` frames.

    Args:
      action: int in [0, 9).

    Returns:
      StepOutput: reward float32 (summed over the repeats, unclipped), info
      from the EpisodeTracker (episode_done == done on DMLab), done, and the
      observation (the new episode's first when done).

    Raises:
      ValueError: `action` is not an int in [0, num_actions).
      RuntimeError: `initial()` was not called, or the environment is closed.
    """
    if self._lab is None:
      raise RuntimeError('step() on a closed DmLabEnvironment.')
    if not self._started:
      raise RuntimeError('Call initial() before step().')
    try:
      if isinstance(action, (bool, np.bool_)):
        raise TypeError
      index = operator.index(action)
    except TypeError:
      raise ValueError('action must be an int, got %r.' % (action,)) from None
    if not 0 <= index < len(_ACTION_ARRAYS):
      raise ValueError('action must be in [0, %d), got %d.'
                       % (len(_ACTION_ARRAYS), index))
    reward = self._lab.step(_ACTION_ARRAYS[index],
                            num_steps=self._num_action_repeats)
    done = not self._lab.is_running()
    if done:
      # The environment resets itself (the released code's behaviour), so
      # the returned observation already starts the next episode.
      self._reset()
    info = self._tracker.update(reward, done)
    return StepOutput(np.float32(reward), info, done, self._observation())

  def close(self) -> None:
    """Closes the engine; safe to call twice."""
    if self._lab is not None:
      lab, self._lab = self._lab, None
      lab.close()


def make_environment(level_name: str, seed: int, is_test: bool = False,
                     width: int = 96, height: int = 72,
                     num_action_repeats: int = 4, dataset_path: str = '',
                     level_cache: Any = None,
                     lab_module: Optional[Any] = None) -> DmLabEnvironment:
  """Creates a `DmLabEnvironment`; call it inside the actor process.

  See `DmLabEnvironment.__init__` for the arguments. With `lab_module=None`
  the real `deepmind_lab` is imported here; if it is missing an ImportError
  explains how to build it.
  """
  return DmLabEnvironment(
      level_name, seed, is_test=is_test, width=width, height=height,
      num_action_repeats=num_action_repeats, dataset_path=dataset_path,
      level_cache=level_cache, lab_module=lab_module)
