"""Tests for atari57.environment on real ROMs (ale-py ships all 57).

Protocol checks compare against raw ALE frames grabbed here, independently of
the gymnasium wrappers the environment is built on.
"""

import math

import ale_py
from ale_py import roms
import cv2
import numpy as np
import pytest

import atari57
from atari57 import environment as atari_environment
from scalable_agent_tf2.environment import Environment

pytestmark = pytest.mark.timeout(300)

_FULL_ACTION_MEANINGS = (
    'NOOP', 'FIRE', 'UP', 'RIGHT', 'LEFT', 'DOWN', 'UPRIGHT', 'UPLEFT',
    'DOWNRIGHT', 'DOWNLEFT', 'UPFIRE', 'RIGHTFIRE', 'LEFTFIRE', 'DOWNFIRE',
    'UPRIGHTFIRE', 'UPLEFTFIRE', 'DOWNRIGHTFIRE', 'DOWNLEFTFIRE')


def _random_actions(env, seed):
  rng = np.random.default_rng(seed)
  while True:
    yield int(rng.integers(env.num_actions))


def _resize(screen):
  return cv2.resize(screen, (84, 84), interpolation=cv2.INTER_AREA)


def _raw_ale(rom):
  ale = ale_py.ALEInterface()
  ale.setFloat('repeat_action_probability', 0.0)
  ale.loadROM(roms.get_rom_path(rom))
  ale.reset_game()
  return ale


@pytest.mark.parametrize('full_action_space', [False, True],
                         ids=['minimal', 'full'])
@pytest.mark.parametrize('game', atari57.GAMES)
def test_every_game_constructs_and_steps_with_the_protocol_shapes(
    game, full_action_space):
  env = atari57.make_environment(game, seed=0,
                                 full_action_space=full_action_space)
  try:
    assert isinstance(env, Environment)
    assert env.level_name == game
    assert env.frame_shape == (84, 84, 4)
    # Minimal: the ROM's own set agrees with the cheap table lookup.
    expected = 18 if full_action_space else atari57.num_actions(game)
    assert env.num_actions == expected
    assert atari57.num_actions(game, full_action_space) == expected
    if full_action_space:
      # One order for every game (the multi-task head), Skiing included.
      assert env.action_meanings == _FULL_ACTION_MEANINGS
    else:
      assert env.action_meanings[0] == 'NOOP'  # No-op starts rely on it.
    assert 3 <= env.num_actions <= 18
    outputs = [env.initial()]
    for action in (0, env.num_actions - 1, 1):
      outputs.append(env.step(action))
    for out in outputs:
      frame, instruction = out.observation
      assert frame.shape == (84, 84, 4) and frame.dtype == np.uint8
      assert instruction == b''
      assert out.reward.dtype == np.float32
    assert outputs[0].done and not any(o.done for o in outputs[1:])
    assert [int(o.info.episode_step) for o in outputs] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match='out of range'):
      env.step(env.num_actions)
  finally:
    env.close()


def test_skiing_full_action_set_plays_fire_actions_as_noop():
  # ale-py lists only 9 legal actions for Skiing; the full set still has 18
  # and ALE plays the illegal FIRE family as NOOP (as DeepMind's xitari did).
  fire_family = [i for i, m in enumerate(_FULL_ACTION_MEANINGS) if 'FIRE' in m]
  rng = np.random.default_rng(0)
  actions = [int(a) for a in rng.integers(0, 18, size=60)]
  frames = {}
  for name, mapped in (('as_given', actions),
                       ('nooped', [0 if a in fire_family else a
                                   for a in actions])):
    env = atari57.make_environment('Skiing', seed=0, full_action_space=True)
    outs = [env.initial()] + [env.step(a) for a in mapped]
    frames[name] = np.stack([o.observation[0] for o in outs])
    env.close()
  np.testing.assert_array_equal(frames['as_given'], frames['nooped'])
  assert len(set(actions) & set(fire_family)) > 0


def test_noop_starts_are_uniform_in_1_to_30_emulator_frames():
  env = atari57.make_environment('Pong', seed=5)
  counts = []
  for _ in range(120):
    env.initial()  # Every initial() starts a real game with its no-ops.
    counts.append(env.noop_frames)
    # ALE counts the game's frames from its reset: only no-ops so far.
    assert env.episode_frame_number == env.noop_frames
  assert min(counts) >= 1 and max(counts) <= 30
  assert len(set(counts)) >= 20  # Varies over the range, not one value.
  assert min(counts) <= 3 and max(counts) >= 28
  # After k agent steps the game is noops + 4k frames old.
  env.initial()
  for _ in range(5):
    env.step(0)
  assert env.episode_frame_number == env.noop_frames + 20
  env.close()


def test_max_pooling_and_frame_stack_match_raw_ale_frames():
  env = atari57.make_environment('Pong', seed=3)
  out = env.initial()
  # Replay the same game on a raw ALE: the same no-ops, then the same actions,
  # grabbing the last two frames of every 4-frame repeat ourselves.
  ale = _raw_ale('pong')
  action_set = ale.getMinimalActionSet()
  for _ in range(env.noop_frames):
    ale.act(action_set[0])
  first = _resize(ale.getScreenGrayscale())
  for c in range(4):  # A game's stack starts as copies of its first frame.
    np.testing.assert_array_equal(out.observation[0][..., c], first)

  pooled_differs_from_last = 0
  previous = out.observation[0]
  actions = _random_actions(env, seed=0)
  for _ in range(100):
    action = next(actions)
    out = env.step(action)
    reward = 0.0
    for i in range(4):
      reward += ale.act(action_set[action])
      if i == 2:
        third = ale.getScreenGrayscale()
    fourth = ale.getScreenGrayscale()
    expected = _resize(np.maximum(third, fourth))
    frame = out.observation[0]
    np.testing.assert_array_equal(frame[..., -1], expected)  # Newest last.
    np.testing.assert_array_equal(frame[..., :3], previous[..., 1:])
    assert out.reward == reward
    pooled_differs_from_last += not np.array_equal(expected, _resize(fourth))
    previous = frame
  # The moving ball makes the max visible: the check above is not vacuous.
  assert pooled_differs_from_last > 10
  env.close()


