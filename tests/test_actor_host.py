"""Actor hosts without a learner: batched inference, workers, unrolls, faults.

The host's core (`runtime.host_core.HostCore`) runs real TF-free worker
processes with Atari Pong; the learner side is not needed to check what the
host puts into unrolls (docs/actor_hosts.md).
"""

import os
import signal
import time

import numpy as np
import pytest
import tensorflow as tf

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import suites
from scalable_agent_tf2.runtime import actor as actor_lib
from scalable_agent_tf2.runtime import host_core
from scalable_agent_tf2.runtime import batching
from scalable_agent_tf2.runtime import host_stats
from scalable_agent_tf2.runtime import env_worker
from scalable_agent_tf2.structures import StepOutput, StepOutputInfo

T = 5


def _config(tmp_path, **kw):
  values = dict(env='atari', level_name='Pong', torso='shallow',
                use_lstm=True, envs_per_actor=3, unroll_length=T,
                logdir=str(tmp_path / 'run'))
  values.update(kw)
  return config_lib.Config(**values).resolve().validate()


def _random_step(rng, done=False):
  return StepOutput(
      np.float32(rng.normal()),
      StepOutputInfo(np.float32(0), np.int32(0), False), bool(done),
      (rng.integers(0, 255, [84, 84, 4]).astype(np.uint8), b''))


