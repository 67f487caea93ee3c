"""Atari-57 environments on gymnasium + ale-py with the IMPALA paper's protocol.

Protocol (IMPALA paper Appendix G, docs/impala.md §6 and §4 Atari column), with the
source of each option:
  - 84x84 grayscale frames, max over the last 2 emulator frames of each action
    repeat, action repeat 4, stack of the last 4 processed frames
    (Mnih et al. 2015, Nature DQN, "Methods: preprocessing"; Appendix G).
  - 1-30 random no-op frames at the start of every real game, uniform in
    1..30 (Mnih et al. 2015, evaluation "no-op" starts; Appendix G: "up to 30
    random no-op starts" for training and for evaluation).
  - A life loss ends the LEARNING episode (`done=True`, discounting stops) but
    the game continues without a reset; the reported episode return is the full
    game's (Mnih et al. 2015 "Training details"; Appendix G "episode ends on
    life loss during training"). See structures.StepOutputInfo.
  - 108,000 emulator frames (30 minutes at 60 Hz) cap per game, counted from
    the game's start including the no-op frames (the DeepMind convention,
    Appendix G / docs/impala.md §6).
  - No sticky actions, repeat_action_probability = 0 (Appendix G; sticky
    actions are Machado et al. 2018's later proposal, deliberately not used).
  - Minimal action set per game for the single-game experts, full 18 actions
    for the multi-task agent (Appendix G), in ALE's order for every game
    (ale-py's own full set is 9 actions for Skiing; see __init__).
  - Rewards are returned RAW; the learner clips them to [-1, 1] in the loss
    (Appendix G, docs/impala.md §3).

What is reused and what is not:
  - ale_py.env.AtariEnv with frameskip=1 is the emulator.
  - gymnasium.wrappers.AtariPreprocessing does exactly the per-step part: the
    no-op start (uniform integers(1, noop_max + 1) no-op frames), the action
    repeat, the max over the last two frames, ALE's grayscale and cv2.INTER_AREA
    resize to 84x84. We use it with terminal_on_life_loss=False: its life-loss
    option makes the episode terminal so that the next reset() restarts the
    whole game (with new no-ops), and it cuts the action repeat short at the
    life loss; the paper's protocol keeps playing the same game. Life loss is
    therefore detected here, after the full action repeat, from ALE's lives().
  - gymnasium.wrappers.FrameStackObservation does the stacking (padding with
    copies of a game's first frame, as its default); only the layout differs:
    it stacks on axis 0, the agent wants channels last [84, 84, 4], oldest
    first and newest last. The stack is NOT reset on a life loss (the frames
    are consecutive frames of one game).
"""

import operator
from typing import Optional

import ale_py
from ale_py import roms
from ale_py.env import AtariEnv
from gymnasium import spaces
from gymnasium.wrappers import AtariPreprocessing
from gymnasium.wrappers import FrameStackObservation
import numpy as np

from atari57.games import FRAME_SHAPE
from atari57.games import FRAME_SIZE
from atari57.games import FRAME_STACK
from atari57.games import canonical_game_name
from atari57.games import num_actions  # Re-exported: the runtime's entry point.
from atari57.games import rom_id
from scalable_agent_tf2.environment import Environment
from scalable_agent_tf2.environment import EpisodeTracker
from scalable_agent_tf2.structures import StepOutput

NUM_ACTION_REPEATS = 4  # Table G.1.
NOOP_MAX = 30  # Nature DQN / Appendix G: 1..30 no-op frames.
MAX_EPISODE_FRAMES = 108_000  # docs/impala.md §6: DeepMind's 30-minute cap.

# The C++ ALE prints a banner at the first ALEInterface; keep actor logs clean.
ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)


def _check_int(name: str, value, minimum: int) -> int:
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
      or value < minimum):
    raise ValueError(f'{name} must be an int >= {minimum}, got {value!r}.')
  return int(value)


