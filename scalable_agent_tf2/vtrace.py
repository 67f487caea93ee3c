"""V-trace off-policy actor-critic targets (IMPALA paper §4, docs/impala.md §1).

The public API matches the released code's `vtrace.py` so users' code ports
over: `log_probs_from_logits_and_actions`, `from_logits` and
`from_importance_weights`, returning the `VTraceFromLogitsReturns` /
`VTraceReturns` namedtuples.

All tensors are time-major: `[T, B, ...]` where T is the `unroll_length`, B
the batch size and `...` any number of extra trailing dims (the same for every
per-step input); `bootstrap_value` is `[B, ...]`, the value estimate V(x_T) of
the state after the last step.

Notation (paper §4.1 incl. Remark 1 and §4.2; docs/impala.md §1):

  rho_t         = exp(log_rho_t) = pi(a_t|x_t) / mu(a_t|x_t)
  clipped_rho_t = min(rho_bar, rho_t)        (rho_bar = clip_rho_threshold)
  c_t           = min(1, rho_t)              (c_bar fixed at 1, as released)
  delta_t       = clipped_rho_t * (r_t + gamma_t * V(x_{t+1}) - V(x_t))
  v_s - V(x_s)  = delta_s + gamma_s * c_s * (v_{s+1} - V(x_{s+1}))
  v_T - V(x_T)  = 0,  V(x_T) = bootstrap_value
  pg_advantage_s = min(pg_rho_bar, rho_s) * (r_s + gamma_s * v_{s+1} - V(x_s))

with `v_T = bootstrap_value` in the policy-gradient advantage. A threshold of
None means no clipping. `vs` and `pg_advantages` are returned under
`tf.stop_gradient`: they are targets, not functions of the parameters.

Implementation notes:
- The backward recursion is a reverse `tf.scan` inside one module-level
  `tf.function` (`_vtrace_core`). The thresholds enter it as scalar tensors
  (None becomes +inf, for which `min(inf, rho) == rho` exactly), so it is
  traced at most once per input shape/dtype and never per threshold value;
  the Python wrappers only validate and convert. See `tracing_count()`.
- The paper ran V-trace on the CPU because the sequential scan was faster
  there (docs/impala.md §1). The `device` argument (default
  `DEFAULT_DEVICE = '/cpu:0'`) places the op accordingly; pass `device=None`
  to inherit the caller's placement.
- Computation happens in the inputs' floating dtype (float32 or float64):
  the dtype of `log_rhos` (of the logits in `from_logits`). Tensors of
  another dtype are rejected; numpy arrays and Python values are converted to
  it, as `tf.convert_to_tensor(..., dtype_hint=...)` does.
"""

import collections
import contextlib
import math
import numbers

import numpy as np
import tensorflow as tf

# Where the V-trace op runs by default: the paper computed V-trace on the CPU
# because its sequential scan was faster there than on the GPU (docs/impala.md §1).
DEFAULT_DEVICE = '/cpu:0'

VTraceFromLogitsReturns = collections.namedtuple(
    'VTraceFromLogitsReturns',
    ['vs', 'pg_advantages', 'log_rhos', 'behaviour_action_log_probs',
     'target_action_log_probs'])

VTraceReturns = collections.namedtuple('VTraceReturns', 'vs pg_advantages')


def _device_scope(device):
  """`tf.device(device)`, or no placement when device is None."""
  return contextlib.nullcontext() if device is None else tf.device(device)


def log_probs_from_logits_and_actions(policy_logits, actions):
  """Log-probabilities of the taken actions under a softmax policy.

  Args:
    policy_logits: float `[T, B, ..., NUM_ACTIONS]` unnormalised logits.
    actions: integer `[T, B, ...]` action indices in `[0, NUM_ACTIONS)`.

  Returns:
    `[T, B, ...]` tensor of log pi(actions), in the logits' dtype.

  Raises:
    ValueError: if the ranks/shapes do not match, the rank is unknown, or the
      dtypes are not float logits and integer actions.
  """
  policy_logits = tf.convert_to_tensor(policy_logits)
  actions = tf.convert_to_tensor(actions)
  if not policy_logits.dtype.is_floating:
    raise ValueError(
        f'policy_logits must be a floating tensor, got {policy_logits.dtype}.')
  if not actions.dtype.is_integer:
    raise ValueError(f'actions must be an integer tensor, got {actions.dtype}.')
  if policy_logits.shape.rank is None or actions.shape.rank is None:
    raise ValueError('policy_logits and actions must have statically known '
                     'ranks.')
  if policy_logits.shape.rank != actions.shape.rank + 1:
    raise ValueError(
        'policy_logits must have rank one more than actions ([T, B, ..., '
        f'NUM_ACTIONS] vs [T, B, ...]); got policy_logits shape '
        f'{policy_logits.shape} and actions shape {actions.shape}.')
  if not policy_logits.shape[:-1].is_compatible_with(actions.shape):
    raise ValueError(
        'policy_logits.shape[:-1] must equal actions.shape; got policy_logits '
        f'shape {policy_logits.shape} and actions shape {actions.shape}.')
  if actions.dtype not in (tf.int32, tf.int64):
    actions = tf.cast(actions, tf.int64)
  # log softmax(logits)[a] = -cross_entropy(one_hot(a), softmax(logits)).
  return -tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=actions, logits=policy_logits)


