"""Tests for the Atari-57 suite driver (`python -m atari57.suite`).

Unit tests cover the pure parts (game lists, --extra, the command lines, the
finished/unfinished decision on real checkpoints) and the orchestration with
a stand-in experiment script (a few lines of Python that write what a run
writes), so the driver's skip / resume / fail-and-continue logic runs without
TensorFlow training (the job runner itself: tests/test_jobs.py). The e2e
test drives the real experiment on two games with a tiny budget.
"""

import csv
import json
import os
import subprocess
import sys
import textwrap

import pytest

import atari57
from atari57 import suite
from atari57 import suite_commands
from atari57 import suite_pbt
from atari57 import suite_state
from atari57 import games
from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2.pbt import fitness
from scalable_agent_tf2 import run_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- Game lists ---------------------------------------------------------------


def test_empty_games_means_all_57_in_suite_order():
  assert suite.parse_games('') == list(atari57.GAMES)
  assert suite.parse_games('  , ') == list(atari57.GAMES)
  assert suite.parse_games(None) == list(atari57.GAMES)
  assert len(suite.parse_games('')) == 57


def test_games_are_split_canonicalised_and_deduplicated():
  games = suite.parse_games(' pong,Breakout  bank_heist,ALE/MsPacman-v5 Pong ')
  assert games == ['Pong', 'Breakout', 'BankHeist', 'MsPacman']


def test_unknown_games_fail_naming_them_and_the_valid_ones():
  with pytest.raises(suite.SuiteError) as e:
    suite.parse_games('Pong Pongg Zork')
  message = str(e.value)
  assert "'Pongg'" in message and "'Zork'" in message
  assert 'Valid names' in message
  for game in ('Alien', 'MontezumaRevenge', 'Zaxxon'):
    assert game in message


def test_unknown_game_on_the_command_line_exits_before_anything_runs(
    tmp_path, capsys):
  code = suite.main(['train', '--root', str(tmp_path / 'suite'),
                     '--games=Pong Pongg'])
  assert code == 2
  assert 'Pongg' in capsys.readouterr().err
  assert not os.path.exists(tmp_path / 'suite')


# --- --extra ------------------------------------------------------------------


def test_extra_is_split_like_a_shell_and_passed_through():
  extra = suite.parse_extra('--num_actors=2 --batch_size=4 --nouse_lstm '
                            '"--dataset_path="')
  assert extra == ['--num_actors=2', '--batch_size=4', '--nouse_lstm',
                   '--dataset_path=']
  assert suite.parse_extra('') == []


@pytest.mark.parametrize('flag', [
    '--logdir=/tmp/x', '--level_name=Pong', '--env=dmlab', '--mode=test',
    '--job_name=actor', '--task=1', '--total_environment_frames=5',
    '--test_num_episodes=3'])
def test_extra_refuses_flags_that_the_driver_sets(flag):
  with pytest.raises(suite.SuiteError, match='may not set'):
    suite.parse_extra('--num_actors=2 ' + flag)


@pytest.mark.parametrize('text, message', [
    ('--num_actor=2', 'no flag --num_actor'),
    ('--num_actors 2', "'2' is not a flag"),
    ('--seed="1', 'cannot be split'),
])
def test_extra_rejects_what_would_make_every_run_fail(text, message):
  with pytest.raises(suite.SuiteError, match=message):
    suite.parse_extra(text)


def test_extra_flag_value_follows_absl_last_one_wins():
  extra = ['--torso=deep', '--num_actors=3', '--torso=shallow', '--use_lstm',
           '--nonetns']
  assert suite.extra_flag_value(extra, 'torso') == 'shallow'
  assert suite.extra_flag_value(extra, 'num_actors') == '3'
  assert suite.extra_flag_value(extra, 'use_lstm') == 'true'
  assert suite.extra_flag_value(extra, 'netns') == 'false'
  assert suite.extra_flag_value(extra, 'batch_size') is None


# --- Command lines ------------------------------------------------------------

