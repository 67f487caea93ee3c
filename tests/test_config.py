"""The run configuration: paper defaults per env and start-up validation."""

import subprocess
import sys

import pytest

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import config_checks
from scalable_agent_tf2.config import Config, ConfigError

from runtime_helpers import REPO, child_env


def resolved(**kwargs):
  return Config(**kwargs).resolve().validate()


def test_atari_paper_preset_is_table_g1():
  c = resolved(env='atari', preset='paper')
  assert c.torso == 'deep' and c.envs_per_actor == 4
  assert (c.unroll_length, c.batch_size, c.num_action_repeats) == (20, 32, 4)
  assert (c.entropy_cost, c.baseline_cost, c.discounting) == (0.01, 0.5, 0.99)
  assert (c.learning_rate, c.decay, c.momentum, c.epsilon) == (
      0.0006, 0.99, 0.0, 0.01)
  assert c.grad_norm_clip == 40.0
  assert c.reward_clipping == 'abs_one'
  assert c.total_environment_frames == 200_000_000
  assert not c.use_lstm and not c.use_instruction
  assert c.frames_per_update == 32 * 20 * 4


def test_atari_default_is_the_small_machine_preset():
  c = resolved(env='atari')
  paper = resolved(env='atari', preset='paper')
  assert c.preset == 'small'
  changed = {k: v for k, v in c.to_dict().items()
             if v != getattr(paper, k)}
  # Exactly these four differ from Table G.1 (documented in the README).
  assert changed == dict(preset='small', torso='shallow', batch_size=4,
                         envs_per_actor=8, epsilon=1e-5)
  assert c.frames_per_update == 4 * 20 * 4
  # Explicit flags win over the preset.
  assert resolved(env='atari', batch_size=16).batch_size == 16


def test_the_replay_preset_is_small_plus_replay_and_a_10m_schedule():
  # docs/impala.md §4.5: exactly these differ from `small`.
  c = resolved(env='atari', preset='replay')
  small = resolved(env='atari')
  changed = {k: v for k, v in c.to_dict().items() if v != getattr(small, k)}
  assert changed == dict(preset='replay', batch_size=8, replay_capacity=64,
                         replay_proportion=0.75, grad_norm_clip=80.0,
                         total_environment_frames=10_000_000)
  assert (c.num_fresh_per_update, c.num_replayed_per_update) == (2, 6)
  assert c.frames_per_update == 2 * 20 * 4
  # Explicit flags win: --replay_capacity=0 turns replay off.
  off = resolved(env='atari', preset='replay', replay_capacity=0)
  assert off.replay_capacity == 0 and off.num_replayed_per_update == 0


def test_dmlab_has_only_the_paper_preset():
  assert resolved(env='dmlab').preset == 'paper'
  with pytest.raises(ConfigError, match='Atari only'):
    resolved(env='dmlab', preset='small')
  with pytest.raises(ConfigError, match='--preset must be one of'):
    resolved(env='atari', preset='fast')


def test_dmlab_defaults_are_the_released_code():
  c = resolved(env='dmlab')
  assert c.level_name == 'explore_goal_locations_small'
  assert (c.unroll_length, c.entropy_cost, c.learning_rate, c.epsilon) == (
      100, 0.00025, 0.00048, 0.1)
  assert c.grad_norm_clip == 0.0 and c.use_lstm and c.use_instruction
  assert c.total_environment_frames == 1_000_000_000


def test_dmlab30_defaults_are_the_released_readme_run():
  c = resolved(env='dmlab', level_name='dmlab30')
  assert c.is_multi_task
  assert c.entropy_cost == 0.0033391318945337044
  assert c.learning_rate == 0.00031866995608948655
  assert c.reward_clipping == 'soft_asymmetric'
  assert c.total_environment_frames == 10_000_000_000
  assert c.num_actors == 150 and c.batch_size == 32


def test_an_empty_level_name_is_the_suites_default_level():
  assert resolved(env='atari', level_name='').level_name == 'Pong'
  assert resolved(env='dmlab', level_name='').level_name == (
      'explore_goal_locations_small')


