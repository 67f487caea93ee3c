"""The learner's train step: time alignment, loss, update, placement."""

import numpy as np
import pytest
import tensorflow as tf

from scalable_agent_tf2 import learner as learner_lib
from scalable_agent_tf2 import networks
from scalable_agent_tf2 import vtrace
from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import unrolls
from scalable_agent_tf2.structures import AgentOutput, StepOutput
from scalable_agent_tf2.structures import StepOutputInfo

T, B, A = 5, 3, 4
FRAME = (16, 16, 1)


def make_config(**kwargs):
  defaults = dict(env='atari', torso='deep', use_lstm=True, batch_size=B,
                  unroll_length=T, entropy_cost=0.01, baseline_cost=0.5,
                  discounting=0.9, total_environment_frames=10_000)
  defaults.update(kwargs)
  return Config(**defaults).resolve().validate()


def random_batch(seed=0, nan_reward=False):
  """A batch-major ActorOutput as the queue delivers it ([B, T+1, ...])."""
  rs = np.random.RandomState(seed)
  agent = networks.ImpalaAgent(A, torso='deep', use_lstm=True)
  spec, _ = unrolls.queue_element_spec(FRAME, A, T, agent)
  batch = unrolls.zeros_like_spec(spec, leading=[B])
  rewards = rs.normal(size=[B, T + 1]).astype(np.float32) * 3
  if nan_reward:
    rewards[0, 2] = np.nan
  done = rs.uniform(size=[B, T + 1]) < 0.2
  env_outputs = StepOutput(
      reward=rewards,
      info=StepOutputInfo(np.zeros([B, T + 1], np.float32),
                          np.zeros([B, T + 1], np.int32),
                          np.zeros([B, T + 1], bool)),
      done=done,
      observation=(rs.randint(0, 256, size=[B, T + 1, *FRAME]).astype(np.uint8),
                   np.full([B, T + 1], b'', dtype=object)))
  agent_outputs = AgentOutput(
      action=rs.randint(0, A, size=[B, T + 1]).astype(np.int32),
      policy_logits=rs.normal(size=[B, T + 1, A]).astype(np.float32),
      baseline=rs.normal(size=[B, T + 1]).astype(np.float32))
  state = tf.nest.map_structure(
      lambda s: rs.normal(size=s.shape).astype(np.float32) * 0.1,
      batch.agent_state)
  return batch._replace(env_outputs=env_outputs, agent_outputs=agent_outputs,
                        agent_state=state)


def test_time_alignment_matches_reference_section_3():
  # Hand-made unroll, T=3, B=1: value of every field = its time index.
  idx = tf.constant([[0.], [1.], [2.], [3.]])
  env_outputs = StepOutput(reward=idx * 10, info=None,
                           done=tf.constant([[False], [False], [True], [False]]),
                           observation=None)
  behaviour = AgentOutput(action=tf.cast(idx, tf.int32) + 100,
                          policy_logits=idx[..., None] + 200,
                          baseline=idx + 300)
  learner_outputs = AgentOutput(action=None, policy_logits=idx[..., None] + 400,
                                baseline=idx + 500)
  batch = learner_lib.align(env_outputs, behaviour, learner_outputs, 0.99)
  # Behaviour logits/actions and rewards/dones from steps 1..T.
  np.testing.assert_array_equal(batch.behaviour_policy_logits[:, 0, 0],
                                [201, 202, 203])
  np.testing.assert_array_equal(batch.actions[:, 0], [101, 102, 103])
  np.testing.assert_array_equal(batch.rewards[:, 0], [10, 20, 30])
  np.testing.assert_allclose(batch.discounts[:, 0], [0.99, 0.0, 0.99])
  # Learner logits/baseline from steps 0..T-1, bootstrap from step T.
  np.testing.assert_array_equal(batch.target_policy_logits[:, 0, 0],
                                [400, 401, 402])
  np.testing.assert_array_equal(batch.values[:, 0], [500, 501, 502])
  np.testing.assert_array_equal(batch.bootstrap_value, [503])


