"""Tests of the DMLab-30 suite driver (`python -m dmlab30.suite`).

The driver is run as a user runs it (`make train-dmlab30` / `eval-dmlab30`
call `python -m dmlab30.suite ...`), in a subprocess. DeepMind Lab itself is
never available here: the end-to-end tests put the project's test double
(tests/fakes/deepmind_lab) on PYTHONPATH and opt in with
SCALABLE_AGENT_TF2_ALLOW_DMLAB_TEST_DOUBLE=1, so the REAL code path runs
(driver -> experiment entry point -> launcher -> learner + actor processes
-> dmlab30.DmLabEnvironment -> `import deepmind_lab`) with a stand-in engine.
Numbers produced that way are not DeepMind Lab results.
"""

import collections
import csv
import glob
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import dmlab30
from dmlab30 import suite
from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import suites

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
_REPO_DIR = os.path.dirname(_TESTS_DIR)
_FAKES_DIR = os.path.join(_TESTS_DIR, 'fakes')

_TRAIN_LEVELS = list(dmlab30.LEVEL_MAPPING.keys())
_TEST_LEVELS = list(dmlab30.LEVEL_MAPPING.values())

# A tiny multi-task run on the stand-in: 3 actor processes x 10 environments
# = 30 environments, so environment g = 10 * task + k plays level g % 30 and
# every level is covered once (docs/impala.md §5). The shallow torso needs >= 20
# pixels per side (8x8 stride 4, then 4x4 stride 2, VALID). The stand-in's
# episodes last 40-90 agent steps, so 40,000 frames (125 updates of
# 8 x 10 x 4 frames) let every level finish episodes well before the end,
# and summaries every 0.2 s then write the training score several times.
_TINY_TRAIN_EXTRA = (
    '--num_actors=3 --envs_per_actor=10 --batch_size=8 --unroll_length=10 '
    '--total_environment_frames=40000 --torso=shallow --width=32 --height=24 '
    '--summary_secs=0.2 --progress_secs=1 --checkpoint_secs=600 '
    '--actor_reconnect_secs=60')
_TINY_EVAL_EXTRA = '--num_actors=2 --envs_per_actor=1'

_real_lab_installed = dmlab30.deepmind_lab_available()


def _env(fake_lab, allow_test_double):
  """Environment of a driver subprocess: the repo (and the fake) on the path."""
  env = dict(os.environ)
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  env.pop(suite.ALLOW_TEST_DOUBLE_ENV, None)
  if allow_test_double:
    env[suite.ALLOW_TEST_DOUBLE_ENV] = '1'
  paths = [_REPO_DIR] + ([_FAKES_DIR] if fake_lab else [])
  env['PYTHONPATH'] = os.pathsep.join(paths)
  return env


def _run_suite(*args, fake_lab=True, allow_test_double=True, timeout=60):
  return subprocess.run(
      [sys.executable, '-m', 'dmlab30.suite', *args], cwd=_REPO_DIR,
      env=_env(fake_lab, allow_test_double), capture_output=True, text=True,
      timeout=timeout)


def _read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


# --- DeepMind Lab missing or a test double: stop at once ----------------------


@pytest.mark.skipif(_real_lab_installed, reason='DeepMind Lab is installed.')
@pytest.mark.timeout(60)
@pytest.mark.parametrize('command', ['train', 'eval'])
def test_refuses_to_start_without_deepmind_lab(command, tmp_path):
  logdir = tmp_path / 'run'
  result = _run_suite(command, f'--logdir={logdir}', fake_lab=False)
  assert result.returncode == suite.EXIT_NO_DEEPMIND_LAB, result.stderr
  # The message says how to build and install DeepMind Lab.
  assert 'DeepMind Lab is required' in result.stderr
  assert 'bazel build' in result.stderr
  assert 'build_pip_package' in result.stderr
  assert 'pip install' in result.stderr
  # Nothing was started: no run directory, no experiment command printed.
  assert not logdir.exists()
  assert 'Command:' not in result.stdout


