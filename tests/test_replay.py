"""Experience replay (scalable_agent_tf2/replay.py, docs/replay.md)."""

import numpy as np
import pytest
import tensorflow as tf

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import learner as learner_lib
from scalable_agent_tf2 import networks
from scalable_agent_tf2 import replay
from scalable_agent_tf2.runtime import unrolls

T, A = 5, 4
FRAME = (24, 24, 1)


def make_config(**kwargs):
  values = dict(env='atari', torso='shallow', use_lstm=False, batch_size=4,
                unroll_length=T, num_action_repeats=4, replay_capacity=16,
                replay_proportion=0.5, total_environment_frames=10_000)
  values.update(kwargs)
  return config_lib.Config(**values).resolve().validate()


def element_spec(agent=None):
  agent = agent or networks.ImpalaAgent(A, torso='shallow', use_lstm=False)
  return unrolls.queue_element_spec(FRAME, A, T, agent)


def random_unrolls(rs, spec, n, first_version=0):
  """n random unrolls (batch-major) and their versions, as dequeued."""
  def leaf(s):
    shape = [n] + s.shape.as_list()
    if s.dtype == tf.string:
      return np.array([b'level_%d' % rs.randint(100)
                       for _ in range(int(np.prod(shape)))],
                      dtype=object).reshape(shape)
    if s.dtype == tf.bool:
      return rs.uniform(size=shape) < 0.2
    if s.dtype == tf.uint8:
      return rs.randint(0, 256, size=shape).astype(np.uint8)
    if s.dtype == tf.int32:
      return rs.randint(0, A, size=shape).astype(np.int32)
    return rs.normal(size=shape).astype(s.dtype.as_numpy_dtype)
  actor_output = tf.nest.map_structure(leaf, spec[0])
  versions = np.arange(first_version, first_version + n, dtype=np.int64)
  return actor_output, versions


class FakeQueue:
  """Hands out random unrolls; records how many each dequeue asked for."""

  def __init__(self, spec, seed=0):
    self.spec, self.rs, self.requests, self.handed = spec, \
        np.random.RandomState(seed), [], []

  def dequeue_many(self, n):
    self.requests.append(n)
    batch = random_unrolls(self.rs, self.spec, n, sum(self.requests) - n)
    self.handed.append(batch)
    return tf.nest.map_structure(tf.convert_to_tensor, batch)


def marker_buffer(capacity, seed=0):
  spec = (tf.TensorSpec([2], tf.int64),)
  return replay.ReplayBuffer(spec, capacity, seed)


def test_sampling_is_uniform_chi_square():
  buffer = marker_buffer(10, seed=123)
  buffer.insert((np.arange(10, dtype=np.int64)[:, None].repeat(2, 1),))
  draws = np.concatenate([buffer.sample(50)[0][:, 0] for _ in range(400)])
  counts = np.bincount(draws, minlength=10)
  expected = len(draws) / 10
  chi2 = float(np.sum((counts - expected) ** 2 / expected))
  # 9 degrees of freedom: P(chi2 > 27.88) = 0.001 under uniform sampling.
  assert chi2 < 27.88, (chi2, counts)
  assert counts.min() > 0


def test_eviction_is_first_in_first_out():
  buffer = marker_buffer(5)
  rows = lambda a, b: (np.arange(a, b, dtype=np.int64)[:, None].repeat(2, 1),)
  buffer.insert(rows(0, 3))
  assert len(buffer) == 3
  buffer.insert(rows(3, 7))  # 7 inserted into 5 slots: 0 and 1 are gone.
  assert len(buffer) == 5
  content = sorted(buffer.gather(np.arange(5))[0][:, 0].tolist())
  assert content == [2, 3, 4, 5, 6]
  buffer.insert(rows(7, 8))  # Now 2, the oldest, goes.
  content = sorted(buffer.gather(np.arange(5))[0][:, 0].tolist())
  assert content == [3, 4, 5, 6, 7]
  drawn = set(buffer.sample(1000)[0][:, 0].tolist())
  assert drawn == {3, 4, 5, 6, 7}


