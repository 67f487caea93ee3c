"""The learner's train step: unroll -> off-policy correction -> losses -> RMSProp.

This is the one function the runtime knows about (`Learner.train_step`); it has
no knowledge of processes, queues or checkpoints beyond holding the variables a
checkpoint saves. Time alignment follows the released code (docs/impala.md §3):

  The actor sends T + 1 steps; step 0 repeats the last step of the previous
  unroll and `agent_state` is the state before step 0. The learner re-runs the
  network over all T + 1 steps and bootstraps from its own baseline at step T.
  It pairs learner outputs of steps 0..T-1 with behaviour logits/actions and
  rewards/dones of steps 1..T. `discounts = (1 - done) * gamma`.
"""

import collections
import contextlib
from typing import Optional

import tensorflow as tf

from scalable_agent_tf2 import corrections
from scalable_agent_tf2 import losses as losses_lib
from scalable_agent_tf2 import optimizers
from scalable_agent_tf2.structures import ActorOutput

# What one train step reports (all scalars).
TrainStats = collections.namedtuple(
    'TrainStats',
    'total_loss policy_gradient_loss baseline_loss entropy_loss entropy '
    'learning_rate grad_norm num_env_frames num_updates mean_policy_lag '
    'mean_clipped_rho finite')

# The learner's view of a batch after time alignment, all time-major [T, B].
AlignedBatch = collections.namedtuple(
    'AlignedBatch',
    'behaviour_policy_logits target_policy_logits actions rewards '
    'discounts values bootstrap_value')


def batch_major_to_time_major(actor_output: ActorOutput) -> ActorOutput:
  """Dequeued [B, T+1, ...] env/agent outputs -> time-major [T+1, B, ...].

  The queue stacks unrolls along a new leading batch axis; the level name
  [B] and the agent state [B, ...] are per unroll and stay as they are.
  """
  def transpose(t):
    t = tf.convert_to_tensor(t)
    perm = [1, 0] + list(range(2, t.shape.rank))
    return tf.transpose(t, perm)
  return actor_output._replace(
      env_outputs=tf.nest.map_structure(transpose, actor_output.env_outputs),
      agent_outputs=tf.nest.map_structure(transpose,
                                          actor_output.agent_outputs))


def align(env_outputs, agent_outputs, learner_outputs, discounting):
  """Pairs actor and learner tensors in time (docs/impala.md §3).

  Args:
    env_outputs: StepOutput with [T+1, B, ...] fields.
    agent_outputs: AgentOutput of the actor (behaviour), [T+1, B, ...].
    learner_outputs: AgentOutput of the learner's unroll, [T+1, B, ...].
    discounting: gamma.

  Returns:
    AlignedBatch with [T, B] fields (logits [T, B, A]) and bootstrap_value [B].
  """
  bootstrap_value = learner_outputs.baseline[-1]
  done = tf.cast(env_outputs.done[1:], tf.float32)
  return AlignedBatch(
      behaviour_policy_logits=agent_outputs.policy_logits[1:],
      target_policy_logits=learner_outputs.policy_logits[:-1],
      actions=agent_outputs.action[1:],
      rewards=tf.cast(env_outputs.reward[1:], tf.float32),
      discounts=(1.0 - done) * discounting,
      values=learner_outputs.baseline[:-1],
      bootstrap_value=bootstrap_value)