@pytest.mark.timeout(60)
@pytest.mark.parametrize('command', ['train', 'eval'])
def test_refuses_the_test_double_without_the_opt_in(command, tmp_path):
  logdir = tmp_path / 'run'
  result = _run_suite(command, f'--logdir={logdir}', fake_lab=True,
                      allow_test_double=False)
  assert result.returncode == suite.EXIT_NO_DEEPMIND_LAB, result.stderr
  assert 'TEST DOUBLE' in result.stderr
  assert os.path.join('tests', 'fakes', 'deepmind_lab') in result.stderr
  assert 'bazel build' in result.stderr
  assert not logdir.exists()


def _module(name, **attributes):
  module = types.ModuleType(name)
  for key, value in attributes.items():
    setattr(module, key, value)
  return module


def test_check_deepmind_lab_distinguishes_real_double_and_missing(
    monkeypatch):
  allow = {suite.ALLOW_TEST_DOUBLE_ENV: '1'}
  monkeypatch.setitem(sys.modules, 'deepmind_lab', _module('deepmind_lab'))
  assert suite.check_deepmind_lab(environ={}) is False  # The real module.
  monkeypatch.setitem(sys.modules, 'deepmind_lab',
                      _module('deepmind_lab', __test_double__=True))
  assert suite.check_deepmind_lab(environ=allow) is True
  with pytest.raises(suite.DeepMindLabUnavailable, match='TEST DOUBLE'):
    suite.check_deepmind_lab(environ={})
  # Only exactly '1' opts in.
  with pytest.raises(suite.DeepMindLabUnavailable):
    suite.check_deepmind_lab(environ={suite.ALLOW_TEST_DOUBLE_ENV: 'yes'})
  monkeypatch.setitem(sys.modules, 'deepmind_lab', None)  # Not importable.
  with pytest.raises(suite.DeepMindLabUnavailable, match='Bazel'):
    suite.check_deepmind_lab(environ=allow)


@pytest.mark.skipif(_real_lab_installed, reason='DeepMind Lab is installed.')
@pytest.mark.timeout(60)
def test_a_cluster_learner_needs_no_deepmind_lab(tmp_path):
  # The learner creates no environment (docs/impala.md §5: the actors do), so a
  # GPU learner machine without DeepMind Lab may run the driver.
  result = _run_suite(
      'train', f'--logdir={tmp_path / "run"}', '--dry_run',
      '--extra=--job_name=learner --learner_address=localhost:8001',
      fake_lab=False)
  assert result.returncode == 0, result.stderr
  assert 'Cluster learner' in result.stdout
  assert '--job_name=learner' in result.stdout  # In the printed command.


# --- Effective configuration and --extra --------------------------------------


def _config_lines(stdout):
  """{field: (repr of value, set by a flag)} from the printed configuration."""
  values = {}
  for line in stdout.splitlines():
    parts = line.split()
    if line.startswith('  ') and len(parts) >= 2:
      values[parts[0]] = (parts[1], parts[-1] == '*')
  return values


@pytest.mark.timeout(60)
def test_train_prints_the_readme_dmlab30_configuration(tmp_path):
  logdir = tmp_path / 'run'
  result = _run_suite('train', f'--logdir={logdir}', '--dry_run')
  assert result.returncode == 0, result.stderr
  values = _config_lines(result.stdout)
  # docs/impala.md §4, "DMLab-30 README run".
  assert values['env'] == ("'dmlab'", True)
  assert values['level_name'] == ("'dmlab30'", True)
  assert values['num_actors'][0] == '150'
  assert values['batch_size'][0] == '32'
  assert values['unroll_length'][0] == '100'
  assert values['num_action_repeats'][0] == '4'
  assert values['entropy_cost'][0] == '0.0033391318945337044'
  assert values['learning_rate'][0] == '0.00031866995608948655'
  assert values['reward_clipping'][0] == "'soft_asymmetric'"
  assert values['total_environment_frames'][0] == '10000000000'
  assert values['epsilon'][0] == '0.1'
  assert values['grad_norm_clip'][0] == '0.0'
  assert values['torso'][0] == "'deep'"
  assert values['width'][0] == '96' and values['height'][0] == '72'
  assert not values['batch_size'][1]  # A default, not set by a flag.
  assert ('-m scalable_agent_tf2.experiment --env=dmlab --level_name=dmlab30 '
          f'--logdir={logdir} --mode=train') in result.stdout
  assert 'environments per level: 5-5' in result.stdout
  assert 'TEST DOUBLE' in result.stderr  # Loudly flagged even when allowed.
  assert not logdir.exists()  # --dry_run starts nothing.


