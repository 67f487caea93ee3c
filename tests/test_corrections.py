"""Tests for scalable_agent_tf2.corrections (paper §5.2.2, Table 2)."""

import math
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

# pylint: disable=g-import-not-at-top
from scalable_agent_tf2 import corrections
from scalable_agent_tf2 import vtrace


def _inputs(seed, num_steps=6, batch=3, num_actions=4):
  rng = np.random.default_rng(seed)
  shape = (num_steps, batch)
  return dict(
      behaviour_policy_logits=rng.normal(
          size=shape + (num_actions,)).astype(np.float32),
      target_policy_logits=rng.normal(
          size=shape + (num_actions,)).astype(np.float32),
      actions=rng.integers(0, num_actions, size=shape).astype(np.int32),
      discounts=rng.uniform(0.5, 1.0, size=shape).astype(np.float32),
      rewards=rng.normal(size=shape).astype(np.float32),
      values=rng.normal(size=shape).astype(np.float32),
      bootstrap_value=rng.normal(size=(batch,)).astype(np.float32))


def _assert_same_targets(a, b, rtol=1e-6):
  np.testing.assert_allclose(a.vs.numpy(), b.vs.numpy(), rtol=rtol, atol=rtol)
  np.testing.assert_allclose(a.pg_advantages.numpy(), b.pg_advantages.numpy(),
                             rtol=rtol, atol=rtol)


def test_vtrace_equals_vtrace_from_logits():
  inputs = _inputs(0)
  for rho_bar, pg_rho_bar in [(1.0, 1.0), (2.0, 0.5), (None, None)]:
    targets = corrections.compute_targets(
        'vtrace', **inputs, clip_rho_threshold=rho_bar,
        clip_pg_rho_threshold=pg_rho_bar)
    expected = vtrace.from_logits(**inputs, clip_rho_threshold=rho_bar,
                                  clip_pg_rho_threshold=pg_rho_bar)
    np.testing.assert_array_equal(targets.vs.numpy(), expected.vs.numpy())
    np.testing.assert_array_equal(targets.pg_advantages.numpy(),
                                  expected.pg_advantages.numpy())
    np.testing.assert_array_equal(targets.log_rhos.numpy(),
                                  expected.log_rhos.numpy())
    assert targets.log_prob_epsilon == 0.0


@pytest.mark.parametrize('correction', ['none', 'epsilon'])
def test_uncorrected_targets_ignore_the_behaviour_policy(correction):
  inputs = _inputs(1)
  other = dict(inputs, behaviour_policy_logits=_inputs(2)[
      'behaviour_policy_logits'])
  a = corrections.compute_targets(correction, **inputs)
  b = corrections.compute_targets(correction, **other)
  assert not np.allclose(a.log_rhos.numpy(), b.log_rhos.numpy())
  np.testing.assert_array_equal(a.vs.numpy(), b.vs.numpy())
  np.testing.assert_array_equal(a.pg_advantages.numpy(),
                                b.pg_advantages.numpy())


def test_uncorrected_targets_are_on_policy_vtrace_and_ignore_thresholds():
  inputs = _inputs(3)
  targets = corrections.compute_targets('none', **inputs)
  on_policy = vtrace.from_importance_weights(
      np.zeros(inputs['rewards'].shape, np.float32), inputs['discounts'],
      inputs['rewards'], inputs['values'], inputs['bootstrap_value'])
  _assert_same_targets(targets, on_policy)
  # A threshold below 1 would change min(rho_bar, 1); it must not leak in.
  low = corrections.compute_targets('none', **inputs, clip_rho_threshold=0.3,
                                    clip_pg_rho_threshold=0.3)
  _assert_same_targets(targets, low, rtol=0.0)


def test_epsilon_and_none_differ_only_in_log_prob_epsilon():
  inputs = _inputs(4)
  none = corrections.compute_targets('none', **inputs)
  epsilon = corrections.compute_targets('epsilon', **inputs)
  _assert_same_targets(none, epsilon, rtol=0.0)
  assert none.log_prob_epsilon == 0.0
  assert epsilon.log_prob_epsilon == 1e-6
  assert isinstance(epsilon.log_prob_epsilon, float)


def test_one_step_is_weights_the_uncorrected_advantages():
  inputs = _inputs(5)
  none = corrections.compute_targets('none', **inputs)
  one_step = corrections.compute_targets('1step', **inputs)
  rhos = np.exp(one_step.log_rhos.numpy())
  assert rhos.min() < 1.0 < rhos.max()  # Truncation is exercised.
  np.testing.assert_array_equal(one_step.vs.numpy(), none.vs.numpy())
  np.testing.assert_allclose(one_step.pg_advantages.numpy(),
                             np.minimum(1.0, rhos) * none.pg_advantages.numpy(),
                             rtol=1e-6, atol=1e-6)
  assert one_step.log_prob_epsilon == 0.0
  # clip_pg_rho_threshold=None: untruncated importance weights.
  untruncated = corrections.compute_targets('1step', **inputs,
                                            clip_pg_rho_threshold=None)
  np.testing.assert_allclose(untruncated.pg_advantages.numpy(),
                             rhos * none.pg_advantages.numpy(), rtol=1e-5,
                             atol=1e-6)