def test_batch_major_to_time_major_keeps_per_unroll_fields():
  batch = random_batch()
  tm = learner_lib.batch_major_to_time_major(batch)
  assert tm.env_outputs.observation[0].shape == (T + 1, B, *FRAME)
  assert tm.agent_outputs.policy_logits.shape == (T + 1, B, A)
  np.testing.assert_array_equal(tm.env_outputs.reward.numpy().T,
                                batch.env_outputs.reward)
  assert tm.agent_state is batch.agent_state
  assert tm.level_name is batch.level_name


def test_loss_equals_the_pure_math_functions():
  config = make_config(reward_clipping='abs_one')
  agent = networks.ImpalaAgent(A, torso='deep', use_lstm=True)
  batch = learner_lib.batch_major_to_time_major(random_batch(seed=3))
  losses, _, _ = learner_lib.compute_loss(agent, batch, config)

  # Independently: the network, then docs/impala.md §3 by hand in numpy.
  out, _ = agent.unroll(batch.agent_outputs.action, batch.env_outputs,
                        batch.agent_state)
  logits, values = out.policy_logits.numpy(), out.baseline.numpy()
  rewards = np.clip(batch.env_outputs.reward.numpy()[1:], -1, 1)
  discounts = 0.9 * (1 - batch.env_outputs.done.numpy()[1:].astype(np.float32))
  actions = batch.agent_outputs.action.numpy()[1:]
  vt = vtrace.from_logits(
      behaviour_policy_logits=batch.agent_outputs.policy_logits[1:],
      target_policy_logits=logits[:-1], actions=actions, discounts=discounts,
      rewards=rewards, values=values[:-1], bootstrap_value=values[-1])
  log_pi = logits[:-1] - np.log(np.exp(logits[:-1]).sum(-1, keepdims=True))
  taken = np.take_along_axis(log_pi, actions[..., None], -1)[..., 0]
  pg = np.sum(-taken * vt.pg_advantages.numpy())
  baseline = 0.5 * np.sum((vt.vs.numpy() - values[:-1]) ** 2)
  entropy = np.sum(np.exp(log_pi) * log_pi)
  np.testing.assert_allclose(losses.policy_gradient, pg, rtol=1e-4)
  np.testing.assert_allclose(losses.baseline, baseline, rtol=1e-4)
  np.testing.assert_allclose(losses.entropy, entropy, rtol=1e-4)
  np.testing.assert_allclose(losses.total,
                             pg + 0.5 * baseline + 0.01 * entropy, rtol=1e-4)


def test_train_step_updates_params_counters_and_lr():
  config = make_config()
  agent = networks.ImpalaAgent(A, torso='deep', use_lstm=True)
  learner = learner_lib.Learner(agent, config)
  batch = random_batch(seed=1)
  learner.initialize(learner_lib.batch_major_to_time_major(batch))
  before = [v.numpy().copy() for v in agent.trainable_variables]
  stats = learner.train_step(batch, np.full([B], 0, np.int64))
  assert bool(stats.finite)
  assert int(learner.num_env_frames) == B * T * 4
  assert int(learner.num_updates) == 1
  assert float(stats.learning_rate) == pytest.approx(0.0006)
  changed = [not np.array_equal(b, v.numpy())
             for b, v in zip(before, agent.trainable_variables)]
  assert all(changed)
  stats = learner.train_step(batch, np.full([B], 0, np.int64))
  # LR at the frames seen before the second update; lag of one update.
  assert float(stats.learning_rate) == pytest.approx(
      0.0006 * (1 - B * T * 4 / 10_000), rel=1e-6)
  assert float(stats.mean_policy_lag) == 1.0


def test_non_finite_loss_is_never_applied():
  config = make_config()
  agent = networks.ImpalaAgent(A, torso='deep', use_lstm=True)
  learner = learner_lib.Learner(agent, config)
  batch = random_batch(seed=2, nan_reward=True)
  # abs_one clipping keeps NaN as NaN: the loss is NaN.
  learner.initialize(learner_lib.batch_major_to_time_major(batch))
  before = [v.numpy().copy() for v in agent.trainable_variables]
  slots_before = [v.numpy().copy() for v in learner.optimizer.variables]
  stats = learner.train_step(batch, np.zeros([B], np.int64))
  assert not bool(stats.finite)
  assert int(learner.num_env_frames) == 0 and int(learner.num_updates) == 0
  for b, v in zip(before, agent.trainable_variables):
    np.testing.assert_array_equal(b, v.numpy())
  for b, v in zip(slots_before, learner.optimizer.variables):
    np.testing.assert_array_equal(b, v.numpy())