def test_stop_at_frames_ends_the_run_early_but_not_the_schedule():
  c = resolved(env='atari', preset='paper')
  assert c.stop_frames == c.total_environment_frames == 200_000_000
  c = resolved(env='atari', preset='paper', stop_at_frames=10_000_000)
  assert c.stop_frames == 10_000_000
  assert c.total_environment_frames == 200_000_000  # The LR schedule.


def test_explicit_values_override_defaults():
  c = resolved(env='dmlab', level_name='dmlab30', num_actors=3,
               learning_rate=0.001)
  assert c.num_actors == 3 and c.learning_rate == 0.001


@pytest.mark.parametrize('kwargs, message', [
    (dict(job_name='actor'), 'needs --learner_address'),
    (dict(job_name='learner', learner_address='nohost'), 'host:port'),
    (dict(batch_size=8, queue_capacity=4), 'at least --batch_size'),
    (dict(env='atari', use_instruction=True), 'Atari has no instructions'),
    (dict(env='atari', dataset_path='/x'), 'DMLab option'),
    (dict(seed=0), '--seed must be >= 1'),
    (dict(unroll_length=0), '--unroll_length must be >= 1'),
    (dict(discounting=1.5), '--discounting'),
    (dict(job_name='actor', learner_address='h:1', task=5, num_actors=2),
     'actor tasks are 0..num_actors-1'),
    (dict(grad_norm_clip=-1.0), '--grad_norm_clip'),
    (dict(max_policy_lag=-1), r'--max_policy_lag must be >= 0 \(0 = off\)'),
    (dict(stop_at_frames=-1), '--stop_at_frames must be in'),
    (dict(env='atari', total_environment_frames=10, stop_at_frames=11),
     'past it the learning rate is 0'),
])
def test_invalid_combinations_fail_with_a_message(kwargs, message):
  with pytest.raises(ConfigError, match=message):
    resolved(**kwargs)


def test_unknown_env_fails():
  with pytest.raises(ConfigError, match='--env must be one of'):
    Config(env='mujoco').resolve()


def test_resume_compatibility_names_the_difference():
  c = resolved(env='atari', torso='deep')
  saved = dict(c.to_dict(), torso='shallow')
  with pytest.raises(ConfigError, match="torso: checkpoint 'shallow'"):
    config_checks.check_resume_compatible(saved, c)
  # Learning hyperparameters may change on resume (e.g. a longer budget).
  config_checks.check_resume_compatible(
      dict(c.to_dict(), total_environment_frames=5), c)


def test_launcher_flags_round_trip_through_the_entry_point_parser():
  from absl import flags  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import experiment  # pylint: disable=g-import-not-at-top
  c = resolved(env='dmlab', level_name='dmlab30', num_actors=3,
               dataset_path='', learning_rate=0.000123456789)
  argv = config_lib.to_flags(c, job_name='actor', task=2,
                             learner_address='localhost:1234')
  fv = flags.FlagValues()
  for name in flags.FLAGS:
    if name in c.to_dict():
      fv[name] = flags.FLAGS[name]
  fv(['prog'] + argv)
  parsed = {name: fv[name].value for name in c.to_dict()}
  expected = dict(c.to_dict(), job_name='actor', task=2,
                  learner_address='localhost:1234')
  assert parsed == expected
  del experiment


@pytest.mark.parametrize('flags, message', [
    (['--job_name=actor'], 'needs --learner_address'),
    (['--env=atari', '--level_name=NotAGame'], 'NotAGame'),
    (['--env=atari', '--torso=huge'], 'torso'),
])
def test_entry_point_rejects_bad_flags_before_starting(flags, message):
  result = subprocess.run(
      [sys.executable, '-m', 'scalable_agent_tf2.experiment', *flags],
      cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=60)
  assert result.returncode != 0
  assert message in result.stderr


# --- Command lines: to_flags, experiment_command, parse_extra -----------------


def test_to_flags_writes_bools_floats_and_omits_none():
  flags = config_lib.to_flags({'use_lstm': True, 'learning_rate': 0.1 + 0.2,
                               'batch_size': None, 'logdir': '/tmp/x'},
                              use_instruction=False)
  assert flags == ['--learning_rate=0.30000000000000004', '--logdir=/tmp/x',
                   '--use_instruction=false', '--use_lstm=true']
  # An unresolved Config: only the fields that have a value.
  names = [f.partition('=')[0][2:] for f in config_lib.to_flags(Config())]
  assert 'batch_size' not in names and 'seed' in names
  with pytest.raises(ConfigError, match='not_a_field'):
    config_lib.to_flags(Config(), not_a_field=1)


