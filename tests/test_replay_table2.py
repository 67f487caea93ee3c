"""The Table 2 runner (`make train-table2`, scalable_agent_tf2/table2_runner.py).

The end-to-end tests train tiny runs of every correction without and with
replay, on the DMLab stand-in (tests/fakes/deepmind_lab on PYTHONPATH: NOT
DeepMind Lab results) and on Pong, and check that the layout they write is the
one `make table2` reads, that a rerun skips them, and that replayed unrolls
lag more than fresh ones.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2 import table2_runner as runner
from scalable_agent_tf2.paper import tables

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
_REPO_DIR = os.path.dirname(_TESTS_DIR)
_FAKES_DIR = os.path.join(_TESTS_DIR, 'fakes')
_ALL_CELLS = {(c, r) for c in runner.CORRECTIONS for r in (False, True)}


def test_run_directories_are_the_ones_table2_discovers(tmp_path):
  args = runner.parse_args(['train', '--root', str(tmp_path), '--settings=2',
                            '--frames=100', '--levels=rooms_watermaze Pong'])
  runs = runner.plan(args)
  assert len(runs) == 2 * 2 * 4 * 2
  for run in runs:
    os.makedirs(run.logdir)
    open(run_dir.episodes_path(run.logdir), 'w').close()
  found, ignored = tables.discover_table2_runs(str(tmp_path))
  assert not ignored
  assert set(found) == {(c, r, level) for c, r in _ALL_CELLS
                        for level in ('rooms_watermaze', 'Pong')}
  assert all(len(dirs) == 2 for dirs in found.values())
  assert sorted(os.path.basename(d) for d in found[('vtrace', True, 'Pong')]
                ) == ['setting_0', 'setting_1']


def test_settings_come_from_table_d1_with_fixed_seeds():
  settings = [runner.sample_setting(k) for k in range(50)]
  assert settings[3] == runner.sample_setting(3)  # Same on every call.
  assert len({s['learning_rate'] for s in settings}) == 50
  for s in settings:
    assert 5e-5 <= s['entropy_cost'] <= 1e-2
    assert 5e-6 <= s['learning_rate'] <= 5e-3
    assert s['epsilon'] in (1e-1, 1e-3, 1e-5, 1e-7)
  assert runner.sample_setting(0, 'none') == {}


def test_the_default_grid_is_the_papers_protocol(tmp_path, capsys):
  args = runner.parse_args(['train', '--root', str(tmp_path)])
  runs = runner.plan(args)
  assert len(runs) == 24 * 5 * 4 * 2 == 960
  assert args.env == 'dmlab'
  # Setting k is one Table D.1 draw, the same in every cell.
  for k in (0, 23):
    commands = [runner.train_command(args, run) for run in runs
                if run.setting == k]
    assert len(commands) == 40
    rates = {[f for f in argv if f.startswith('--learning_rate=')][0]
             for argv in commands}
    assert len(rates) == 1
  argv = runner.train_command(args, runs[0])
  for flag in ('--torso=shallow', '--num_actors=48', '--envs_per_actor=1',
               '--batch_size=32', '--total_environment_frames=1000000000'):
    assert flag in argv
  args.dry_run = True
  assert runner.train(args) == 0
  out = capsys.readouterr().out
  assert "The paper's protocol" in out and out.count('would run') == 960


def test_a_smaller_grid_says_where_it_departs_from_the_paper(tmp_path,
                                                             capsys):
  args = runner.parse_args(['train', '--root', str(tmp_path), '--dry_run',
                            '--settings=2', '--frames=500', '--levels=Pong',
                            '--num_actors=2'])
  assert runner.train(args) == 0
  line = [l for l in capsys.readouterr().out.splitlines()
          if "Not the paper's protocol" in l][0]
  for part in ('settings 2 (paper: 24)', 'frames 500 (paper: 1000000000)',
               'num_actors 2 (paper: 48)', "levels ['Pong']"):
    assert part in line


def test_commands_carry_correction_replay_seed_and_setting(tmp_path):
  args = runner.parse_args(['train', '--root', str(tmp_path), '--frames=500',
                            '--levels=Pong', '--replay_capacity=64',
                            '--num_actors=2', '--batch_size=8',
                            '--extra=--unroll_length=10'])
  assert args.env == 'atari'
  assert runner.parse_args(['train', '--root', str(tmp_path), '--frames=5']
                           ).env == 'dmlab'
  by_name = {run.name: run for run in runner.plan(args)}
  argv = runner.train_command(args, by_name['1step_replay/Pong/setting_0'])
  flags = argv[argv.index('scalable_agent_tf2.experiment') + 1:]
  assert flags[-1] == '--unroll_length=10'  # --extra comes last.
  for flag in ('--correction=1step', '--replay_capacity=64',
               '--replay_proportion=0.5', '--seed=1', '--level_name=Pong',
               '--total_environment_frames=500', '--env=atari',
               '--num_actors=2', '--batch_size=8', '--torso=shallow'):
    assert flag in flags
  assert any(f.startswith('--learning_rate=') for f in flags)
  argv = runner.train_command(args, by_name['none/Pong/setting_0'])
  assert '--replay_capacity=0' in argv and '--correction=none' in argv


@pytest.mark.parametrize('argv, message', [
    (['--extra=--correction=none'], 'correction'),
    (['--extra=--num_actors=2'], 'num_actors'),
    (['--extra=--learning_rate=0.1'], '--sweep=none'),
    (['--corrections=vtrace retrace'], 'retrace'),
])
def test_contradicting_arguments_are_refused(tmp_path, argv, message):
  with pytest.raises(SystemExit, match=message):
    runner.parse_args(['train', '--root', str(tmp_path), '--frames=5'] + argv)


def _make_n(*variables):
  env = {k: v for k, v in os.environ.items()
         if k not in ('SETTINGS', 'FRAMES', 'TORSO', 'ACTORS', 'DRY_RUN',
                      'PRESET')}
  out = subprocess.run(['make', '-n', *variables], cwd=_REPO_DIR, env=env,
                       capture_output=True, text=True, check=True).stdout
  return ' '.join(out.replace('\\\n', ' ').split())


def test_makefile_target_calls_the_runner():
  command = _make_n('train-table2', 'LEVELS=Pong', 'SETTINGS=3',
                    'FRAMES=1000', 'ACTORS=2', 'ROOT=/tmp/t2',
                    'EXTRA=--unroll_length=10')
  assert ('-m scalable_agent_tf2.table2_runner train --root=/tmp/t2 '
          '--levels="Pong" --settings=3 --frames=1000') in command
  assert '--num_actors=2' in command
  assert '--extra="--unroll_length=10"' in command
  assert '--dry_run' not in command


def test_makefile_defaults_leave_the_papers_grid_to_the_runner():
  # FRAMES (40M for `make train`) must not reach the runner unless given.
  command = _make_n('train-table2', 'DRY_RUN=1')
  for flag in ('--settings', '--frames', '--torso', '--num_actors'):
    assert flag not in command
  assert '--dry_run' in command


@pytest.mark.parametrize('variables, torso', [
    (('PRESET=paper',), None), (('PRESET=paper', 'TORSO=shallow'), 'shallow'),
    ((), None), (('TORSO=deep',), 'deep')])
def test_make_train_leaves_the_torso_to_the_preset_unless_given(variables,
                                                                torso):
  # PRESET=paper trains Table G.1's deep torso; TORSO= is the switch.
  for target in ('train', 'train-pbt'):
    command = _make_n(target, *variables)
    found = re.findall(r'--torso=(\w+)', command)
    assert found == ([torso] if torso else []), command


# -- End to end ------------------------------------------------------------------


def _run_runner(args, timeout, fake_lab=False):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  env['PYTHONPATH'] = os.pathsep.join(
      [_REPO_DIR] + ([_FAKES_DIR] if fake_lab else []))
  if fake_lab:
    env['SCALABLE_AGENT_TF2_ALLOW_DMLAB_TEST_DOUBLE'] = '1'
  return subprocess.run(
      [sys.executable, '-m', 'scalable_agent_tf2.table2_runner', *args],
      cwd=_REPO_DIR, env=env, capture_output=True, text=True, timeout=timeout)


def _check_root(root, level, frames, replay_capacity):
  """Every cell is there, trained to the budget, with its own flags."""
  found, ignored = tables.discover_table2_runs(root)
  assert not ignored
  assert set(found) == {(c, r, level) for c, r in _ALL_CELLS}
  for (correction, replay, _), dirs in found.items():
    assert [os.path.basename(d) for d in dirs] == ['setting_0']
    saved = run_dir.read_config(dirs[0])
    assert saved['correction'] == correction
    assert saved['replay_capacity'] == (replay_capacity if replay else 0)
    assert run_dir.last_progress_frames(dirs[0]) >= frames
  table = tables.table2(root, levels=[level])[0]
  assert len(table.rows) == 8
  assert all(isinstance(row[2], float) for row in table.rows), table.rows
  return found


def _check_rerun_skips(args, timeout, fake_lab=False):
  result = _run_runner(args, timeout, fake_lab)
  assert result.returncode == 0, result.stdout + result.stderr
  assert len(re.findall(r'finished \(\d+ frames\), skipped', result.stdout)
             ) == 8, result.stdout
  assert 'training (' not in result.stdout


def _mean(records, key):
  return float(np.mean([r[key] for r in records if key in r]))


@pytest.mark.e2e
def test_train_table2_on_the_dmlab_stand_in(tmp_path):
  root = str(tmp_path / 'table2')
  extra = ('--unroll_length=10 --width=32 --height=24 '
           '--summary_secs=0.5 --progress_secs=1')
  args = ['train', '--root', root, '--levels=rooms_watermaze', '--settings=1',
          '--frames=6000', '--replay_capacity=40', '--parallel=2',
          '--num_actors=2', '--envs_per_actor=2', '--batch_size=8',
          '--extra=' + extra, '--quiet']
  result = _run_runner(args, timeout=1500, fake_lab=True)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  _check_root(root, 'rooms_watermaze', 6000, 40)
  saved = json.load(open(os.path.join(root, runner.SETTINGS_FILE)))
  assert saved['settings']['setting_0'] == runner.sample_setting(0)
  _check_rerun_skips(args, timeout=300, fake_lab=True)
  markdown = subprocess.run(
      [sys.executable, '-m', 'scalable_agent_tf2.paper', 'table2', root],
      cwd=_REPO_DIR, capture_output=True, text=True, check=True).stdout
  assert 'rooms_watermaze (ours)' in markdown


@pytest.mark.e2e
def test_train_table2_on_pong_and_replay_lags_more(tmp_path):
  root = str(tmp_path / 'table2')
  extra = '--summary_secs=0.5 --progress_secs=1'
  args = ['train', '--root', root, '--levels=Pong', '--sweep=none',
          '--settings=1', '--frames=20000', '--replay_capacity=200', '--parallel=2',
          '--num_actors=2', '--envs_per_actor=2', '--batch_size=4',
          '--extra=' + extra, '--quiet']
  result = _run_runner(args, timeout=2400)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  found = _check_root(root, 'Pong', 20000, 200)
  _check_rerun_skips(args, timeout=300)
  rendered = _run_runner(['render', '--root', root], timeout=300)
  assert 'Pong (ours)' in rendered.stdout, rendered.stdout + rendered.stderr
  # With replay the fresh unrolls alone count as frames: twice the updates.
  replay_run = found[('vtrace', True, 'Pong')][0]
  plain_run = found[('vtrace', False, 'Pong')][0]
  progress = run_dir.read_progress(replay_run)
  assert progress[-1]['updates'] == 20000 // (2 * 20 * 4)  # 125.
  assert run_dir.read_progress(plain_run)[-1]['updates'] == 63  # 62.5 up.
  # The replayed half acted with older parameters than the fresh half.
  assert _mean(progress, 'policy_lag_replayed') > \
      _mean(progress, 'policy_lag_fresh') + 1.0
  assert 0.0 < _mean(progress, 'replay_fill') <= 1.0


@pytest.mark.e2e
def test_a_buffer_that_cannot_fit_is_refused_at_start_up(tmp_path):
  # 10**6 Atari unrolls are about 600 GB: no machine running this has them.
  argv = config_lib.experiment_command([
      '--env=atari', '--level_name=Pong', '--num_actors=2',
      '--total_environment_frames=1000', '--replay_capacity=1000000',
      f'--logdir={tmp_path}'])
  result = subprocess.run(argv, cwd=_REPO_DIR, capture_output=True, text=True,
                          timeout=600)
  assert result.returncode != 0
  output = result.stdout + result.stderr
  assert '--replay_capacity=1000000 needs 595.' in output, output[-3000:]
  assert 'use --replay_capacity=' in output
  assert not os.path.isdir(run_dir.checkpoint_dir(str(tmp_path)))


def _write_jsonl(path, records):
  with open(path, 'w') as f:
    for r in records:
      f.write(json.dumps(r) + '\n')


def test_summary_reports_returns_and_lags_from_the_runs_files(tmp_path):
  root = str(tmp_path / 'root')
  for replay in (False, True):
    logdir = runner.run_logdir(root, 'vtrace', replay, 'Pong', 0)
    os.makedirs(logdir)
    _write_jsonl(run_dir.episodes_path(logdir), [
        dict(frames=100 * i, level_name='Pong', episode_return=float(i),
             episode_step=10) for i in range(10)])
    progress = [dict(frames=100 * i, updates=i, mean_policy_lag=float(i))
                for i in range(1, 5)]
    if replay:
      for p in progress:
        p.update(policy_lag_fresh=1.0, policy_lag_replayed=p['updates'] * 10.0,
                 replay_fill=0.5)
    _write_jsonl(run_dir.progress_path(logdir), progress)
  out = str(tmp_path / 'out')
  assert runner.main(['summary', '--root', root, '--out_dir', out]) == 0
  with open(os.path.join(out, 'summary.csv')) as f:
    rows = [line.split(',') for line in f.read().splitlines()]
  assert rows[0][:3] == ['run', 'correction', 'replay']
  by_run = {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}
  replay_row = by_run['vtrace_replay/Pong/setting_0']
  assert replay_row['final_return'] == '9.0'  # Last 10% of 10 episodes.
  assert replay_row['frames'] == '400' and replay_row['updates'] == '4'
  assert replay_row['policy_lag_replayed'] == '35.0'  # Mean of 30, 40.
  assert replay_row['policy_lag_fresh'] == '1.0'
  assert by_run['vtrace/Pong/setting_0']['policy_lag_replayed'] == ''
  assert os.path.getsize(os.path.join(out, 'curves.png')) > 1000
  with open(os.path.join(out, 'lags.csv')) as f:
    assert len(f.read().splitlines()) == 1 + 8


def test_an_interrupted_train_says_so_and_is_resumable(tmp_path, capsys):
  args = runner.parse_args(['train', '--root', str(tmp_path), '--frames=100',
                            '--levels=Pong', '--corrections=vtrace'])
  runs = runner.plan(args)
  codes = {runs[0].name: 143, runs[1].name: None, runner.jobs.SIGNAL_KEY: 15}
  assert runner._summary(args, runs, codes) == 128 + 15
  out = capsys.readouterr().out
  assert 'vtrace/Pong/setting_0' in out and 'stopped by the interrupt' in out
  assert 'not run (interrupted)' in out and 'FAILED' not in out
  assert 'rerun the same command to resume' in out


def test_make_train_defaults_to_the_replay_preset_and_its_schedule():
  # The preset's 10M-frame decay applies unless FRAMES is given.
  command = _make_n('train')
  assert '--preset=replay' in command
  assert '--total_environment_frames' not in command
  command = _make_n('train', 'FRAMES=20000000', 'PRESET=small')
  assert '--preset=small' in command
  assert '--total_environment_frames=20000000' in command
  assert '--total_environment_frames=40000000' in _make_n('train-pbt')
