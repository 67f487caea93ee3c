"""A TEST DOUBLE of DeepMind Lab's Python API. This is NOT DeepMind Lab.

DeepMind Lab (`deepmind_lab`) is built from source with Bazel and cannot be
installed on CI machines. This module stands in for it so that the DMLab
adapter (`dmlab30.environment`) and the end-to-end runtime can be tested. It
implements the part of the `deepmind_lab.Lab` API the project uses, with the
real module's argument checks (str-only config, known observation names,
int32[7] actions within the action spec, no observations when the episode is
not running), but its "levels" are trivial synthetic tasks:

  * an episode lasts a level-dependent 160-360 frames (short, so end-to-end
    tests finish quickly);
  * each frame an object is "in reach" with probability 0.1; its cue is the
    red channel of the frame (255 when in reach); moving forward or firing
    while in reach earns a level-dependent reward (1, 2, 5 or 10);
  * language levels (names containing 'language') return a non-empty
    instruction that changes every episode; other levels return ''.

Everything is deterministic given the reset seed. Numbers produced with this
module are NOT DeepMind Lab results.

Use: put `tests/fakes` on `sys.path` (or PYTHONPATH for subprocesses) so that
`import deepmind_lab` finds this package, or load it as a module and pass it
as `lab_module=` to `dmlab30.make_environment`. Every created `Lab` is
appended to `CREATED_LABS` and records its arguments, reset seeds and actions
so tests can assert on what the adapter sent.
"""

import zlib

import numpy as np

# Marks this module as a stand-in; dmlab30 logs a loud warning when it sees it.
__test_double__ = True

# Every Lab created in this process, in creation order (see `Lab` attributes).
CREATED_LABS = []

# DeepMind Lab's action spec: (name, min, max) of the int32[7] action vector.
_ACTION_SPEC = (
    ('LOOK_LEFT_RIGHT_PIXELS_PER_FRAME', -512, 512),
    ('LOOK_DOWN_UP_PIXELS_PER_FRAME', -512, 512),
    ('STRAFE_LEFT_RIGHT', -1, 1),
    ('MOVE_BACK_FORWARD', -1, 1),
    ('FIRE', 0, 1),
    ('JUMP', 0, 1),
    ('CROUCH', 0, 1),
)
_ACTION_MIN = np.array([s[1] for s in _ACTION_SPEC], dtype=np.intc)
_ACTION_MAX = np.array([s[2] for s in _ACTION_SPEC], dtype=np.intc)
_MOVE_BACK_FORWARD = 3
_FIRE = 4

_OBSERVATION_NAMES = ('RGB_INTERLEAVED', 'RGB', 'INSTR')

# The levels this double knows: the 30 DMLab-30 scripts (32 names with the
# train/test variants) and a few core levels. Kept independent of the
# dmlab30 package on purpose, so the adapter's prefixing is really tested.
_DMLAB30_NAMES = (
    'rooms_collect_good_objects_train', 'rooms_collect_good_objects_test',
    'rooms_exploit_deferred_effects_train',
    'rooms_exploit_deferred_effects_test',
    'rooms_select_nonmatching_object', 'rooms_watermaze',
    'rooms_keys_doors_puzzle', 'language_select_described_object',
    'language_select_located_object', 'language_execute_random_task',
    'language_answer_quantitative_question', 'lasertag_one_opponent_small',
    'lasertag_three_opponents_small', 'lasertag_one_opponent_large',
    'lasertag_three_opponents_large', 'natlab_fixed_large_map',
    'natlab_varying_map_regrowth', 'natlab_varying_map_randomized',
    'skymaze_irreversible_path_hard', 'skymaze_irreversible_path_varied',
    'psychlab_arbitrary_visuomotor_mapping', 'psychlab_continuous_recognition',
    'psychlab_sequential_comparison', 'psychlab_visual_search',
    'explore_object_locations_small', 'explore_object_locations_large',
    'explore_obstructed_goals_small', 'explore_obstructed_goals_large',
    'explore_goal_locations_small', 'explore_goal_locations_large',
    'explore_object_rewards_few', 'explore_object_rewards_many',
)
_CORE_LEVELS = ('seekavoid_arena_01', 'nav_maze_static_01',
                'nav_maze_random_goal_01', 'lt_chasm')
KNOWN_LEVELS = frozenset(
    ['contributed/dmlab30/' + name for name in _DMLAB30_NAMES] +
    list(_CORE_LEVELS))

_OBJECT_PROBABILITY = 0.1
_WORDS = (('Pick', 'Find', 'Collect', 'Get'),
          ('the',),
          ('red', 'green', 'blue', 'yellow', 'pink', 'black'),
          ('hat', 'ball', 'cake', 'car', 'key', 'balloon'))


def clear_records():
  """Forgets the Labs recorded in `CREATED_LABS`."""
  del CREATED_LABS[:]


def _level_params(level):
  """(episode_frames, reward_scale) of a level, stable across processes."""
  code = zlib.crc32(level.encode('utf-8'))
  episode_frames = 160 + 40 * (code % 6)
  reward_scale = (1.0, 2.0, 5.0, 10.0)[(code >> 8) % 4]
  return episode_frames, reward_scale


