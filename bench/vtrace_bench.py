"""Benchmark of the V-trace op (docs/impala.md §1) against a numpy recursion.

For the Atari (T=20) and DMLab (T=100) unroll lengths with batch 32, measures
the median wall time of `vtrace.from_importance_weights` called inside a
`tf.function` (after warm-up, CPU placement as in the paper) and of a plain
float64 numpy implementation of the same backward recursion.

Usage: `python -m bench.vtrace_bench` prints the result of `run()` as JSON.
"""

import json
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from bench import timing  # pylint: disable=g-import-not-at-top
from scalable_agent_tf2 import vtrace  # pylint: disable=g-import-not-at-top

# (unroll_length, batch_size): Table G.1 (Atari) and Table D.3 (DMLab).
SHAPES = ((20, 32), (100, 32))
REPETITIONS = 50
WARMUP = 5


def numpy_vtrace(log_rhos, discounts, rewards, values, bootstrap_value,
                 clip_rho_threshold=1.0, clip_pg_rho_threshold=1.0):
  """Float64 numpy V-trace: the same recursion, one vectorised step per t.

  Args: `[T, B]` arrays and `[B]` bootstrap_value; thresholds as in
  `vtrace.from_importance_weights`. Returns (vs, pg_advantages), `[T, B]`.
  """
  rhos = np.exp(log_rhos)
  clipped_rhos = (rhos if clip_rho_threshold is None else
                  np.minimum(clip_rho_threshold, rhos))
  clipped_pg_rhos = (rhos if clip_pg_rho_threshold is None else
                     np.minimum(clip_pg_rho_threshold, rhos))
  cs = np.minimum(1.0, rhos)
  values_t_plus_1 = np.concatenate([values[1:], bootstrap_value[None]])
  deltas = clipped_rhos * (rewards + discounts * values_t_plus_1 - values)
  discount_cs = discounts * cs
  vs_minus_v_xs = np.empty_like(values)
  acc = np.zeros_like(bootstrap_value)
  for t in range(values.shape[0] - 1, -1, -1):
    acc = deltas[t] + discount_cs[t] * acc
    vs_minus_v_xs[t] = acc
  vs = vs_minus_v_xs + values
  vs_t_plus_1 = np.concatenate([vs[1:], bootstrap_value[None]])
  pg_advantages = clipped_pg_rhos * (rewards + discounts * vs_t_plus_1 - values)
  return vs, pg_advantages


def _inputs(num_steps, batch_size, dtype, seed=0):
  rng = np.random.default_rng(seed)
  shape = (num_steps, batch_size)
  return dict(
      log_rhos=rng.uniform(-2.0, 2.0, size=shape).astype(dtype),
      discounts=(0.99 * (rng.uniform(size=shape) > 0.01)).astype(dtype),
      rewards=rng.normal(size=shape).astype(dtype),
      values=rng.normal(size=shape).astype(dtype),
      bootstrap_value=rng.normal(size=(batch_size,)).astype(dtype))


def _median_ms(fn, repetitions=REPETITIONS, warmup=WARMUP):
  return 1000.0 * timing.median_secs(fn, repetitions, warmup)


@tf.function
def _vtrace_step(log_rhos, discounts, rewards, values, bootstrap_value):
  # What the learner does: the op inside its compiled step.
  out = vtrace.from_importance_weights(log_rhos, discounts, rewards, values,
                                       bootstrap_value)
  return out.vs, out.pg_advantages


def run(repetitions=REPETITIONS):
  """Median wall times (ms) per shape: {"T20_B32": {...}, ..., "meta": {...}}."""
  results = {}
  for num_steps, batch_size in SHAPES:
    tf_inputs = {k: tf.constant(v) for k, v in
                 _inputs(num_steps, batch_size, np.float32).items()}
    np_inputs = _inputs(num_steps, batch_size, np.float64)

    def tf_call():
      vs, pg_advantages = _vtrace_step(**tf_inputs)
      # Materialise the results so the timing includes the whole op.
      return vs.numpy(), pg_advantages.numpy()

    results[f'T{num_steps}_B{batch_size}'] = {
        'tf_function_ms': _median_ms(tf_call, repetitions),
        'numpy_f64_ms': _median_ms(lambda: numpy_vtrace(**np_inputs),
                                   repetitions),
    }
  results['meta'] = {'repetitions': repetitions, 'warmup': WARMUP,
                     'statistic': 'median ms per call after warm-up'}
  return results


if __name__ == '__main__':
  print(json.dumps(run(), indent=2, sort_keys=True))