@pytest.mark.timeout(60)
def test_extra_overrides_the_defaults(tmp_path):
  result = _run_suite(
      'train', f'--logdir={tmp_path}', '--dry_run',
      '--extra=--num_actors=6 --envs_per_actor 5 --entropy_cost=0.01 '
      '--nouse_instruction')
  assert result.returncode == 0, result.stderr
  values = _config_lines(result.stdout)
  assert values['num_actors'] == ('6', True)
  assert values['envs_per_actor'] == ('5', True)
  assert values['entropy_cost'] == ('0.01', True)
  assert values['use_instruction'] == ('False', True)
  # Not overridden: still the README run's.
  assert values['learning_rate'][0] == '0.00031866995608948655'
  assert 'environments per level: 1-1' in result.stdout
  assert '--envs_per_actor 5' in result.stdout  # Passed on as given.


@pytest.mark.timeout(60)
@pytest.mark.parametrize('extra, message', [
    ('--num_actors=2', '2 environments, but DMLab-30 has 30 levels'),
    ('--no_such_flag=1', 'Invalid experiment flag'),
    ('--batch_size=0', '--batch_size must be >= 1'),
    ('--logdir=/elsewhere', 'may not set --logdir'),
])
def test_bad_extra_flags_stop_before_anything_starts(extra, message,
                                                     tmp_path):
  logdir = tmp_path / 'run'
  result = _run_suite('train', f'--logdir={logdir}', f'--extra={extra}')
  assert result.returncode == suite.EXIT_USAGE, result.stderr
  assert message in result.stderr
  assert not logdir.exists()


@pytest.mark.parametrize('command, extra', [
    ('train', '--level_name=rooms_watermaze'),
    ('train', '--env atari'),
    ('train', '--mode=test'),
    ('eval', '--test_num_episodes=3'),
    ('eval', '--logdir=/x'),
    ('train', 'stray_argument'),
    ('train', '--num_actors="6'),
])
def test_split_extra_rejects_what_the_driver_owns(command, extra):
  with pytest.raises(suite.SuiteError):
    suite.split_extra(extra, command)


def test_split_extra_keeps_experiment_flags_in_order():
  tokens = suite.split_extra(
      '--num_actors 6 --envs_per_actor=5 --dataset_path="/data/brady 2008"',
      'train')
  assert tokens == ['--num_actors', '6', '--envs_per_actor=5',
                    '--dataset_path=/data/brady 2008']
  assert suite.split_extra('', 'eval') == []


def test_eval_defaults_to_one_test_worker_per_core():
  # Not the dmlab30 default of 150 actors: that would start 150 TF workers.
  flags = suite.experiment_flags('eval', '/r', [], episodes=7)
  assert '--mode=test' in flags and '--test_num_episodes=7' in flags
  assert f'--num_actors={max(1, os.cpu_count() or 1)}' in flags
  flags = suite.experiment_flags('eval', '/r', ['--num_actors=9'], episodes=7)
  assert [f for f in flags if 'num_actors' in f] == ['--num_actors=9']


@pytest.mark.parametrize('num_actors, envs_per_actor', [
    (150, 1), (3, 10), (6, 5), (7, 5), (1, 30), (31, 1)])