def _matching_logits(behaviour_policy_logits, target_policy_logits):
  """Both logits as tensors `[T, B, ..., NUM_ACTIONS]`, checked to agree.

  Raises:
    ValueError: the two differ in dtype or shape.
  """
  behaviour_policy_logits = tf.convert_to_tensor(behaviour_policy_logits)
  target_policy_logits = tf.convert_to_tensor(target_policy_logits)
  if behaviour_policy_logits.dtype != target_policy_logits.dtype:
    raise ValueError(
        'behaviour_policy_logits and target_policy_logits must have the '
        f'same dtype; got {behaviour_policy_logits.dtype} and '
        f'{target_policy_logits.dtype}.')
  if not behaviour_policy_logits.shape.is_compatible_with(
      target_policy_logits.shape):
    raise ValueError(
        'behaviour_policy_logits and target_policy_logits must have the '
        f'same shape; got {behaviour_policy_logits.shape} and '
        f'{target_policy_logits.shape}.')
  return behaviour_policy_logits, target_policy_logits


def from_logits(behaviour_policy_logits,
                target_policy_logits,
                actions,
                discounts,
                rewards,
                values,
                bootstrap_value,
                clip_rho_threshold=1.0,
                clip_pg_rho_threshold=1.0,
                name='vtrace_from_logits',
                device=DEFAULT_DEVICE):
  """V-trace for softmax policies given as logits.

  log_rho_t = log pi(a_t|x_t) - log mu(a_t|x_t), with pi the target (learner)
  policy and mu the behaviour (actor) policy; then as
  `from_importance_weights`.

  Args:
    behaviour_policy_logits: float `[T, B, ..., NUM_ACTIONS]`, logits of mu.
    target_policy_logits: float `[T, B, ..., NUM_ACTIONS]`, logits of pi.
    actions: integer `[T, B, ...]`, actions sampled from mu.
    discounts: float `[T, B, ...]`, gamma_t (0 where the episode ended).
    rewards: float `[T, B, ...]`, r_t.
    values: float `[T, B, ...]`, V(x_t) from the learner's baseline.
    bootstrap_value: float `[B, ...]`, V(x_T).
    clip_rho_threshold: scalar rho_bar for the value target, or None.
    clip_pg_rho_threshold: scalar pg rho_bar for the advantages, or None.
    name: name scope for the ops.
    device: device for the whole op (log-probs and the scan); default
      `DEFAULT_DEVICE` ('/cpu:0', as in the paper); None inherits the caller's.

  Returns:
    `VTraceFromLogitsReturns(vs, pg_advantages, log_rhos,
    behaviour_action_log_probs, target_action_log_probs)`, all `[T, B, ...]`.
    `vs` and `pg_advantages` are under stop-gradient; the log-probabilities
    are not (as in the released code).

  Raises:
    ValueError: on rank/shape/dtype mismatches or non-scalar thresholds.
  """
  with _device_scope(device), tf.name_scope(name):
    behaviour_policy_logits, target_policy_logits = _matching_logits(
        behaviour_policy_logits, target_policy_logits)
    target_action_log_probs = log_probs_from_logits_and_actions(
        target_policy_logits, actions)
    behaviour_action_log_probs = log_probs_from_logits_and_actions(
        behaviour_policy_logits, actions)
    log_rhos = target_action_log_probs - behaviour_action_log_probs
    # Already inside the device scope: device=None inherits it.
    vtrace_returns = from_importance_weights(
        log_rhos=log_rhos, discounts=discounts, rewards=rewards,
        values=values, bootstrap_value=bootstrap_value,
        clip_rho_threshold=clip_rho_threshold,
        clip_pg_rho_threshold=clip_pg_rho_threshold, device=None)
    return VTraceFromLogitsReturns(
        vs=vtrace_returns.vs, pg_advantages=vtrace_returns.pg_advantages,
        log_rhos=log_rhos,
        behaviour_action_log_probs=behaviour_action_log_probs,
        target_action_log_probs=target_action_log_probs)


