"""Benchmark of the IMPALA networks on CPU (docs/impala.md §2, §4 shapes).

For three agents -- Atari feed-forward shallow and deep (84x84x4, 18 actions,
unroll T=20) and DMLab deep + LSTM + instruction (72x96x3, 9 actions, T=100) --
measures, inside `tf.function` and after warm-up:
  * the median latency of one forward `step` (the actor's call) at batch 1
    and batch 32;
  * the median time of a forward + backward `unroll` at batch 32 (the
    learner's network pass; gradients of a stand-in loss, no optimiser).

Usage: `python -m bench.networks_bench` prints the result of `run()` as JSON.
Repetitions are kept small: the machine this runs on has few, shared cores.
"""

import functools
import json
import os
import statistics
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from scalable_agent_tf2 import networks  # pylint: disable=g-import-not-at-top
from scalable_agent_tf2.structures import StepOutput  # pylint: disable=g-import-not-at-top
from scalable_agent_tf2.structures import StepOutputInfo  # pylint: disable=g-import-not-at-top

# name -> (agent kwargs, frame shape, unroll length); batch 32 everywhere
# (Tables D.3 and G.1).
CONFIGS = {
    'atari_shallow_ff': (dict(num_actions=18, torso='shallow', use_lstm=False),
                         (84, 84, 4), 20),
    'atari_deep_ff': (dict(num_actions=18, torso='deep', use_lstm=False),
                      (84, 84, 4), 20),
    'dmlab_deep_lstm_instruction': (
        dict(num_actions=9, torso='deep', use_lstm=True, use_instruction=True),
        (72, 96, 3), 100),
}
BATCH_SIZE = 32
STEP_BATCH_SIZES = (1, 32)
STEP_REPETITIONS = 20
UNROLL_REPETITIONS = 3
WARMUP = 2
INSTRUCTIONS = (b'', b'pick the red balloon', b'go to the blue door',
                b'find the key that opens the green door')


def _env_outputs(rng, lead_shape, frame_shape):
  """Random StepOutput tensors with leading dims `lead_shape`."""
  lead_shape = tuple(lead_shape)
  zeros = np.zeros(lead_shape, np.float32)
  return StepOutput(
      reward=tf.constant(rng.uniform(-1, 1, lead_shape), tf.float32),
      info=StepOutputInfo(tf.constant(zeros), tf.constant(zeros, tf.int32),
                          tf.constant(zeros, tf.bool)),
      done=tf.constant(rng.random(lead_shape) < 0.01),
      observation=(
          tf.constant(rng.integers(0, 256, lead_shape + frame_shape,
                                   dtype=np.uint8)),
          tf.constant(rng.choice(np.array(INSTRUCTIONS, dtype=object),
                                 lead_shape))))


def _median_seconds(fn, repetitions):
  for _ in range(WARMUP):
    tf.nest.map_structure(lambda t: t.numpy(), fn())
  times = []
  for _ in range(repetitions):
    start = time.perf_counter()
    tf.nest.map_structure(lambda t: t.numpy(), fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def bench_config(name, rng, step_repetitions=STEP_REPETITIONS,
                 unroll_repetitions=UNROLL_REPETITIONS):
  """Returns the timings of one agent configuration."""
  kwargs, frame_shape, unroll_length = CONFIGS[name]
  agent = networks.ImpalaAgent(**kwargs)
  num_actions = kwargs['num_actions']
  result = {'frame_shape': list(frame_shape), 'num_actions': num_actions,
            'unroll_length': unroll_length, 'batch_size': BATCH_SIZE}

  step = tf.function(agent.step)
  for batch_size in STEP_BATCH_SIZES:
    env_output = _env_outputs(rng, [batch_size], frame_shape)
    prev_action = tf.zeros([batch_size], tf.int32)
    state = agent.initial_state(batch_size)
    call = functools.partial(step, env_output, prev_action, state)
    seconds = _median_seconds(call, step_repetitions)
    result[f'step_ms_batch_{batch_size}'] = 1e3 * seconds
  result['num_parameters'] = int(sum(
      np.prod(v.shape) for v in agent.trainable_variables))

  @tf.function
  def unroll_forward_backward(actions, env_outputs, state):
    with tf.GradientTape() as tape:
      outputs, _ = agent.unroll(actions, env_outputs, state)
      # Stand-in for the IMPALA loss: touches both heads.
      log_probs = tf.nn.log_softmax(outputs.policy_logits)
      loss = (-tf.reduce_sum(log_probs * tf.one_hot(outputs.action,
                                                    num_actions)) +
              0.5 * tf.reduce_sum(tf.square(outputs.baseline)))
    grads = tape.gradient(loss, agent.trainable_variables)
    # The embedding's gradient is IndexedSlices; densify (1000 x 20) to fetch.
    return [tf.convert_to_tensor(g) for g in grads]

  actions = tf.constant(
      rng.integers(0, num_actions, [unroll_length, BATCH_SIZE]), tf.int32)
  env_outputs = _env_outputs(rng, [unroll_length, BATCH_SIZE], frame_shape)
  state = agent.initial_state(BATCH_SIZE)
  seconds = _median_seconds(
      lambda: unroll_forward_backward(actions, env_outputs, state),
      unroll_repetitions)
  result['unroll_forward_backward_s'] = seconds
  result['unroll_agent_steps_per_s'] = unroll_length * BATCH_SIZE / seconds
  return result


def run(step_repetitions=STEP_REPETITIONS,
        unroll_repetitions=UNROLL_REPETITIONS):
  """Runs all configurations; returns a JSON-serialisable dict."""
  if step_repetitions < 1 or unroll_repetitions < 1:
    raise ValueError('Repetitions must be >= 1, got step %r, unroll %r.' % (
        step_repetitions, unroll_repetitions))
  rng = np.random.default_rng(0)
  results = {name: bench_config(name, rng, step_repetitions,
                                unroll_repetitions) for name in CONFIGS}
  results['meta'] = {
      'tensorflow': tf.__version__,
      'device': 'CPU',
      'cpu_count': os.cpu_count(),
      'step_repetitions': step_repetitions,
      'unroll_repetitions': unroll_repetitions,
      'statistic': 'median after warm-up, inside tf.function',
  }
  return results


if __name__ == '__main__':
  print(json.dumps(run(), indent=2))