def test_level_coverage_matches_the_runtime_assignment(num_actors,
                                                       envs_per_actor):
  config = config_lib.Config(
      env='dmlab', level_name='dmlab30', num_actors=num_actors,
      envs_per_actor=envs_per_actor).resolve().validate()
  # What the actors really play (actor.py: env g = task * K + k).
  expected = collections.Counter(
      suites.level_for_env(config, task * envs_per_actor + k)
      for task in range(num_actors) for k in range(envs_per_actor))
  coverage = suite.level_coverage(num_actors, envs_per_actor)
  assert coverage == {level: expected[level] for level in _TRAIN_LEVELS}
  assert sum(coverage.values()) == num_actors * envs_per_actor


def test_check_train_config_errors_and_warnings():
  def config(**kwargs):
    return config_lib.Config(env='dmlab', level_name='dmlab30',
                             **kwargs).resolve().validate()

  with pytest.raises(suite.SuiteError, match='29 environments'):
    suite.check_train_config(config(num_actors=29, envs_per_actor=1))
  warnings = suite.check_train_config(config(num_actors=7, envs_per_actor=5))
  assert any('first 5 levels get one environment more' in w
             for w in warnings)
  assert any('--dataset_path is empty' in w for w in warnings)
  with pytest.raises(suite.SuiteError, match='not a directory'):
    suite.check_train_config(config(num_actors=30, dataset_path='/no/such'))


def test_check_eval_logdir(tmp_path):
  with pytest.raises(suite.SuiteError, match='make train-dmlab30'):
    suite.check_eval_logdir(str(tmp_path))
  (tmp_path / 'config.json').write_text(
      json.dumps({'env': 'atari', 'level_name': 'Pong'}))
  with pytest.raises(suite.SuiteError, match='not the DMLab-30'):
    suite.check_eval_logdir(str(tmp_path))
  (tmp_path / 'config.json').write_text(
      json.dumps({'env': 'dmlab', 'level_name': 'dmlab30'}))
  assert suite.check_eval_logdir(str(tmp_path))['level_name'] == 'dmlab30'


# --- End to end on the stand-in -----------------------------------------------


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """`dmlab30.suite train` of a tiny 30-level run with real processes."""
  logdir = str(tmp_path_factory.mktemp('dmlab30') / 'run')
  result = _run_suite('train', f'--logdir={logdir}',
                      f'--extra={_TINY_TRAIN_EXTRA}', timeout=300)
  assert result.returncode == 0, (result.stdout[-2000:] +
                                  result.stderr[-4000:])
  return logdir, result