class Lab(object):
  """Stand-in for `deepmind_lab.Lab` (NOT DeepMind Lab).

  Recorded attributes: level, observation_names, config (copy of the dict
  received), renderer, level_cache, reset_seeds (list of int), actions (list
  of (action tuple of 7 ints, num_steps)).
  """

  def __init__(self, level, observations, config=None, renderer='software',
               level_cache=None):
    if not isinstance(level, str):
      raise TypeError('level must be a str, got %r' % (level,))
    config = {} if config is None else config
    if not isinstance(config, dict):
      raise TypeError('config must be a dict of str to str')
    for key, value in config.items():
      if not isinstance(key, str) or not isinstance(value, str):
        raise TypeError('Config key and value must be strings: %r: %r'
                        % (key, value))
    if isinstance(observations, str):
      raise TypeError('observations must be a list of names')
    observations = list(observations)
    for name in observations:
      if name not in _OBSERVATION_NAMES:
        raise ValueError('Unknown observation: %r' % (name,))
    if renderer not in ('software', 'hardware'):
      raise ValueError('renderer must be "software" or "hardware"')
    if level not in KNOWN_LEVELS:
      raise RuntimeError(
          "Failed to open environment: level script '%s' not found (test "
          'double of DeepMind Lab)' % level)
    if level.endswith('_test') and config.get('allowHoldOutLevels') != 'true':
      raise RuntimeError(
          "Level '%s' is a hold-out level; set allowHoldOutLevels='true'"
          % level)
    try:
      self._width = int(config.get('width', '320'))
      self._height = int(config.get('height', '240'))
      self._fps = int(config.get('fps', '60'))
    except ValueError as e:
      raise ValueError('Bad integer in config: %s' % e) from e
    if self._width <= 0 or self._height <= 0:
      raise ValueError('width and height must be positive')

    self.level = level
    self.observation_names = observations
    self.config = dict(config)
    self.renderer = renderer
    self.level_cache = level_cache
    self.reset_seeds = []
    self.actions = []
    CREATED_LABS.append(self)

    self._episode_frames, self._reward_scale = _level_params(level)
    self._is_language = 'language' in level
    self._default_seeds = np.random.RandomState(0)
    self._closed = False
    self._running = False
    self._frames = 0
    self._seed = 0
    self._rng = None
    self._object_near = False
    self._instruction = ''

  def _check_open(self):
    if self._closed:
      raise RuntimeError('Environment is closed')

  def reset(self, episode=-1, seed=None):
    """Starts a new episode; deterministic given `seed`."""
    del episode  # Unused: the double has no episode files.
    self._check_open()
    if seed is None:
      seed = int(self._default_seeds.randint(0, 2**31 - 1))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
      raise TypeError('seed must be an int, got %r' % (seed,))
    if seed < 0:
      raise ValueError('seed must be non-negative, got %d' % seed)
    seed = int(seed)
    self.reset_seeds.append(seed)
    self._seed = seed
    self._rng = np.random.RandomState(seed % 2**32)
    if self._is_language:
      instruction = self._draw_instruction()
      if instruction == self._instruction:
        # Guarantee a different instruction in consecutive episodes.
        instruction = self._draw_instruction()
        while instruction == self._instruction:
          instruction = self._draw_instruction()
      self._instruction = instruction
    self._frames = 0
    self._running = True
    self._object_near = self._rng.rand() < _OBJECT_PROBABILITY
    return True

  def _draw_instruction(self):
    return ' '.join(words[self._rng.randint(len(words))] for words in _WORDS)

  def step(self, action, num_steps=1):
    """Applies `action` for up to `num_steps` frames; returns summed reward."""
    self._check_open()
    if not isinstance(action, np.ndarray) or action.dtype != np.intc:
      raise TypeError('action must be a numpy array of dtype np.intc (int32)')
    if action.shape != (len(_ACTION_SPEC),):
      raise ValueError('action must have shape (%d,), got %s'
                       % (len(_ACTION_SPEC), action.shape))
    if np.any(action < _ACTION_MIN) or np.any(action > _ACTION_MAX):
      raise ValueError('action %s outside the action spec' % (action,))
    if isinstance(num_steps, bool) or not isinstance(
        num_steps, (int, np.integer)) or num_steps < 1:
      raise ValueError('num_steps must be a positive int, got %r'
                       % (num_steps,))
    if not self._running:
      raise RuntimeError('Environment in wrong status to advance')
    self.actions.append((tuple(int(a) for a in action), int(num_steps)))
    reaching = (action[_MOVE_BACK_FORWARD] > 0) or (action[_FIRE] > 0)
    reward = 0.0
    for _ in range(int(num_steps)):
      if self._object_near and reaching:
        reward += self._reward_scale
      self._frames += 1
      if self._frames >= self._episode_frames:
        self._running = False
        break
      self._object_near = self._rng.rand() < _OBJECT_PROBABILITY
    return float(reward)

  def is_running(self):
    self._check_open()
    return self._running

  def observations(self):
    """dict name -> value for the names requested at construction."""
    self._check_open()
    if not self._running:
      raise RuntimeError('Environment in wrong status to call observations()')
    frame = np.empty((self._height, self._width, 3), dtype=np.uint8)
    frame[:, :, 0] = 255 if self._object_near else 0
    frame[:, :, 1] = self._frames % 256
    frame[:, :, 2] = self._seed % 256
    values = {
        'RGB_INTERLEAVED': frame,
        'RGB': np.ascontiguousarray(frame.transpose(2, 0, 1)),
        'INSTR': self._instruction,
    }
    return {name: values[name] for name in self.observation_names}

  def observation_spec(self):
    return [
        {'name': 'RGB_INTERLEAVED', 'dtype': np.uint8,
         'shape': (self._height, self._width, 3)},
        {'name': 'RGB', 'dtype': np.uint8,
         'shape': (3, self._height, self._width)},
        {'name': 'INSTR', 'dtype': str, 'shape': ()},
    ]

  def action_spec(self):
    return [{'name': name, 'min': low, 'max': high}
            for name, low, high in _ACTION_SPEC]

  def num_steps(self):
    """Frames since the last reset."""
    return self._frames

  def fps(self):
    return self._fps

  def close(self):
    self._closed = True
    self._running = False
    return True