def from_importance_weights(log_rhos,
                            discounts,
                            rewards,
                            values,
                            bootstrap_value,
                            clip_rho_threshold=1.0,
                            clip_pg_rho_threshold=1.0,
                            name='vtrace_from_importance_weights',
                            device=DEFAULT_DEVICE):
  """V-trace targets from log importance weights (paper §4.1, docs/impala.md §1).

  Args:
    log_rhos: float `[T, B, ...]`, log pi(a_t|x_t) - log mu(a_t|x_t).
    discounts: float `[T, B, ...]`, gamma_t (0 where the episode ended).
    rewards: float `[T, B, ...]`, r_t.
    values: float `[T, B, ...]`, V(x_t).
    bootstrap_value: float `[B, ...]`, V(x_T).
    clip_rho_threshold: scalar rho_bar (Python number, numpy scalar or scalar
      tensor) or None for no clipping. Used in delta_t only; the trace
      coefficients c_t = min(1, rho_t) do not depend on it.
    clip_pg_rho_threshold: scalar pg rho_bar for the advantages, or None.
    name: name scope for the ops.
    device: device for the op, default `DEFAULT_DEVICE` ('/cpu:0', where the
      paper ran it); None inherits the caller's placement.

  Returns:
    `VTraceReturns(vs, pg_advantages)`, both `[T, B, ...]`, in the inputs'
    dtype, under stop-gradient.

  Raises:
    ValueError: on rank mismatch (all per-step inputs rank R >= 2,
      bootstrap_value rank R-1), shape mismatch, mixed or non-float dtypes, or
      a threshold that is not a scalar / None (or is negative / NaN).
  """
  with _device_scope(device), tf.name_scope(name):
    log_rhos = tf.convert_to_tensor(log_rhos)
    dtype = log_rhos.dtype
    if not dtype.is_floating:
      raise ValueError(f'log_rhos must be a floating tensor, got {dtype}.')
    inputs = dict(
        log_rhos=log_rhos,
        discounts=tf.convert_to_tensor(discounts, dtype_hint=dtype),
        rewards=tf.convert_to_tensor(rewards, dtype_hint=dtype),
        values=tf.convert_to_tensor(values, dtype_hint=dtype),
        bootstrap_value=tf.convert_to_tensor(bootstrap_value,
                                             dtype_hint=dtype))
    _check_vtrace_inputs(**inputs)
    rho_bar = _threshold_tensor(clip_rho_threshold, 'clip_rho_threshold',
                                dtype)
    pg_rho_bar = _threshold_tensor(clip_pg_rho_threshold,
                                   'clip_pg_rho_threshold', dtype)
    vs, pg_advantages = _vtrace_core(
        inputs['log_rhos'], inputs['discounts'], inputs['rewards'],
        inputs['values'], inputs['bootstrap_value'], rho_bar, pg_rho_bar)
    return VTraceReturns(vs=vs, pg_advantages=pg_advantages)


def tracing_count():
  """How many times the V-trace core has been traced (for tests/diagnostics).

  It grows at most once per new input shape/dtype signature (and stops
  growing once the trace has generalised to unknown dims), never per call or
  per threshold value.
  """
  return _vtrace_core.experimental_get_tracing_count()


def _check_vtrace_inputs(log_rhos, discounts, rewards, values,
                         bootstrap_value):
  """Static (Python-level) rank, shape and dtype checks; raises ValueError."""
  rank = log_rhos.shape.rank
  if rank is None:
    raise ValueError('log_rhos must have a statically known rank.')
  if rank < 2:
    raise ValueError(
        f'log_rhos must be time-major [T, B, ...] (rank >= 2); got shape '
        f'{log_rhos.shape}.')
  per_step = dict(discounts=discounts, rewards=rewards, values=values)
  for key, tensor in per_step.items():
    if tensor.shape.rank != rank:
      raise ValueError(
          f'Rank mismatch: log_rhos has rank {rank} (shape {log_rhos.shape}) '
          f'but {key} has rank {tensor.shape.rank} (shape {tensor.shape}).')
  if bootstrap_value.shape.rank != rank - 1:
    raise ValueError(
        f'Rank mismatch: bootstrap_value must have rank {rank - 1} (one less '
        f'than log_rhos, shape {log_rhos.shape}); got rank '
        f'{bootstrap_value.shape.rank} (shape {bootstrap_value.shape}).')
  for key, tensor in per_step.items():
    if not tensor.shape.is_compatible_with(log_rhos.shape):
      raise ValueError(
          f'Shape mismatch: {key} has shape {tensor.shape} but log_rhos has '
          f'shape {log_rhos.shape}.')
  if not bootstrap_value.shape.is_compatible_with(values.shape[1:]):
    raise ValueError(
        f'Shape mismatch: bootstrap_value has shape {bootstrap_value.shape} '
        f'but must equal values.shape[1:] = {values.shape[1:]}.')
  if log_rhos.shape[0] == 0:
    raise ValueError('The unroll_length T (dim 0) must be at least 1.')
  for key, tensor in dict(bootstrap_value=bootstrap_value, **per_step).items():
    if tensor.dtype != log_rhos.dtype:
      raise ValueError(
          f'dtype mismatch: {key} is {tensor.dtype} but log_rhos is '
          f'{log_rhos.dtype}; V-trace computes in one floating dtype.')


