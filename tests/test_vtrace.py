"""Tests for scalable_agent_tf2.vtrace (docs/impala.md §1).

Golden cases: outputs of the released TF1 V-trace on fixed inputs
(tests/data/vtrace_public.json, read as is). Properties: on-policy n-step
returns, clipping, trailing dims, stop-gradient, float64, input errors, no
retracing, CPU placement.
"""

import inspect
import json
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from scalable_agent_tf2 import vtrace  # pylint: disable=g-import-not-at-top

_GOLDEN_PATH = os.path.join(os.path.dirname(__file__), 'data',
                            'vtrace_public.json')
with open(_GOLDEN_PATH) as f:
  _GOLDEN = json.load(f)
_CASES = _GOLDEN['cases']
_CASE_IDS = [case['name'] for case in _CASES]


def _fixture_inputs(case):
  """The case's inputs as float32 arrays (int32 actions), as the meta says."""
  return {
      key: np.asarray(value, dtype=np.int32 if key == 'actions' else
                      np.float32) for key, value in case['inputs'].items()
  }


def _generator_namespace():
  namespace = {}
  source = _GOLDEN['meta']['input_generator_module_source']
  exec(source, namespace)  # pylint: disable=exec-used
  return namespace


# ----------------------------------------------------------------------------
# Golden values.


@pytest.mark.parametrize('case', _CASES, ids=_CASE_IDS)
def test_golden_inputs_regenerate_exactly(case):
  # meta['how_to_regenerate_inputs']: eval the call with the generators.
  call = case['generator_call']
  regenerated = eval(call, _generator_namespace())  # pylint: disable=eval-used
  assert set(regenerated) == set(case['inputs'])
  for key, array in regenerated.items():
    expected_dtype = np.int32 if key == 'actions' else np.float32
    assert array.dtype == expected_dtype, key
    assert list(array.shape) == case['shapes'][key], key
    stored = np.asarray(case['inputs'][key], dtype=np.float64)
    # The JSON holds float32 values exactly, so no tolerance here.
    np.testing.assert_array_equal(array.astype(np.float64), stored,
                                  err_msg=key)


@pytest.mark.parametrize('case', _CASES, ids=_CASE_IDS)
def test_golden_outputs_match_released_code(case):
  function = getattr(vtrace, case['function'])
  outputs = function(**_fixture_inputs(case), **case['params'])
  assert set(case['outputs']) <= set(outputs._fields)
  for key, expected in case['outputs'].items():
    actual = getattr(outputs, key)
    assert actual.dtype == tf.float32, key
    np.testing.assert_allclose(
        actual.numpy(), np.asarray(expected), rtol=1e-5, atol=1e-5,
        err_msg=f'{case["name"]}: {key}')


def test_golden_rlax_case_matches_published_rlax_expectations():
  (case,) = [c for c in _CASES if 'published_expected_rlax' in c]
  published = case['published_expected_rlax']
  inputs = _fixture_inputs(case)
  outputs = vtrace.from_logits(**inputs, **case['params'])
  # rlax's own test tolerance (stated in published['source']): rtol=1e-3.
  np.testing.assert_allclose(outputs.vs.numpy() - inputs['values'],
                             np.asarray(published['vs_minus_values']),
                             rtol=1e-3)
  np.testing.assert_allclose(outputs.pg_advantages.numpy(),
                             np.asarray(published['pg_advantages']),
                             rtol=1e-3)


# ----------------------------------------------------------------------------
# Independent numpy references.


def _numpy_vtrace(log_rhos, discounts, rewards, values, bootstrap_value,
                  rho_bar, pg_rho_bar):
  """Float64 backward recursion of docs/impala.md §1 (None = no clipping)."""
  log_rhos, discounts, rewards, values, bootstrap_value = (
      np.asarray(x, np.float64)
      for x in (log_rhos, discounts, rewards, values, bootstrap_value))
  rhos = np.exp(log_rhos)
  clipped = rhos if rho_bar is None else np.minimum(rho_bar, rhos)
  pg_clipped = rhos if pg_rho_bar is None else np.minimum(pg_rho_bar, rhos)
  cs = np.minimum(1.0, rhos)
  num_steps = log_rhos.shape[0]
  vs = np.zeros_like(values)
  next_value = bootstrap_value
  next_vs_minus_v = np.zeros_like(bootstrap_value)
  for t in reversed(range(num_steps)):
    delta = clipped[t] * (rewards[t] + discounts[t] * next_value - values[t])
    next_vs_minus_v = delta + discounts[t] * cs[t] * next_vs_minus_v
    vs[t] = values[t] + next_vs_minus_v
    next_value = values[t]
  vs_t_plus_1 = np.concatenate([vs[1:], bootstrap_value[None]], axis=0)
  pg_advantages = pg_clipped * (rewards + discounts * vs_t_plus_1 - values)
  return vs, pg_advantages