def test_experiment_command_runs_the_entry_point_with_this_python():
  assert config_lib.experiment_command(['--seed=2']) == [
      sys.executable, '-m', 'scalable_agent_tf2.experiment', '--seed=2']


def test_parse_extra_splits_like_a_shell_and_keeps_the_tokens():
  tokens = config_lib.parse_extra(
      '--num_actors=2 --use_lstm --nouse_instruction '
      '--dataset_path="/data/brady 2008" --dataset_path=')
  assert tokens == ['--num_actors=2', '--use_lstm', '--nouse_instruction',
                    '--dataset_path=/data/brady 2008', '--dataset_path=']
  assert config_lib.parse_extra('') == [] and config_lib.parse_extra(None) == []


@pytest.mark.parametrize('text, message', [
    ('--num_actors 2', "'2' is not a flag"),
    ('stray', "'stray' is not a flag"),
    ('--num_actor=2', 'no flag --num_actor'),
    ('--seed="1', 'cannot be split'),
    ('--num_actors', 'needs a value'),
    ('--nonum_actors', 'needs a value'),
])
def test_parse_extra_refuses_what_would_make_every_run_fail(text, message):
  with pytest.raises(ConfigError, match=message):
    config_lib.parse_extra(text)


def test_parse_extra_refuses_reserved_names_with_the_reason():
  with pytest.raises(ConfigError, match='may not set --logdir: use --root'):
    config_lib.parse_extra('--seed=2 --logdir=/x', {'logdir': 'use --root'})
  with pytest.raises(ConfigError, match='may not set --use_lstm'):
    config_lib.parse_extra('--nouse_lstm', reserved=('use_lstm',))
  assert config_lib.parse_extra('--seed=2', reserved=('logdir',)) == [
      '--seed=2']


def test_extra_flag_value_follows_absl_last_one_wins():
  tokens = ['--torso=deep', '--num_actors=3', '--torso=shallow', '--use_lstm',
            '--nouse_instruction', '--dataset_path=']
  assert config_lib.extra_flag_value(tokens, 'torso') == 'shallow'
  assert config_lib.extra_flag_value(tokens, 'num_actors') == '3'
  assert config_lib.extra_flag_value(tokens, 'use_lstm') == 'true'
  assert config_lib.extra_flag_value(tokens, 'use_instruction') == 'false'
  assert config_lib.extra_flag_value(tokens, 'dataset_path') == ''
  assert config_lib.extra_flag_value(tokens, 'batch_size') is None


# --- Flags are generated from the Config fields -------------------------------


def test_every_field_is_a_flag_with_its_default_and_help():
  import dataclasses  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import experiment  # pylint: disable=g-import-not-at-top
  for field in dataclasses.fields(Config):
    assert field.metadata['help'].strip(), field.name
    flag = experiment.FLAGS[field.name]
    assert flag.default == field.default, field.name
    assert field.metadata['help'] in flag.help, field.name
    choices = config_lib.field_choices(field)
    if choices is not None:
      assert tuple(flag.parser.enum_values) == choices, field.name
    assert flag.boolean == (config_lib.field_type(field.name) is bool)
  assert experiment.FLAGS['env'].parser.enum_values == ['atari', 'dmlab']


def test_help_states_the_preset_dependent_defaults():
  from scalable_agent_tf2 import experiment  # pylint: disable=g-import-not-at-top
  assert experiment.preset_default_help('envs_per_actor') == (
      ' Default (--env/--preset): atari small 8, replay 8, paper 4; '
      'dmlab 1.')
  assert experiment.preset_default_help('num_actors') == (
      ' Default (--env/--preset): dmlab30 150.')
  assert experiment.preset_default_help('preset') == (
      ' Default (--env): atari small; dmlab paper.')
  assert experiment.preset_default_help(
      'total_environment_frames') == (
          ' Default (--env/--preset): atari small 2e8, replay 1e7, paper 2e8; '
          'dmlab 1e9; dmlab30 1e10.')
  assert experiment.preset_default_help('seed') == ''