_PY = [sys.executable, '-m', 'scalable_agent_tf2.experiment']


def test_expert_train_command():
  argv = suite.train_command('Pong', '/r/Pong', 400, 'deep', ['--batch_size=2'])
  assert argv == _PY + [
      '--env=atari', '--level_name=Pong', '--logdir=/r/Pong',
      '--total_environment_frames=400', '--torso=deep', '--preset=paper',
      '--batch_size=2']
  # A --torso in --extra replaces the driver's; a --preset there, the paper's.
  argv = suite.train_command('Pong', '/r/Pong', 400, 'deep',
                             ['--torso=shallow'])
  assert [a for a in argv if a.startswith('--torso')] == ['--torso=shallow']
  argv = suite.train_command('Pong', '/r/Pong', 400, 'deep', ['--preset=small'])
  assert [a for a in argv if a.startswith('--preset')] == ['--preset=small']


def test_train_command_with_divided_actors():
  argv = suite.train_command('Pong', '/r/Pong', 10, 'shallow', [],
                             num_actors=3)
  assert argv[-1] == '--num_actors=3'


def test_multitask_train_command_and_budget(tmp_path, capsys):
  root = str(tmp_path)
  assert suite.multitask_budget(1000) == 57 * 1000
  assert suite.multitask_logdir(root) == os.path.join(root, 'multitask')
  assert suite.main(['train', '--root', root, '--multitask=1',
                     '--frames_per_game=1000', '--torso=shallow',
                     '--dry_run']) == 0
  out = capsys.readouterr().out
  expected = ' '.join(suite.train_command(
      'atari57', os.path.join(root, 'multitask'), 57000, 'shallow'))
  assert expected in out


def test_multitask_pbt_fitness_is_table_g1s_capped_mean(tmp_path, capsys):
  # A game at 500% of human counts as 100%: with every other game at its
  # random score (0%), the fitness is 100 / 57, not 500 / 57.
  config = config_lib.Config(env='atari', level_name='atari57')
  returns = {game: games.RANDOM_SCORES[game] for game in games.GAMES}
  human, rnd = games.HUMAN_SCORES['Pong'], games.RANDOM_SCORES['Pong']
  returns['Pong'] = rnd + 5.0 * (human - rnd)
  assert fitness.fitness(config, returns, suite_pbt.FITNESS_CAP) == \
      pytest.approx(100.0 / 57)
  assert suite.main(['train', '--root', str(tmp_path), '--multitask=1',
                     '--pbt=2', '--frames_per_game=1000', '--dry_run']) == 0
  assert 'each level capped at 100' in capsys.readouterr().out


def test_multitask_with_a_game_subset_is_refused(tmp_path, capsys):
  for command in ('train', 'eval'):
    assert suite.main([command, '--root', str(tmp_path), '--multitask=1',
                       '--games=Pong Breakout', '--dry_run']) == 2
    assert 'all 57 games' in capsys.readouterr().err


def test_eval_commands():
  assert suite.eval_command('Breakout', 'r/Breakout', 2, ['--num_actors=2']) \
      == _PY + ['--mode=test', '--env=atari', '--level_name=Breakout',
                '--logdir=r/Breakout', '--test_num_episodes=2',
                '--num_actors=2']
  multitask = suite.eval_command('atari57', 'r/multitask', 200)
  assert '--level_name=atari57' in multitask and '--mode=test' in multitask


def test_parallel_runs_share_the_cores_unless_the_user_chose():
  assert suite.actors_per_run(1, [], cpu_count=16) is None
  assert suite.actors_per_run(4, [], cpu_count=16) == 4
  assert suite.actors_per_run(2, [], cpu_count=2) == 2  # The minimum.
  assert suite.actors_per_run(4, ['--num_actors=7'], cpu_count=16) is None