def test_learner_device_prefers_a_visible_gpu(monkeypatch):
  # What TensorFlow reports is set here both ways, so the test checks the
  # choice on any machine, with or without a GPU.
  real = tf.config.list_logical_devices
  monkeypatch.setattr(tf.config, 'list_logical_devices',
                      lambda kind=None: [] if kind == 'GPU' else real(kind))
  assert learner_lib.learner_device('auto') == '/device:CPU:0'
  assert learner_lib.learner_device('cpu') == '/device:CPU:0'
  with pytest.raises(RuntimeError, match='sees no GPU'):
    learner_lib.learner_device('gpu')
  fake_gpu = tf.config.LogicalDevice('/device:GPU:0', 'GPU')
  monkeypatch.setattr(tf.config, 'list_logical_devices',
                      lambda kind=None: [fake_gpu] if kind == 'GPU' else
                      real(kind))
  assert learner_lib.learner_device('auto') == '/device:GPU:0'
  assert learner_lib.learner_device('gpu') == '/device:GPU:0'
  assert learner_lib.learner_device('cpu') == '/device:CPU:0'


@pytest.mark.parametrize('vtrace_device, expected', [('cpu', '/cpu:0'),
                                                     ('learner', None)])
def test_vtrace_runs_where_the_paper_put_it(monkeypatch, vtrace_device,
                                            expected):
  """The paper ran V-trace on the CPU even with a GPU learner (§1)."""
  from scalable_agent_tf2 import corrections  # pylint: disable=g-import-not-at-top
  seen = {}
  real = corrections.compute_targets

  def spy(*args, **kwargs):
    seen['device'] = kwargs.get('device')
    return real(*args, **kwargs)

  monkeypatch.setattr(corrections, 'compute_targets', spy)
  config = make_config(vtrace_device=vtrace_device)
  agent = networks.ImpalaAgent(A, torso='deep', use_lstm=True)
  learner_lib.compute_loss(
      agent, learner_lib.batch_major_to_time_major(random_batch()), config)
  assert seen['device'] == expected


def test_train_steps_learn_the_rewarded_action():
  """A bandit through the whole train step: action 2 pays +1, others 0.

  Every step ends an episode (discount 0), so the only signal is the
  immediate reward; a sign or time-alignment error would not learn it.
  """
  config = make_config(use_lstm=False, torso='shallow', learning_rate=0.01,
                       entropy_cost=0.0, grad_norm_clip=0.0)
  frame = (24, 24, 1)
  agent = networks.ImpalaAgent(A, torso='shallow', use_lstm=False)
  learner = learner_lib.Learner(agent, config)
  spec, _ = unrolls.queue_element_spec(frame, A, T, agent)
  rs = np.random.RandomState(0)

  def batch():
    b = unrolls.zeros_like_spec(spec, leading=[B])
    actions = rs.randint(0, A, size=[B, T + 1]).astype(np.int32)
    rewards = (actions == 2).astype(np.float32)  # reward[t] follows action[t].
    return b._replace(
        env_outputs=b.env_outputs._replace(
            reward=rewards, done=np.ones([B, T + 1], bool),
            observation=(np.full([B, T + 1, *frame], 128, np.uint8),
                         b.env_outputs.observation[1])),
        agent_outputs=b.agent_outputs._replace(action=actions))

  learner.initialize(learner_lib.batch_major_to_time_major(batch()))
  for _ in range(30):
    assert bool(learner.train_step(batch(), np.zeros([B], np.int64)).finite)
  tm = learner_lib.batch_major_to_time_major(batch())
  out, _ = agent.unroll(tm.agent_outputs.action, tm.env_outputs,
                        agent.initial_state(B))
  probs = tf.nn.softmax(out.policy_logits).numpy().reshape(-1, A).mean(0)
  assert probs.argmax() == 2 and probs[2] > 0.6, probs