def _threshold_tensor(threshold, key, dtype):
  """Validates a clipping threshold and returns it as a scalar `dtype` tensor.

  None (no clipping) becomes +inf: min(inf, rho) == rho exactly, so both cases
  share one trace of the core.
  """
  if threshold is None:
    return tf.constant(np.inf, dtype=dtype)
  if isinstance(threshold, bool):
    raise ValueError(f'{key} must be a scalar number or None, got a bool.')
  if isinstance(threshold, numbers.Real):
    value = float(threshold)
    if math.isnan(value) or value < 0:
      raise ValueError(f'{key} must be >= 0 (or None), got {threshold}.')
    return tf.constant(value, dtype=dtype)
  if isinstance(threshold, (list, tuple, dict, str, bytes)):
    raise ValueError(
        f'{key} must be a scalar number, a scalar tensor or None; got a '
        f'{type(threshold).__name__}: {threshold!r}.')
  try:
    tensor = tf.convert_to_tensor(threshold)
  except (TypeError, ValueError) as e:
    raise ValueError(
        f'{key} must be a scalar number, a scalar tensor or None; got '
        f'{threshold!r}.') from e
  if tensor.shape.rank != 0:
    raise ValueError(
        f'{key} must be a scalar (rank 0); got shape {tensor.shape}.')
  if not (tensor.dtype.is_floating or tensor.dtype.is_integer):
    raise ValueError(f'{key} must be numeric, got dtype {tensor.dtype}.')
  static_value = tf.get_static_value(tensor)
  if static_value is not None and not static_value >= 0:
    raise ValueError(f'{key} must be >= 0 (or None), got {static_value}.')
  return tf.cast(tensor, dtype)


# reduce_retracing: after a second input shape the trace generalises to unknown
# dims instead of tracing once per shape (tests and benchmarks use many).
@tf.function(reduce_retracing=True)
def _vtrace_core(log_rhos, discounts, rewards, values, bootstrap_value,
                 clip_rho_threshold, clip_pg_rho_threshold):
  """The V-trace recursion on validated tensors (shapes as documented above).

  Thresholds are scalar tensors of the inputs' dtype (+inf = no clipping).
  Returns (vs, pg_advantages), both `[T, B, ...]`.
  """
  # Targets carry no gradient; stopping it at the inputs also keeps the tape
  # from recording the scan.
  log_rhos, discounts, rewards, values, bootstrap_value = (
      tf.stop_gradient(t) for t in (log_rhos, discounts, rewards, values,
                                    bootstrap_value))
  rhos = tf.exp(log_rhos)
  clipped_rhos = tf.minimum(clip_rho_threshold, rhos)
  # c_bar is 1 regardless of rho_bar (released code; docs/impala.md §1).
  cs = tf.minimum(tf.ones([], rhos.dtype), rhos)

  # V(x_{t+1}) for t = 0..T-1, with V(x_T) = bootstrap_value.
  values_t_plus_1 = tf.concat([values[1:], bootstrap_value[tf.newaxis]],
                              axis=0)
  deltas = clipped_rhos * (rewards + discounts * values_t_plus_1 - values)

  # v_s - V(x_s) = delta_s + gamma_s c_s (v_{s+1} - V(x_{s+1})), backwards
  # from v_T - V(x_T) = 0.
  def backward_step(acc, elems):
    delta_t, discount_c_t = elems
    return delta_t + discount_c_t * acc

  vs_minus_v_xs = tf.scan(
      backward_step,
      elems=(deltas, discounts * cs),
      initializer=tf.zeros_like(bootstrap_value),
      parallel_iterations=1,  # Each step depends on the previous one.
      reverse=True)
  vs = vs_minus_v_xs + values

  # The advantage uses v_{s+1}, with v_T = bootstrap_value.
  vs_t_plus_1 = tf.concat([vs[1:], bootstrap_value[tf.newaxis]], axis=0)
  clipped_pg_rhos = tf.minimum(clip_pg_rho_threshold, rhos)
  pg_advantages = clipped_pg_rhos * (rewards + discounts * vs_t_plus_1 - values)
  return tf.stop_gradient(vs), tf.stop_gradient(pg_advantages)
