"""The learner's optimiser: RMSProp with TF1 semantics, LR decay, grad clipping.

docs/impala.md §3: the released code trains with TF1's `tf.train.RMSPropOptimizer`
(centered=False), whose update is

  ms  = decay * ms + (1 - decay) * g^2
  mom = momentum * mom + lr * g / sqrt(ms + epsilon)
  var = var - mom

with the `ms` slot initialised to ONES and `mom` to zeros. Keras' RMSprop and
Sonnet 2's RMSProp apply the same formula but start `ms` at ZERO, so their
early updates differ: the first one is about lr * sign(g) / sqrt(1 - decay)
(10 * lr at decay 0.99 when g^2 >> epsilon) instead of about
lr * g / sqrt(1 + epsilon), and the two stay apart for roughly
1 / (1 - decay) = 100 updates until `ms` forgets its start. The paper's
hyperparameters (Table D.3, Table G.1) come with the ones start, so this
optimiser reproduces it.

The learning rate decays linearly to zero over the run's environment frames
(TF1 `polynomial_decay` with power 1 and end 0, as the released code), and
Atari clips gradients by global norm 40 (Table G.1).
"""

import numbers

import sonnet as snt
import tensorflow as tf


def _check_number(value, name, low=None, high=None):
  """Range-checks Python numbers; tensors/variables/callables pass through."""
  if isinstance(value, bool) or not isinstance(value, numbers.Number):
    return
  if low is not None and value < low:
    raise ValueError('{} must be >= {}, got {}.'.format(name, low, value))
  if high is not None and value > high:
    raise ValueError('{} must be <= {}, got {}.'.format(name, high, value))