def test_replayed_unrolls_are_bitwise_the_inserted_ones():
  spec = element_spec()
  rs = np.random.RandomState(1)
  buffer = replay.ReplayBuffer(spec, 8, seed=1)
  inserted = random_unrolls(rs, spec, 8)
  buffer.insert(inserted)
  slots = buffer.sample_slots(20)
  got = buffer.gather(slots)
  for a, b in zip(tf.nest.flatten(inserted), tf.nest.flatten(got)):
    a = np.asarray(a)[slots]
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype == object:
      assert a.tolist() == b.tolist()
    else:  # Bit for bit, also for floats.
      assert a.tobytes() == b.tobytes()


def test_each_batch_has_the_exact_fresh_replayed_split():
  config = make_config(batch_size=8, replay_proportion=0.75,
                       replay_capacity=10)
  assert (config.num_fresh_per_update, config.num_replayed_per_update) == (2, 6)
  spec = element_spec()
  queue = FakeQueue(spec)
  source = replay.BatchSource(config, queue, spec, memory=(10**12, 'test'))
  for update in range(12):
    batch = source.next(update)
    assert queue.requests[-1] == 2
    assert batch.element.level_name.shape == [8]
    assert batch.versions.shape == [8]
    fresh, fresh_versions = queue.handed[-1]
    # The fresh rows come first, as dequeued; the fresh part alone is `fresh`.
    assert np.array_equal(batch.element.env_outputs.observation[0][:2],
                          fresh.env_outputs.observation[0])
    assert np.array_equal(batch.versions[:2], fresh_versions)
    assert batch.fresh.level_name.shape == [2]
    assert 0 < batch.scalars['replay_fill'] <= 1
  assert len(source.buffer) == 10  # 24 inserted, FIFO kept the last 10.
  assert queue.requests == [2] * 12


def test_without_replay_the_queue_batch_passes_unchanged():
  config = make_config(replay_capacity=0)
  assert config.frames_per_update == 4 * T * 4
  spec = element_spec()
  queue = FakeQueue(spec)
  source = replay.BatchSource(config, queue, spec)
  batch = source.next(0)
  assert queue.requests == [4] and source.buffer is None
  assert batch.scalars == {} and batch.fresh is batch.element


def test_frames_count_the_fresh_unrolls_only():
  config = make_config(batch_size=4, replay_proportion=0.5)
  assert config.frames_per_update == 2 * T * 4


@pytest.mark.parametrize('proportion, message', [
    (0.3, 'not a whole number'), (1.0, r'in \[0, 1\)'),
    (0.0, 'replays no unroll')])
def test_bad_proportions_are_refused(proportion, message):
  with pytest.raises(config_lib.ConfigError, match=message):
    make_config(batch_size=4, replay_proportion=proportion)


def test_capacity_smaller_than_the_fresh_part_is_refused():
  with pytest.raises(config_lib.ConfigError, match='--replay_capacity=1 must'):
    make_config(batch_size=4, replay_capacity=1)


def test_lag_of_replayed_part_exceeds_fresh_part():
  config = make_config(batch_size=4, replay_capacity=64)
  spec = element_spec()
  queue = FakeQueue(spec)
  source = replay.BatchSource(config, queue, spec, memory=(10**12, 'test'))
  lags = [source.next(num_updates=u).scalars for u in range(1, 40)]
  # Fresh unrolls were acted with recent versions; replayed ones are older.
  assert np.mean([s['policy_lag_replayed'] for s in lags[5:]]) > \
      np.mean([s['policy_lag_fresh'] for s in lags[5:]])


def test_train_step_sees_aligned_replayed_unrolls():
  """Replayed rows go through the learner's alignment like fresh ones."""
  config = make_config(batch_size=4, replay_capacity=8)
  agent = networks.ImpalaAgent(A, torso='shallow', use_lstm=False)
  spec = element_spec(agent)
  queue = FakeQueue(spec)
  source = replay.BatchSource(config, queue, spec, memory=(10**12, 'test'))
  learner = learner_lib.Learner(agent, config)
  example = unrolls.zeros_like_spec(spec, leading=[1])
  learner.initialize(learner_lib.batch_major_to_time_major(example[0]))
  for update in range(3):
    batch = source.next(update)
    stats = learner.train_step(batch.element, batch.versions)
    assert bool(stats.finite)
  # The aligned batch of the replayed rows equals the aligned batch of the
  # same unrolls as they were first dequeued (same weights).
  batch = source.next(3)
  _, _, aligned = learner_lib.compute_loss(
      agent, learner_lib.batch_major_to_time_major(batch.element), config)
  inserted = [tf.nest.map_structure(np.asarray, h) for h in queue.handed]
  all_rows = tf.nest.map_structure(lambda *x: np.concatenate(x, 0),
                                   *[h[0] for h in inserted])
  versions = np.concatenate([h[1] for h in inserted])
  rows = [int(np.where(versions == v)[0][0]) for v in batch.versions.numpy()]
  original = tf.nest.map_structure(lambda x: x[rows], all_rows)
  _, _, expected = learner_lib.compute_loss(
      agent, learner_lib.batch_major_to_time_major(original), config)
  for got, want in zip(aligned, expected):
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5,
                               atol=1e-5)