def _n_step_returns(discounts, rewards, bootstrap_value):
  """Explicit sum: G_s = sum_t (prod_{i<t} gamma_i) r_t + (prod gamma) V_T."""
  num_steps = rewards.shape[0]
  returns = np.zeros_like(rewards, dtype=np.float64)
  for s in range(num_steps):
    total = np.zeros_like(bootstrap_value, dtype=np.float64)
    discount_product = np.ones_like(bootstrap_value, dtype=np.float64)
    for t in range(s, num_steps):
      total += discount_product * rewards[t]
      discount_product *= discounts[t]
    returns[s] = total + discount_product * bootstrap_value
  return returns


def _random_inputs(seed, shape, dtype=np.float32, log_rho_range=(-2., 2.)):
  rng = np.random.default_rng(seed)
  return dict(
      log_rhos=rng.uniform(*log_rho_range, size=shape).astype(dtype),
      discounts=rng.uniform(0.5, 1.0, size=shape).astype(dtype),
      rewards=rng.normal(size=shape).astype(dtype),
      values=rng.normal(size=shape).astype(dtype),
      bootstrap_value=rng.normal(size=shape[1:]).astype(dtype))


def test_on_policy_vs_is_the_n_step_bootstrapped_return():
  inputs = _random_inputs(0, (6, 3))
  inputs['log_rhos'] = np.zeros_like(inputs['log_rhos'])
  outputs = vtrace.from_importance_weights(**inputs)
  expected_vs = _n_step_returns(inputs['discounts'], inputs['rewards'],
                                inputs['bootstrap_value'])
  np.testing.assert_allclose(outputs.vs.numpy(), expected_vs, rtol=1e-5,
                             atol=1e-5)
  # On-policy the advantage is the one-step TD error on the n-step return.
  next_vs = np.concatenate([expected_vs[1:], inputs['bootstrap_value'][None]])
  expected_pg = (inputs['rewards'] + inputs['discounts'] * next_vs -
                 inputs['values'])
  np.testing.assert_allclose(outputs.pg_advantages.numpy(), expected_pg,
                             rtol=1e-5, atol=1e-5)


def test_no_clipping_equals_clipping_at_one_when_all_rhos_below_one():
  inputs = _random_inputs(1, (8, 4), log_rho_range=(-3.0, -0.01))
  unclipped = vtrace.from_importance_weights(
      **inputs, clip_rho_threshold=None, clip_pg_rho_threshold=None)
  clipped = vtrace.from_importance_weights(
      **inputs, clip_rho_threshold=1.0, clip_pg_rho_threshold=1.0)
  np.testing.assert_array_equal(unclipped.vs.numpy(), clipped.vs.numpy())
  np.testing.assert_array_equal(unclipped.pg_advantages.numpy(),
                                clipped.pg_advantages.numpy())


def test_clipping_matters_when_rhos_exceed_threshold():
  inputs = _random_inputs(2, (8, 4), log_rho_range=(0.5, 2.0))
  unclipped = vtrace.from_importance_weights(
      **inputs, clip_rho_threshold=None, clip_pg_rho_threshold=None)
  clipped = vtrace.from_importance_weights(**inputs)
  assert not np.allclose(unclipped.vs.numpy(), clipped.vs.numpy())
  expected = _numpy_vtrace(**inputs, rho_bar=None, pg_rho_bar=None)
  np.testing.assert_allclose(unclipped.vs.numpy(), expected[0], rtol=1e-5,
                             atol=1e-5)