class RMSPropTF1(snt.Optimizer):
  """RMSProp exactly as TF1's `tf.train.RMSPropOptimizer` (centered=False).

  Same calling convention as `snt.optimizers`: `apply(updates, parameters)`
  with a list of gradients (dense tensors or `tf.IndexedSlices`, `None` to
  skip a parameter) and the matching list of `tf.Variable`s.

  Slots (`ms`, `mom`: one `tf.Variable` per parameter, same shape, placed on
  the parameter's device) are tracked by this module, so `tf.train.Checkpoint`
  saves and restores them. Call `initialize(parameters)` to create them before
  restoring a checkpoint; otherwise the first `apply` creates them. Creation is
  lifted out of any enclosing `tf.function` (`tf.init_scope`) and happens only
  once, so a `tf.function`-wrapped train step can be called (and retraced)
  any number of times.

  Sparse gradients (`tf.IndexedSlices`, e.g. from an embedding lookup) update
  only the rows they index, as TF1's sparse RMSProp kernel did; duplicate
  indices are summed first.
  """

  def __init__(self, learning_rate, decay=0.99, momentum=0.0, epsilon=0.1,
               name='rmsprop_tf1'):
    """Constructs the optimiser.

    Args:
      learning_rate: Python float, scalar `tf.Variable`/tensor (the learner
        assigns the decayed LR into a variable every step), or a zero-argument
        callable returning one. Read at every `apply`.
      decay: discounting factor of the squared-gradient average `ms` (TF1's
        `decay`, a.k.a. rho), in [0, 1].
      momentum: momentum coefficient, >= 0.
      epsilon: added to `ms` INSIDE the square root, >= 0: a Python float,
        a scalar tensor, or a zero-argument callable returning one (the
        learner's run-time epsilon variable, not tracked by this module).
      name: module name.

    Raises:
      ValueError: a Python-number hyperparameter out of range.
    """
    super().__init__(name=name)
    _check_number(learning_rate, 'learning_rate', low=0.)
    _check_number(decay, 'decay', low=0., high=1.)
    _check_number(momentum, 'momentum', low=0.)
    _check_number(epsilon, 'epsilon', low=0.)
    self.learning_rate = learning_rate
    self.decay = decay
    self.momentum = momentum
    self.epsilon = epsilon
    # TF1 slot 'rms' (starts at ones) and slot 'momentum' (starts at zeros).
    self.ms = []
    self.mom = []
    # Identity of the parameters the slots belong to (None until created).
    # `Reference`s are not variables, so they are neither tracked nor saved.
    self._parameter_refs = None

  def initialize(self, parameters):
    """Creates the slots for `parameters` (idempotent).

    Args:
      parameters: list of `tf.Variable`s, in the order later passed to
        `apply`.

    Raises:
      ValueError: slots already exist for a different list of parameters, or
        a parameter has no fully defined static shape.
    """
    parameters = list(parameters)
    refs = [p.ref() for p in parameters]
    if self._parameter_refs is not None:
      if refs != self._parameter_refs:
        raise ValueError(
            '{} was initialized for a different list of {} parameters; got '
            '{} parameters. Use one optimizer per list of variables, always '
            'in the same order.'.format(
                self.name, len(self._parameter_refs), len(parameters)))
      return
    for p in parameters:
      if not p.shape.is_fully_defined():
        raise ValueError(
            'Parameter {} has a not fully defined shape {}; cannot create '
            'RMSProp slots.'.format(p.name, p.shape))
    # Lift slot creation out of any tf.function being traced: variables must
    # be created once, eagerly, not per trace.
    with tf.init_scope():
      for p in parameters:
        base_name = p.name.split(':')[0].replace('/', '_')
        with tf.device(p.device):
          self.ms.append(tf.Variable(
              tf.ones(p.shape, p.dtype), trainable=False,
              name=base_name + '_rms'))
          self.mom.append(tf.Variable(
              tf.zeros(p.shape, p.dtype), trainable=False,
              name=base_name + '_momentum'))
    self._parameter_refs = refs

  def _current_learning_rate(self):
    learning_rate = self.learning_rate
    if callable(learning_rate):
      learning_rate = learning_rate()
    return learning_rate

  def _current_epsilon(self):
    return self.epsilon() if callable(self.epsilon) else self.epsilon

  def apply(self, updates, parameters):
    """Applies one RMSProp step: `parameters[i] -= mom[i]`.

    Args:
      updates: list of gradients (`tf.Tensor`, `tf.IndexedSlices` or `None`
        to leave that parameter and its slots untouched), one per parameter.
      parameters: list of `tf.Variable`s.

    Raises:
      ValueError: mismatched lengths, dtypes or shapes, or parameters other
        than those the slots were created for.
    """
    updates = list(updates)
    parameters = list(parameters)
    if len(updates) != len(parameters):
      raise ValueError(
          'updates and parameters must have the same length, got {} and '
          '{}.'.format(len(updates), len(parameters)))
    self.initialize(parameters)

    learning_rate = self._current_learning_rate()
    current_epsilon = self._current_epsilon()
    for update, parameter, ms, mom in zip(updates, parameters, self.ms,
                                          self.mom):
      if update is None:
        continue
      if update.dtype.base_dtype != parameter.dtype.base_dtype:
        raise ValueError(
            'Gradient dtype {} does not match parameter {} dtype {}.'.format(
                update.dtype.name, parameter.name, parameter.dtype.name))
      dtype = parameter.dtype
      lr = tf.cast(learning_rate, dtype)
      decay = tf.cast(self.decay, dtype)
      momentum = tf.cast(self.momentum, dtype)
      epsilon = tf.cast(current_epsilon, dtype)
      if isinstance(update, tf.IndexedSlices):
        self._apply_sparse(update, parameter, ms, mom, lr, decay, momentum,
                           epsilon)
      else:
        if not update.shape.is_compatible_with(parameter.shape):
          raise ValueError(
              'Gradient shape {} does not match parameter {} shape {}.'.format(
                  update.shape, parameter.name, parameter.shape))
        new_ms = decay * ms + (1. - decay) * tf.square(update)
        new_mom = momentum * mom + lr * update / tf.sqrt(new_ms + epsilon)
        ms.assign(new_ms)
        mom.assign(new_mom)
        parameter.assign_sub(new_mom)

  def _apply_sparse(self, update, parameter, ms, mom, lr, decay, momentum,
                    epsilon):
    """Row-wise TF1 RMSProp for `tf.IndexedSlices` gradients."""
    # Sum duplicate rows first (TF1's _apply_sparse_duplicate_indices).
    indices, positions = tf.unique(update.indices)
    values = tf.math.unsorted_segment_sum(
        update.values, positions, tf.shape(indices)[0])
    ms_rows = decay * tf.gather(ms, indices) + (1. - decay) * tf.square(values)
    mom_rows = (momentum * tf.gather(mom, indices)
                + lr * values / tf.sqrt(ms_rows + epsilon))
    ms.scatter_update(tf.IndexedSlices(ms_rows, indices))
    mom.scatter_update(tf.IndexedSlices(mom_rows, indices))
    parameter.scatter_sub(tf.IndexedSlices(mom_rows, indices))