def test_all_corrections_agree_on_policy():
  inputs = _inputs(6)
  inputs['behaviour_policy_logits'] = inputs['target_policy_logits']
  results = {c: corrections.compute_targets(c, **inputs)
             for c in corrections.CORRECTIONS}
  for targets in results.values():
    np.testing.assert_array_equal(targets.log_rhos.numpy(), 0.0)
    _assert_same_targets(targets, results['vtrace'])


# Hand-made T=2, B=1, two actions. Behaviour logits [0, 0]: mu = (1/2, 1/2).
# Target logits [log 3, 0]: pi = (3/4, 1/4). Actions (0, 1), so
# rho = (3/2, 1/2). r = (1, 2), gamma = (0.5, 0.5), V = (1, 2), V(x_2) = 4.
# Uncorrected ('none', 'epsilon'):
#   vs_1 = 2 + 0.5 * 4 = 4;  vs_0 = 1 + 0.5 * 4 = 3
#   pg_0 = 1 + 0.5 * 4 - 1 = 2;  pg_1 = 2 + 0.5 * 4 - 2 = 2
# '1step': vs = (3, 4);  pg = (min(1, 1.5) * 2, min(1, 0.5) * 2) = (2, 1)
# 'vtrace' (rho_bar = pg_rho_bar = 1): clipped rho = c = (1, 1/2)
#   delta_1 = 0.5 * (2 + 0.5 * 4 - 2) = 1  -> vs_1 = 2 + 1 = 3
#   delta_0 = 1 * (1 + 0.5 * 2 - 1) = 1    -> vs_0 = 1 + 1 + 0.5 * 1 * 1 = 2.5
#   pg_0 = 1 * (1 + 0.5 * 3 - 1) = 1.5;  pg_1 = 0.5 * (2 + 0.5 * 4 - 2) = 1
_HAND_EXPECTED = {
    'none': ([3.0, 4.0], [2.0, 2.0]),
    'epsilon': ([3.0, 4.0], [2.0, 2.0]),
    '1step': ([3.0, 4.0], [2.0, 1.0]),
    'vtrace': ([2.5, 3.0], [1.5, 1.0]),
}


@pytest.mark.parametrize('correction', sorted(_HAND_EXPECTED))
def test_hand_computed_example(correction):
  behaviour = np.zeros((2, 1, 2), np.float32)
  target = np.tile(np.array([math.log(3.0), 0.0], np.float32), (2, 1, 1))
  targets = corrections.compute_targets(
      correction,
      behaviour_policy_logits=behaviour,
      target_policy_logits=target,
      actions=np.array([[0], [1]], np.int32),
      discounts=np.array([[0.5], [0.5]], np.float32),
      rewards=np.array([[1.0], [2.0]], np.float32),
      values=np.array([[1.0], [2.0]], np.float32),
      bootstrap_value=np.array([4.0], np.float32))
  expected_vs, expected_pg = _HAND_EXPECTED[correction]
  np.testing.assert_allclose(targets.vs.numpy()[:, 0], expected_vs, rtol=1e-6)
  np.testing.assert_allclose(targets.pg_advantages.numpy()[:, 0], expected_pg,
                             rtol=1e-6)
  np.testing.assert_allclose(targets.log_rhos.numpy()[:, 0],
                             [math.log(1.5), math.log(0.5)], rtol=1e-6)


@pytest.mark.parametrize('correction', corrections.CORRECTIONS)
def test_targets_carry_no_gradient(correction):
  inputs = {k: tf.constant(v) for k, v in _inputs(7).items()}
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(inputs['target_policy_logits'])
    tape.watch(inputs['values'])
    targets = corrections.compute_targets(correction, **inputs)
    totals = [tf.reduce_sum(targets.vs), tf.reduce_sum(targets.pg_advantages)]
  for total in totals:
    for key in ('target_policy_logits', 'values'):
      grad = tape.gradient(total, inputs[key])
      assert grad is None or not np.any(grad.numpy()), key


@pytest.mark.parametrize('name', ['v-trace', 'VTRACE', '', None, 3])
def test_unknown_correction_raises_listing_valid_names(name):
  with pytest.raises(ValueError, match=r"'vtrace', '1step', 'epsilon', 'none'"):
    corrections.compute_targets(name, **_inputs(8))


@pytest.mark.parametrize('correction', corrections.CORRECTIONS)
def test_bad_threshold_raises_for_every_correction(correction):
  with pytest.raises(ValueError, match='clip_rho_threshold'):
    corrections.compute_targets(correction, **_inputs(9),
                                clip_rho_threshold=[1.0, 1.0])


@pytest.mark.parametrize('correction', corrections.CORRECTIONS)
def test_bad_shapes_raise_for_every_correction(correction):
  inputs = _inputs(10)
  inputs['bootstrap_value'] = np.zeros((5,), np.float32)
  with pytest.raises(ValueError, match='bootstrap_value'):
    corrections.compute_targets(correction, **inputs)
