"""Tests for scalable_agent_tf2.optimizers: TF1 RMSProp, LR decay, clipping."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import pytest
import tensorflow as tf

from scalable_agent_tf2 import optimizers


def numpy_tf1_rmsprop(var, grads, lr, decay, momentum, epsilon):
  """Independent float64 TF1 RMSProp: returns var, ms, mom after all grads.

  `lr` is a scalar or one learning rate per step.
  """
  var = np.array(var, np.float64)
  ms = np.ones_like(var)  # TF1 starts the 'rms' slot at ones.
  mom = np.zeros_like(var)
  lrs = np.broadcast_to(np.asarray(lr, np.float64), (len(grads),))
  for g, step_lr in zip(grads, lrs):
    ms = decay * ms + (1. - decay) * np.square(g)
    mom = momentum * mom + step_lr * g / np.sqrt(ms + epsilon)
    var = var - mom
  return var, ms, mom


@pytest.mark.parametrize('momentum', [0.0, 0.9])
@pytest.mark.parametrize('epsilon', [0.1, 0.01])
@pytest.mark.parametrize('shape', [(3,), (2, 4)])
def test_rmsprop_matches_numpy_tf1_update(momentum, epsilon, shape):
  rng = np.random.RandomState(0)
  init = rng.randn(*shape).astype(np.float32)
  grads = [rng.randn(*shape).astype(np.float32) * 3. for _ in range(5)]
  var = tf.Variable(init)
  opt = optimizers.RMSPropTF1(0.05, decay=0.99, momentum=momentum,
                              epsilon=epsilon)
  for i, g in enumerate(grads):
    opt.apply([tf.constant(g)], [var])
    want_var, want_ms, want_mom = numpy_tf1_rmsprop(
        init, grads[:i + 1], 0.05, 0.99, momentum, epsilon)
    # After every step, the first one included (where ms starts at ones).
    np.testing.assert_allclose(var.numpy(), want_var, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(opt.ms[0].numpy(), want_ms, rtol=1e-5)
    np.testing.assert_allclose(opt.mom[0].numpy(), want_mom, rtol=1e-5,
                               atol=1e-7)


def test_rmsprop_first_step_literal_value():
  # g = 0.5, lr = 0.1, decay = 0.99, epsilon = 0.1, ms starts at 1:
  #   ms  = 0.99 * 1 + 0.01 * 0.25 = 0.9925
  #   mom = 0.1 * 0.5 / sqrt(0.9925 + 0.1) = 0.05 / 1.0452272... = 0.0478365...
  #   var = 1 - 0.0478365... = 0.9521634...
  var = tf.Variable(1.0)
  opt = optimizers.RMSPropTF1(0.1, decay=0.99, momentum=0.0, epsilon=0.1)
  opt.apply([tf.constant(0.5)], [var])
  assert opt.ms[0].numpy() == pytest.approx(0.9925, rel=1e-6)
  assert opt.mom[0].numpy() == pytest.approx(0.0478365, rel=1e-5)
  assert var.numpy() == pytest.approx(0.9521635, rel=1e-6)


def test_rmsprop_matches_tf1_kernel():
  # ResourceApplyRMSProp is the kernel TF1's tf.train.RMSPropOptimizer ran.
  rng = np.random.RandomState(1)
  init = rng.randn(4, 3).astype(np.float32)
  var = tf.Variable(init)
  ref_var = tf.Variable(init)
  ref_ms = tf.Variable(tf.ones_like(init))
  ref_mom = tf.Variable(tf.zeros_like(init))
  opt = optimizers.RMSPropTF1(0.01, decay=0.95, momentum=0.5, epsilon=0.01)
  for _ in range(4):
    g = tf.constant(rng.randn(4, 3).astype(np.float32))
    opt.apply([g], [var])
    tf.raw_ops.ResourceApplyRMSProp(
        var=ref_var.handle, ms=ref_ms.handle, mom=ref_mom.handle, lr=0.01,
        rho=0.95, momentum=0.5, epsilon=0.01, grad=g)
  np.testing.assert_allclose(var.numpy(), ref_var.numpy(), rtol=1e-6,
                             atol=1e-7)
  np.testing.assert_allclose(opt.ms[0].numpy(), ref_ms.numpy(), rtol=1e-6)


def test_rmsprop_differs_from_keras_on_first_step():
  # Keras' RMSprop starts ms at ZERO: the first step is
  # 0.1 * 0.5 / sqrt(0.0025 + 0.1) = 0.1562 instead of 0.0478. This is why the
  # project does not use it (docs/impala.md §3).
  ours = tf.Variable(1.0)
  optimizers.RMSPropTF1(0.1, decay=0.99, epsilon=0.1).apply(
      [tf.constant(0.5)], [ours])
  theirs = tf.Variable(1.0)
  keras_opt = tf.keras.optimizers.RMSprop(learning_rate=0.1, rho=0.99,
                                          epsilon=0.1)
  keras_opt.apply_gradients([(tf.constant(0.5), theirs)])
  assert theirs.numpy() == pytest.approx(1. - 0.05 / np.sqrt(0.1025), rel=1e-5)
  assert abs(ours.numpy() - theirs.numpy()) > 0.1


def test_rmsprop_skips_none_gradients():
  a = tf.Variable([1., 2.])
  b = tf.Variable([3., 4.])
  opt = optimizers.RMSPropTF1(0.1)
  opt.apply([None, tf.constant([1., 1.])], [a, b])
  np.testing.assert_array_equal(a.numpy(), [1., 2.])
  np.testing.assert_array_equal(opt.ms[0].numpy(), [1., 1.])
  np.testing.assert_array_equal(opt.mom[0].numpy(), [0., 0.])
  assert not np.allclose(b.numpy(), [3., 4.])


def test_rmsprop_learning_rate_variable_picks_up_assigned_values():
  init = np.array([1., -2.], np.float32)
  grads = [np.array([0.5, 1.5], np.float32)] * 3
  lr = tf.Variable(0.1)
  var = tf.Variable(init)
  opt = optimizers.RMSPropTF1(lr, momentum=0.0)
  lrs = [0.1, 0.02, 0.0]
  for step_lr, g in zip(lrs, grads):
    lr.assign(step_lr)
    opt.apply([tf.constant(g)], [var])
  want, _, _ = numpy_tf1_rmsprop(init, grads, lrs, 0.99, 0.0, 0.1)
  np.testing.assert_allclose(var.numpy(), want, rtol=1e-6)


def test_rmsprop_learning_rate_callable():
  calls = []

  def learning_rate():
    calls.append(1)
    return 0.2

  var = tf.Variable(1.0)
  optimizers.RMSPropTF1(learning_rate).apply([tf.constant(0.5)], [var])
  assert calls
  want, _, _ = numpy_tf1_rmsprop(1.0, [0.5], 0.2, 0.99, 0.0, 0.1)
  assert var.numpy() == pytest.approx(want, rel=1e-6)


def test_rmsprop_inside_tf_function_over_several_calls():
  # Slots get created on the first trace (no initialize() beforehand); later
  # calls, and a retrace for a new input signature, reuse them.
  init = np.array([[0.5, -0.5], [1., 2.]], np.float32)
  var = tf.Variable(init)
  lr = tf.Variable(0.05)
  opt = optimizers.RMSPropTF1(lr, momentum=0.9, epsilon=0.01)

  @tf.function
  def train_step(x):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.square(var * x))
    grads = tape.gradient(loss, [var])
    opt.apply(grads, [var])

  x = np.array([[1., 2.], [3., 4.]], np.float32)
  current = init.astype(np.float64)
  ms = np.ones_like(current)
  mom = np.zeros_like(current)
  for _ in range(4):
    train_step(tf.constant(x))
    g = 2. * current * x * x
    ms = 0.99 * ms + 0.01 * g * g
    mom = 0.9 * mom + 0.05 * g / np.sqrt(ms + 0.01)
    current = current - mom
  np.testing.assert_allclose(var.numpy(), current, rtol=1e-5)
  assert len(opt.ms) == 1 and len(opt.mom) == 1
  # A new input shape ([2], broadcast against var) retraces train_step; the
  # retrace must reuse the slots rather than create new ones.
  train_step(tf.constant([1., 1.]))
  assert len(opt.ms) == 1
  assert len(opt.variables) == 3  # ms, mom and the learning-rate variable.


def test_rmsprop_slots_checkpoint_round_trip(tmp_path):
  var = tf.Variable([[1., 2.], [3., 4.]])
  opt = optimizers.RMSPropTF1(0.1, momentum=0.9)
  for _ in range(2):
    opt.apply([tf.constant([[0.3, -0.2], [1., 2.]])], [var])
  saved_ms = opt.ms[0].numpy()
  saved_mom = opt.mom[0].numpy()
  path = tf.train.Checkpoint(optimizer=opt).save(str(tmp_path / 'ckpt'))

  # Perturb, restore into the same object: values come back.
  opt.ms[0].assign(tf.fill([2, 2], 7.))
  opt.mom[0].assign(tf.fill([2, 2], -7.))
  tf.train.Checkpoint(optimizer=opt).restore(path).assert_consumed()
  np.testing.assert_array_equal(opt.ms[0].numpy(), saved_ms)
  np.testing.assert_array_equal(opt.mom[0].numpy(), saved_mom)

  # A fresh optimiser restored before training (slots made by initialize()).
  fresh = optimizers.RMSPropTF1(0.1, momentum=0.9)
  fresh.initialize([var])
  tf.train.Checkpoint(optimizer=fresh).restore(path).assert_consumed()
  np.testing.assert_array_equal(fresh.ms[0].numpy(), saved_ms)
  np.testing.assert_array_equal(fresh.mom[0].numpy(), saved_mom)


def test_rmsprop_slots_colocated_and_shaped_like_parameters():
  params = [tf.Variable(tf.zeros([2, 3])), tf.Variable(tf.zeros([5]))]
  opt = optimizers.RMSPropTF1(0.1)
  opt.initialize(params)
  opt.initialize(params)  # Idempotent.
  assert len(opt.ms) == 2
  for p, ms, mom in zip(params, opt.ms, opt.mom):
    assert ms.shape == p.shape and mom.shape == p.shape
    assert ms.device == p.device and mom.device == p.device
    assert not ms.trainable and not mom.trainable
    np.testing.assert_array_equal(ms.numpy(), np.ones(p.shape))
    np.testing.assert_array_equal(mom.numpy(), np.zeros(p.shape))


def test_rmsprop_sparse_gradients_match_tf1_sparse_kernel():
  rng = np.random.RandomState(2)
  table_init = rng.randn(6, 2).astype(np.float32)
  table = tf.Variable(table_init)
  ref = tf.Variable(table_init)
  ref_ms = tf.Variable(tf.ones_like(table_init))
  ref_mom = tf.Variable(tf.zeros_like(table_init))
  opt = optimizers.RMSPropTF1(0.1, momentum=0.5, epsilon=0.1)
  ids = tf.constant([1, 4, 1])  # Row 1 twice: its gradients add up.
  for _ in range(3):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.square(tf.gather(table, ids)))
    grad, = tape.gradient(loss, [table])
    assert isinstance(grad, tf.IndexedSlices)
    opt.apply([grad], [table])
    # TF1 summed duplicate indices and then ran the sparse kernel.
    unique_ids, pos = tf.unique(grad.indices)
    values = tf.math.unsorted_segment_sum(grad.values, pos,
                                          tf.size(unique_ids))
    tf.raw_ops.ResourceSparseApplyRMSProp(
        var=ref.handle, ms=ref_ms.handle, mom=ref_mom.handle, lr=0.1,
        rho=0.99, momentum=0.5, epsilon=0.1, grad=values, indices=unique_ids)
  np.testing.assert_allclose(table.numpy(), ref.numpy(), rtol=1e-6)
  np.testing.assert_allclose(opt.ms[0].numpy(), ref_ms.numpy(), rtol=1e-6)
  # Rows never looked up are untouched, slots included.
  for row in (0, 2, 3, 5):
    np.testing.assert_array_equal(table.numpy()[row], table_init[row])
    np.testing.assert_array_equal(opt.ms[0].numpy()[row], [1., 1.])


def test_rmsprop_rejects_mismatched_lists():
  a = tf.Variable([1., 2.])
  b = tf.Variable([1., 2.])
  opt = optimizers.RMSPropTF1(0.1)
  with pytest.raises(ValueError, match='same length'):
    opt.apply([tf.constant([1., 1.])], [a, b])
  opt.apply([tf.constant([1., 1.])], [a])
  with pytest.raises(ValueError, match='different list'):
    opt.apply([tf.constant([1., 1.])], [b])


def test_rmsprop_rejects_dtype_and_shape_mismatch():
  var = tf.Variable([1., 2.])
  opt = optimizers.RMSPropTF1(0.1)
  with pytest.raises(ValueError, match='dtype'):
    opt.apply([tf.constant([1., 1.], tf.float64)], [var])
  with pytest.raises(ValueError, match='shape'):
    opt.apply([tf.constant([1., 1., 1.])], [var])


@pytest.mark.parametrize('kwargs, name', [
    (dict(learning_rate=-0.1), 'learning_rate'),
    (dict(learning_rate=0.1, decay=1.5), 'decay'),
    (dict(learning_rate=0.1, momentum=-0.1), 'momentum'),
    (dict(learning_rate=0.1, epsilon=-1e-3), 'epsilon'),
])
def test_rmsprop_rejects_bad_hyperparameters(kwargs, name):
  with pytest.raises(ValueError, match=name):
    optimizers.RMSPropTF1(**kwargs)


@pytest.mark.parametrize('frames, want', [
    (0, 6e-4),
    (100_000_000, 3e-4),
    (200_000_000, 0.0),
    (400_000_000, 0.0),
])
def test_linear_decay_literal_values(frames, want):
  # Atari: lr 0.0006 decayed over 2e8 frames (Table G.1).
  lr = optimizers.linear_decay_learning_rate(6e-4, frames, 200_000_000)
  assert lr.dtype == tf.float32
  assert lr.numpy() == pytest.approx(want, abs=1e-12)


def test_linear_decay_tensor_inputs():
  # The learner's int64 frame counter beyond the float32-exact range.
  frames = tf.constant(2_500_000_000, tf.int64)
  lr = optimizers.linear_decay_learning_rate(
      tf.constant(0.00048), frames, tf.constant(10_000_000_000, tf.int64))
  assert lr.dtype == tf.float32
  assert lr.numpy() == pytest.approx(0.00048 * 0.75, rel=1e-6)


def test_linear_decay_rejects_bad_input():
  with pytest.raises(ValueError, match='total_environment_frames'):
    optimizers.linear_decay_learning_rate(1e-3, 0, 0)
  with pytest.raises(ValueError, match='num_env_frames'):
    optimizers.linear_decay_learning_rate(1e-3, -1, 10)


def test_clip_gradients_above_threshold():
  grads = [tf.constant([3., 0.]), None, tf.constant([[4.]])]
  clipped, norm = optimizers.clip_gradients(grads, 1.0)
  assert norm.numpy() == pytest.approx(5.)
  assert clipped[1] is None
  np.testing.assert_allclose(clipped[0].numpy(), [0.6, 0.])
  np.testing.assert_allclose(clipped[2].numpy(), [[0.8]])


def test_clip_gradients_below_threshold_unchanged():
  grads = [tf.constant([3., 0.]), tf.constant([[4.]])]
  clipped, norm = optimizers.clip_gradients(grads, 40.0)
  assert norm.numpy() == pytest.approx(5.)
  np.testing.assert_allclose(clipped[0].numpy(), [3., 0.])
  np.testing.assert_allclose(clipped[1].numpy(), [[4.]])


def test_clip_gradients_tensor_threshold():
  clipped, _ = optimizers.clip_gradients([tf.constant([30., 40.])],
                                         tf.Variable(10.))
  np.testing.assert_allclose(clipped[0].numpy(), [6., 8.], rtol=1e-6)


@pytest.mark.parametrize('grad_norm_clip', [None, 0, 0.0])
def test_clip_gradients_disabled_is_passthrough(grad_norm_clip):
  g = tf.constant([300., 400.])
  clipped, norm = optimizers.clip_gradients([None, g], grad_norm_clip)
  assert clipped[0] is None
  assert clipped[1] is g
  assert norm.numpy() == pytest.approx(500.)


def test_clip_gradients_rejects_negative_threshold():
  with pytest.raises(ValueError, match='grad_norm_clip'):
    optimizers.clip_gradients([tf.constant([1.])], -1.0)


def test_rmsprop_slots_created_inside_conditional_branch():
  # The learner skips non-finite updates with `if finite: opt.apply(...)`
  # inside its tf.function; slot creation must survive being in a cond branch.
  var = tf.Variable([1., 2.])
  opt = optimizers.RMSPropTF1(0.1)

  @tf.function
  def step(g):
    if tf.reduce_all(tf.math.is_finite(g)):
      opt.apply([g], [var])

  step(tf.constant([np.nan, 1.]))  # Skipped.
  np.testing.assert_array_equal(var.numpy(), [1., 2.])
  step(tf.constant([1., 1.]))
  want, _, _ = numpy_tf1_rmsprop([1., 2.], [np.ones(2)], 0.1, 0.99, 0., 0.1)
  np.testing.assert_allclose(var.numpy(), want, rtol=1e-6)
  assert len(opt.ms) == 1


@pytest.mark.parametrize('clip', [1.0, 40.0])
def test_clip_gradients_variable_threshold_is_bitwise_tf_clipping(clip):
  grads = [tf.constant([3.3, -0.7]), None, tf.constant([[4.1]]),
           tf.IndexedSlices(tf.constant([[0.3, 0.9]]), tf.constant([1]),
                            tf.constant([3, 2]))]
  expected, expected_norm = optimizers.clip_gradients(grads, clip)
  got, norm = optimizers.clip_gradients(grads, tf.Variable(clip))
  assert got[1] is None and norm.numpy() == expected_norm.numpy()
  for e, g in zip(expected[::2] + [expected[3]], got[::2] + [got[3]]):
    e_values = e.values if isinstance(e, tf.IndexedSlices) else e
    g_values = g.values if isinstance(g, tf.IndexedSlices) else g
    np.testing.assert_array_equal(e_values.numpy(), g_values.numpy())


def test_clip_gradients_variable_zero_means_no_clipping():
  g = tf.constant([300., 400.])
  clipped, norm = optimizers.clip_gradients([g, None], tf.Variable(0.0))
  np.testing.assert_array_equal(clipped[0].numpy(), g.numpy())
  assert clipped[1] is None and norm.numpy() == pytest.approx(500.)


def test_rmsprop_epsilon_callable_reads_the_variable_at_each_apply():
  epsilon = tf.Variable(0.1)
  var = tf.Variable([1.0, 2.0])
  fixed = tf.Variable([1.0, 2.0])
  opt = optimizers.RMSPropTF1(0.1, epsilon=lambda: epsilon)
  reference = optimizers.RMSPropTF1(0.1, epsilon=1e-5)
  epsilon.assign(1e-5)
  opt.apply([tf.constant([0.5, -0.25])], [var])
  reference.apply([tf.constant([0.5, -0.25])], [fixed])
  np.testing.assert_array_equal(var.numpy(), fixed.numpy())
  assert not opt.variables or all('epsilon' not in v.name
                                  for v in opt.variables)