def compute_loss(agent, actor_output: ActorOutput, config,
                 entropy_cost=None):
  """The paper's loss on one dequeued batch.

  Args:
    agent: an ImpalaAgent.
    actor_output: ActorOutput with time-major env/agent outputs [T+1, B, ...]
      and agent_state [B, ...].
    config: a resolved Config (discounting, reward_clipping, correction,
      entropy_cost, baseline_cost, vtrace_device).
    entropy_cost: overrides config.entropy_cost (e.g. the learner's run-time
      variable, `Hyperparameters.entropy_cost`).

  Returns:
    (losses_lib.Losses, corrections.CorrectionTargets, AlignedBatch).
  """
  env_outputs = actor_output.env_outputs
  agent_outputs = actor_output.agent_outputs
  learner_outputs, _ = agent.unroll(agent_outputs.action, env_outputs,
                                    actor_output.agent_state)
  batch = align(env_outputs, agent_outputs, learner_outputs,
                config.discounting)
  clipped_rewards = losses_lib.clip_rewards(batch.rewards,
                                            config.reward_clipping)
  # The paper ran V-trace on the CPU: its sequential scan is faster there than
  # on a GPU (docs/impala.md §1). `vtrace_device='learner'` keeps it with the step.
  device = '/cpu:0' if config.vtrace_device == 'cpu' else None
  with tf.device(device):
    targets = corrections.compute_targets(
        correction=config.correction,
        device=device,
        behaviour_policy_logits=batch.behaviour_policy_logits,
        target_policy_logits=batch.target_policy_logits,
        actions=batch.actions,
        discounts=batch.discounts,
        rewards=clipped_rewards,
        values=batch.values,
        bootstrap_value=batch.bootstrap_value)
  losses = losses_lib.compute_total_loss(
      policy_logits=batch.target_policy_logits,
      actions=batch.actions,
      pg_advantages=targets.pg_advantages,
      vs=targets.vs,
      baseline=batch.values,
      entropy_cost=(config.entropy_cost if entropy_cost is None
                    else entropy_cost),
      baseline_cost=config.baseline_cost,
      log_prob_epsilon=targets.log_prob_epsilon)
  return losses, targets, batch


def learner_device(preference: str = 'auto') -> str:
  """Where the train step runs: the first GPU when one is visible.

  Args:
    preference: 'auto' (GPU if visible else CPU), 'cpu', or 'gpu' (error if
      none is visible).
  Returns:
    A device string such as '/device:GPU:0' (local to the learner process;
    under a cluster it resolves to the learner task's device).
  """
  gpus = tf.config.list_logical_devices('GPU')
  if preference == 'gpu' and not gpus:
    raise RuntimeError('--learner_device=gpu but TensorFlow sees no GPU.')
  if preference in ('auto', 'gpu') and gpus:
    return '/device:GPU:0'
  return '/device:CPU:0'


def _all_reduce(op, value):
  """Sums or averages `value` over the learner replicas (identity for one).

  The losses are sums over time and batch (docs/impala.md §3), so the SUM of
  the replicas' gradients on batch_size / N unrolls each is exactly the
  gradient one learner computes on the whole batch.
  """
  context = tf.distribute.get_replica_context()
  if not tf.distribute.has_strategy() or context is None:
    return value
  return context.all_reduce(op, value)


def _batch_shard(index: int, count: int, structure):
  """Rows [index * B/count, (index + 1) * B/count) of every [B, ...] leaf."""
  def shard(t):
    t = tf.convert_to_tensor(t)
    size = tf.shape(t)[0] // count
    return t[index * size:(index + 1) * size]
  return tf.nest.map_structure(shard, structure)


class Hyperparameters(tf.Module):
  """The hyperparameters a run may change between updates (Appendix F).

  Scalar variables read by the train step when it runs, so that
  assigning one changes the next update without retracing it:
    learning_rate: the INITIAL learning rate of the linear decay
      (docs/impala.md §3.5); the step's rate is this times the fraction of
      the frame budget left, computed from the learner's own frame counter.
    entropy_cost: the entropy term's weight (docs/impala.md §3.2).
    epsilon: RMSProp's epsilon (docs/impala.md §3.4).
    grad_norm_clip: the global-norm clip; <= 0 means no clipping.
  Initialised from the run's Config; checkpoints save and restore them
  (`attach_to_checkpoint`).
  """

  NAMES = ('learning_rate', 'entropy_cost', 'epsilon', 'grad_norm_clip')

  def __init__(self, config):
    super().__init__(name='hyperparameters')
    with tf.device('/cpu:0'):
      for name in self.NAMES:
        # float64 for the learning rate: the decay computes in float64 from
        # the exact flag value (docs/impala.md §3.5), as with a constant.
        dtype = tf.float64 if name == 'learning_rate' else tf.float32
        setattr(self, name, tf.Variable(float(getattr(config, name)),
                                        dtype=dtype, trainable=False,
                                        name=name))

  def values(self):
    """name -> current Python float."""
    return {name: float(getattr(self, name).numpy()) for name in self.NAMES}

  def assign(self, values) -> None:
    """Sets the named hyperparameters (a mapping name -> float)."""
    unknown = sorted(set(values) - set(self.NAMES))
    if unknown:
      raise ValueError(f'Unknown hyperparameters {unknown}; the learner has '
                       f'{self.NAMES}.')
    for name, value in values.items():
      getattr(self, name).assign(float(value))


