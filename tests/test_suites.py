"""The suite registry: plugins found by name, each a complete `Suite`."""

import importlib
import json
import subprocess
import sys

import pytest

from scalable_agent_tf2 import suites
from scalable_agent_tf2.config import Config, ConfigError

from runtime_helpers import REPO, child_env


def resolved(**kwargs):
  return Config(**kwargs).resolve().validate()


def test_the_core_finds_the_suites_without_importing_them_itself():
  # Importing the core imports no suite; get() loads only the plugin, and
  # neither a plugin nor the entry point's flag definitions (which list the
  # suites' presets and defaults) load TensorFlow, an emulator or DeepMind
  # Lab.
  script = (
      'import json, sys\n'
      'from scalable_agent_tf2 import config, suites\n'
      'before = sorted(m for m in sys.modules\n'
      '                if m.split(".")[0] in ("atari57", "dmlab30"))\n'
      'names = [suites.get(e).name for e in suites.names()]\n'
      'from scalable_agent_tf2 import experiment\n'
      'heavy = [m for m in ("tensorflow", "ale_py", "gymnasium", '
      '"deepmind_lab", "atari57.environment", "atari57.table4", '
      '"dmlab30.table3") if m in sys.modules]\n'
      'print(json.dumps(dict(before=before, names=names, heavy=heavy)))\n')
  result = subprocess.run([sys.executable, '-c', script], cwd=REPO,
                          env=child_env(), capture_output=True, text=True,
                          timeout=60)
  assert result.returncode == 0, result.stderr
  found = json.loads(result.stdout)
  assert found == dict(before=[], names=['atari', 'dmlab'], heavy=[])


@pytest.mark.parametrize('env', suites.names())
def test_each_suite_satisfies_the_protocol(env):
  suite = suites.get(env)
  assert suites.check_members(suite) == []
  assert isinstance(suite, suites.Suite)
  assert suite.name == env
  assert suite.default_preset == suite.presets[0]
  module = importlib.import_module(suites.REGISTRY[env])
  assert module.SUITE is suite
  for name in suites.MEMBERS:
    if name not in ('name', 'multi_task_level', 'presets', 'default_preset',
                    'paper_tables'):
      assert callable(getattr(suite, name)), name


def test_an_incomplete_suite_is_named():
  class Half:
    name = 'atari'
    presets = ('paper',)
  assert 'train_levels' in suites.check_members(Half())
  assert 'name' not in suites.check_members(Half())


def test_an_unknown_env_is_refused_with_the_registered_ones():
  with pytest.raises(ConfigError, match=r"--env must be one of \('atari', "
                     r"'dmlab'\), got 'mujoco'"):
    suites.get('mujoco')
  with pytest.raises(ConfigError, match='--env must be one of'):
    Config(env='mujoco').resolve()


def test_atari_presets_and_defaults():
  atari = suites.get('atari')
  assert (atari.presets, atari.default_preset) == (
      ('small', 'replay', 'paper'), 'small')
  paper = atari.defaults(None, 'paper')
  assert paper['level_name'] == 'Pong'
  assert (paper['unroll_length'], paper['batch_size'], paper['epsilon'],
          paper['grad_norm_clip'], paper['torso']) == (20, 32, 0.01, 40.0,
                                                       'deep')
  small = atari.defaults('Breakout', 'small')
  assert small['level_name'] == 'Breakout'
  assert {k: v for k, v in small.items() if paper.get(k) != v} == dict(
      level_name='Breakout', torso='shallow', batch_size=4, envs_per_actor=8,
      epsilon=1e-5)
  with pytest.raises(ConfigError, match='--preset must be one of'):
    atari.defaults(None, 'fast')


def test_dmlab_presets_and_defaults():
  dmlab = suites.get('dmlab')
  assert (dmlab.presets, dmlab.default_preset) == (('paper',), 'paper')
  single = dmlab.defaults(None, 'paper')
  assert single['level_name'] == 'explore_goal_locations_small'
  assert 'num_actors' not in single  # The core's one-per-core default.
  multi = dmlab.defaults('dmlab30', 'paper')
  assert (multi['num_actors'], multi['reward_clipping'],
          multi['total_environment_frames']) == (150, 'soft_asymmetric',
                                                 int(1e10))
  with pytest.raises(ConfigError, match='Atari only'):
    dmlab.defaults(None, 'small')