def test_trailing_dims_equal_running_each_slice_separately():
  inputs = _random_inputs(3, (5, 3, 2))
  joint = vtrace.from_importance_weights(**inputs, clip_rho_threshold=1.5)
  assert joint.vs.shape == (5, 3, 2)
  for k in range(2):
    sliced = {key: value[..., k] for key, value in inputs.items()}
    single = vtrace.from_importance_weights(**sliced, clip_rho_threshold=1.5)
    np.testing.assert_allclose(joint.vs.numpy()[..., k], single.vs.numpy(),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(joint.pg_advantages.numpy()[..., k],
                               single.pg_advantages.numpy(), rtol=1e-6,
                               atol=1e-6)


def test_trailing_dims_from_logits():
  rng = np.random.default_rng(4)
  shape, num_actions = (4, 2, 3), 5
  behaviour = rng.normal(size=shape + (num_actions,)).astype(np.float32)
  target = rng.normal(size=shape + (num_actions,)).astype(np.float32)
  actions = rng.integers(0, num_actions, size=shape).astype(np.int32)
  rest = _random_inputs(5, shape)
  del rest['log_rhos']
  joint = vtrace.from_logits(behaviour, target, actions, **rest)
  for k in range(shape[-1]):
    single = vtrace.from_logits(
        behaviour[:, :, k], target[:, :, k], actions[:, :, k],
        **{key: value[..., k] for key, value in rest.items()})
    for field in vtrace.VTraceFromLogitsReturns._fields:
      np.testing.assert_allclose(
          getattr(joint, field).numpy()[..., k],
          getattr(single, field).numpy(), rtol=1e-6, atol=1e-6,
          err_msg=field)


def test_log_probs_match_numpy_log_softmax():
  rng = np.random.default_rng(6)
  logits = rng.normal(size=(3, 2, 4)).astype(np.float32)
  actions = rng.integers(0, 4, size=(3, 2)).astype(np.int32)
  log_probs = vtrace.log_probs_from_logits_and_actions(logits, actions)
  log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  expected = np.take_along_axis(log_softmax, actions[..., None], -1)[..., 0]
  np.testing.assert_allclose(log_probs.numpy(), expected, rtol=1e-5,
                             atol=1e-6)


def test_from_logits_log_rhos_are_target_minus_behaviour():
  rng = np.random.default_rng(7)
  behaviour = rng.normal(size=(3, 2, 4)).astype(np.float32)
  target = rng.normal(size=(3, 2, 4)).astype(np.float32)
  actions = rng.integers(0, 4, size=(3, 2)).astype(np.int32)
  rest = _random_inputs(8, (3, 2))
  del rest['log_rhos']
  out = vtrace.from_logits(behaviour, target, actions, **rest)
  np.testing.assert_allclose(
      out.log_rhos.numpy(),
      out.target_action_log_probs.numpy() -
      out.behaviour_action_log_probs.numpy(), rtol=1e-6, atol=1e-6)
  direct = vtrace.from_importance_weights(out.log_rhos, **rest)
  np.testing.assert_array_equal(out.vs.numpy(), direct.vs.numpy())


def test_outputs_carry_no_gradient():
  rng = np.random.default_rng(9)
  behaviour = tf.constant(rng.normal(size=(4, 2, 3)), tf.float32)
  target = tf.constant(rng.normal(size=(4, 2, 3)), tf.float32)
  actions = tf.constant(rng.integers(0, 3, size=(4, 2)), tf.int32)
  rest = {k: tf.constant(v) for k, v in _random_inputs(10, (4, 2)).items()}
  del rest['log_rhos']
  watched = dict(behaviour=behaviour, target=target, **rest)
  with tf.GradientTape(persistent=True) as tape:
    for tensor in watched.values():
      tape.watch(tensor)
    out = vtrace.from_logits(behaviour, target, actions, **rest)
    targets = {'vs': tf.reduce_sum(out.vs),
               'pg_advantages': tf.reduce_sum(out.pg_advantages)}
    total_log_prob = tf.reduce_sum(out.target_action_log_probs)
  for target_name, total in targets.items():
    for name, tensor in watched.items():
      grad = tape.gradient(total, tensor)
      assert grad is None or not np.any(grad.numpy()), (target_name, name)
  # The log-probabilities themselves stay differentiable (released code).
  assert np.any(tape.gradient(total_log_prob, target).numpy())


def test_float64_matches_numpy_recursion():
  inputs = _random_inputs(11, (20, 5), dtype=np.float64, log_rho_range=(-3, 3))
  for rho_bar, pg_rho_bar in [(1.0, 1.0), (2.5, 0.7), (None, None)]:
    out = vtrace.from_importance_weights(
        **inputs, clip_rho_threshold=rho_bar, clip_pg_rho_threshold=pg_rho_bar)
    assert out.vs.dtype == tf.float64
    assert out.pg_advantages.dtype == tf.float64
    expected_vs, expected_pg = _numpy_vtrace(
        **inputs, rho_bar=rho_bar, pg_rho_bar=pg_rho_bar)
    np.testing.assert_allclose(out.vs.numpy(), expected_vs, rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(out.pg_advantages.numpy(), expected_pg,
                               rtol=1e-12, atol=1e-12)


def test_float64_from_logits():
  rng = np.random.default_rng(12)
  behaviour = rng.normal(size=(5, 2, 3))
  target = rng.normal(size=(5, 2, 3))
  actions = rng.integers(0, 3, size=(5, 2)).astype(np.int32)
  rest = _random_inputs(13, (5, 2), dtype=np.float64)
  del rest['log_rhos']
  out = vtrace.from_logits(behaviour, target, actions, **rest)
  assert out.vs.dtype == tf.float64
  log_rhos = out.log_rhos.numpy()
  expected_vs, _ = _numpy_vtrace(log_rhos, **rest, rho_bar=1.0,
                                 pg_rho_bar=1.0)
  np.testing.assert_allclose(out.vs.numpy(), expected_vs, rtol=1e-12,
                             atol=1e-12)


# ----------------------------------------------------------------------------
# Input errors.


def _iw_kwargs(**overrides):
  kwargs = _random_inputs(14, (4, 3))
  kwargs.update(overrides)
  return kwargs


_IW_ERROR_CASES = {
    'rank_mismatch_discounts': (
        dict(discounts=np.ones((4, 3, 1), np.float32)), 'Rank mismatch'),
    'rank_mismatch_bootstrap': (
        dict(bootstrap_value=np.ones((4, 3), np.float32)), 'bootstrap_value'),
    'rank_one_log_rhos': (
        dict(log_rhos=np.zeros((4,), np.float32),
             discounts=np.ones((4,), np.float32),
             rewards=np.ones((4,), np.float32),
             values=np.ones((4,), np.float32),
             bootstrap_value=np.float32(0.0)), 'rank >= 2'),
    'shape_mismatch_rewards': (
        dict(rewards=np.ones((5, 3), np.float32)), 'Shape mismatch'),
    'shape_mismatch_values': (
        dict(values=np.ones((4, 2), np.float32)), 'Shape mismatch'),
    'bootstrap_shape': (
        dict(bootstrap_value=np.ones((2,), np.float32)), 'values.shape'),
    'dtype_mismatch': (
        dict(values=tf.ones((4, 3), tf.float64)), 'dtype mismatch'),
    'integer_log_rhos': (
        dict(log_rhos=np.zeros((4, 3), np.int32)), 'floating'),
    'empty_unroll': (
        dict(log_rhos=np.zeros((0, 3), np.float32),
             discounts=np.zeros((0, 3), np.float32),
             rewards=np.zeros((0, 3), np.float32),
             values=np.zeros((0, 3), np.float32)), 'at least 1'),
    'list_threshold': (dict(clip_rho_threshold=[1.0, 2.0]),
                       'clip_rho_threshold'),
    'tensor_threshold': (dict(clip_pg_rho_threshold=tf.constant([1.0])),
                         'clip_pg_rho_threshold'),
    'array_threshold': (dict(clip_rho_threshold=np.ones((2,))), 'scalar'),
    'negative_threshold': (dict(clip_rho_threshold=-1.0), '>= 0'),
    'nan_threshold': (dict(clip_pg_rho_threshold=float('nan')), '>= 0'),
    'bool_threshold': (dict(clip_rho_threshold=True), 'bool'),
    'string_threshold': (dict(clip_rho_threshold='1.0'), 'clip_rho_threshold'),
}


@pytest.mark.parametrize('overrides,message', list(_IW_ERROR_CASES.values()),
                         ids=list(_IW_ERROR_CASES))
def test_from_importance_weights_bad_input_raises(overrides, message):
  with pytest.raises(ValueError, match=message):
    vtrace.from_importance_weights(**_iw_kwargs(**overrides))


def _logits_kwargs(**overrides):
  rng = np.random.default_rng(15)
  kwargs = dict(
      behaviour_policy_logits=rng.normal(size=(4, 3, 5)).astype(np.float32),
      target_policy_logits=rng.normal(size=(4, 3, 5)).astype(np.float32),
      actions=rng.integers(0, 5, size=(4, 3)).astype(np.int32))
  rest = _random_inputs(16, (4, 3))
  del rest['log_rhos']
  kwargs.update(rest)
  kwargs.update(overrides)
  return kwargs


_LOGITS_ERROR_CASES = {
    'actions_rank': (dict(actions=np.zeros((4, 3, 1), np.int32)), 'rank'),
    'actions_shape': (dict(actions=np.zeros((4, 2), np.int32)), 'shape'),
    'float_actions': (dict(actions=np.zeros((4, 3), np.float32)), 'integer'),
    'logits_shape_mismatch': (
        dict(target_policy_logits=np.zeros((4, 3, 6), np.float32)),
        'same shape'),
    'logits_dtype_mismatch': (
        dict(target_policy_logits=np.zeros((4, 3, 5), np.float64)),
        'same dtype'),
    'values_rank': (dict(values=np.zeros((4,), np.float32)), 'Rank mismatch'),
    'bootstrap_shape': (dict(bootstrap_value=np.zeros((4,), np.float32)),
                        'bootstrap_value'),
    'threshold_list': (dict(clip_pg_rho_threshold=[1.0]),
                       'clip_pg_rho_threshold'),
}


@pytest.mark.parametrize('overrides,message',
                         list(_LOGITS_ERROR_CASES.values()),
                         ids=list(_LOGITS_ERROR_CASES))
def test_from_logits_bad_input_raises(overrides, message):
  with pytest.raises(ValueError, match=message):
    vtrace.from_logits(**_logits_kwargs(**overrides))


def test_scalar_tensor_and_numpy_thresholds_are_accepted():
  inputs = _random_inputs(17, (4, 3), log_rho_range=(-1.0, 2.0))
  reference = vtrace.from_importance_weights(**inputs, clip_rho_threshold=1.5,
                                             clip_pg_rho_threshold=1.2)
  for rho_bar, pg_rho_bar in [(np.float32(1.5), np.float64(1.2)),
                              (tf.constant(1.5), tf.constant(1.2, tf.float64)),
                              (np.array(1.5), 1.2)]:
    out = vtrace.from_importance_weights(
        **inputs, clip_rho_threshold=rho_bar, clip_pg_rho_threshold=pg_rho_bar)
    np.testing.assert_allclose(out.vs.numpy(), reference.vs.numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(out.pg_advantages.numpy(),
                               reference.pg_advantages.numpy(), rtol=1e-6)


# ----------------------------------------------------------------------------
# Tracing and placement.


def test_no_retracing_on_repeated_eager_calls_and_threshold_values():
  inputs = _random_inputs(18, (7, 3))
  vtrace.from_importance_weights(**inputs)  # Warm up this signature.
  count = vtrace.tracing_count()
  for rho_bar, pg_rho_bar in [(1.0, 1.0), (2.0, 0.5), (None, None),
                              (3.7, None), (tf.constant(1.3), 2.2)]:
    fresh = _random_inputs(19, (7, 3))
    vtrace.from_importance_weights(
        **fresh, clip_rho_threshold=rho_bar, clip_pg_rho_threshold=pg_rho_bar)
  assert vtrace.tracing_count() == count


def test_no_retracing_inside_an_outer_tf_function():

  @tf.function
  def learner_step(log_rhos, discounts, rewards, values, bootstrap_value):
    out = vtrace.from_importance_weights(log_rhos, discounts, rewards, values,
                                         bootstrap_value,
                                         clip_rho_threshold=1.0,
                                         clip_pg_rho_threshold=1.0)
    return out.vs, out.pg_advantages

  learner_step(**_random_inputs(20, (9, 2)))
  count = vtrace.tracing_count()
  for seed in range(21, 25):
    inputs = _random_inputs(seed, (9, 2))
    vs, pg_advantages = learner_step(**inputs)
    eager = vtrace.from_importance_weights(**inputs)
    np.testing.assert_allclose(vs.numpy(), eager.vs.numpy(), rtol=1e-6)
    np.testing.assert_allclose(pg_advantages.numpy(),
                               eager.pg_advantages.numpy(), rtol=1e-6)
  assert learner_step.experimental_get_tracing_count() == 1
  assert vtrace.tracing_count() == count


def test_default_device_is_the_cpu_as_in_the_paper():
  assert vtrace.DEFAULT_DEVICE == '/cpu:0'
  for function in (vtrace.from_logits, vtrace.from_importance_weights):
    default = inspect.signature(function).parameters['device'].default
    assert default == vtrace.DEFAULT_DEVICE


def test_cpu_placement_gives_the_same_result_as_no_placement():
  kwargs = _logits_kwargs()
  on_cpu = vtrace.from_logits(**kwargs, device='/cpu:0')
  unplaced = vtrace.from_logits(**kwargs, device=None)
  assert 'CPU' in on_cpu.vs.device.upper()
  for field in vtrace.VTraceFromLogitsReturns._fields:
    np.testing.assert_array_equal(getattr(on_cpu, field).numpy(),
                                  getattr(unplaced, field).numpy(),
                                  err_msg=field)
  iw = _random_inputs(26, (4, 3))
  np.testing.assert_array_equal(
      vtrace.from_importance_weights(**iw, device='/cpu:0').vs.numpy(),
      vtrace.from_importance_weights(**iw, device=None).vs.numpy())