def _fake_proc(tmp_path, available_kb, limit=None, usage=0, v1=False):
  tmp_path.mkdir(parents=True, exist_ok=True)
  meminfo = tmp_path / 'meminfo'
  meminfo.write_text('MemTotal:  99999999 kB\nMemAvailable:  %d kB\n'
                     % available_kb)
  cgroup = tmp_path / 'cgroup'
  cgroup.mkdir()
  if limit is not None:
    if v1:
      (cgroup / 'memory').mkdir()
      (cgroup / 'memory' / 'memory.limit_in_bytes').write_text(str(limit))
      (cgroup / 'memory' / 'memory.usage_in_bytes').write_text(str(usage))
    else:
      (cgroup / 'memory.max').write_text(str(limit))
      (cgroup / 'memory.current').write_text(str(usage))
  return str(meminfo), str(cgroup)


def test_available_memory_is_the_smaller_of_meminfo_and_cgroup(tmp_path):
  meminfo, cgroup = _fake_proc(tmp_path / 'a', 4_000_000)
  assert replay.available_memory(meminfo, cgroup) == (
      4_000_000 * 1024, 'MemAvailable of ' + meminfo)
  for v1 in (False, True):
    meminfo, cgroup = _fake_proc(tmp_path / ('v1' if v1 else 'v2'),
                                 4_000_000, limit=10**9, usage=4 * 10**8,
                                 v1=v1)
    available, source = replay.available_memory(meminfo, cgroup)
    assert available == 6 * 10**8 and 'cgroup' in source
  meminfo, cgroup = _fake_proc(tmp_path / 'max', 1000, limit=2**63 - 4096,
                               v1=True)  # v1's "no limit".
  assert replay.available_memory(meminfo, cgroup)[0] == 1000 * 1024


def test_memory_check_refuses_a_capacity_that_cannot_fit(tmp_path,
                                                         monkeypatch):
  # A simulated machine with 1 GB available: the paper's 10,000 Atari
  # unrolls (84x84x4, T=20) need about 6 GB.
  meminfo, cgroup = _fake_proc(tmp_path, 1_000_000)
  monkeypatch.setattr(replay, '_MEMINFO', meminfo)
  monkeypatch.setattr(replay, '_CGROUP_ROOT', cgroup)
  agent = networks.ImpalaAgent(6, torso='shallow', use_lstm=False)
  spec = unrolls.queue_element_spec((84, 84, 4), 6, 20, agent)
  per_unroll = replay.unroll_nbytes(spec)
  assert 590_000 < per_unroll < 600_000  # 21 x 84 x 84 x 4 bytes + the rest.
  config = make_config(batch_size=32, unroll_length=20,
                       replay_capacity=10000)
  with pytest.raises(replay.ReplayMemoryError) as e:
    replay.BatchSource(config, FakeQueue(spec), spec)
  message = str(e.value)
  assert '--replay_capacity=10000 needs 5.9' in message
  assert 'MemAvailable of ' + meminfo in message
  fits = int(1_000_000 * 1024 * replay.MEMORY_FRACTION) // per_unroll
  assert f'use --replay_capacity={fits} or less' in message
  # What it proposes fits.
  replay.BatchSource(make_config(batch_size=32, unroll_length=20,
                                 replay_capacity=fits), FakeQueue(spec), spec)


# -- --max_policy_lag -----------------------------------------------------------