def _scalar_events(logdir, tag):
  """[(step, value)] of a scalar tag in the run's TensorBoard event files."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  events = []
  for path in sorted(glob.glob(os.path.join(logdir, 'events.out.tfevents*'))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          number = (float(tf.make_ndarray(value.tensor))
                    if value.HasField('tensor') else value.simple_value)
          events.append((event.step, number))
  return events


@pytest.mark.e2e
@pytest.mark.timeout(360)
def test_train_plays_all_30_levels_with_the_readme_hyperparameters(trained):
  logdir, result = trained
  assert 'Learner finished at 40000 frames' in result.stderr
  episodes = _read_jsonl(os.path.join(logdir, 'episodes.jsonl'))
  returns = collections.defaultdict(list)
  for episode in episodes:
    returns[episode['level_name']].append(episode['episode_return'])
  # Per-level returns of every one of the 30 train levels.
  assert sorted(returns) == sorted(_TRAIN_LEVELS)
  assert all(np.all(np.isfinite(r)) for r in returns.values())
  with open(os.path.join(logdir, 'config.json')) as f:
    saved = json.load(f)
  assert saved['level_name'] == 'dmlab30' and saved['env'] == 'dmlab'
  # Not overridden by the test, so the README run's values (docs/impala.md §4).
  assert saved['entropy_cost'] == 0.0033391318945337044
  assert saved['learning_rate'] == 0.00031866995608948655
  assert saved['reward_clipping'] == 'soft_asymmetric'
  # The driver printed the effective configuration and what to do next.
  assert 'effective configuration' in result.stdout
  assert 'make eval-dmlab30' in result.stdout
  # Every actor process played its 10 environments' levels.
  for task in range(3):
    log = os.path.join(logdir, 'logs', f'actor_{task}.log')
    with open(log) as f:
      text = f.read()
    for k in range(10):
      assert _TRAIN_LEVELS[(10 * task + k) % 30] in text, (task, k)


@pytest.mark.e2e
@pytest.mark.timeout(360)
def test_training_score_is_logged_and_matches_the_episode_returns(trained):
  logdir, _ = trained
  capped = _scalar_events(logdir, 'dmlab30/training_score_capped')
  uncapped = dict(_scalar_events(logdir, 'dmlab30/training_score_uncapped'))
  assert capped, 'dmlab30/training_score_capped never reached TensorBoard'
  step, score = capped[-1]
  # Recompute it from episodes.jsonl: the learner's running mean return per
  # level (last 100 episodes) of the episodes recorded up to that step, then
  # the mean capped human-normalised score (paper §5.3.1).
  episodes = _read_jsonl(os.path.join(logdir, 'episodes.jsonl'))
  returns = collections.defaultdict(list)
  for episode in episodes:
    if episode['frames'] <= step:
      returns[episode['level_name']].append(episode['episode_return'])
  means = {level: [float(np.mean(r[-100:]))] for level, r in returns.items()}
  assert len(means) == 30
  assert score == pytest.approx(
      dmlab30.compute_human_normalized_score(means, per_level_cap=100),
      rel=1e-5)
  assert uncapped[step] == pytest.approx(
      dmlab30.compute_human_normalized_score(means, per_level_cap=None),
      rel=1e-5)
  assert score <= uncapped[step] + 1e-3


@pytest.mark.e2e
@pytest.mark.timeout(360)
def test_eval_tests_the_30_test_levels_and_writes_table3(trained):
  logdir, _ = trained
  result = _run_suite('eval', f'--logdir={logdir}', '--episodes=1',
                      f'--extra={_TINY_EVAL_EXTRA}', timeout=300)
  assert result.returncode == 0, (result.stdout[-2000:] +
                                  result.stderr[-4000:])
  with open(os.path.join(logdir, 'test_results.json')) as f:
    results = json.load(f)
  # The held-out test variants, not the train levels (paper §5.3.1).
  assert sorted(results['level_returns']) == sorted(_TEST_LEVELS)
  assert all(len(r) >= 1 for r in results['level_returns'].values())
  assert results['test_num_episodes'] == 1
  assert results['frames'] == 40000

  with open(os.path.join(logdir, 'table3.md')) as f:
    markdown = f.read()
  assert markdown in result.stdout  # Printed as well.
  assert 'Table 3: DMLab-30 test' in markdown
  assert 'IMPALA, deep, PBT | 49.4' in markdown  # The paper, side by side.
  assert 'next to Table B.1' in markdown
  assert all(level in markdown for level in _TEST_LEVELS)
  assert 'TEST DOUBLE' in markdown  # Never mistaken for DMLab results.
  # The CSV's number for our run is the suite score of test_results.json.
  with open(os.path.join(logdir, 'table3.csv'), newline='') as f:
    header, *rows = list(csv.reader(f))
  ours = next(row for row in rows if row[0] == 'ours')
  expected = dmlab30.compute_human_normalized_score(
      results['level_returns'], per_level_cap=100)
  assert float(ours[header.index('Capped mean HNS (%)')]) == pytest.approx(
      expected)
  with open(os.path.join(logdir, 'table3_levels.csv'), newline='') as f:
    level_rows = list(csv.reader(f))[1:]
  assert sorted(row[0] for row in level_rows) == sorted(_TEST_LEVELS)
