"""Actor hosts without a learner: batched inference, workers, unrolls, faults.

The host's core (`runtime.actor_host.HostCore`) runs real TF-free worker
processes with Atari Pong; the learner side is not needed to check what the
host puts into unrolls (docs/actor_hosts.md).
"""

import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import suites
from scalable_agent_tf2.runtime import actor as actor_lib
from scalable_agent_tf2.runtime import actor_host
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


@pytest.fixture(name='core')
def _core(tmp_path):
  config = _config(tmp_path)
  tf.random.set_seed(1)
  agent = actor_lib.build_agent(config, 6)
  core = actor_host.HostCore(config, agent, [3, 4, 5], (84, 84, 4), 6)
  try:
    core.start()
    yield config, core
  finally:
    core.close()


@pytest.mark.timeout(600)
def test_workers_have_no_tensorflow_and_unrolls_are_aligned(core):
  config, core = core
  for worker in core.workers:
    with open(f'/proc/{worker.child.pid}/maps') as f:
      assert 'libtensorflow' not in f.read(), worker.name
  rounds = [core.run_round() for _ in range(2)]
  suite = suites.get('atari')
  for k, g in enumerate([3, 4, 5]):
    first, second = rounds[0][k], rounds[1][k]
    assert first.level_name == b'Pong'
    # Today's seed per actor: environment g gets env_seed(config, g).
    assert core.workers[k].seed == suites.env_seed(config, g)
    env = suite.make_environment(config, 'Pong', seed=suites.env_seed(config,
                                                                      g))
    _assert_same_step(_at(first, 0), env.initial())
    for unroll in (first, second):
      for t in range(1, T + 1):
        action = int(unroll.agent_outputs.action[t])
        _assert_same_step(_at(unroll, t), env.step(action))
    env.close()
    # Step 0 of the next unroll is the last step of this one.
    _assert_same_step(_at(second, 0), _at(first, T))
    for field in second.agent_outputs._fields:
      np.testing.assert_array_equal(getattr(second.agent_outputs, field)[0],
                                    getattr(first.agent_outputs, field)[T])
    # The agent state before step 0, and the logits, are this actor's own.
    state = first.agent_state
    for t in range(T):
      (out,), (state,) = core.policy(
          [_at(first, t)], [int(first.agent_outputs.action[t])], [state])
      np.testing.assert_allclose(out.policy_logits,
                                 first.agent_outputs.policy_logits[t + 1],
                                 rtol=1e-4, atol=1e-5)
    for got, want in zip(tf.nest.flatten(second.agent_state),
                         tf.nest.flatten(state)):
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  element = batching.batch_of_unrolls(rounds[1])
  assert element.env_outputs.observation[0].shape == (3, T + 1, 84, 84, 4)
  assert list(element.level_name) == [b'Pong'] * 3
  # Every actor step went through exactly one batched inference.
  counts = core.stats.batch_counts
  assert int(np.dot(np.arange(len(counts)), counts)) == 2 * T * 3


@pytest.mark.timeout(600)
def test_killed_worker_is_restarted_and_its_unroll_discarded(core):
  config, core = core
  core.run_round()
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
  second = core.run_round()
  # Actor 1's half-built unroll was discarded; the others were served.
  assert [u.agent_outputs.action.shape[0] for u in second] == [T + 1] * 2
  assert core.stats.total_restarts == 1 and core.stats.total_discarded == 1
  third = core.run_round()
  while len(third) < 3:  # The restart may take more than one round.
    third = core.run_round()
  assert victim.child.pid != old_pid and victim.restarts == 1
  # The restarted actor starts as a new one: its environment's first step,
  # a zero state and zero agent output.
  restarted = third[1]
  first_step = _at(restarted, 0)
  assert first_step.done and float(first_step.reward) == 0.0
  assert int(first_step.info.episode_step) == 0
  assert int(restarted.agent_outputs.action[0]) == 0
  for s in tf.nest.flatten(restarted.agent_state):
    assert not np.any(s)
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
  core = actor_host.HostCore(config, agent, indices, (24, 32, 3),
                             suites.get('dmlab').num_actions(config))
  try:
    assert [s.level_name for s in core.streams] == [levels[g % 30]
                                                    for g in indices]
    assert [w.seed for w in core.workers] == [suites.env_seed(config, g)
                                              for g in indices]
  finally:
    core.close()


def test_stats_line_round_trip():
  stats = host_stats.HostStats(max_batch=4)
  stats.record_batch(4, 0.01)
  stats.record_batch(2, 0.01)
  stats.record_wait(0.5)
  stats.record_learner(0.25)
  line = host_stats.format_stats_line(3, stats.interval(2.0))
  records = host_stats.parse_stats_lines('noise\nI1201 ' + line + '\n')
  assert records[0]['task'] == 3 and records[0]['batch_mean'] == 3.0
  assert records[0]['batch_histogram'] == {'2': 1, '4': 1}
  assert records[0]['env_wait_secs'] == 0.5
  assert records[0]['learner_secs'] == 0.25
  assert records[0]['env_steps_per_sec'] == 3.0
  assert host_stats.mean_batch(records) == 3.0


def test_flags_default_to_in_process_stepping():
  config = config_lib.Config().resolve().validate()
  assert config.env_processes is False
  assert config.inference_batch_timeout_ms >= 0
  with pytest.raises(config_lib.ConfigError, match='inference_batch_timeout'):
    config_lib.Config(inference_batch_timeout_ms=-1.0).resolve().validate()
