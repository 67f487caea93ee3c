"""Tests of the DeepMind Lab adapter against the test double (docs/impala.md §5).

The test double (tests/fakes/deepmind_lab) is loaded as a plain module object
and injected with `lab_module=`, so it never becomes `deepmind_lab` in
`sys.modules` for other test files; the tests of the lazy import put it on
`sys.path` only for their own duration.
"""

import importlib.util
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

import dmlab30
from scalable_agent_tf2.environment import Environment
from scalable_agent_tf2.structures import StepOutput

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
_FAKES_DIR = os.path.join(_TESTS_DIR, 'fakes')
_REPO_DIR = os.path.dirname(_TESTS_DIR)


def _load_fake_lab():
  spec = importlib.util.spec_from_file_location(
      'fake_deepmind_lab',
      os.path.join(_FAKES_DIR, 'deepmind_lab', '__init__.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


fake_lab = _load_fake_lab()

# docs/impala.md §5, written out independently of dmlab30.ACTION_SET.
_REFERENCE_ACTIONS = [
    (0, 0, 0, 1, 0, 0, 0),    # Forward
    (0, 0, 0, -1, 0, 0, 0),   # Backward
    (0, 0, -1, 0, 0, 0, 0),   # Strafe Left
    (0, 0, 1, 0, 0, 0, 0),    # Strafe Right
    (-20, 0, 0, 0, 0, 0, 0),  # Look Left
    (20, 0, 0, 0, 0, 0, 0),   # Look Right
    (-20, 0, 0, 1, 0, 0, 0),  # Look Left + Forward
    (20, 0, 0, 1, 0, 0, 0),   # Look Right + Forward
    (0, 0, 0, 0, 1, 0, 0),    # Fire
]
_FORWARD = 0


@pytest.fixture(autouse=True)
def _clear_fake_records():
  fake_lab.clear_records()
  yield
  fake_lab.clear_records()


def _make(level='rooms_watermaze', seed=1, **kwargs):
  return dmlab30.make_environment(level, seed, lab_module=fake_lab, **kwargs)


def _run_to_episode_end(env, action=_FORWARD, max_steps=1000):
  """Steps until done; returns the list of StepOutputs (the last is done)."""
  outputs = []
  for _ in range(max_steps):
    outputs.append(env.step(action))
    if outputs[-1].done:
      return outputs
  raise AssertionError('episode did not end in %d steps' % max_steps)


def test_action_set_is_the_papers_nine_actions():
  assert dmlab30.ACTION_SET == tuple(_REFERENCE_ACTIONS)
  env = _make()
  assert env.num_actions == 9
  assert isinstance(env, Environment)


def test_each_action_reaches_lab_as_its_int32_vector_with_repeat_4():
  env = _make()
  env.initial()
  for action in range(9):
    env.step(action)
  lab = fake_lab.CREATED_LABS[-1]
  assert lab.actions == [(vector, 4) for vector in _REFERENCE_ACTIONS]


def test_numpy_integer_actions_are_accepted():
  env = _make()
  env.initial()
  env.step(np.int32(5))
  env.step(np.array(8))
  lab = fake_lab.CREATED_LABS[-1]
  assert [a for a, _ in lab.actions] == [_REFERENCE_ACTIONS[5],
                                          _REFERENCE_ACTIONS[8]]


@pytest.mark.parametrize('repeats', [4, 2])
def test_reward_is_the_sum_over_the_repeated_frames(repeats):
  env = _make(seed=3, num_action_repeats=repeats)
  env.initial()
  lab = fake_lab.CREATED_LABS[-1]
  # Replays the same episode frame by frame on a second engine.
  replay = fake_lab.Lab(lab.level, ['RGB_INTERLEAVED'], dict(lab.config))
  replay.reset(seed=lab.reset_seeds[0])
  forward = np.array(_REFERENCE_ACTIONS[_FORWARD], dtype=np.intc)
  rewards = []
  for output in _run_to_episode_end(env):
    expected = 0.0
    for _ in range(repeats):
      if replay.is_running():
        expected += replay.step(forward, num_steps=1)
    assert output.reward == pytest.approx(expected)
    assert output.reward.dtype == np.float32
    rewards.append(output.reward)
  assert all(n == repeats for _, n in lab.actions)
  # The check above is only meaningful if some steps were rewarded.
  assert sum(r != 0 for r in rewards) >= 2


def test_initial_step_output():
  env = _make()
  output = env.initial()
  assert isinstance(output, StepOutput)
  assert output.reward == 0.0
  assert output.done
  assert tuple(output.info) == (0.0, 0, False)
  frame, instruction = output.observation
  assert frame.shape == (72, 96, 3) == env.frame_shape
  assert frame.dtype == np.uint8
  assert instruction == b''


def test_frame_size_follows_width_and_height():
  env = _make(width=64, height=48)
  frame, _ = env.initial().observation
  assert env.frame_shape == (48, 64, 3)
  assert frame.shape == (48, 64, 3)


def test_reset_seeds_are_drawn_per_reset_from_random_state_of_seed():
  def reset_seeds(seed, episodes=3):
    fake_lab.clear_records()
    env = _make(seed=seed)
    env.initial()
    for _ in range(episodes - 1):
      _run_to_episode_end(env)
    return fake_lab.CREATED_LABS[-1].reset_seeds

  random_state = np.random.RandomState(7)
  expected = [random_state.randint(0, 2**31 - 1) for _ in range(3)]
  assert reset_seeds(7) == expected
  assert reset_seeds(7) == expected
  assert reset_seeds(8) != expected
  assert len(set(expected)) == 3


def test_episode_end_gives_done_tracker_totals_and_next_episodes_first_frame():
  env = _make(seed=5)
  env.initial()
  lab = fake_lab.CREATED_LABS[-1]
  episode = _run_to_episode_end(env)
  last = episode[-1]
  assert last.done and last.info.episode_done
  assert not any(o.done or o.info.episode_done for o in episode[:-1])
  assert last.info.episode_step == len(episode)
  assert last.info.episode_return == pytest.approx(
      sum(float(o.reward) for o in episode))
  # Running totals within the episode.
  assert [int(o.info.episode_step) for o in episode] == list(
      range(1, len(episode) + 1))
  # The engine was reset with a new seed, and the observation is that new
  # episode's first (the double writes frames-since-reset into channel 1 and
  # the seed into channel 2).
  assert len(lab.reset_seeds) == 2
  frame, _ = last.observation
  assert np.all(frame[:, :, 1] == 0)
  assert np.all(frame[:, :, 2] == lab.reset_seeds[1] % 256)
  assert np.any(episode[-2].observation[0][:, :, 1] != 0)
  # The tracker starts over on the next step.
  following = env.step(_FORWARD)
  assert not following.done
  assert following.info.episode_step == 1
  assert following.info.episode_return == pytest.approx(following.reward)


def test_language_instruction_reaches_step_output_and_changes_per_episode():
  env = _make('language_select_described_object', seed=2)
  first_instruction = env.initial().observation[1]
  lab = fake_lab.CREATED_LABS[-1]
  assert isinstance(first_instruction, bytes)
  assert first_instruction
  assert first_instruction == lab.observations()['INSTR'].encode('utf-8')
  episode = _run_to_episode_end(env)
  assert all(o.observation[1] == first_instruction for o in episode[:-1])
  second_instruction = episode[-1].observation[1]
  assert second_instruction and second_instruction != first_instruction


def test_training_config_and_observations():
  env = _make()
  lab = fake_lab.CREATED_LABS[-1]
  expected = {'width': '96', 'height': '72', 'logLevel': 'WARN'}
  assert lab.config == expected
  assert env.config == expected
  assert lab.observation_names == ['RGB_INTERLEAVED', 'INSTR']


def test_dataset_path_is_passed_when_given():
  _make(dataset_path='/data/brady')
  assert fake_lab.CREATED_LABS[-1].config['datasetPath'] == '/data/brady'


def test_test_mode_adds_hold_out_levels_and_mixer_seed():
  _make('rooms_watermaze', is_test=True)
  config = fake_lab.CREATED_LABS[-1].config
  assert config['allowHoldOutLevels'] == 'true'
  assert config['mixerSeed'] == '1611489005' == str(0x600D5EED)
  assert config['width'] == '96' and config['height'] == '72'
  # A held-out `_test` level only loads in test mode.
  _make('rooms_collect_good_objects_test', is_test=True).initial()
  with pytest.raises(RuntimeError, match='hold-out'):
    _make('rooms_collect_good_objects_test', is_test=False)


def test_all_config_values_are_str():
  _make(is_test=True, dataset_path='/x')
  config = fake_lab.CREATED_LABS[-1].config
  assert all(isinstance(v, str) for v in config.values())


@pytest.mark.parametrize('given, loaded', [
    ('rooms_watermaze', 'contributed/dmlab30/rooms_watermaze'),
    ('rooms_collect_good_objects_train',
     'contributed/dmlab30/rooms_collect_good_objects_train'),
    ('explore_goal_locations_small',
     'contributed/dmlab30/explore_goal_locations_small'),
    ('seekavoid_arena_01', 'seekavoid_arena_01'),
    ('contributed/dmlab30/rooms_watermaze',
     'contributed/dmlab30/rooms_watermaze'),
])
def test_level_prefixing(given, loaded):
  env = _make(given)
  assert dmlab30.full_level_name(given) == loaded
  assert fake_lab.CREATED_LABS[-1].level == loaded
  assert env.level_name == given


def test_unknown_level_is_passed_through_and_the_engine_error_surfaces():
  assert dmlab30.full_level_name('no_such_level') == 'no_such_level'
  with pytest.raises(RuntimeError, match='no_such_level'):
    _make('no_such_level')


@pytest.mark.parametrize('bad_action', [-1, 9, 1.5, True, 'forward', None])
def test_bad_actions_raise_value_error(bad_action):
  env = _make()
  env.initial()
  with pytest.raises(ValueError, match='action'):
    env.step(bad_action)


@pytest.mark.parametrize('kwargs, message', [
    (dict(width=0), 'width'),
    (dict(height=-3), 'height'),
    (dict(num_action_repeats=0), 'num_action_repeats'),
    (dict(seed=-1), 'seed'),
    (dict(seed=2**32), 'seed'),
    (dict(seed=1.0), 'seed'),
    (dict(level=''), 'level_name'),
    (dict(level=None), 'level_name'),
])
def test_bad_arguments_raise_value_error(kwargs, message):
  with pytest.raises(ValueError, match=message):
    _make(**kwargs)


def test_step_before_initial_and_after_close_raise():
  env = _make()
  with pytest.raises(RuntimeError, match='initial'):
    env.step(0)
  env.initial()
  env.close()
  env.close()  # Safe twice.
  with pytest.raises(RuntimeError, match='closed'):
    env.step(0)


def test_missing_deepmind_lab_gives_build_instructions(monkeypatch):
  # A None entry in sys.modules makes `import deepmind_lab` fail.
  monkeypatch.setitem(sys.modules, 'deepmind_lab', None)
  with pytest.raises(ImportError) as error:
    dmlab30.make_environment('rooms_watermaze', 1)
  message = str(error.value)
  assert 'not installed' in message
  assert 'Bazel' in message
  assert 'https://github.com/deepmind/lab' in message
  assert 'bazel build -c opt //python/pip_package:build_pip_package' in message
  assert 'pip install' in message
  assert 'README section "DeepMind Lab"' in message
  assert not dmlab30.deepmind_lab_available()


@pytest.fixture
def fake_on_sys_path(monkeypatch):
  """Makes `import deepmind_lab` find the test double for one test only."""
  saved = sys.modules.pop('deepmind_lab', None)
  monkeypatch.syspath_prepend(_FAKES_DIR)
  yield
  sys.modules.pop('deepmind_lab', None)
  if saved is not None:
    sys.modules['deepmind_lab'] = saved


def test_lazy_import_uses_deepmind_lab_and_warns_about_a_test_double(
    fake_on_sys_path, caplog):
  del fake_on_sys_path
  with caplog.at_level(logging.WARNING):
    env = dmlab30.make_environment('rooms_watermaze', 1)
  assert type(env._lab).__module__ == 'deepmind_lab'
  assert 'NOT DeepMind Lab' in caplog.text
  assert env.initial().observation[0].shape == (72, 96, 3)
  # A test double does not count as DeepMind Lab being available.
  assert not dmlab30.deepmind_lab_available()


def test_importing_dmlab30_loads_neither_tensorflow_nor_deepmind_lab():
  code = ('import sys, dmlab30; '
          'print("tensorflow" in sys.modules, "deepmind_lab" in sys.modules)')
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([_REPO_DIR, _FAKES_DIR]))
  result = subprocess.run([sys.executable, '-c', code], cwd=_REPO_DIR,
                          env=env, capture_output=True, text=True, check=True)
  assert result.stdout.split() == ['False', 'False']


