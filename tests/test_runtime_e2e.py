"""End-to-end: real learner and actor OS processes, a real TF cluster on
localhost, real ALE Pong. Each test runs the user's entry point."""

import json
import os
import signal

import numpy as np
import pytest

from runtime_helpers import (TINY_PONG_FLAGS, checkpoint_values, frames_of,
                             latest_checkpoint, processes_with, read_jsonl,
                             run_experiment, start_experiment, wait_for)
from scalable_agent_tf2.runtime import launcher as launcher_lib

pytestmark = pytest.mark.e2e

# 160 frames per update (batch 4 x unroll 10 x 4 repeats).
FRAMES_PER_UPDATE = 4 * 10 * 4


def _params(values):
  return {k: v for k, v in values.items() if k.startswith('agent/')}


@pytest.fixture(scope='module')
def trained_logdir(tmp_path_factory):
  """A finished tiny run: 1 learner + 2 actors, 25 updates of Pong."""
  logdir = str(tmp_path_factory.mktemp('pong'))
  result = run_experiment(logdir, *TINY_PONG_FLAGS,
                          f'--total_environment_frames={25 * FRAMES_PER_UPDATE}')
  assert result.returncode == 0, result.stderr[-3000:]
  return logdir, result


@pytest.mark.timeout(1200)
def test_tiny_run_trains_and_writes_checkpoint_and_summaries(trained_logdir):
  logdir, result = trained_logdir
  final = checkpoint_values(latest_checkpoint(logdir))
  assert frames_of(final) == 25 * FRAMES_PER_UPDATE
  # The run started from ckpt-0 (written before the first update).
  initial = checkpoint_values(os.path.join(logdir, 'checkpoints', 'ckpt-0'))
  assert frames_of(initial) == 0
  changed = [k for k, v in _params(final).items()
             if not np.array_equal(v, _params(initial)[k])]
  assert len(changed) == len(_params(final)) > 0, 'every parameter moves'
  # Summaries and logs.
  assert any(f.startswith('events.out.tfevents') for f in os.listdir(logdir))
  progress = read_jsonl(os.path.join(logdir, 'progress.jsonl'))
  assert progress and progress[-1]['frames'] == 25 * FRAMES_PER_UPDATE
  assert {'fps', 'total_loss', 'entropy', 'learning_rate', 'queue_size',
          'mean_policy_lag'} <= set(progress[0])
  assert 'Learner finished at 4000 frames' in result.stderr
  with open(os.path.join(logdir, 'config.json')) as f:
    assert json.load(f)['level_name'] == 'Pong'
  # The learning rate decays linearly with the frames seen before each update
  # (docs/impala.md §3); a progress line reports the frames after it.
  for line in progress:
    assert line['learning_rate'] == pytest.approx(
        0.0006 * (1 - (line['frames'] - FRAMES_PER_UPDATE) / 4000), rel=1e-5)


@pytest.mark.timeout(1200)
def test_max_policy_lag_run_counts_trained_frames_and_names_the_bottleneck(
    tmp_path):
  logdir = str(tmp_path / 'lag')
  result = run_experiment(logdir, *TINY_PONG_FLAGS, '--max_policy_lag=1',
                          f'--total_environment_frames={15 * FRAMES_PER_UPDATE}')
  assert result.returncode == 0, result.stderr[-3000:]
  # Dropped unrolls count no frames: exactly 15 updates' worth.
  final = checkpoint_values(latest_checkpoint(logdir))
  assert frames_of(final) == 15 * FRAMES_PER_UPDATE
  progress = read_jsonl(os.path.join(logdir, 'progress.jsonl'))
  trained = [line for line in progress if line['queue_full_share'] is not None]
  assert trained
  for line in trained:
    shares = [line[k] for k in ('train_step_share', 'queue_wait_share',
                                'publish_share', 'other_share')]
    assert all(0 <= s <= 1 for s in shares) and sum(shares) == pytest.approx(1)
    assert 0 <= line['dropped_unroll_share'] < 1
    assert line['bottleneck'] in ('learner', 'acting', 'balanced')
  assert progress[-1]['dropped_unrolls'] >= 0
  lines = [l for l in result.stderr.splitlines() if 'frames ' in l
           and ' lag ' in l]
  assert lines and all(' bottleneck: ' in l for l in lines)