# The full action set: ALE's 18 joystick actions in ALE's order (NOOP, FIRE,
# UP, ..., DOWNLEFTFIRE), identical for every game so that one multi-task
# policy head means the same action everywhere (Appendix G).
_FULL_ACTION_SET = tuple(ale_py.Action.__members__.values())


def _rom_path(game: str) -> str:
  """Path of the verified ROM ale-py ships for `game` (canonical).

  The C++ ALE exits the whole process (exit(1)) on a ROM file it cannot load,
  so the ROM is checked here first: roms.get_rom_path verifies the file's MD5
  (and honours ALE_ROMS_DIR).

  Raises:
    RuntimeError: naming the game, if the ROM is unsupported, missing or
      corrupt.
  """
  rom = rom_id(game)
  try:
    path = roms.get_rom_path(rom)
  except (OSError, ValueError) as e:  # Missing file, bad hash, bad ROM dir.
    raise RuntimeError(
        f'The ROM of Atari game {game!r} (ale-py ROM id {rom!r}) cannot be '
        f'loaded: {e}') from e
  if path is None:
    raise RuntimeError(
        f'The ROM of Atari game {game!r} (ale-py ROM id {rom!r}) is not '
        f'supported by ale-py {ale_py.__version__}.')
  return str(path)


def _emulator(game: str, full_action_space: bool,
              max_episode_frames: int) -> AtariEnv:
  """ale-py's emulator of canonical `game`, one frame per step.

  Raises:
    RuntimeError: the game's ROM cannot be loaded.
  """
  _rom_path(game)  # A clear RuntimeError instead of exit(1).
  try:
    atari_env = AtariEnv(
        game=rom_id(game),
        obs_type='grayscale',  # Cheapest per-frame copy AtariEnv makes.
        frameskip=1,  # The repeat (with max-pooling) is AtariPreprocessing's.
        repeat_action_probability=0.0,  # No sticky actions (Appendix G).
        full_action_space=full_action_space,
        max_num_frames_per_episode=max_episode_frames)
  except Exception as e:  # ale-py raises several types on a bad ROM.
    raise RuntimeError(
        f'The ROM of Atari game {game!r} could not be loaded: {e}') from e
  if full_action_space:
    # ale-py's "full" set is the ROM's legal set, which for Skiing is only 9
    # actions (its settings declare the FIRE family illegal). The multi-task
    # agent needs the same 18 actions in every game, as DeepMind's xitari
    # gave it; ALE itself plays an illegal action as NOOP (xitari did the
    # same), so sending all 18 is faithful. AtariEnv keeps its index ->
    # ALE action map in `_action_set`.
    # pylint: disable-next=protected-access
    atari_env._action_set = list(_FULL_ACTION_SET)
    atari_env.action_space = spaces.Discrete(len(_FULL_ACTION_SET))
  return atari_env


def _checked_action_meanings(game: str, atari_env: AtariEnv,
                             full_action_space: bool) -> tuple:
  """The emulator's action names, checked against `num_actions(game)`.

  Raises:
    RuntimeError: ale-py's action set differs from atari57's table.
  """
  meanings = tuple(atari_env.get_action_meanings())
  expected = num_actions(game, full_action_space)
  if len(meanings) != expected or atari_env.action_space.n != expected:
    # The agent's policy head is sized by num_actions(); a different ale-py
    # could change a minimal action set, which must not pass silently.
    raise RuntimeError(
        f'{game}: ale-py {ale_py.__version__} gives {len(meanings)} actions '
        f'but atari57 expects {expected} (MINIMAL_ACTION_SET_SIZES / 18 for '
        'the full set).')
  return meanings


def _preprocessed(atari_env: AtariEnv, noop_max: int,
                  num_action_repeats: int) -> FrameStackObservation:
  """The paper's per-step protocol around the emulator (module docstring)."""
  return FrameStackObservation(
      AtariPreprocessing(
          atari_env,
          noop_max=noop_max,
          frame_skip=num_action_repeats,
          screen_size=FRAME_SIZE,
          terminal_on_life_loss=False,  # See the module docstring.
          grayscale_obs=True,
          grayscale_newaxis=False,
          scale_obs=False),
      stack_size=FRAME_STACK)