def test_atari_levels_actions_and_frames():
  atari = suites.get('atari')
  games = importlib.import_module('atari57.games')
  pong = resolved(env='atari', level_name='pong')
  assert atari.train_levels(pong) == atari.test_levels(pong) == ['Pong']
  assert atari.num_actions(pong) == 6  # Pong's minimal action set.
  assert atari.frame_shape(pong) == games.FRAME_SHAPE == (84, 84, 4)
  multi = resolved(env='atari', level_name='atari57')
  assert multi.is_multi_task and not pong.is_multi_task
  assert atari.train_levels(multi) == list(games.GAMES)
  assert atari.num_actions(multi) == 18  # The full set (Appendix G).
  with pytest.raises(ConfigError, match='NotAGame'):
    resolved(env='atari', level_name='NotAGame')


def test_dmlab_levels_actions_and_frames():
  dmlab = suites.get('dmlab')
  levels = importlib.import_module('dmlab30.levels')
  single = resolved(env='dmlab', level_name='rooms_watermaze', width=32,
                    height=24)
  assert dmlab.train_levels(single) == ['rooms_watermaze']
  assert dmlab.frame_shape(single) == (24, 32, 3)
  assert dmlab.num_actions(single) == 9
  multi = resolved(env='dmlab', level_name='dmlab30')
  assert dmlab.train_levels(multi) == list(levels.LEVEL_MAPPING.keys())
  assert dmlab.test_levels(multi) == list(levels.LEVEL_MAPPING.values())
  with pytest.raises(ConfigError, match='multi-task level of --env=atari'):
    resolved(env='dmlab', level_name='atari57')


def test_suite_specific_flags_are_refused_by_the_other_suite():
  with pytest.raises(ConfigError, match='Atari has no instructions'):
    resolved(env='atari', use_instruction=True)


def test_level_for_env_is_round_robin_and_env_seed_the_documented_formula():
  multi = resolved(env='dmlab', level_name='dmlab30', seed=3)
  train = suites.get('dmlab').train_levels(multi)
  assert [suites.level_for_env(multi, g) for g in (0, 1, 30, 31)] == [
      train[0], train[1], train[0], train[1]]
  assert suites.env_seed(multi, 7) == 7 + 1 + 100_000 * 2
  assert suites.env_seed(resolved(env='atari'), 0) == 1


def test_training_scores_only_for_a_complete_multi_task_run():
  atari = suites.get('atari')
  games = importlib.import_module('atari57.games')
  assert atari.training_scores(resolved(env='atari'), {'Pong': 1.0}) == {}
  multi = resolved(env='atari', level_name='atari57')
  assert atari.training_scores(multi, {'Pong': 1.0}) == {}
  human = {g: games.HUMAN_SCORES[g] for g in games.GAMES}
  scores = atari.training_scores(multi, human)
  assert scores['atari57/training_median_hns'] == pytest.approx(100.0)
  dmlab = suites.get('dmlab')
  levels = importlib.import_module('dmlab30.levels')
  returns = {name: levels.HUMAN_SCORES[test]
             for name, test in levels.LEVEL_MAPPING.items()}
  scores = dmlab.training_scores(resolved(env='dmlab', level_name='dmlab30'),
                                 returns)
  assert scores['dmlab30/training_score_capped'] == pytest.approx(100.0)


def test_canonical_levels_and_human_normalized_scores():
  atari, dmlab = suites.get('atari'), suites.get('dmlab')
  games = importlib.import_module('atari57.games')
  assert atari.canonical_level('bank_heist') == 'BankHeist'
  assert atari.human_normalized_score(
      'Pong', games.HUMAN_SCORES['Pong']) == pytest.approx(100.0)
  assert atari.human_normalized_score(
      'Pong', games.RANDOM_SCORES['Pong']) == pytest.approx(0.0)
  levels = importlib.import_module('dmlab30.levels')
  test_name = levels.LEVEL_MAPPING['rooms_exploit_deferred_effects_train']
  assert dmlab.canonical_level('rooms_exploit_deferred_effects_train') == (
      test_name)
  assert dmlab.human_normalized_score(
      test_name, levels.HUMAN_SCORES[test_name]) == pytest.approx(100.0)
  for suite in (atari, dmlab):
    with pytest.raises(ValueError):
      suite.canonical_level('no_such_level')


@pytest.mark.parametrize('env, table, module', [
    ('atari', 'table4', 'atari57.table4'),
    ('dmlab', 'table3', 'dmlab30.table3')])
def test_paper_tables_load_lazily(env, table, module):
  suite = suites.get(env)
  assert suite.paper_tables == (table,)
  with pytest.raises(ValueError, match='no paper table'):
    suite.paper_table('table9')
  pytest.importorskip(module)
  assert suite.paper_table(table) is getattr(
      importlib.import_module(module), table)
