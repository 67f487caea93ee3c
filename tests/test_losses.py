"""Tests for scalable_agent_tf2.losses: loss terms and reward clipping."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import pytest
import tensorflow as tf

from scalable_agent_tf2 import losses

# A tiny unroll: T = 2, B = 2, A = 3.
LOGITS = np.array([[[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]],
                   [[0.3, 0.3, -2.0], [2.5, 0.1, 0.2]]], np.float32)
ACTIONS = np.array([[1, 0], [2, 0]], np.int32)
ADVANTAGES = np.array([[0.5, -1.0], [2.0, 0.25]], np.float32)
VS = np.array([[1.0, 0.5], [-0.5, 2.0]], np.float32)
BASELINE = np.array([[0.8, 1.5], [0.0, 1.0]], np.float32)


def np_log_softmax(logits):
  logits = np.asarray(logits, np.float64)
  shifted = logits - logits.max(axis=-1, keepdims=True)
  return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def np_action_log_probs(logits, actions):
  log_pi = np_log_softmax(logits)
  return np.take_along_axis(log_pi, actions[..., None], axis=-1)[..., 0]


def test_policy_gradient_loss_hand_computed():
  want = np.sum(-np_action_log_probs(LOGITS, ACTIONS) * ADVANTAGES)
  got = losses.compute_policy_gradient_loss(LOGITS, ACTIONS, ADVANTAGES)
  assert got.shape == ()
  assert got.numpy() == pytest.approx(want, rel=1e-6)


def test_policy_gradient_loss_is_a_sum_not_a_mean():
  # Doubling the batch with a copy doubles the loss.
  single = losses.compute_policy_gradient_loss(LOGITS, ACTIONS, ADVANTAGES)
  doubled = losses.compute_policy_gradient_loss(
      np.concatenate([LOGITS, LOGITS], axis=1),
      np.concatenate([ACTIONS, ACTIONS], axis=1),
      np.concatenate([ADVANTAGES, ADVANTAGES], axis=1))
  assert doubled.numpy() == pytest.approx(2. * single.numpy(), rel=1e-6)


def test_policy_gradient_does_not_flow_into_advantages():
  logits = tf.Variable(LOGITS)
  advantages = tf.Variable(ADVANTAGES)
  with tf.GradientTape() as tape:
    loss = losses.compute_policy_gradient_loss(logits, ACTIONS, advantages)
  grad_logits, grad_advantages = tape.gradient(loss, [logits, advantages])
  assert grad_advantages is None
  # d/dlogits of -log pi(a) * adv = (pi - onehot(a)) * adv.
  pi = np.exp(np_log_softmax(LOGITS))
  want = (pi - np.eye(3)[ACTIONS]) * ADVANTAGES[..., None]
  np.testing.assert_allclose(grad_logits.numpy(), want, rtol=1e-5, atol=1e-6)


def test_policy_gradient_epsilon_correction():
  epsilon = 0.1  # Large so the difference from the plain loss is visible.
  pi_a = np.exp(np_action_log_probs(LOGITS, ACTIONS))
  want = np.sum(-np.log(pi_a + epsilon) * ADVANTAGES)
  got = losses.compute_policy_gradient_loss(LOGITS, ACTIONS, ADVANTAGES,
                                            log_prob_epsilon=epsilon)
  assert got.numpy() == pytest.approx(want, rel=1e-6)
  plain = losses.compute_policy_gradient_loss(LOGITS, ACTIONS, ADVANTAGES)
  assert abs(got.numpy() - plain.numpy()) > 0.1


def test_policy_gradient_epsilon_keeps_tiny_probabilities_finite():
  # pi(a) underflows to 0 in float32; -log(0 + 1e-6) = 13.8155... (paper's
  # epsilon, §5.2.2).
  logits = np.array([[[0., 200.]]], np.float32)
  got = losses.compute_policy_gradient_loss(logits, [[0]], [[1.]],
                                            log_prob_epsilon=1e-6)
  assert got.numpy() == pytest.approx(-np.log(1e-6), rel=1e-5)


def test_baseline_loss_hand_computed():
  # advantages = vs - V = [[0.2, -1.0], [-0.5, 1.0]];
  # 0.5 * (0.04 + 1 + 0.25 + 1) = 1.145.
  got = losses.compute_baseline_loss(VS - BASELINE)
  assert got.numpy() == pytest.approx(1.145, rel=1e-6)


def test_entropy_loss_uniform_logits():
  t, b, a = 2, 3, 5
  got = losses.compute_entropy_loss(tf.zeros([t, b, a]))
  assert got.numpy() == pytest.approx(-t * b * np.log(a), rel=1e-6)


def test_entropy_loss_hand_computed():
  log_pi = np_log_softmax(LOGITS)
  want = np.sum(np.exp(log_pi) * log_pi)
  got = losses.compute_entropy_loss(LOGITS)
  assert got.numpy() == pytest.approx(want, rel=1e-6)
  assert got.numpy() < 0  # Negative entropy: minimising it raises entropy.


def test_entropy_loss_finite_for_saturated_logits():
  got = losses.compute_entropy_loss(np.array([[[0., 500., -500.]]],
                                             np.float32))
  assert np.isfinite(got.numpy())


def test_total_loss_combines_terms():
  entropy_cost, baseline_cost = 0.01, 0.5
  out = losses.compute_total_loss(LOGITS, ACTIONS, ADVANTAGES, VS, BASELINE,
                                  entropy_cost=entropy_cost,
                                  baseline_cost=baseline_cost)
  assert isinstance(out, losses.Losses)
  want_pg = np.sum(-np_action_log_probs(LOGITS, ACTIONS) * ADVANTAGES)
  log_pi = np_log_softmax(LOGITS)
  want_entropy = np.sum(np.exp(log_pi) * log_pi)
  want_baseline = 1.145
  assert out.policy_gradient.numpy() == pytest.approx(want_pg, rel=1e-6)
  assert out.baseline.numpy() == pytest.approx(want_baseline, rel=1e-6)
  assert out.entropy.numpy() == pytest.approx(want_entropy, rel=1e-6)
  assert out.total.numpy() == pytest.approx(
      want_pg + baseline_cost * want_baseline + entropy_cost * want_entropy,
      rel=1e-6)


def test_total_loss_epsilon_is_passed_through():
  plain = losses.compute_total_loss(LOGITS, ACTIONS, ADVANTAGES, VS, BASELINE,
                                    entropy_cost=0., baseline_cost=0.)
  corrected = losses.compute_total_loss(LOGITS, ACTIONS, ADVANTAGES, VS,
                                        BASELINE, entropy_cost=0.,
                                        baseline_cost=0.,
                                        log_prob_epsilon=0.1)
  want = losses.compute_policy_gradient_loss(LOGITS, ACTIONS, ADVANTAGES,
                                             log_prob_epsilon=0.1)
  assert corrected.total.numpy() == pytest.approx(want.numpy(), rel=1e-6)
  assert corrected.total.numpy() != pytest.approx(plain.total.numpy())


def test_total_loss_gradients_reach_only_logits_and_baseline():
  logits = tf.Variable(LOGITS)
  baseline = tf.Variable(BASELINE)
  vs = tf.Variable(VS)
  advantages = tf.Variable(ADVANTAGES)
  with tf.GradientTape() as tape:
    out = losses.compute_total_loss(logits, ACTIONS, advantages, vs, baseline,
                                    entropy_cost=0.01, baseline_cost=0.5)
  g_logits, g_baseline, g_vs, g_adv = tape.gradient(
      out.total, [logits, baseline, vs, advantages])
  assert g_vs is None and g_adv is None
  assert g_logits is not None
  # d/dV of 0.5 * 0.5 * sum((vs - V)^2) = -0.5 * (vs - V).
  np.testing.assert_allclose(g_baseline.numpy(), -0.5 * (VS - BASELINE),
                             rtol=1e-5, atol=1e-7)


def test_total_loss_rejects_negative_costs():
  with pytest.raises(ValueError, match='entropy_cost'):
    losses.compute_total_loss(LOGITS, ACTIONS, ADVANTAGES, VS, BASELINE,
                              entropy_cost=-0.1, baseline_cost=0.5)


@pytest.mark.parametrize('bad, match', [
    (dict(actions=ACTIONS[:1]), 'policy_logits'),
    (dict(actions=ACTIONS[..., None]), 'one more dimension'),
    (dict(advantages=ADVANTAGES[:, :1]), 'advantages'),
    (dict(actions=ACTIONS.astype(np.float32)), 'integers'),
    (dict(log_prob_epsilon=-1e-6), 'log_prob_epsilon'),
])
def test_policy_gradient_loss_shape_and_input_errors(bad, match):
  kwargs = dict(policy_logits=LOGITS, actions=ACTIONS, advantages=ADVANTAGES)
  kwargs.update(bad)
  with pytest.raises(ValueError, match=match):
    losses.compute_policy_gradient_loss(**kwargs)


@pytest.mark.parametrize('bad, match', [
    (dict(vs=VS[:1]), 'vs and baseline'),
    (dict(vs=VS[:1], baseline=BASELINE[:1]), 'actions and baseline'),
    (dict(pg_advantages=ADVANTAGES.T[:, :1]), 'pg_advantages'),
])
def test_total_loss_shape_errors(bad, match):
  kwargs = dict(policy_logits=LOGITS, actions=ACTIONS,
                pg_advantages=ADVANTAGES, vs=VS, baseline=BASELINE,
                entropy_cost=0.01, baseline_cost=0.5)
  kwargs.update(bad)
  with pytest.raises(ValueError, match=match):
    losses.compute_total_loss(**kwargs)


def test_clip_rewards_soft_asymmetric_literals():
  rewards = tf.constant([-10., -1., 0., 1., 10.])
  got = losses.clip_rewards(rewards, 'soft_asymmetric')
  # t = tanh(r / 5); 5 t for r >= 0, 0.3 * 5 t for r < 0.
  want = [-1.4460413701,  # 0.3 * 5 * tanh(-2)
          -0.2960629803,  # 0.3 * 5 * tanh(-0.2)
          0.0,
          0.9868766011,   # 5 * tanh(0.2)
          4.8201379004]   # 5 * tanh(2)
  np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-7)


def test_clip_rewards_abs_one_and_none():
  rewards = tf.constant([[-3., -0.5], [0.25, 7.]])
  np.testing.assert_array_equal(
      losses.clip_rewards(rewards, 'abs_one').numpy(),
      [[-1., -0.5], [0.25, 1.]])
  np.testing.assert_array_equal(
      losses.clip_rewards(rewards, 'none').numpy(), rewards.numpy())


def test_clip_rewards_integer_input_becomes_float():
  got = losses.clip_rewards(tf.constant([-2, 0, 3]), 'abs_one')
  assert got.dtype.is_floating
  np.testing.assert_array_equal(got.numpy(), [-1., 0., 1.])


def test_clip_rewards_unknown_mode_lists_valid_modes():
  with pytest.raises(ValueError, match='abs_one, soft_asymmetric, none'):
    losses.clip_rewards(tf.constant([1.]), 'soft')
  assert losses.REWARD_CLIPPING_MODES == ('abs_one', 'soft_asymmetric', 'none')


def test_total_loss_in_tf_function_with_unknown_dims():
  # The learner traces the loss once for any unroll length / batch size.
  spec = tf.TensorSpec([None, None], tf.float32)

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None], tf.float32),
      tf.TensorSpec([None, None], tf.int32), spec, spec, spec])
  def total(logits, actions, pg_advantages, vs, baseline):
    return losses.compute_total_loss(logits, actions, pg_advantages, vs,
                                     baseline, entropy_cost=0.01,
                                     baseline_cost=0.5,
                                     log_prob_epsilon=1e-6).total

  eager = losses.compute_total_loss(LOGITS, ACTIONS, ADVANTAGES, VS, BASELINE,
                                    entropy_cost=0.01, baseline_cost=0.5,
                                    log_prob_epsilon=1e-6).total
  got = total(LOGITS, ACTIONS, ADVANTAGES, VS, BASELINE)
  assert got.numpy() == pytest.approx(eager.numpy(), rel=1e-6)