@pytest.mark.timeout(1200)
def test_resume_restores_exactly_and_continues(trained_logdir, tmp_path):
  logdir, _ = trained_logdir
  saved = checkpoint_values(latest_checkpoint(logdir))
  # Same budget: the learner restores and stops at once; the state it saves
  # again equals what it restored, bit for bit (params, RMSProp slots,
  # counters, LR, RNG).
  result = run_experiment(logdir, *TINY_PONG_FLAGS,
                          f'--total_environment_frames={25 * FRAMES_PER_UPDATE}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Resumed from' in result.stderr and 'at 4000 frames' in result.stderr
  again = checkpoint_values(latest_checkpoint(logdir))
  assert saved.keys() == again.keys()
  for key in saved:
    if key.startswith('save_counter'):
      continue  # The checkpoint's own bookkeeping, not training state.
    np.testing.assert_array_equal(saved[key], again[key], err_msg=key)
  assert any('optimizer' in k for k in saved), 'optimizer slots are saved'
  # A bigger budget continues from 4000 frames, not from 0; --stop_at_frames
  # ends it at 30 updates of a 40-update learning-rate schedule.
  result = run_experiment(logdir, *TINY_PONG_FLAGS,
                          f'--total_environment_frames={40 * FRAMES_PER_UPDATE}',
                          f'--stop_at_frames={30 * FRAMES_PER_UPDATE}')
  assert result.returncode == 0, result.stderr[-3000:]
  final = checkpoint_values(latest_checkpoint(logdir))
  assert frames_of(final) == 30 * FRAMES_PER_UPDATE
  updates = next(v for k, v in final.items() if k.startswith('num_updates/'))
  assert int(updates) == 30
  last = read_jsonl(os.path.join(logdir, 'progress.jsonl'))[-1]
  assert last['frames'] == 30 * FRAMES_PER_UPDATE
  assert last['learning_rate'] == pytest.approx(0.0006 * (1 - 29 / 40),
                                                rel=1e-5)


@pytest.mark.timeout(120)
def test_resume_refuses_a_different_network(trained_logdir):
  logdir, _ = trained_logdir
  flags = [f for f in TINY_PONG_FLAGS if not f.startswith('--torso')]
  result = run_experiment(logdir, *flags, '--torso=deep',
                          '--total_environment_frames=8000')
  assert result.returncode != 0
  assert 'different configuration' in result.stderr
  assert "torso: checkpoint 'shallow' vs now 'deep'" in result.stderr


@pytest.mark.timeout(1200)
def test_killed_actor_is_restarted_and_run_reaches_budget(tmp_path):
  logdir = str(tmp_path / 'kill')
  budget = 60 * FRAMES_PER_UPDATE
  log_path = str(tmp_path / 'launcher.log')
  proc = start_experiment(logdir, *TINY_PONG_FLAGS,
                          f'--total_environment_frames={budget}',
                          log_path=log_path)
  try:
    progress = os.path.join(logdir, 'progress.jsonl')
    assert wait_for(lambda: read_jsonl(progress), 400), 'training started'
    actors = wait_for(
        lambda: [p for p in processes_with(logdir)
                 if '--job_name=actor' in open(f'/proc/{p}/cmdline').read()
                 and '--task=0' in open(f'/proc/{p}/cmdline').read()], 30)
    assert actors, 'actor 0 is running'
    os.kill(actors[0], signal.SIGKILL)
    assert proc.wait(timeout=600) == 0
  finally:
    if proc.poll() is None:
      proc.kill()
  with open(log_path) as f:
    log = f.read()
  assert 'actor 0 died (signal SIGKILL); restarting' in log
  assert 'Restarting actor 0' in log
  assert frames_of(checkpoint_values(latest_checkpoint(logdir))) == budget


@pytest.mark.timeout(900)
def test_sigterm_stops_everything_with_a_final_checkpoint(tmp_path):
  logdir = str(tmp_path / 'term')
  proc = start_experiment(logdir, *TINY_PONG_FLAGS,
                          '--total_environment_frames=100000000',
                          log_path=str(tmp_path / 'launcher.log'))
  try:
    progress = os.path.join(logdir, 'progress.jsonl')
    assert wait_for(lambda: len(read_jsonl(progress)) >= 2, 400)
    children = processes_with(logdir)
    assert len(children) >= 4, 'launcher, learner and 2 actors'
    proc.send_signal(signal.SIGTERM)
    # Bounded by the launcher's own grace (then SIGKILL), plus slack for a
    # loaded machine; the final checkpoint below shows it was not a kill.
    proc.wait(timeout=launcher_lib.STOP_GRACE_SECS + 60)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert wait_for(lambda: not processes_with(logdir), 5), \
      f'orphans: {processes_with(logdir)}'
  final = checkpoint_values(latest_checkpoint(logdir))
  assert frames_of(final) > 0, 'the final checkpoint holds the trained state'
  with open(tmp_path / 'launcher.log') as f:
    log = f.read()
  assert 'Checkpoint (final)' in log


@pytest.mark.timeout(120)
def test_actor_without_a_learner_exits_with_a_clear_message(tmp_path):
  from scalable_agent_tf2.runtime import actor, ports  # pylint: disable=g-import-not-at-top
  port = ports.free_port()  # Nothing listens there.
  result = run_experiment(str(tmp_path), *TINY_PONG_FLAGS, '--job_name=actor',
                          '--task=1', f'--learner_address=localhost:{port}',
                          '--actor_reconnect_secs=3', timeout=100)
  assert result.returncode == actor.EXIT_LEARNER_UNREACHABLE
  assert f'the learner at localhost:{port} is unreachable' in result.stderr
