"""Runtime pieces that test without a cluster: checkpoints, logs, netns."""

import glob
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.runtime import checkpoints
from scalable_agent_tf2.runtime import run_log
from scalable_agent_tf2.runtime import unrolls
from scalable_agent_tf2.structures import StepOutput, StepOutputInfo

from runtime_helpers import REPO, child_env


def _manager(directory, value):
  v = tf.Variable(value)
  ckpt = tf.train.Checkpoint(v=v)
  return v, ckpt, tf.train.CheckpointManager(ckpt, directory, max_to_keep=5)


def test_restore_falls_back_to_an_older_checkpoint_when_newest_is_corrupt(
    tmp_path):
  v, ckpt, manager = _manager(str(tmp_path), 1.0)
  manager.save()
  v.assign(2.0)
  newest = manager.save()
  for path in glob.glob(newest + '.data-*'):
    with open(path, 'wb') as f:
      f.write(b'garbage')
  v2, ckpt2, manager2 = _manager(str(tmp_path), 0.0)
  restored = checkpoints.restore_latest(ckpt2, manager2)
  assert restored == manager.checkpoints[0]
  assert float(v2.numpy()) == 1.0


def test_restore_refuses_to_start_over_when_no_checkpoint_is_readable(
    tmp_path):
  _, _, manager = _manager(str(tmp_path), 1.0)
  path = manager.save()
  for f in glob.glob(path + '.*'):
    with open(f, 'wb') as out:
      out.write(b'garbage')
  _, ckpt2, manager2 = _manager(str(tmp_path), 0.0)
  with pytest.raises(checkpoints.CheckpointError, match='could be restored'):
    checkpoints.restore_latest(ckpt2, manager2)


def test_restore_of_an_empty_logdir_is_a_fresh_start(tmp_path):
  _, ckpt, manager = _manager(str(tmp_path), 1.0)
  assert checkpoints.restore_latest(ckpt, manager) is None


def test_checkpoint_frames_reads_the_counter_and_rejects_foreign_files(
    tmp_path):
  logdir = str(tmp_path)
  assert checkpoints.latest_checkpoint(logdir) is None
  directory = run_dir.checkpoint_dir(logdir)
  frames = tf.Variable(1234, dtype=tf.int64)
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(num_env_frames=frames), directory, max_to_keep=2)
  path = manager.save()
  assert checkpoints.latest_checkpoint(logdir) == path
  assert checkpoints.checkpoint_frames(path) == 1234
  other = tf.train.CheckpointManager(
      tf.train.Checkpoint(weights=tf.Variable(1.0)),
      str(tmp_path / 'other'), max_to_keep=1).save()
  with pytest.raises(checkpoints.CheckpointError, match='no num_env_frames'):
    checkpoints.checkpoint_frames(other)
  for f in glob.glob(path + '.*'):
    with open(f, 'wb') as out:
      out.write(b'garbage')
  with pytest.raises(checkpoints.CheckpointError, match='Cannot read'):
    checkpoints.checkpoint_frames(path)


def test_finished_episodes_skip_step_zero_to_avoid_double_counting():
  done = np.array([[True, False, True, False],
                   [False, False, False, True]])
  returns = np.array([[5., 1., 7., 0.], [0., 0., 0., -3.]], np.float32)
  steps = np.array([[50, 1, 70, 0], [0, 0, 0, 9]], np.int32)
  episodes = run_log.finished_episodes(np.array([b'Pong', b'Breakout']),
                                       done, returns, steps)
  # Step 0 repeats the previous unroll's last step, already counted there.
  assert episodes == [('Pong', 7.0, 70), ('Breakout', -3.0, 9)]


def test_run_log_writes_jsonl_and_progress(tmp_path):
  log = run_log.RunLog(str(tmp_path), total_frames=1000, progress_secs=1e9,
                       summary_secs=1e9)
  log.start(0)
  log.record_episodes([('Pong', -21.0, 800), ('Pong', -19.0, 900)], 100)
  log.maybe_write(200, 2, {'total_loss': 1.5, 'entropy': 1.7}, 3, force=True)
  log.close()
  episodes = [l for l in open(tmp_path / 'episodes.jsonl')]
  assert len(episodes) == 2 and '"episode_return": -19.0' in episodes[1]
  progress = open(tmp_path / 'progress.jsonl').read()
  assert '"mean_episode_return": -20.0' in progress
  assert '"frames": 200' in progress and '"loss": 1.5' in progress


def test_stack_env_outputs_and_time_make_batch_major_unrolls():
  frame = np.zeros([2, 2, 1], np.uint8)
  step = lambda r: StepOutput(np.float32(r), StepOutputInfo(
      np.float32(r), np.int32(1), False), False, (frame + r, b'go'))
  t0 = unrolls.stack_env_outputs([step(0), step(1)])
  t1 = unrolls.stack_env_outputs([step(2), step(3)])
  stacked = unrolls.stack_time([t0, t1])
  np.testing.assert_array_equal(stacked.reward, [[0, 2], [1, 3]])
  assert stacked.observation[0].shape == (2, 2, 2, 2, 1)
  assert stacked.observation[1][1, 0] == b'go'


def test_private_network_namespace_has_only_loopback():
  # In a subprocess: entering a namespace is irreversible for the process.
  code = textwrap.dedent('''
      import socket
      from scalable_agent_tf2.runtime import netns
      try:
        how = netns.enter_private_network()
      except OSError as e:
        print('UNAVAILABLE', e)
        raise SystemExit(0)
      names = sorted(name for _, name in socket.if_nameindex())
      s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
      c = socket.create_connection(s.getsockname(), timeout=5)
      print('OK', how, names)
  ''')
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO,
                          env=child_env(), capture_output=True, text=True,
                          timeout=60)
  assert result.returncode == 0, result.stderr
  if result.stdout.startswith('UNAVAILABLE'):
    pytest.skip(f'network namespaces not allowed here: {result.stdout}')
  assert result.stdout.strip().endswith("['lo']"), result.stdout