def test_batched_inference_matches_each_actor_alone_whatever_the_batch():
  tf.random.set_seed(0)
  agent = actor_lib.build_agent(
      config_lib.Config(torso='shallow', use_lstm=True).resolve(), 6)
  policy = batching.BatchedPolicy(agent, (84, 84, 4))
  rng = np.random.default_rng(0)
  actors, steps = 5, 6
  inputs = [[(_random_step(rng, done=(t == 3 and a == 1)),
              int(rng.integers(6))) for t in range(steps)]
            for a in range(actors)]
  # Each actor alone, batch 1.
  alone = []
  for a in range(actors):
    state, rows = policy.initial_state_row(), []
    for env_output, prev_action in inputs[a]:
      (out,), (state,) = policy([env_output], [prev_action], [state])
      rows.append((out, state))
    alone.append(rows)
  # The same streams with random batch compositions and orders.
  states = [policy.initial_state_row() for _ in range(actors)]
  cursor = [0] * actors
  while min(cursor) < steps:
    pending = [a for a in range(actors) if cursor[a] < steps]
    batch = list(rng.permutation(pending)[:rng.integers(1, len(pending) + 1)])
    outs, new_states = policy([inputs[a][cursor[a]][0] for a in batch],
                              [inputs[a][cursor[a]][1] for a in batch],
                              [states[a] for a in batch])
    for a, out, state in zip(batch, outs, new_states):
      ref_out, ref_state = alone[a][cursor[a]]
      np.testing.assert_allclose(out.policy_logits, ref_out.policy_logits,
                                 rtol=1e-4, atol=1e-5)
      np.testing.assert_allclose(out.baseline, ref_out.baseline, rtol=1e-4,
                                 atol=1e-5)
      for got, want in zip(tf.nest.flatten(state), tf.nest.flatten(ref_state)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
      states[a] = state
      cursor[a] += 1


def test_step_slot_round_trip():
  buffer = bytearray(env_worker.StepSlot.nbytes((4, 3, 2)))
  slot = env_worker.StepSlot(memoryview(buffer), (4, 3, 2))
  frame = np.arange(24, dtype=np.uint8).reshape(4, 3, 2)
  slot.write(StepOutput(np.float32(1.5), StepOutputInfo(
      np.float32(3.0), np.int32(7), True), True, (frame, b'go left')))
  slot.write_level_name('Pong')
  assert slot.read_level_name() == 'Pong'
  out = slot.read()
  assert out.reward == 1.5 and out.done and out.info.episode_done
  assert out.info.episode_return == 3.0 and out.info.episode_step == 7
  np.testing.assert_array_equal(out.observation[0], frame)
  assert out.observation[1] == b'go left'
  with pytest.raises(ValueError, match='frame of shape'):
    slot.write(out._replace(observation=(frame[:2], b'')))


def _assert_same_step(got, want):
  assert float(got.reward) == float(want.reward)
  assert bool(got.done) == bool(want.done)
  assert tuple(map(float, got.info[:2])) == tuple(map(float, want.info[:2]))
  np.testing.assert_array_equal(got.observation[0], want.observation[0])


def _at(unroll, t):
  """Step t of a time-major unroll's env outputs."""
  return tf.nest.map_structure(lambda x: x[t], unroll.env_outputs)


def _agents(config, seeds=(1, 2)):
  agents = []
  for seed in seeds:
    tf.random.set_seed(seed)
    agents.append(actor_lib.build_agent(config, 6))
  return agents


@pytest.fixture(name='core')
def _core(tmp_path):
  config = _config(tmp_path)
  core = host_core.HostCore(config, _agents(config), [3, 4, 5], (84, 84, 4),
                            6)
  try:
    core.start()
    yield config, core
  finally:
    core.close()


def _collect_per_stream(core, counts, timeout=300.0):
  """Acts until stream k has handed on counts[k] unrolls."""
  sink = core.sink
  deadline = time.time() + timeout
  while any(len(sink.of_stream(k)) < n for k, n in enumerate(counts)):
    assert time.time() < deadline, [len(sink.of_stream(k))
                                    for k in range(len(counts))]
    core.poll(0.1)


def _check_alignment(core, config, k, g, unrolls, first_is_initial=True):
    """Replays stream k's unrolls on an in-process env of the same seed."""
    suite = suites.get('atari')
    env = suite.make_environment(config, 'Pong',
                                 seed=suites.env_seed(config, g))
    if first_is_initial:
      _assert_same_step(_at(unrolls[0], 0), env.initial())
    for unroll in unrolls:
      for t in range(1, T + 1):
        _assert_same_step(_at(unroll, t),
                          env.step(int(unroll.agent_outputs.action[t])))
    env.close()
    for first, second in zip(unrolls, unrolls[1:]):
      # Step 0 of the next unroll is the last step of this one.
      _assert_same_step(_at(second, 0), _at(first, T))
      for field in second.agent_outputs._fields:
        np.testing.assert_array_equal(getattr(second.agent_outputs, field)[0],
                                      getattr(first.agent_outputs, field)[T])


def _replay_logits(policy, unroll):
  """Re-runs `policy` from the unroll's agent state over its steps: the
  behaviour logits it must have recorded, and the state after step T-1."""
  state, logits = unroll.agent_state, []
  for t in range(T):
    (out,), (state,) = policy([_at(unroll, t)],
                              [int(unroll.agent_outputs.action[t])], [state])
    logits.append(out.policy_logits)
  return np.stack(logits), state


@pytest.mark.timeout(600)
def test_workers_have_no_tensorflow_and_unrolls_are_aligned(core):
  config, core = core
  for worker in core.workers:
    with open(f'/proc/{worker.child.pid}/maps') as f:
      assert 'libtensorflow' not in f.read(), worker.name
  _collect_per_stream(core, [2, 2, 2])
  for k, g in enumerate([3, 4, 5]):
    unrolls = core.sink.of_stream(k)[:2]
    first, second = unrolls
    assert first.level_name == b'Pong'
    # Today's seed per actor: environment g gets env_seed(config, g).
    assert core.workers[k].seed == suites.env_seed(config, g)
    _check_alignment(core, config, k, g, unrolls)
    # The agent state before step 0, and the logits, are this actor's own.
    logits, state = _replay_logits(core.policy, first)
    np.testing.assert_allclose(logits, first.agent_outputs.policy_logits[1:],
                               rtol=1e-4, atol=1e-5)
    for got, want in zip(tf.nest.flatten(second.agent_state),
                         tf.nest.flatten(state)):
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  element = batching.batch_of_unrolls(core.sink.unrolls[:3])
  assert element.env_outputs.observation[0].shape == (3, T + 1, 84, 84, 4)
  assert list(element.level_name) == [b'Pong'] * 3
  # Every actor step went through exactly one batched inference; steps of
  # unrolls still being built are counted too.
  counts = core.stats.batch_counts
  acted = int(np.dot(np.arange(len(counts)), counts))
  building = sum(s.steps_in_unroll + (s.status == batching.STEPPING)
                 for s in core.streams)
  assert acted == len(core.sink.unrolls) * T + building


@pytest.mark.timeout(600)
def test_a_stalled_stream_does_not_hold_back_the_others(core):
  """No barrier between streams (paper Figure 2(c)): while one worker is
  stopped, the other streams complete several unrolls; it then resumes its
  own unroll where it stood."""
  config, core = core
  _collect_per_stream(core, [1, 1, 1])
  slow = core.workers[0]
  os.kill(slow.child.pid, signal.SIGSTOP)
  try:
    before = [len(core.sink.of_stream(k)) for k in range(3)]
    _collect_per_stream(core, [0, before[1] + 4, before[2] + 4])
    during = len(core.sink.of_stream(0)) - before[0]
  finally:
    os.kill(slow.child.pid, signal.SIGCONT)
  # At most the unroll whose last step was already back when it stopped.
  assert during <= 1, during
  _collect_per_stream(core, [before[0] + 2, 0, 0])
  for k, g in enumerate([3, 4, 5]):
    _check_alignment(core, config, k, g, core.sink.of_stream(k))
  assert core.stats.total_restarts == 0


@pytest.mark.timeout(600)
def test_each_unroll_is_acted_with_one_version(core):
  """A pull installed mid-run: unrolls begun before it finish with the old
  slot, unrolls begun after use the new one, and the recorded behaviour
  logits of each are its own slot's, at every step."""
  config, core = core
  _collect_per_stream(core, [1, 1, 1])
  free = core.slots.free_slot()
  assert free == 1
  core.install(free, 7)
  done = len(core.sink.unrolls)
  _collect_per_stream(core, [3, 3, 3])
  versions = core.sink.versions
  assert set(versions[:done]) == {0}
  assert 7 in versions[done:]
  for k in range(3):  # Per stream: 0 ... 0 then 7 ... 7, never back.
    mine = [v for v, s in zip(versions, core.sink.streams) if s == k]
    assert mine == sorted(mine) and mine[-1] == 7, mine
  # The two slots' networks differ (different seeds), so the logits say
  # which slot acted each step of an unroll.
  for unroll, version in zip(core.sink.unrolls, versions):
    policy = core.policies[1 if version == 7 else 0]
    logits, _ = _replay_logits(policy, unroll)
    np.testing.assert_allclose(logits, unroll.agent_outputs.policy_logits[1:],
                               rtol=1e-4, atol=1e-5)
  # Slot 0 is free again once every unroll begun with it is done.
  assert core.slots.users[0] == 0 and core.slots.free_slot() == 0


@pytest.mark.timeout(600)
def test_connecting_acts_with_the_pulled_version_and_later_pulls_land(core):
  config, core = core
  # The workers' first unrolls began before any parameters were pulled.
  core.connected(3)
  _collect_per_stream(core, [1, 1, 1])
  assert set(core.sink.versions) == {3}
  assert core.slots.users[0] == sum(s.slot == 0 for s in core.streams)
  for version in (4, 5):  # Two more pulls, each into the slot left free.
    slot = core.slots.free_slot()
    assert slot is not None
    core.install(slot, version)
    done = len(core.sink.unrolls)
    _collect_per_stream(core, [len(core.sink.of_stream(k)) + 2
                               for k in range(3)])
    assert version in core.sink.versions[done:]
  assert core.sink.versions[-1] == 5


@pytest.mark.timeout(600)
def test_a_full_sink_blocks_streams_and_drain_abandons_unrolls(core):
  config, core = core
  core.sink = host_core.ListSink(capacity=2)
  deadline = time.time() + 120
  while sum(s.complete for s in core.streams) < 1:
    assert time.time() < deadline
    core.poll(0.1)
  assert len(core.sink.unrolls) == 2
  for _ in range(20):
    core.poll(0.05)
  assert len(core.sink.unrolls) == 2  # Nothing more handed on.
  stats = core.stats.interval(1.0)
  assert stats['blocked_share'] > 0
  core.drain()
  assert all(s.status == batching.WAITING and not s.complete
             for s in core.streams)
  assert core.slots.users == [0, 0]
  where = [s.env_output for s in core.streams]
  # After the drain each stream resumes in its episode: its next unroll
  # starts at the step it stood at, not at a reset.
  core.sink = host_core.ListSink()
  _collect_per_stream(core, [1, 1, 1])
  for k in range(3):
    _assert_same_step(_at(core.sink.of_stream(k)[0], 0), where[k])
    assert int(where[k].info.episode_step) > 0


@pytest.mark.timeout(600)
def test_killed_worker_is_restarted_and_its_unroll_discarded(core):
  config, core = core
  _collect_per_stream(core, [1, 1, 1])
  victim = core.workers[1]
  old_pid = victim.child.pid
  infer, calls = core._infer, []  # pylint: disable=protected-access

  def infer_then_kill(batch):
    infer(batch)
    calls.append(1)
    if len(calls) == 3:
      os.kill(old_pid, signal.SIGKILL)
      victim.child.wait(timeout=30)

  core._infer = infer_then_kill  # pylint: disable=protected-access
  before = len(core.sink.of_stream(1))
  # The others are served meanwhile; the victim's half-built unroll is gone.
  _collect_per_stream(core, [3, 0, 3])
  assert core.stats.total_restarts == 1 and core.stats.total_discarded == 1
  _collect_per_stream(core, [0, before + 1, 0])
  assert victim.child.pid != old_pid and victim.restarts == 1
  # The restarted actor starts as a new one: its environment's first step,
  # a zero state and zero agent output.
  restarted = core.sink.of_stream(1)[before]
  first_step = _at(restarted, 0)
  assert first_step.done and float(first_step.reward) == 0.0
  assert int(first_step.info.episode_step) == 0
  assert int(restarted.agent_outputs.action[0]) == 0
  for s in tf.nest.flatten(restarted.agent_state):
    assert not np.any(s)
  for unroll in core.sink.unrolls:
    assert unroll.agent_outputs.action.shape[0] == T + 1
  stats = core.stats.interval(1.0)
  assert stats['worker_restarts'] == 1 and stats['discarded_unrolls'] == 1


def test_dmlab30_actor_i_plays_level_i_mod_30(tmp_path):
  config = config_lib.Config(
      env='dmlab', level_name='dmlab30', torso='shallow', envs_per_actor=7,
      num_actors=9, task=5, width=32, height=24,
      logdir=str(tmp_path / 'run')).resolve().validate()
  levels = suites.get('dmlab').train_levels(config)
  assert len(levels) == 30
  agent = actor_lib.build_agent(config, suites.get('dmlab').num_actions(config))
  indices = [config.task * 7 + k for k in range(7)]
  core = host_core.HostCore(config, [agent], indices, (24, 32, 3),
                             suites.get('dmlab').num_actions(config))
  try:
    assert [s.level_name for s in core.streams] == [levels[g % 30]
                                                    for g in indices]
    assert [w.seed for w in core.workers] == [suites.env_seed(config, g)
                                              for g in indices]
  finally:
    core.close()


def test_stats_line_round_trip():
  stats = host_stats.HostStats(4)
  stats.record_batch(4, 0.01)
  stats.record_batch(2, 0.5)
  stats.record_wait(0.25)
  stats.record_blocked(0.8)  # Stream-seconds: 0.8 / (4 streams x 2 s).
  stats.record_unroll()
  line = host_stats.format_stats_line(
      3, stats.interval(2.0, enqueue_secs=0.3, pull_secs=0.1, pulls=2,
                        lags=[0, 1, 5]))
  records = host_stats.parse_stats_lines('noise\nI1201 ' + line + '\n')
  r = records[0]
  assert r['task'] == 3 and r['batch_mean'] == 3.0
  assert r['batch_histogram'] == {'2': 1, '4': 1}
  assert r['env_wait_secs'] == 0.25 and r['env_wait_share'] == 0.125
  assert r['inference_share'] == 0.255
  assert r['enqueue_share'] == 0.15 and r['pull_share'] == 0.05
  assert r['blocked_share'] == 0.1 and r['pulls'] == 2 and r['unrolls'] == 1
  assert (r['policy_lag_min'], r['policy_lag_mean'],
          r['policy_lag_max']) == (0.0, 2.0, 5.0)
  assert r['env_steps_per_sec'] == 3.0
  assert r['bottleneck'] == 'acting: inference (26%)'
  assert host_stats.mean_batch(records) == 3.0


@pytest.mark.parametrize('blocked, wait, inference, expected', [
    (0.35, 0.1, 0.5, 'learner (streams blocked 35%)'),
    (0.1, 0.55, 0.3, 'acting: environments (env wait 55%)'),
    (0.0, 0.2, 0.61, 'acting: inference (61%)'),
])
def test_host_verdict(blocked, wait, inference, expected):
  assert host_stats.verdict(blocked, wait, inference) == expected


def test_progress_line_ends_with_the_verdict():
  stats = host_stats.HostStats(2)
  stats.record_batch(2, 0.1)
  line = host_stats.format_progress_line(0, stats.interval(1.0))
  assert line.startswith('Actor host 0: 2 env steps/s, batch 2.0')
  assert 'lag min/mean/max -' in line
  assert line.endswith('bottleneck: acting: inference (10%)')


def test_parameter_slots_keep_an_unroll_on_one_version():
  slots = batching.ParameterSlots(2)
  slots.reset(5)
  a = slots.acquire()
  assert a == (0, 5) and slots.free_slot() == 1
  slots.install(1, 9)  # A pull: new unrolls use slot 1.
  b = slots.acquire()
  assert b == (1, 9) and slots.free_slot() is None  # Slot 0 still used.
  slots.release(a[0])
  assert slots.free_slot() == 0 and slots.current_version == 9
  slots.release(b[0])
  assert slots.users == [0, 0]
  with pytest.raises(RuntimeError, match='no user'):
    slots.release(0)  # A miscount would stop every later pull.


def test_flags_default_to_in_process_stepping():
  config = config_lib.Config().resolve().validate()
  assert config.env_processes is False
  assert config.inference_batch_timeout_ms >= 0
  with pytest.raises(config_lib.ConfigError, match='inference_batch_timeout'):
    config_lib.Config(inference_batch_timeout_ms=-1.0).resolve().validate()
  with pytest.raises(config_lib.ConfigError, match='param_refresh_ms'):
    config_lib.Config(param_refresh_ms=0).resolve().validate()
  with pytest.raises(config_lib.ConfigError, match='env_reset_delay_fraction'):
    config_lib.Config(env_reset_delay_fraction=2).resolve().validate()