# The key of the hyperparameters in a checkpoint's object graph.
HYPERPARAMETERS_KEY = 'hyperparameters'


def attach_to_checkpoint(checkpoint: tf.train.Checkpoint, learner,
                         restored_path: Optional[str]) -> None:
  """Adds the learner's hyperparameters to `checkpoint`, after its restore.

  A checkpoint written before the hyperparameters were variables has no
  value for them: they then keep their Config values. Attaching them only
  after the restore keeps such checkpoints restorable with the strict
  "every object matched" check; every later save includes them.

  Args:
    checkpoint: the run's `tf.train.Checkpoint` (restored already, or not).
    learner: the `Learner` whose `hyperparameters` to attach.
    restored_path: the checkpoint just restored, or None for a fresh run.
  """
  if restored_path and has_hyperparameters(restored_path):
    tf.train.Checkpoint(**{HYPERPARAMETERS_KEY: learner.hyperparameters}
                        ).restore(restored_path).expect_partial()
  setattr(checkpoint, HYPERPARAMETERS_KEY, learner.hyperparameters)


def has_hyperparameters(path: str) -> bool:
  """Whether the checkpoint at `path` holds the run-time hyperparameters."""
  names = tf.train.load_checkpoint(path).get_variable_to_shape_map()
  return any(n.startswith(HYPERPARAMETERS_KEY + '/') for n in names)


