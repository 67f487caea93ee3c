"""The learner's loss terms and reward clipping (docs/impala.md §3).

Pure TensorFlow functions over time-major tensors: `[T, B]` per-step values and
`[T, B, num_actions]` policy logits (any number of leading dimensions works as
long as the shapes agree). Every loss is SUMMED over time and batch, not
averaged, as in the released code; the learning rate and the entropy/baseline
costs of the paper (Table D.3, Table G.1) are tuned for sums.

The total loss (paper §4.2: value update, policy-gradient update and entropy
bonus):

  total = policy_gradient + baseline_cost * baseline + entropy_cost * entropy

with
  policy_gradient = sum_{t,b} -log pi(a_t|x_t) * stop_gradient(pg_advantage_t)
  baseline        = 0.5 * sum_{t,b} (v_t - V(x_t))^2
  entropy         = sum_{t,b} sum_a pi(a|x_t) log pi(a|x_t)   (NEGATIVE entropy)
"""

import collections
import numbers

import tensorflow as tf

from scalable_agent_tf2 import config as config_lib

# Reward clipping modes of the released code's `--reward_clipping` flag
# (defined once, with the flag):
#   'abs_one': clip(r, -1, 1) (DMLab default, Atari).
#   'soft_asymmetric': the DMLab-30 README run's squashing (see clip_rewards).
#   'none': rewards unchanged.
REWARD_CLIPPING_MODES = config_lib.REWARD_CLIPPING

# The parts of the loss. `total` is what gets differentiated; the other fields
# are the UNSCALED terms (before baseline_cost / entropy_cost), for logging.
Losses = collections.namedtuple(
    'Losses', 'total policy_gradient baseline entropy')


def clip_rewards(rewards, reward_clipping):
  """Clips rewards the way the learner feeds them to V-trace.

  Args:
    rewards: float `[T, B]` (any shape) raw rewards. Integer input is cast to
      float32.
    reward_clipping: one of `REWARD_CLIPPING_MODES`:
      'abs_one': clip(r, -1, 1).
      'soft_asymmetric': with t = tanh(r / 5), 5 * t for r >= 0 and
        0.3 * 5 * t for r < 0. This is the released code's form (docs/impala.md §3);
        the paper's Figure D.1 caption renders it differently.
      'none': r unchanged.

  Returns:
    Float tensor of the same shape as `rewards`.

  Raises:
    ValueError: unknown `reward_clipping`.
  """
  if reward_clipping not in REWARD_CLIPPING_MODES:
    raise ValueError(
        'Unknown reward_clipping {!r}; valid modes are {}.'.format(
            reward_clipping, ', '.join(REWARD_CLIPPING_MODES)))
  rewards = tf.convert_to_tensor(rewards)
  if not rewards.dtype.is_floating:
    rewards = tf.cast(rewards, tf.float32)
  if reward_clipping == 'abs_one':
    return tf.clip_by_value(rewards, -1., 1.)
  if reward_clipping == 'soft_asymmetric':
    squeezed = tf.tanh(rewards / 5.)
    # Negative rewards are scaled down by 0.3 so that the agent is not overly
    # deterred by penalties (released code, DMLab-30 README run).
    return tf.where(rewards < 0., .3 * squeezed, squeezed) * 5.
  return rewards


def _check_same_shape(a, b, a_name, b_name):
  """Raises ValueError when two static shapes are known to differ."""
  if not a.shape.is_compatible_with(b.shape):
    raise ValueError('{} and {} must have the same shape, got {} and {}.'.format(
        a_name, b_name, a.shape, b.shape))


def _check_logits_and_actions(policy_logits, actions):
  """Checks that `policy_logits` is `actions`' shape plus a trailing [A]."""
  if policy_logits.shape.rank is None or actions.shape.rank is None:
    return
  if policy_logits.shape.rank != actions.shape.rank + 1:
    raise ValueError(
        'policy_logits must have one more dimension (num_actions) than '
        'actions, got policy_logits shape {} and actions shape {}.'.format(
            policy_logits.shape, actions.shape))
  if not policy_logits.shape[:-1].is_compatible_with(actions.shape):
    raise ValueError(
        'policy_logits shape {} does not match actions shape {} (expected '
        'actions shape + [num_actions]).'.format(
            policy_logits.shape, actions.shape))


def _check_non_negative(value, name):
  """Rejects negative Python numbers; tensors are left to the caller."""
  if isinstance(value, numbers.Number) and value < 0:
    raise ValueError('{} must be >= 0, got {}.'.format(name, value))