def linear_decay_learning_rate(initial_learning_rate, num_env_frames,
                               total_environment_frames):
  """Learning rate decayed linearly to 0 over the run (docs/impala.md §3).

  `lr * (1 - min(frames, total) / total)`: TF1's `polynomial_decay` with
  power 1 and end learning rate 0, stepped by environment frames, as the
  released code. Stays at 0 after `total_environment_frames`.

  Args:
    initial_learning_rate: scalar float (Python or tensor).
    num_env_frames: scalar, environment frames consumed so far (Python int or
      int/float tensor, e.g. the learner's int64 frame counter).
    total_environment_frames: scalar, > 0.

  Returns:
    float32 scalar tensor.

  Raises:
    ValueError: Python inputs out of range (total <= 0, frames < 0,
      learning rate < 0). Tensor inputs are checked with tf.debugging
      assertions.
  """
  _check_number(initial_learning_rate, 'initial_learning_rate', low=0.)
  _check_number(num_env_frames, 'num_env_frames', low=0)
  if (isinstance(total_environment_frames, numbers.Number)
      and total_environment_frames <= 0):
    raise ValueError('total_environment_frames must be > 0, got {}.'.format(
        total_environment_frames))
  # float64 so that frame counts near 1e10 lose no precision before the ratio.
  frames = tf.cast(num_env_frames, tf.float64)
  total = tf.cast(total_environment_frames, tf.float64)
  checks = [
      tf.debugging.assert_positive(
          total, message='total_environment_frames must be > 0'),
      tf.debugging.assert_non_negative(
          frames, message='num_env_frames must be >= 0'),
  ]
  with tf.control_dependencies(checks):
    fraction_left = 1. - tf.minimum(frames, total) / total
  return tf.cast(
      tf.cast(initial_learning_rate, tf.float64) * fraction_left, tf.float32)


def clip_gradients(gradients, grad_norm_clip):
  """Global-norm gradient clipping (Atari: 40, Table G.1; DMLab: none).

  Args:
    gradients: list of gradients (`tf.Tensor`, `tf.IndexedSlices` or `None`).
    grad_norm_clip: None or 0 for no clipping; a positive number for
      `tf.clip_by_global_norm`; or a scalar tensor/variable (the learner's
      run-time clip, adapted by population-based training), where a value
      <= 0 means no clipping, decided when the step runs (no retracing).

  Returns:
    `(gradients, global_norm)`: the (possibly rescaled) list, `None` entries
    kept in place, and the global norm of the INPUT gradients (for logging).

  Raises:
    ValueError: negative Python `grad_norm_clip`.
  """
  gradients = list(gradients)
  if grad_norm_clip is None or (
      isinstance(grad_norm_clip, numbers.Number) and grad_norm_clip == 0):
    return gradients, tf.linalg.global_norm(gradients)
  _check_number(grad_norm_clip, 'grad_norm_clip', low=0.)
  if isinstance(grad_norm_clip, numbers.Number):
    clipped, global_norm = tf.clip_by_global_norm(gradients, grad_norm_clip)
    return list(clipped), global_norm
  return _clip_by_variable_norm(gradients, grad_norm_clip)


def _clip_by_variable_norm(gradients, grad_norm_clip):
  """`tf.clip_by_global_norm`'s arithmetic with a run-time threshold.

  The scale is `clip * min(1 / norm, 1 / clip)` exactly as TF computes it
  (so a positive threshold gives bitwise the same gradients), and 1 when
  the threshold is <= 0 (then every gradient is multiplied by exactly 1).
  A non-finite norm makes the scale NaN, as in TF.
  """
  global_norm = tf.linalg.global_norm(gradients)
  clip = tf.cast(grad_norm_clip, global_norm.dtype)
  scale_when_clipping = clip * tf.minimum(1.0 / global_norm, 1.0 / clip)
  scale = tf.where(clip > 0, scale_when_clipping, tf.ones_like(clip))
  scale += global_norm - global_norm
  clipped = []
  for g in gradients:
    if g is None:
      clipped.append(None)
    elif isinstance(g, tf.IndexedSlices):
      clipped.append(tf.IndexedSlices(g.values * tf.cast(scale, g.dtype),
                                      g.indices, g.dense_shape))
    else:
      clipped.append(g * tf.cast(scale, g.dtype))
  return clipped, global_norm
