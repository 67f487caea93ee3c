"""End-to-end faults of a local run (docs/faults.md): a learner killed with
SIGKILL is restarted from its checkpoint, a SIGSTOPped actor is restarted.
Real learner and actor processes, real ALE Pong, like test_runtime_e2e."""

import os
import signal

import pytest

from runtime_helpers import (TINY_PONG_FLAGS, checkpoint_values, frames_of,
                             latest_checkpoint, processes_with, read_jsonl,
                             start_experiment, wait_for)

pytestmark = pytest.mark.e2e

# 160 frames per update (batch 4 x unroll 10 x 4 repeats).
FRAMES_PER_UPDATE = 4 * 10 * 4


def _role_pids(logdir, *needles):
  def find():
    found = []
    for pid in processes_with(logdir):
      try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
          argv = f.read().split(b'\0')
      except OSError:
        continue
      # The orphan guard execs the program: one process per role.
      if all(n.encode() in argv for n in needles):
        found.append(pid)
    return found
  return find


def _run_and_fault(tmp_path, budget, fault, extra=()):
  """Starts a tiny run, applies `fault(logdir)` once training runs, waits."""
  logdir = str(tmp_path / 'run')
  log_path = str(tmp_path / 'launcher.log')
  proc = start_experiment(logdir, *TINY_PONG_FLAGS,
                          f'--total_environment_frames={budget}', *extra,
                          log_path=log_path)
  try:
    progress = os.path.join(logdir, 'progress.jsonl')
    assert wait_for(lambda: len(read_jsonl(progress)) >= 3, 300), \
        'training started'
    fault(logdir)
    code = proc.wait(timeout=600)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait()
  with open(log_path) as f:
    return code, f.read(), logdir


@pytest.mark.timeout(900)
def test_learner_killed_mid_run_is_restarted_and_reaches_budget(tmp_path):
  budget = 80 * FRAMES_PER_UPDATE

  def kill_learner(logdir):
    pids = wait_for(_role_pids(logdir, '--job_name=learner'), 30)
    assert pids, 'the learner is running'
    os.kill(pids[0], signal.SIGKILL)

  # Checkpoints every 2 s: the restart resumes from a recent one.
  code, log, logdir = _run_and_fault(tmp_path, budget, kill_learner,
                                     ['--checkpoint_secs=2'])
  assert code == 0, log[-4000:]
  assert log.count('The learner exited with signal SIGKILL without being '
                   'asked to stop') == 1, log[-4000:]
  assert log.count('Restarting the learner from its latest checkpoint') == 1
  assert 'Rolled back' in log
  assert frames_of(checkpoint_values(latest_checkpoint(logdir))) == budget
  assert wait_for(lambda: not processes_with(logdir), 10), 'no orphans'


@pytest.mark.timeout(900)
def test_stopped_actors_are_restarted(tmp_path):
  budget = 120 * FRAMES_PER_UPDATE
  stopped = []

  # Both actors are stopped: with one left running, a slow machine could
  # finish the budget before the watchdog's restart, and the test would
  # depend on timing. With none, the learner cannot finish without them.
  def stop_actors(logdir):
    for task in (0, 1):
      pids = wait_for(_role_pids(logdir, '--job_name=actor', f'--task={task}'),
                      30)
      assert pids, f'actor {task} is running'
      os.kill(pids[0], signal.SIGSTOP)
      stopped.append(pids[0])

  code, log, logdir = _run_and_fault(tmp_path, budget, stop_actors,
                                     ['--actor_stall_secs=20'])
  assert code == 0, log[-4000:]
  for task in (0, 1):
    assert f'actor {task} is stalled' in log, log[-4000:]
    assert f'Restarting actor {task}' in log, log[-4000:]
  assert 'state T' in log, log[-4000:]
  assert frames_of(checkpoint_values(latest_checkpoint(logdir))) == budget
  for pid in stopped:
    assert not os.path.exists(f'/proc/{pid}/cmdline') or \
        pid not in processes_with(logdir)