class AtariEnvironment(Environment):
  """One Atari game under the IMPALA protocol (module docstring).

  Observations: (frame uint8 [84, 84, 4] with the newest frame last, b'').
  Rewards: raw float32 sum over the action repeat.
  `done`: a new learning episode starts with this observation (life loss or a
    new game). `info.episode_done`: the game ended (game over or frame cap);
    `info.episode_return`/`episode_step` are then the finished game's.

  Attributes:
    level_name: canonical game name (atari57.GAMES spelling).
    num_actions: size of the action set (minimal, or 18 if full).
    action_meanings: tuple of ALE action names, e.g. ('NOOP', 'FIRE', ...).
    frame_shape: (84, 84, 4).
  """

  def __init__(self,
               level_name: str,
               seed: int,
               full_action_space: bool = False,
               num_action_repeats: int = NUM_ACTION_REPEATS,
               max_episode_frames: int = MAX_EPISODE_FRAMES,
               noop_max: int = NOOP_MAX):
    """Builds the emulator (the game starts at `initial()`).

    Test mode uses the same protocol (the paper evaluates with the same 1-30
    no-op starts, Appendix G, and keeping life-loss `done` there shows the
    agent the inputs it trained on), so there is no test-mode option.

    Args:
      level_name: game name, any spelling `atari57.canonical_game_name`
        accepts.
      seed: int >= 0; seeds the no-op counts and ALE. Same seed and same
        actions give the same trajectory.
      full_action_space: use all 18 actions instead of the minimal set.
      num_action_repeats: emulator frames per agent step (4 in the paper).
      max_episode_frames: emulator frames per game, including the no-op
        frames, after which the game is cut (108,000 in the paper).
      noop_max: no-op frames at each game start are uniform in 1..noop_max
        (30 in the paper; 0 disables them).

    Raises:
      ValueError: unknown game or bad argument.
      RuntimeError: the game's ROM cannot be loaded.
    """
    self.level_name = canonical_game_name(level_name)
    self._seed = _check_int('seed', seed, 0)
    self._num_action_repeats = _check_int(
        'num_action_repeats', num_action_repeats, 1)
    noop_max = _check_int('noop_max', noop_max, 0)
    max_episode_frames = _check_int(
        'max_episode_frames', max_episode_frames, 1)
    if max_episode_frames <= noop_max:
      # Otherwise the cap could cut a game during its no-op start.
      raise ValueError(
          f'max_episode_frames ({max_episode_frames}) must exceed noop_max '
          f'({noop_max}).')
    self.max_episode_frames = max_episode_frames
    atari_env = _emulator(self.level_name, bool(full_action_space),
                          max_episode_frames)
    self._ale = atari_env.ale
    self._env = _preprocessed(atari_env, noop_max, self._num_action_repeats)
    # Names of the actions, index -> ALE action name (read from the map the
    # emulator wrapper really uses).
    self.action_meanings = _checked_action_meanings(
        self.level_name, atari_env, bool(full_action_space))
    self.num_actions = len(self.action_meanings)
    self.frame_shape = FRAME_SHAPE
    self._tracker = EpisodeTracker()
    self._seeded = False
    self._started = False
    self._closed = False
    self._lives = 0
    self._noop_frames = 0

  # Read-only views of the emulator, for tests and diagnostics.
  @property
  def lives(self) -> int:
    """Lives left in the current game (ALE's count; 0 for lifeless games)."""
    return int(self._ale.lives())

  @property
  def episode_frame_number(self) -> int:
    """Emulator frames since the current game started (no-ops included)."""
    return int(self._ale.getEpisodeFrameNumber())

  @property
  def noop_frames(self) -> int:
    """No-op frames applied at the start of the current game."""
    return self._noop_frames

  def _frame(self, stacked: np.ndarray) -> np.ndarray:
    # FrameStackObservation: [4, 84, 84], index 0 oldest -> [84, 84, 4].
    return np.ascontiguousarray(np.moveaxis(stacked, 0, -1))

  def _new_game(self) -> np.ndarray:
    """Starts a real game (with its no-op start); returns the first frame."""
    # Seed once; later games continue the seeded generators, so a run is
    # reproducible yet every game gets a fresh no-op count.
    seed = None if self._seeded else self._seed
    self._seeded = True
    stacked, _ = self._env.reset(seed=seed)
    # ALE's frame counter restarts at 0 with each game, so right after the
    # reset it counts exactly the no-op frames AtariPreprocessing applied.
    self._noop_frames = self.episode_frame_number
    self._lives = self.lives
    return self._frame(stacked)

  def _check_open(self):
    if self._closed:
      raise RuntimeError(f'AtariEnvironment({self.level_name}) is closed.')

  def initial(self) -> StepOutput:
    """Starts a new game; returns StepOutput(0.0, zeros info, True, obs)."""
    self._check_open()
    frame = self._new_game()
    self._started = True
    return StepOutput(
        reward=np.float32(0.0),
        info=self._tracker.reset(),
        done=True,
        observation=(frame, b''))

  def step(self, action: int) -> StepOutput:
    """Plays `action` for num_action_repeats frames; see the class docstring.

    Args:
      action: int in [0, num_actions).

    Raises:
      ValueError: action out of range or not an integer.
      RuntimeError: called before `initial()` or after `close()`.
    """
    self._check_open()
    if not self._started:
      raise RuntimeError('AtariEnvironment.step() called before initial().')
    try:
      if isinstance(action, (bool, np.bool_)):
        raise TypeError
      # Python/numpy ints and 0-d integer arrays (what an agent hands over).
      action = operator.index(action)
    except TypeError:
      raise ValueError(f'action must be an integer, got {action!r}.') from None
    if not 0 <= action < self.num_actions:
      raise ValueError(
          f'action {action} out of range for {self.level_name} with '
          f'{self.num_actions} actions.')

    stacked, reward, terminated, truncated, _ = self._env.step(action)
    reward = np.float32(reward)
    # terminated: the game is over; truncated: the frame cap was reached.
    episode_done = bool(terminated or truncated)
    lives = self.lives
    life_lost = lives < self._lives
    self._lives = lives
    info = self._tracker.update(reward, episode_done)
    if episode_done:
      # The environment resets itself (Environment contract): the observation
      # is the first one of the next game.
      frame = self._new_game()
    else:
      frame = self._frame(stacked)
    return StepOutput(
        reward=reward,
        info=info,
        done=episode_done or life_lost,
        observation=(frame, b''))

  def rgb_frame(self) -> np.ndarray:
    """The emulator's screen, uint8 [210, 160, 3] (after a game's last
    step: the next game's first screen)."""
    self._check_open()
    return self._ale.getScreenRGB()

  def close(self) -> None:
    if not self._closed:
      self._closed = True
      self._env.close()


def make_environment(level_name: str,
                     seed: int,
                     full_action_space: bool = False,
                     num_action_repeats: int = NUM_ACTION_REPEATS,
                     max_episode_frames: Optional[int] = None,
                     ) -> AtariEnvironment:
  """Builds an `AtariEnvironment` with the paper's protocol (module docstring).

  Raises:
    ValueError: unknown game (the message lists the 57 names) or bad argument.
    RuntimeError: the game's ROM cannot be loaded.
  """
  return AtariEnvironment(
      level_name, seed, full_action_space=full_action_space,
      num_action_repeats=num_action_repeats,
      max_episode_frames=(MAX_EPISODE_FRAMES if max_episode_frames is None
                          else max_episode_frames))