def test_life_loss_ends_the_learning_episode_but_not_the_game():
  env = atari57.make_environment('SpaceInvaders', seed=0)
  env.initial()
  assert env.lives == 3
  rewards, life_loss_steps = [], []
  actions = _random_actions(env, seed=1)
  for step in range(1, 20_000):
    out = env.step(next(actions))
    rewards.append(float(out.reward))
    if out.info.episode_done:
      break
    if out.done:
      life_loss_steps.append(step)
      # The game goes on: no reset of the frame counter, return or length.
      assert env.episode_frame_number == env.noop_frames + 4 * step
      assert out.info.episode_return == pytest.approx(sum(rewards))
      assert out.info.episode_step == step
  else:
    pytest.fail('SpaceInvaders did not end under random play.')
  assert len(life_loss_steps) == 2  # 3 lives: 2 life losses, then game over.
  # At game over: done, and the reported return/length are the whole game's.
  assert out.done
  assert sum(rewards) > 100  # Many rewards, so the sum check means something.
  assert out.info.episode_return == pytest.approx(sum(rewards))
  assert out.info.episode_step == step
  # The environment reset itself: a new game with full lives and counters.
  assert env.lives == 3
  assert env.episode_frame_number == env.noop_frames
  out = env.step(0)
  assert out.info.episode_step == 1
  env.close()


def test_frame_cap_ends_the_game_exactly_there():
  cap = 101  # Odd on purpose: the cap falls inside an action repeat.
  env = atari_environment.AtariEnvironment('Pong', seed=2,
                                           max_episode_frames=cap)
  env.initial()
  for _ in range(3):  # Three capped games, each with its own no-op start.
    noops = env.noop_frames
    expected_steps = math.ceil((cap - noops) / 4)
    for step in range(1, expected_steps + 1):
      out = env.step(0)
      assert out.done == (step == expected_steps)
      assert out.info.episode_done == (step == expected_steps)
    assert out.info.episode_step == expected_steps
    assert env.episode_frame_number == env.noop_frames  # A new game began.
  env.close()
  default = atari57.make_environment('Pong', seed=0)
  assert default.max_episode_frames == 108_000
  default.close()


def test_same_seed_same_trajectory_different_seed_different_starts():

  def play(seed, num_steps=300):
    env = atari57.make_environment('Breakout', seed=seed)
    trajectory = [env.initial()]
    actions = _random_actions(env, seed=0)
    trajectory += [env.step(next(actions)) for _ in range(num_steps)]
    noops = []
    for _ in range(8):
      env.initial()
      noops.append(env.noop_frames)
    env.close()
    return trajectory, noops

  first, first_noops = play(seed=7)
  second, second_noops = play(seed=7)
  _, other_noops = play(seed=8)
  assert first_noops == second_noops
  assert first_noops != other_noops
  assert sum(o.done for o in first) > 2  # Covers life losses and a reset.
  for a, b in zip(first, second):
    np.testing.assert_array_equal(a.observation[0], b.observation[0])
    assert (a.reward, a.done, a.info) == (b.reward, b.done, b.info)


def test_unknown_game_is_a_value_error_listing_valid_names():
  with pytest.raises(ValueError, match='Valid names: .*Pong'):
    atari57.make_environment('NotAGame', seed=0)


def test_unloadable_rom_is_a_runtime_error_naming_the_game(
    monkeypatch, tmp_path):
  # ale-py reads ROMs from ALE_ROMS_DIR when set. The C++ ALE would exit the
  # process on these files; the environment must raise instead.
  monkeypatch.setenv('ALE_ROMS_DIR', str(tmp_path))
  with pytest.raises(RuntimeError, match="'MsPacman'"):  # Missing file.
    atari57.make_environment('ms_pacman', seed=0)
  (tmp_path / 'ms_pacman.bin').write_bytes(b'not an Atari 2600 cartridge')
  with pytest.raises(RuntimeError, match="'MsPacman'.*does not match"):
    atari57.make_environment('ms_pacman', seed=0)


def test_bad_arguments_and_misuse_are_clear_errors():
  with pytest.raises(ValueError, match='seed'):
    atari57.make_environment('Pong', seed=-1)
  with pytest.raises(ValueError, match='num_action_repeats'):
    atari57.make_environment('Pong', seed=0, num_action_repeats=0)
  with pytest.raises(ValueError, match='must exceed noop_max'):
    atari_environment.AtariEnvironment('Pong', seed=0, max_episode_frames=30)
  env = atari57.make_environment('Pong', seed=0)
  with pytest.raises(RuntimeError, match='before initial'):
    env.step(0)
  env.initial()
  env.step(np.int32(5))  # numpy integers are accepted.
  for bad in (6, -1):
    with pytest.raises(ValueError, match='out of range'):
      env.step(bad)
  for bad in (1.0, True, 'a'):
    with pytest.raises(ValueError, match='integer'):
      env.step(bad)
  env.close()
  env.close()  # Safe twice.
  with pytest.raises(RuntimeError, match='closed'):
    env.step(0)