class Learner(tf.Module):
  """Holds the agent, the optimiser and the counters a checkpoint saves.

  With `strategy` (a `tf.distribute.MirroredStrategy` over N devices, see
  `runtime/replicas.py`) every variable has one replica-local copy per
  device; construct the agent and this Learner inside `strategy.scope()`.
  Each update splits the dequeued batch into N equal shards, one per
  replica, all-reduces (sums) the gradients, and applies the same clipped
  update on every replica, so the copies stay equal and a checkpoint holds
  one copy of each (resumable with any N, also 1).
  """

  def __init__(self, agent, config, device: Optional[str] = None,
               strategy: Optional[tf.distribute.Strategy] = None):
    super().__init__(name='learner')
    self._config = config
    self.agent = agent
    self.strategy = strategy
    self.device = device or learner_device(config.learner_device)
    with self._scope():
      with tf.device('/cpu:0'):
        # int64: 1e10 frames (DMLab-30) overflow int32.
        self.num_env_frames = tf.Variable(0, dtype=tf.int64, trainable=False,
                                          name='num_env_frames')
        self.num_updates = tf.Variable(0, dtype=tf.int64, trainable=False,
                                       name='num_updates')
      with tf.device(self.device):
        self.learning_rate = tf.Variable(
            config.learning_rate, dtype=tf.float32, trainable=False,
            name='learning_rate')
    # Outside the replicas: one copy, read by every replica's step.
    self.hyperparameters = Hyperparameters(config)
    epsilon = self.hyperparameters.epsilon
    with self._scope(), tf.device(self.device):
      # A callable: the optimiser does not track (and save) the variable.
      self.optimizer = optimizers.RMSPropTF1(
          learning_rate=self.learning_rate, decay=config.decay,
          momentum=config.momentum, epsilon=lambda: epsilon)

  @property
  def num_replicas(self) -> int:
    return self.strategy.num_replicas_in_sync if self.strategy else 1

  def _scope(self):
    return self.strategy.scope() if self.strategy else contextlib.nullcontext()

  def initialize(self, example_batch):
    """Creates agent and optimiser variables (needed before a restore)."""
    with self._scope(), tf.device(self.device):
      self.agent.unroll(example_batch.agent_outputs.action,
                        example_batch.env_outputs, example_batch.agent_state)
      self.optimizer.initialize(self.agent.trainable_variables)

  @tf.function
  def train_step(self, actor_output: ActorOutput, policy_version=None):
    """One update on a batch as dequeued. Returns TrainStats.

    Args:
      actor_output: ActorOutput as the queue delivers it: env/agent outputs
        batch-major [B, T+1, ...], agent_state [B, ...], level_name [B].
      policy_version: optional int64 [B], the parameter version each unroll
        was acted with (for the policy-lag summary).
    """
    if policy_version is None:
      policy_version = tf.fill(tf.shape(actor_output.level_name),
                               tf.cast(self.num_updates, tf.int64))
    if self.strategy is None:
      with tf.device(self.device):
        return self._replica_step(actor_output, policy_version)
    count = self.num_replicas
    shards = self.strategy.experimental_distribute_values_from_function(
        lambda context: _batch_shard(context.replica_id_in_sync_group, count,
                                     (actor_output, policy_version)))
    stats = self.strategy.run(lambda shard: self._replica_step(*shard),
                              args=(shards,))
    # Every replica returns the same all-reduced statistics.
    return tf.nest.map_structure(
        lambda v: self.strategy.experimental_local_results(v)[0], stats)

  def _replica_step(self, actor_output, policy_version):
    """The update on this replica's [B/N, T+1, ...] share of the batch."""
    config, hp = self._config, self.hyperparameters
    actor_output = batch_major_to_time_major(actor_output)
    variables = self.agent.trainable_variables
    with tf.GradientTape() as tape:
      losses, targets, batch = compute_loss(self.agent, actor_output, config,
                                            entropy_cost=hp.entropy_cost)
    sum_, mean = tf.distribute.ReduceOp.SUM, tf.distribute.ReduceOp.MEAN
    gradients = _all_reduce(sum_, tape.gradient(losses.total, variables))
    losses = tf.nest.map_structure(
        lambda x: x if x is None else _all_reduce(sum_, x), losses)
    # Clipping sees the all-reduced gradient: the global norm of the batch.
    # The clip is a variable (<= 0: none), read when the step runs.
    gradients, grad_norm = optimizers.clip_gradients(gradients,
                                                     hp.grad_norm_clip)
    # Linear decay to 0 over total_environment_frames (released code:
    # polynomial_decay with power 1), evaluated at the frames seen so far,
    # from the current initial rate (docs/impala.md §3.5).
    learning_rate = optimizers.linear_decay_learning_rate(
        hp.learning_rate, self.num_env_frames,
        config.total_environment_frames)
    self.learning_rate.assign(learning_rate)
    # Never apply a non-finite update: the runtime stops the run on
    # `finite == False` and the last good checkpoint stays intact.
    finite = tf.math.is_finite(losses.total) & tf.math.is_finite(grad_norm)
    # Policy lag: updates applied since the acting parameters were published.
    lag = _all_reduce(mean, tf.reduce_mean(tf.cast(
        self.num_updates - tf.cast(policy_version, tf.int64), tf.float32)))
    if finite:
      self.optimizer.apply(gradients, variables)
      # The whole batch counts once, on every replica's copy.
      self.num_env_frames.assign_add(config.frames_per_update)
      self.num_updates.assign_add(1)
    probs = tf.nn.softmax(batch.target_policy_logits)
    entropy = _all_reduce(mean, -tf.reduce_mean(tf.reduce_sum(
        probs * tf.nn.log_softmax(batch.target_policy_logits), axis=-1)))
    clipped_rho = _all_reduce(mean, tf.reduce_mean(
        tf.minimum(1.0, tf.exp(targets.log_rhos))))
    return TrainStats(
        total_loss=losses.total,
        policy_gradient_loss=losses.policy_gradient,
        baseline_loss=losses.baseline,
        entropy_loss=losses.entropy,
        entropy=entropy,
        learning_rate=learning_rate,
        grad_norm=grad_norm,
        num_env_frames=self.num_env_frames.read_value(),
        num_updates=self.num_updates.read_value(),
        mean_policy_lag=lag,
        mean_clipped_rho=clipped_rho,
        finite=finite)
