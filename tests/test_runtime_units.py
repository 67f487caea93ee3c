"""Runtime pieces that test without a cluster: checkpoints, logs, netns."""

import glob
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import environment
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.runtime import bottleneck
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


def test_progress_line_ends_with_the_bottleneck_verdict(tmp_path, caplog):
  now = [0.0]
  timer = bottleneck.StageTimer(lambda: now[0])
  log = run_log.RunLog(str(tmp_path), total_frames=1000, progress_secs=1e9,
                       summary_secs=1e9, timer=timer)
  log.start(0)
  for _ in range(2):  # 2 updates of 5 s, 2 s of them waiting for the queue.
    timer.add('queue_wait', 2.0)
    timer.record_update(queue_ready=False, dequeued=5, dropped=1)
    timer.add('train_step', 2.5)
    timer.add('publish', 0.5)
    now[0] += 5.0
  with caplog.at_level('INFO'):
    log.maybe_write(200, 2, {'total_loss': 1.5}, 0, force=True)
  log.close()
  line = [r.getMessage() for r in caplog.records if 'frames' in
          r.getMessage()][-1]
  assert line.endswith('  bottleneck: acting (learner waits 40%)')
  [record] = run_dir.read_progress(str(tmp_path))
  assert record['queue_wait_share'] == pytest.approx(0.4)
  assert record['train_step_share'] == pytest.approx(0.5)
  assert record['publish_share'] == pytest.approx(0.1)
  assert record['queue_full_share'] == 0.0
  assert record['dropped_unroll_share'] == pytest.approx(0.2)
  assert record['dropped_unrolls'] == 2
  assert record['bottleneck'] == 'acting'
  assert (record['bottleneck_is_acting'],
          record['bottleneck_is_learner']) == (1.0, 0.0)


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


class _EpisodesOfThree(environment.Environment):
  """Every third step ends an episode."""
  level_name, num_actions, frame_shape = 'fake', 2, (1, 1, 1)

  def __init__(self):
    self.steps = 0

  def initial(self):
    return self.step(0)

  def step(self, action):
    self.steps += 1
    return StepOutput(np.float32(action), StepOutputInfo(
        np.float32(0), np.int32(self.steps), False), self.steps % 3 == 0,
                      (np.zeros([1, 1, 1], np.uint8), b''))

  def close(self):
    pass


def test_slow_restarts_sleep_at_a_seeded_fraction_of_episode_ends(
    monkeypatch):
  sleeps = []
  monkeypatch.setattr(environment.time, 'sleep', sleeps.append)
  off = config_lib.Config().resolve()
  plain = _EpisodesOfThree()
  assert environment.with_slow_restarts(plain, off, seed=1) is plain
  config = config_lib.Config(env_reset_delay_ms=200,
                             env_reset_delay_fraction=0.25).resolve()
  runs = []
  for _ in range(2):
    sleeps.clear()
    env = environment.with_slow_restarts(_EpisodesOfThree(), config, seed=7)
    outputs = [env.step(1) for _ in range(3 * 400)]  # 400 episode ends.
    runs.append(list(sleeps))
    assert env.slow_restarts == len(sleeps)
    assert set(sleeps) == {0.2}
    assert 60 <= len(sleeps) <= 140  # About a quarter of 400.
    assert [o.reward for o in outputs] == [1.0] * len(outputs)  # Unchanged.
  assert runs[0] == runs[1]  # Same seed, same slow episodes.
