"""End-to-end with actor hosts (--env_processes=true): a real learner, a real
actor host, its TF-free environment worker processes (docs/actor_hosts.md).
"""

import os
import signal

import pytest

from runtime_helpers import (checkpoint_values, child_env, experiment_command,
                             frames_of, latest_checkpoint, processes_with,
                             read_jsonl, wait_for, REPO)

pytestmark = pytest.mark.e2e

_FAKES_DIR = os.path.join(REPO, 'tests', 'fakes')
# 160 frames per update (batch 4 x unroll 10 x 4 repeats).
FRAMES_PER_UPDATE = 4 * 10 * 4
HOST_FLAGS = (
    '--torso=shallow', '--num_actors=1', '--env_processes=true',
    '--batch_size=4', '--unroll_length=10', '--num_action_repeats=4',
    '--progress_secs=1', '--summary_secs=1', '--checkpoint_secs=600',
    '--actor_reconnect_secs=60')


def _start(logdir, log_path, *flags, extra_pythonpath=None):
  import subprocess  # pylint: disable=g-import-not-at-top
  out = open(log_path, 'w')
  return subprocess.Popen(experiment_command(logdir, *flags), cwd=REPO,
                          env=child_env(extra_pythonpath), stdout=out,
                          stderr=subprocess.STDOUT)


def _workers(logdir):
  found = []
  for pid in processes_with(f'--logdir={logdir}'):
    try:
      with open(f'/proc/{pid}/cmdline', 'rb') as f:
        if b'runtime.env_worker' in f.read():
          found.append(pid)
    except OSError:
      pass
  return found


def _updates_of(values):
  return int(next(v for k, v in values.items()
                  if k.startswith('num_updates/')))


def _read(path):
  with open(path, errors='replace') as f:
    return f.read()


@pytest.mark.timeout(900)
def test_host_with_four_workers_trains_pong_through_a_killed_worker(tmp_path):
  logdir = str(tmp_path / 'pong')
  budget = 150 * FRAMES_PER_UPDATE
  log_path = str(tmp_path / 'launcher.log')
  proc = _start(logdir, log_path, '--env=atari', '--level_name=Pong',
                '--envs_per_actor=4', f'--total_environment_frames={budget}',
                *HOST_FLAGS)
  try:
    progress = os.path.join(logdir, 'progress.jsonl')
    assert wait_for(lambda: read_jsonl(progress), 400), _read(log_path)
    workers = wait_for(lambda: _workers(logdir), 60)
    assert len(workers) == 4, workers
    for pid in workers:
      with open(f'/proc/{pid}/maps') as f:
        assert 'libtensorflow' not in f.read()
    os.kill(workers[1], signal.SIGKILL)
    assert proc.wait(timeout=600) == 0, _read(log_path)[-3000:]
  finally:
    if proc.poll() is None:
      proc.kill()
  host_log = _read(os.path.join(logdir, 'logs', 'actor_0.log'))
  assert 'died (signal SIGKILL); discarding the unroll' in host_log
  assert 'restarted (seed' in host_log
  assert 'actor_host_stats' in host_log
  values = checkpoint_values(latest_checkpoint(logdir))
  # The budget was reached, and only whole unrolls reached the learner.
  assert frames_of(values) == budget
  assert frames_of(values) == _updates_of(values) * FRAMES_PER_UPDATE
  assert os.path.isdir(os.path.join(logdir, 'logs', 'actor_host_0'))
  # The host kept pulling: its unrolls' lag stays near the unrolls in the
  # queue, the outbox and in progress (about 4 updates here), instead of
  # growing with the run as with parameters that are never refreshed.
  lags = [line['mean_policy_lag'] for line in read_jsonl(
      os.path.join(logdir, 'progress.jsonl')) if 'mean_policy_lag' in line]
  assert lags and max(lags[len(lags) // 2:]) <= 10, lags


@pytest.mark.timeout(900)
def test_dmlab30_stand_in_runs_through_a_host(tmp_path):
  logdir = str(tmp_path / 'dmlab')
  log_path = str(tmp_path / 'launcher.log')
  proc = _start(logdir, log_path, '--env=dmlab', '--level_name=dmlab30',
                '--envs_per_actor=6', '--width=32', '--height=24',
                f'--total_environment_frames={60 * FRAMES_PER_UPDATE}',
                *HOST_FLAGS, extra_pythonpath=_FAKES_DIR)
  try:
    assert proc.wait(timeout=800) == 0, _read(log_path)[-3000:]
  finally:
    if proc.poll() is None:
      proc.kill()
  # Host 0's actors 0..5 played the first six DMLab-30 levels.
  from scalable_agent_tf2 import config as config_lib  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import suites  # pylint: disable=g-import-not-at-top
  config = config_lib.Config(env='dmlab', level_name='dmlab30').resolve()
  levels = suites.get('dmlab').train_levels(config)
  played = {e['level_name'] for e in read_jsonl(
      os.path.join(logdir, 'episodes.jsonl'))}
  assert played and played <= set(levels[:6]), played
  assert frames_of(checkpoint_values(latest_checkpoint(logdir))) == (
      60 * FRAMES_PER_UPDATE)