class LiteralQueue:
  """Hands out pre-made unrolls with the given versions, in order."""

  def __init__(self, spec, versions, seed=0):
    self.unrolls, _ = random_unrolls(np.random.RandomState(seed), spec,
                                     len(versions))
    self.versions = np.asarray(versions, np.int64)
    self.next, self.requests = 0, []

  def dequeue_many(self, n):
    self.requests.append(n)
    rows = slice(self.next, self.next + n)
    self.next += n
    batch = (tf.nest.map_structure(lambda x: x[rows], self.unrolls),
             self.versions[rows])
    return tf.nest.map_structure(tf.convert_to_tensor, batch)


def test_max_policy_lag_drops_stale_fresh_unrolls_and_fills_the_batch():
  config = make_config(batch_size=4, replay_capacity=0, max_policy_lag=3)
  spec = element_spec()
  # At update 10 with K=3 the lags are 0 4 2 8 | 1 5 | 3 | 0: 6, 2, 5 go.
  queue = LiteralQueue(spec, [10, 6, 8, 2, 9, 5, 7, 10])
  batch = replay.BatchSource(config, queue, spec).next(10)
  assert batch.versions.numpy().tolist() == [10, 8, 9, 7]
  assert queue.requests == [4, 2, 1]  # Only what is missing, each time.
  assert (batch.dequeued, batch.dropped) == (7, 3)
  # The kept rows are those unrolls, whole.
  kept = [0, 2, 4, 6]
  np.testing.assert_array_equal(batch.element.env_outputs.observation[0],
                                queue.unrolls.env_outputs.observation[0][kept])
  assert batch.fresh is batch.element
  assert batch.element.level_name.shape == [4]


def test_without_max_policy_lag_old_unrolls_are_trained_on():
  config = make_config(batch_size=4, replay_capacity=0)
  spec = element_spec()
  queue = LiteralQueue(spec, [10, 6, 8, 2])
  batch = replay.BatchSource(config, queue, spec).next(10)
  assert batch.versions.numpy().tolist() == [10, 6, 8, 2]
  assert (batch.dequeued, batch.dropped) == (4, 0)


def test_max_policy_lag_never_drops_replayed_unrolls():
  config = make_config(batch_size=4, replay_capacity=16, max_policy_lag=3)
  spec = element_spec()
  # Update 0 stores versions 0 and 1; at update 100, 98 is 2 behind (kept),
  # 90 is 10 behind (dropped), 99 is 1 behind (kept).
  queue = LiteralQueue(spec, [0, 1, 98, 90, 99])
  source = replay.BatchSource(config, queue, spec, memory=(10**12, 'test'))
  source.next(0)
  batch = source.next(100)
  versions = batch.versions.numpy().tolist()
  assert versions[:2] == [98, 99]  # Fresh.
  assert (batch.dequeued, batch.dropped) == (3, 1)
  # The replayed half is drawn from {0, 1, 98, 99}: the buffer never saw 90.
  assert set(versions[2:]) <= {0, 1, 98, 99}
  lags = [100 - v for v in versions[2:]]
  assert batch.scalars['policy_lag_replayed'] == pytest.approx(np.mean(lags))


def test_dropped_unrolls_count_no_frames():
  config = make_config(batch_size=4, replay_capacity=0, max_policy_lag=1)
  agent = networks.ImpalaAgent(A, torso='shallow', use_lstm=False)
  spec = element_spec(agent)
  # Updates 10, 11, 12, each dequeuing 4 + 2 + 1 unrolls: the three 5
  # updates old are dropped and replaced.
  versions = [v for u in (10, 11, 12) for v in (u, u - 5) * 3 + (u,)]
  queue = LiteralQueue(spec, versions)
  source = replay.BatchSource(config, queue, spec)
  learner = learner_lib.Learner(agent, config)
  example = unrolls.zeros_like_spec(spec, leading=[1])
  learner.initialize(learner_lib.batch_major_to_time_major(example[0]))
  learner.num_updates.assign(10)
  dropped = 0
  for _ in range(3):
    batch = source.next(int(learner.num_updates.numpy()))
    dropped += batch.dropped
    assert bool(learner.train_step(batch.element, batch.versions).finite)
  assert dropped == 9 and queue.requests == [4, 2, 1] * 3
  # 3 updates of 4 unrolls x 5 steps x 4 repeats; the 9 dropped add none.
  assert int(learner.num_env_frames.numpy()) == 3 * 4 * T * 4 == 240