def compute_policy_gradient_loss(policy_logits, actions, advantages,
                                 log_prob_epsilon=0.0):
  """Policy-gradient loss, summed over time and batch.

  Args:
    policy_logits: float `[T, B, num_actions]` learner (target) policy logits.
    actions: int `[T, B]` actions taken by the behaviour policy.
    advantages: float `[T, B]`, e.g. V-trace's `pg_advantages`. Treated as
      constants: no gradient flows into them.
    log_prob_epsilon: Python 0 for the standard loss, computed with the
      numerically stable sparse softmax cross-entropy. > 0 (or any tensor)
      selects the paper's epsilon-correction (§5.2.2, Table 2): the
      cross-entropy becomes -log(pi(a) + log_prob_epsilon) (paper: 1e-6) so
      that log pi(a) cannot become very small.

  Returns:
    Scalar `sum_{t,b} cross_entropy(policy_logits, actions) * advantages`.

  Raises:
    ValueError: shape mismatch, non-integer actions or negative epsilon.
  """
  _check_non_negative(log_prob_epsilon, 'log_prob_epsilon')
  policy_logits = tf.convert_to_tensor(policy_logits)
  actions = tf.convert_to_tensor(actions)
  advantages = tf.convert_to_tensor(advantages, dtype=policy_logits.dtype)
  if not actions.dtype.is_integer:
    raise ValueError('actions must be integers, got dtype {}.'.format(
        actions.dtype.name))
  _check_logits_and_actions(policy_logits, actions)
  _check_same_shape(actions, advantages, 'actions', 'advantages')

  if isinstance(log_prob_epsilon, numbers.Number) and log_prob_epsilon == 0:
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=actions, logits=policy_logits)
  else:
    policy = tf.nn.softmax(policy_logits)
    num_actions = tf.shape(policy_logits)[-1]
    action_probs = tf.reduce_sum(
        policy * tf.one_hot(actions, num_actions, dtype=policy.dtype), axis=-1)
    cross_entropy = -tf.math.log(
        action_probs + tf.cast(log_prob_epsilon, policy.dtype))
  return tf.reduce_sum(cross_entropy * tf.stop_gradient(advantages))


def compute_baseline_loss(advantages):
  """Value (baseline) loss `0.5 * sum(advantages ** 2)`.

  Args:
    advantages: float `[T, B]`, `vs - baseline` where `vs` (the V-trace
      target) is already under stop-gradient so only the baseline is trained.

  Returns:
    Scalar, summed over time and batch (unscaled by baseline_cost).
  """
  advantages = tf.convert_to_tensor(advantages)
  return .5 * tf.reduce_sum(tf.square(advantages))


def compute_entropy_loss(policy_logits):
  """Negative entropy `sum_{t,b} sum_a pi log pi`, to be MINIMISED.

  Args:
    policy_logits: float `[T, B, num_actions]`.

  Returns:
    Scalar, summed over time and batch (unscaled by entropy_cost). For uniform
    logits it is -T * B * log(num_actions).
  """
  policy_logits = tf.convert_to_tensor(policy_logits)
  policy = tf.nn.softmax(policy_logits)
  # log_softmax rather than log(softmax): finite even where pi underflows to 0.
  log_policy = tf.nn.log_softmax(policy_logits)
  return tf.reduce_sum(policy * log_policy)


def compute_total_loss(policy_logits, actions, pg_advantages, vs, baseline,
                       entropy_cost, baseline_cost, log_prob_epsilon=0.0):
  """The learner's total loss (docs/impala.md §3).

  Args:
    policy_logits: float `[T, B, num_actions]` learner logits (steps 0..T-1 of
      the unroll).
    actions: int `[T, B]` behaviour actions (steps 1..T).
    pg_advantages: float `[T, B]` policy-gradient advantages (constants).
    vs: float `[T, B]` value targets (V-trace `vs`). Wrapped in stop_gradient
      here too, so the baseline loss only ever trains `baseline`.
    baseline: float `[T, B]` learner value estimates V(x_t).
    entropy_cost: scalar weight of the entropy term (float or tensor, e.g. a
      PBT-adapted variable).
    baseline_cost: scalar weight of the baseline term.
    log_prob_epsilon: see `compute_policy_gradient_loss`.

  Returns:
    `Losses(total, policy_gradient, baseline, entropy)`: scalars, `total` =
    policy_gradient + baseline_cost * baseline + entropy_cost * entropy, the
    other three unscaled.

  Raises:
    ValueError: shape mismatches or negative costs.
  """
  _check_non_negative(entropy_cost, 'entropy_cost')
  _check_non_negative(baseline_cost, 'baseline_cost')
  policy_logits = tf.convert_to_tensor(policy_logits)
  dtype = policy_logits.dtype
  actions = tf.convert_to_tensor(actions)
  pg_advantages = tf.convert_to_tensor(pg_advantages, dtype=dtype)
  vs = tf.convert_to_tensor(vs, dtype=dtype)
  baseline = tf.convert_to_tensor(baseline, dtype=dtype)
  _check_same_shape(actions, pg_advantages, 'actions', 'pg_advantages')
  _check_same_shape(vs, baseline, 'vs', 'baseline')
  _check_same_shape(actions, baseline, 'actions', 'baseline')

  policy_gradient_loss = compute_policy_gradient_loss(
      policy_logits, actions, pg_advantages, log_prob_epsilon=log_prob_epsilon)
  baseline_loss = compute_baseline_loss(tf.stop_gradient(vs) - baseline)
  entropy_loss = compute_entropy_loss(policy_logits)
  total = (policy_gradient_loss
           + tf.cast(baseline_cost, dtype) * baseline_loss
           + tf.cast(entropy_cost, dtype) * entropy_loss)
  return Losses(total=total, policy_gradient=policy_gradient_loss,
                baseline=baseline_loss, entropy=entropy_loss)