def _learner_state(learner):
  return (list(learner.agent.variables) + learner.optimizer.ms
          + learner.optimizer.mom
          + [learner.num_env_frames, learner.num_updates,
             learner.learning_rate])


@pytest.mark.parametrize('name,start,changed', [
    ('learning_rate', 0.0006, 0.002),
    ('entropy_cost', 0.01, 0.2),
    ('epsilon', 0.01, 1e-5),
    ('grad_norm_clip', 40.0, 0.5),
    ('grad_norm_clip', 0.5, 0.0),  # 0 = no clipping, as a run-time value.
])
def test_changed_hyperparameter_acts_like_a_run_started_with_it(
    name, start, changed):
  """Assigning a hyperparameter variable between updates: no retrace, and
  the next update is bitwise the one of a learner configured with it."""
  batch = random_batch(seed=3)
  example = learner_lib.batch_major_to_time_major(batch)
  versions = np.zeros([B], np.int64)
  fresh = learner_lib.Learner(networks.ImpalaAgent(A, torso='deep',
                                                   use_lstm=True),
                              make_config(**{name: changed}))
  fresh.initialize(example)
  learner = learner_lib.Learner(networks.ImpalaAgent(A, torso='deep',
                                                     use_lstm=True),
                                make_config(**{name: start}))
  learner.initialize(example)
  for mine, theirs in zip(_learner_state(learner), _learner_state(fresh)):
    mine.assign(theirs)
  initial = [v.numpy() for v in _learner_state(learner)]
  learner.train_step(batch, versions)  # Traced with the start value.
  for variable, value in zip(_learner_state(learner), initial):
    variable.assign(value)
  getattr(learner.hyperparameters, name).assign(changed)
  learner.train_step(batch, versions)
  assert learner.train_step.experimental_get_tracing_count() == 1
  fresh.train_step(batch, versions)
  for mine, theirs in zip(_learner_state(learner), _learner_state(fresh)):
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
  # The start value gives a different update (the test can fail).
  for variable, value in zip(_learner_state(learner), initial):
    variable.assign(value)
  getattr(learner.hyperparameters, name).assign(start)
  learner.train_step(batch, versions)
  assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(
      learner.agent.trainable_variables, fresh.agent.trainable_variables))


def test_hyperparameters_are_saved_and_old_checkpoints_still_restore(
    tmp_path):
  from scalable_agent_tf2.runtime import checkpoints  # pylint: disable=g-import-not-at-top
  batch = learner_lib.batch_major_to_time_major(random_batch(seed=4))

  def make(logdir, **kwargs):
    learner = learner_lib.Learner(
        networks.ImpalaAgent(A, torso='deep', use_lstm=True),
        make_config(**kwargs))
    learner.initialize(batch)
    checkpoint = checkpoints.make_checkpoint(learner,
                                             tf.random.Generator.from_seed(1))
    return learner, checkpoint, checkpoints.make_manager(checkpoint, logdir)

  # A checkpoint as written before the hyperparameters were variables.
  old, old_checkpoint, old_manager = make(str(tmp_path / 'old'),
                                          learning_rate=0.001)
  old_manager.save()
  learner, checkpoint, manager = make(str(tmp_path / 'old'),
                                      learning_rate=0.003, epsilon=0.5)
  path = checkpoints.restore_latest(checkpoint, manager)
  assert not learner_lib.has_hyperparameters(path)
  learner_lib.attach_to_checkpoint(checkpoint, learner, path)
  assert learner.hyperparameters.values()['learning_rate'] == pytest.approx(
      0.003)
  # From now on they are saved, and restored over the config's values.
  learner.hyperparameters.assign({'entropy_cost': 0.125, 'epsilon': 0.25})
  manager.save()
  again, checkpoint, manager = make(str(tmp_path / 'old'), epsilon=0.5)
  path = checkpoints.restore_latest(checkpoint, manager)
  learner_lib.attach_to_checkpoint(checkpoint, again, path)
  assert learner_lib.has_hyperparameters(path)
  assert again.hyperparameters.values() == learner.hyperparameters.values()
  del old, old_checkpoint