def test_cli_numbers_and_switches():
  parser = suite.build_parser()
  args = parser.parse_args(['train', '--root=r', '--frames_per_game=2e8',
                            '--multitask=1', '--parallel=3'])
  assert args.frames_per_game == 200_000_000 and args.multitask
  assert args.parallel == 3 and args.torso == 'deep'
  args = parser.parse_args(['eval', '--root=r', '--multitask=0'])
  assert args.episodes == 200 and not args.multitask
  for bad in (['train', '--root=r', '--frames_per_game=0'],
              ['train', '--root=r', '--frames_per_game=1.5'],
              ['train', '--root=r', '--multitask=maybe'],
              ['eval', '--root=r', '--episodes=-1']):
    with pytest.raises(SystemExit):
      parser.parse_args(bad)


# --- Finished or not: real checkpoints ----------------------------------------


def _write_checkpoint(logdir, frames, torso='shallow'):
  """A checkpoint with the learner's frame counter, as the learner saves it."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  counter = tf.Variable(frames, dtype=tf.int64, trainable=False)
  checkpoint = tf.train.Checkpoint(num_env_frames=counter)
  from scalable_agent_tf2.runtime import checkpoints  # pylint: disable=g-import-not-at-top
  manager = checkpoints.make_manager(checkpoint, logdir)
  manager.save()
  with open(os.path.join(logdir, 'config.json'), 'w') as f:
    json.dump({'torso': torso, 'level_name': 'Pong',
               'total_environment_frames': 800}, f)


def test_checkpoint_dir_matches_the_runtime(tmp_path):
  # The learner's checkpoints land where the driver looks: both name the
  # run's files through scalable_agent_tf2.run_dir.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import checkpoints  # pylint: disable=g-import-not-at-top
  manager = checkpoints.make_manager(tf.train.Checkpoint(), str(tmp_path))
  # The layout users and the drivers rely on: <logdir>/checkpoints/.
  assert manager.directory == os.path.join(str(tmp_path), 'checkpoints')
  assert run_dir.checkpoint_dir(str(tmp_path)) == manager.directory


def test_run_without_checkpoint_is_new(tmp_path):
  status = suite.run_status(str(tmp_path / 'Pong'), 400, 'deep')
  assert status.frames is None and not status.finished
  assert status.describe() == 'new run'


def test_finished_means_the_latest_checkpoint_reached_the_budget(tmp_path):
  logdir = str(tmp_path / 'Pong')
  _write_checkpoint(logdir, 400)
  assert suite.checkpoint_frames(logdir) == 400
  assert suite.run_status(logdir, 400, 'shallow').finished
  assert suite.run_status(logdir, 300, 'shallow').finished
  unfinished = suite.run_status(logdir, 800, 'shallow')
  assert not unfinished.finished and unfinished.frames == 400
  assert 'resuming at 400 of 800' in unfinished.describe()
  _write_checkpoint(logdir, 800)  # A newer checkpoint is what counts.
  assert suite.run_status(logdir, 800, 'shallow').finished


def test_a_run_of_another_torso_is_never_skipped_silently(tmp_path):
  logdir = str(tmp_path / 'Pong')
  _write_checkpoint(logdir, 400, torso='shallow')
  status = suite.run_status(logdir, 400, 'deep')
  assert not status.finished
  assert '--torso=shallow' in status.problem


def test_unreadable_checkpoint_is_not_finished(tmp_path):
  logdir = str(tmp_path / 'Pong')
  _write_checkpoint(logdir, 400)
  directory = run_dir.checkpoint_dir(logdir)
  for name in os.listdir(directory):
    if name.endswith('.index'):
      with open(os.path.join(directory, name), 'wb') as f:
        f.write(b'garbage')
  with pytest.raises(suite.SuiteError, match='Cannot read checkpoint'):
    suite.checkpoint_frames(logdir)
  status = suite.run_status(logdir, 400, 'shallow')
  assert not status.finished and status.problem is None
  assert 'Cannot read checkpoint' in status.describe()


def test_results_up_to_date(tmp_path):
  logdir = str(tmp_path)
  assert not suite.results_up_to_date(logdir, 2, ['Pong'], 400)
  with open(os.path.join(logdir, 'test_results.json'), 'w') as f:
    json.dump({'frames': 400, 'level_returns': {'Pong': [-21.0, -20.0]}}, f)
  assert suite.results_up_to_date(logdir, 2, ['Pong'], 400)
  assert not suite.results_up_to_date(logdir, 3, ['Pong'], 400)  # Too few.
  assert not suite.results_up_to_date(logdir, 2, ['Pong'], 800)  # Newer ckpt.
  assert not suite.results_up_to_date(logdir, 2, ['Pong', 'Alien'], 400)


# --- Orchestration with a stand-in experiment ---------------------------------

# Writes what the real entry point writes, in milliseconds: training records
# the frame budget as the "checkpoint" (state.json) and appends to a call log;
# test mode writes test_results.json. Games listed in FAIL_GAMES exit 3 (like a
# ROM that cannot load); games in SHORT_GAMES exit 0 half-way to the budget.
_FAKE_EXPERIMENT = textwrap.dedent('''\
    import json, os, sys
    flags = dict(a[2:].split('=', 1) for a in sys.argv[1:] if '=' in a)
    logdir, level = flags['logdir'], flags['level_name']
    os.makedirs(logdir, exist_ok=True)
    with open(os.path.join(os.path.dirname(logdir), 'calls.jsonl'), 'a') as f:
      f.write(json.dumps(sys.argv[1:]) + '\\n')
    print('fake experiment', level, flush=True)
    if level in os.environ.get('FAIL_GAMES', '').split():
      sys.exit(3)
    if flags.get('mode') == 'test':
      levels = [level] if level != 'atari57' else json.loads(
          os.environ['ALL_GAMES'])
      state = json.load(open(os.path.join(logdir, 'state.json')))
      n = int(flags['test_num_episodes'])
      json.dump({'env': 'atari', 'frames': state['frames'],
                 'level_returns': {l: [1.0] * n for l in levels}},
                open(os.path.join(logdir, 'test_results.json'), 'w'))
      sys.exit(0)
    budget = int(flags['total_environment_frames'])
    if level in os.environ.get('SHORT_GAMES', '').split():
      budget //= 2
    json.dump({'frames': budget}, open(os.path.join(logdir, 'state.json'), 'w'))
    json.dump({'torso': flags['torso']},
              open(os.path.join(logdir, 'config.json'), 'w'))
    ''')


@pytest.fixture
def fake_experiment(tmp_path, monkeypatch):
  """Points the driver at the stand-in; returns a reader of its call log."""
  script = tmp_path / 'fake_experiment.py'
  script.write_text(_FAKE_EXPERIMENT)
  monkeypatch.setattr(suite_commands, 'experiment_command',
                      lambda flags: [sys.executable, str(script), *flags])

  def fake_frames(logdir):
    path = os.path.join(logdir, 'state.json')
    if not os.path.exists(path):
      return None
    with open(path) as f:
      return json.load(f)['frames']

  monkeypatch.setattr(suite_state, 'checkpoint_frames', fake_frames)
  monkeypatch.setenv('ALL_GAMES', json.dumps(list(atari57.GAMES)))
  root = tmp_path / 'suite'

  def calls():
    path = root / 'calls.jsonl'
    if not path.exists():
      return []
    return [json.loads(line) for line in path.read_text().splitlines()]

  return str(root), calls


def _train(root, *flags):
  return suite.main(['train', '--root', root, '--torso=shallow', '--quiet',
                     '--frames_per_game=100'] + list(flags))


def test_train_skips_finished_games_and_continues_after_a_failure(
    fake_experiment, monkeypatch, capsys):
  root, calls = fake_experiment
  monkeypatch.setenv('FAIL_GAMES', 'Breakout')
  assert _train(root, '--games=Pong Breakout Boxing') == 1
  out = capsys.readouterr().out
  # The failure did not stop the suite: Boxing (after Breakout) was trained.
  assert [c[1] for c in calls()] == ['--level_name=Pong',
                                     '--level_name=Breakout',
                                     '--level_name=Boxing']
  assert '[2/3] Breakout' in out and os.path.join(root, 'Breakout') in out
  assert '1 failed: Breakout' in out
  with open(os.path.join(root, 'Breakout', suite.TRAIN_LOG)) as f:
    assert 'fake experiment Breakout' in f.read()

  # Rerun: only the failed game runs again; the finished ones are skipped.
  monkeypatch.setenv('FAIL_GAMES', '')
  assert _train(root, '--games=Pong Breakout Boxing') == 0
  out = capsys.readouterr().out
  assert [c[1] for c in calls()[3:]] == ['--level_name=Breakout']
  assert 'Pong: finished (100 of 100 frames), skipped' in out

  # A bigger budget: every game runs again with the new budget (the
  # experiment resumes from its checkpoint).
  assert _train(root, '--games=Pong', '--frames_per_game=200') == 0
  assert calls()[-1][:5] == ['--env=atari', '--level_name=Pong',
                             '--logdir=' + os.path.join(root, 'Pong'),
                             '--total_environment_frames=200',
                             '--torso=shallow']
  assert 'resuming at 100 of 200 frames' in capsys.readouterr().out


def test_a_run_that_exits_cleanly_short_of_its_budget_counts_as_failed(
    fake_experiment, monkeypatch, capsys):
  root, _ = fake_experiment
  monkeypatch.setenv('SHORT_GAMES', 'Pong')
  assert _train(root, '--games=Pong') == 1
  out = capsys.readouterr().out
  assert 'exit code 0 but the checkpoint is at 50 of 100 frames' in out


def test_parallel_training_divides_the_actors(fake_experiment, monkeypatch):
  root, calls = fake_experiment
  monkeypatch.setattr(os, 'cpu_count', lambda: 8)
  assert _train(root, '--games=Pong Breakout Boxing Alien',
                '--parallel=2') == 0
  assert sorted(c[1] for c in calls()) == sorted(
      '--level_name=' + g for g in ('Pong', 'Breakout', 'Boxing', 'Alien'))
  assert all('--num_actors=4' in c for c in calls())
  assert _train(root, '--games=Pong', '--parallel=2') == 0  # All finished.
  assert len(calls()) == 4


def test_train_refuses_a_logdir_of_another_torso(fake_experiment, capsys):
  root, calls = fake_experiment
  assert _train(root, '--games=Pong') == 0
  assert suite.main(['train', '--root', root, '--torso=deep', '--quiet',
                     '--frames_per_game=100', '--games=Pong']) == 1
  assert len(calls()) == 1  # Not started again.
  assert '--torso=shallow run' in capsys.readouterr().out


def test_eval_tests_trained_games_and_writes_the_suite_table(
    fake_experiment, capsys):
  root, calls = fake_experiment
  assert _train(root, '--games=Pong Breakout') == 0
  code = suite.main(['eval', '--root', root, '--episodes=2', '--quiet',
                     '--games=Pong Breakout Boxing', '--extra=--num_actors=2'])
  assert code == 0
  out = capsys.readouterr().out
  evals = [c for c in calls() if '--mode=test' in c]
  assert [c[2] for c in evals] == ['--level_name=Pong', '--level_name=Breakout']
  assert all('--test_num_episodes=2' in c and c[-1] == '--num_actors=2'
             for c in evals)
  assert 'Boxing: no checkpoint' in out and 'not trained' in out
  with open(os.path.join(root, 'table4.md')) as f:
    markdown = f.read()
  assert markdown in out  # Printed too.
  lines = markdown.splitlines()
  pong = next(line for line in lines if line.startswith('| Pong |'))
  assert float(pong.split('|')[4]) == 1.0  # Our mean test return.
  assert sum(line.count('n/a (missing) | n/a (missing)') for line in lines
             if line.startswith('| ')) == 55
  assert 'Ours, shallow, experts' in markdown
  with open(os.path.join(root, 'table4_games.csv')) as f:
    rows = {row['Game']: row for row in csv.DictReader(f)}
  assert float(rows['Breakout']['Ours, shallow, experts score']) == 1.0
  assert os.path.exists(os.path.join(root, 'table4.csv'))

  # Rerun: results are up to date, nothing is re-evaluated; --strict fails
  # because 55 games are missing.
  before = len(calls())
  assert suite.main(['eval', '--root', root, '--episodes=2', '--quiet',
                     '--strict']) == 1
  assert len(calls()) == before
  assert '--strict: the experts miss 55 of 57' in capsys.readouterr().out


def test_eval_failures_are_reported_and_the_table_still_written(
    fake_experiment, monkeypatch, capsys):
  root, _ = fake_experiment
  assert _train(root, '--games=Pong Breakout') == 0
  monkeypatch.setenv('FAIL_GAMES', 'Breakout')
  assert suite.main(['eval', '--root', root, '--episodes=1', '--quiet',
                     '--games=Pong Breakout']) == 1
  out = capsys.readouterr().out
  assert 'Breakout: FAILED (exit code 3)' in out
  assert os.path.exists(os.path.join(root, 'table4.md'))


def test_eval_with_nothing_trained_fails_clearly(fake_experiment, capsys):
  root, calls = fake_experiment
  os.makedirs(root)
  assert suite.main(['eval', '--root', root, '--quiet']) == 1
  assert calls() == []
  assert 'nothing to tabulate' in capsys.readouterr().out


def test_multitask_eval_tests_all_57_from_one_run_beside_the_experts(
    fake_experiment, capsys):
  root, calls = fake_experiment
  assert _train(root, '--games=Pong') == 0
  assert _train(root, '--multitask=1') == 0
  assert calls()[-1][1] == '--level_name=atari57'
  assert '--total_environment_frames=5700' in calls()[-1]
  assert calls()[-1][2] == '--logdir=' + os.path.join(root, 'multitask')
  assert suite.main(['eval', '--root', root, '--games=Pong', '--episodes=1',
                     '--quiet', '--strict']) == 1  # The experts miss 56.
  assert '--strict: the experts miss 56 of 57' in capsys.readouterr().out
  # The multi-task run has all 57: --strict is satisfied.
  assert suite.main(['eval', '--root', root, '--multitask=1', '--episodes=1',
                     '--quiet', '--strict']) == 0
  assert calls()[-1][:4] == ['--mode=test', '--env=atari',
                             '--level_name=atari57',
                             '--logdir=' + os.path.join(root, 'multitask')]
  assert 'Ours, shallow, multi-task' in capsys.readouterr().out
  result, missing = suite.suite_tables(root)
  assert missing == {'experts': [g for g in atari57.GAMES if g != 'Pong'],
                     'multitask': []}
  summary = result[0]
  multitask = summary.row('Ours, shallow, multi-task')
  assert multitask[summary.columns.index('Games')] == 57
  experts = summary.row('Ours, shallow, experts')
  assert experts[summary.columns.index('Source')] == 'ours: ' + root


# The job runner (run_jobs, Ctrl-C) is tested in tests/test_jobs.py.


# --- End to end ---------------------------------------------------------------

_TINY = ('--num_actors=2 --envs_per_actor=1 --batch_size=2 --unroll_length=5 '
         '--torso=shallow --checkpoint_secs=5')


def _suite(*args, timeout=240):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  result = subprocess.run(
      [sys.executable, '-m', 'atari57.suite'] + list(args), cwd=REPO, env=env,
      capture_output=True, text=True, timeout=timeout)
  return result.returncode, result.stdout + result.stderr


def _checkpoint_state(logdir):
  directory = os.path.join(logdir, 'checkpoints')
  return {name: os.stat(os.path.join(directory, name)).st_mtime_ns
          for name in os.listdir(directory)}


@pytest.mark.e2e
@pytest.mark.timeout(420)
def test_suite_trains_skips_resumes_and_evaluates_two_games(tmp_path):
  root = str(tmp_path / 'atari57')
  games = '--games=Pong Breakout'
  pong, breakout = os.path.join(root, 'Pong'), os.path.join(root, 'Breakout')

  code, out = _suite('train', '--root=' + root, games, '--frames_per_game=400',
                     '--extra=' + _TINY)
  assert code == 0, out
  assert '[1/2] Pong: training' in out and '[2/2] Breakout: training' in out
  assert suite.checkpoint_frames(pong) == 400, out
  assert suite.checkpoint_frames(breakout) == 400, out
  with open(os.path.join(pong, suite.TRAIN_LOG)) as f:
    log = f.read()
  assert 'Learner finished at 400 frames' in log, log

  before = {g: _checkpoint_state(d) for g, d in (('Pong', pong),
                                                  ('Breakout', breakout))}
  code, out = _suite('train', '--root=' + root, games, '--frames_per_game=400',
                     '--extra=' + _TINY)
  assert code == 0, out
  assert 'Pong: finished (400 of 400 frames), skipped' in out, out
  assert 'Breakout: finished (400 of 400 frames), skipped' in out, out
  assert before == {g: _checkpoint_state(d) for g, d in (
      ('Pong', pong), ('Breakout', breakout))}  # Not retrained.

  # A bigger budget for Pong only (one game keeps the test short): it
  # continues from its checkpoint, not from 0; Breakout is left alone.
  code, out = _suite('train', '--root=' + root, '--games=pong',
                     '--frames_per_game=800', '--extra=' + _TINY)
  assert code == 0, out
  assert '[1/1] Pong: training, resuming at 400 of 800 frames' in out, out
  assert suite.checkpoint_frames(pong) == 800, out
  with open(os.path.join(pong, suite.TRAIN_LOG)) as f:
    resumed = f.read().split('--total_environment_frames=800')[1]
  assert 'Resumed from' in resumed and 'at 400 frames' in resumed, resumed
  with open(os.path.join(pong, 'progress.jsonl')) as f:
    frames = [json.loads(line)['frames'] for line in f]
  # No restart at 0.
  assert frames[-1] == 800 and frames == sorted(frames), frames
  assert before['Breakout'] == _checkpoint_state(breakout)

  # One test worker per game playing both episodes (fewer TF start-ups).
  code, out = _suite('eval', '--root=' + root, games, '--episodes=2',
                     '--extra=--num_actors=1 --envs_per_actor=2')
  assert code == 0, out
  for game, logdir, trained in (('Pong', pong, 800),
                                ('Breakout', breakout, 400)):
    with open(os.path.join(logdir, 'test_results.json')) as f:
      results = json.load(f)
    # The latest checkpoint was tested.
    assert results['frames'] == trained, (results, out)
    assert len(results['level_returns'][game]) == 2, results
  with open(os.path.join(root, 'table4.md')) as f:
    markdown = f.read()
  lines = markdown.splitlines()
  for game, logdir in (('Pong', pong), ('Breakout', breakout)):
    row = next(line for line in lines if line.startswith('| %s |' % game))
    with open(os.path.join(logdir, 'test_results.json')) as f:
      mean = sum(json.load(f)['level_returns'][game]) / 2
    # Our score and HNS, beside the paper's: numbers, not "missing".
    assert float(row.split('|')[4]) == pytest.approx(mean, abs=0.006)
    assert float(row.split('|')[5]) == pytest.approx(
        atari57.human_normalized_score(game, mean), abs=0.006)
  missing_rows = [line for line in lines if line.startswith('| ') and
                  'n/a (missing) | n/a (missing)' in line]
  assert len(missing_rows) == 55, markdown


def test_the_multitask_make_targets_train_the_deep_torso():
  # The paper's multi-task Atari agents (Table 4) are deep; `make train`'s
  # TORSO does not leak into them.
  for variables in (['MULTITASK=1'], ['MULTITASK=1', 'PBT=4'],
                    ['MULTITASK=1', 'TORSO=shallow']):
    out = subprocess.run(['make', '-n', 'train-atari57', *variables],
                         cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert '--torso=deep' in out, out
