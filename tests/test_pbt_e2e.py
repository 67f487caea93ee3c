"""End to end: PBT populations through the user's commands (real learner
and actor processes, real ALE Pong; the DMLab-30 stand-in)."""

import glob
import os
import signal
import subprocess
import sys

import pytest

from runtime_helpers import (REPO, checkpoint_values, child_env, frames_of,
                             latest_checkpoint, processes_with, read_jsonl,
                             wait_for)

pytestmark = pytest.mark.e2e

# 160 frames per update (batch 4 x unroll 10 x 4 repeats); Pong episodes of
# the untrained agent last about 3,500 frames, two environments per member.
BUDGET = 80 * 160
# The rerun continues every member with this bigger budget.
RERUN_BUDGET = BUDGET + 60 * 160
# Every finished episode is a ready step (no burn-in), and a negative
# threshold makes every step with a published peer an exploit (docs/pbt.md).
PONG_EXTRA = ('--torso=shallow --num_actors=1 --envs_per_actor=2 '
              '--batch_size=4 --unroll_length=10 --progress_secs=2 '
              '--summary_secs=2 --checkpoint_secs=20 '
              '--actor_reconnect_secs=60 --pbt_burn_in_frames=0 '
              '--pbt_ready_episodes=1 --pbt_threshold=-1000')


def _pbt_command(root, budget=BUDGET):
  return [sys.executable, '-m', 'scalable_agent_tf2.pbt', 'train',
          f'--root={root}', '--population=3', '--env=atari',
          '--level_name=Pong', f'--total_environment_frames={budget}',
          '--parallel=3', f'--extra={PONG_EXTRA}']


def _events(root, index):
  return read_jsonl(os.path.join(root, f'member_{index}', 'pbt_log.jsonl'))


def _member_frames(root, index):
  progress = read_jsonl(os.path.join(root, f'member_{index}',
                                     'progress.jsonl'))
  return progress[-1]['frames'] if progress else 0


def _experiment_pid(root, index):
  """The member's experiment: the launcher its supervisor started (not the
  supervisor, whose command line holds the experiment's too)."""
  logdir = f'--logdir={os.path.join(root, f"member_{index}")} '
  for pid in sorted(processes_with(logdir)):
    try:
      with open(f'/proc/{pid}/cmdline', 'rb') as f:
        argv = f.read().split(b'\0')
    except OSError:
      continue
    if argv[1:3] == [b'-m', b'scalable_agent_tf2.experiment']:
      return pid
  return None


@pytest.mark.timeout(2400)
def test_pong_population_exploits_explores_and_survives_a_killed_member(
    tmp_path):
  root = str(tmp_path / 'pbt')
  log = open(tmp_path / 'driver.log', 'w')
  driver = subprocess.Popen(_pbt_command(root), cwd=REPO, env=child_env(),
                            stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
  try:
    # Kill member 1's experiment (SIGKILL: no final checkpoint) once it has
    # trained a little; its supervisor restarts it from its checkpoint.
    assert wait_for(lambda: _member_frames(root, 1) >= 20 * 160, 1200, 2), (
        'member 1 did not train')
    pid = _experiment_pid(root, 1)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert driver.wait(timeout=1800) == 0, open(tmp_path / 'driver.log').read(
    )[-4000:]
  finally:
    if driver.poll() is None:
      os.killpg(driver.pid, signal.SIGTERM)
      driver.wait(timeout=60)
    log.close()
  output = open(tmp_path / 'driver.log').read()
  assert 'restart 1/3 from its checkpoint' in output
  _check_budget_reached(root, BUDGET)
  assert os.path.exists(os.path.join(root, 'pbt.png'))
  # Rerun = continue, with a bigger budget: every member restores its
  # checkpoint and trains on; by now the members have published, so the
  # ready steps find peers to copy.
  again = subprocess.run(_pbt_command(root, RERUN_BUDGET), cwd=REPO,
                         env=child_env(), capture_output=True, text=True,
                         timeout=1500)
  assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
  for index in range(3):
    member_log = open(os.path.join(root, f'member_{index}',
                                   'pbt_member.log')).read()
    assert 'Resumed from' in member_log.split('\n=== ')[-1]
  _check_budget_reached(root, RERUN_BUDGET)
  events = [e for i in range(3) for e in _events(root, i)]
  kinds = [e['event'] for e in events]
  assert 'exploit' in kinds and 'perturb' in kinds, kinds
  for event in events:
    if event['event'] == 'exploit':
      assert event['peer'] != event['member']


def _check_budget_reached(root, budget):
  """Every member's latest checkpoint holds the budget's frames and the
  run-time hyperparameters."""
  for index in range(3):
    path = latest_checkpoint(os.path.join(root, f'member_{index}'))
    values = checkpoint_values(path)
    assert frames_of(values) >= budget
    assert any(k.startswith('hyperparameters/') for k in values)


@pytest.mark.timeout(1800)
def test_dmlab30_stand_in_runs_a_population_of_2(tmp_path):
  root = str(tmp_path / 'dmlab_pbt')
  env = child_env(os.path.join(REPO, 'tests', 'fakes'))
  env['SCALABLE_AGENT_TF2_ALLOW_DMLAB_TEST_DOUBLE'] = '1'
  # Fitness needs a return on all 30 levels (the stand-in's episodes last up
  # to 360 frames), so the budget leaves every level room for a few episodes.
  extra = ('--num_actors=3 --envs_per_actor=10 --batch_size=8 '
           '--unroll_length=10 --total_environment_frames=40000 '
           '--torso=shallow --width=32 --height=24 --progress_secs=2 '
           '--summary_secs=2 --checkpoint_secs=600 --actor_reconnect_secs=60 '
           '--pbt_burn_in_frames=0 --pbt_ready_episodes=5 '
           '--pbt_threshold=-1000')
  result = subprocess.run(
      [sys.executable, '-m', 'dmlab30.suite', 'train', f'--logdir={root}',
       '--pbt=2', '--parallel=2', f'--extra={extra}'],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=1700)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  assert 'TEST DOUBLE' in result.stdout
  for index in range(2):
    logdir = os.path.join(root, f'member_{index}')
    assert frames_of(checkpoint_values(latest_checkpoint(logdir))) >= 40000
    kinds = [e['event'] for e in _events(root, index)]
    assert kinds[0] == 'start' and 'ready' in kinds, kinds
  assert glob.glob(os.path.join(root, 'member_*', 'pbt_status.json'))
