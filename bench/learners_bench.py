r"""Learner-only throughput with N synchronous replicas (`--num_learners`).

For N in (1, 2): the real `Learner.train_step` (Atari shallow feed-forward,
84x84x4, 6 actions, batch 32, unroll 20, Table G.1 otherwise) on a fixed
synthetic batch, in a fresh process per N (logical CPU devices must exist
before TensorFlow starts), and the time of the all-reduce alone: summing
one gradient-shaped tensor per parameter across the replicas, as every
update does. With no GPU the replicas are logical devices of the same CPU,
so N = 2 cannot be faster here: the numbers show the cost of the machinery,
not a speed-up (docs/multiple_learners.md).

  python -m bench.learners_bench            # prints the section as JSON
"""

import json
import os
import subprocess
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from bench import timing  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEARNER_COUNTS = (1, 2)
BATCH, UNROLL, ACTIONS, FRAME = 32, 20, 6, (84, 84, 4)
DEFAULT_UPDATES = 8
WARMUP = 2


def _batch(agent):
  """A batch-major batch [B, T+1, ...] of random Pong-sized unrolls."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import unrolls  # pylint: disable=g-import-not-at-top
  rs = np.random.RandomState(0)
  spec, _ = unrolls.queue_element_spec(FRAME, ACTIONS, UNROLL, agent)
  batch = unrolls.zeros_like_spec(spec, leading=[BATCH])
  env = batch.env_outputs._replace(
      observation=(rs.randint(0, 256, (BATCH, UNROLL + 1) + FRAME).astype(
          np.uint8), batch.env_outputs.observation[1]),
      reward=rs.normal(size=(BATCH, UNROLL + 1)).astype(np.float32))
  agent_out = batch.agent_outputs._replace(
      action=rs.randint(0, ACTIONS, (BATCH, UNROLL + 1)).astype(np.int32))
  return tf.nest.map_structure(
      tf.convert_to_tensor,
      batch._replace(env_outputs=env, agent_outputs=agent_out))


def _median_secs(fn, repetitions):
  return timing.median_secs(fn, repetitions, WARMUP)


def measure(num_learners, updates=DEFAULT_UPDATES):
  """Runs in a fresh process: learner updates/s and all-reduce time."""
  from scalable_agent_tf2.runtime import replicas  # pylint: disable=g-import-not-at-top
  devices = replicas.configure_devices(num_learners, 'cpu')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import learner as learner_lib  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import networks  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.config import Config  # pylint: disable=g-import-not-at-top
  strategy = replicas.make_strategy(devices)
  config = Config(env='atari', level_name='Pong', preset='paper',
                  torso='shallow').resolve().validate()
  with strategy.scope() if strategy else tf.name_scope('bench'):
    agent = networks.ImpalaAgent(ACTIONS, torso='shallow', use_lstm=False)
    learner = learner_lib.Learner(agent, config, device='/device:CPU:0',
                                  strategy=strategy)
  batch = _batch(agent)
  learner.initialize(learner_lib.batch_major_to_time_major(batch))
  versions = tf.zeros([BATCH], tf.int64)
  step_secs = _median_secs(lambda: learner.train_step(batch, versions).
                           total_loss.numpy(), updates)
  result = dict(num_learners=num_learners, devices=devices,
                update_secs=step_secs, updates_per_sec=1.0 / step_secs,
                frames_per_sec=config.frames_per_update / step_secs,
                all_reduce_secs=None)
  if strategy is not None:
    result['all_reduce_secs'] = _all_reduce_secs(strategy, agent, updates)
  return result


def _all_reduce_secs(strategy, agent, repetitions):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  shapes = [v.shape for v in agent.trainable_variables]

  @tf.function
  def all_reduce():
    def replica_fn():
      context = tf.distribute.get_replica_context()
      grads = [tf.ones(s) for s in shapes]
      return tf.add_n([tf.reduce_sum(g) for g in context.all_reduce(
          tf.distribute.ReduceOp.SUM, grads)])
    return strategy.experimental_local_results(strategy.run(replica_fn))[0]

  return _median_secs(lambda: all_reduce().numpy(), repetitions)


def run(updates=DEFAULT_UPDATES, counts=LEARNER_COUNTS):
  """The bench section: one fresh process per N."""
  results = []
  for n in counts:
    out = subprocess.run(
        [sys.executable, '-m', 'bench.learners_bench', '--child', str(n),
         str(updates)], cwd=REPO, capture_output=True, text=True,
        timeout=1800, check=False)
    if out.returncode != 0:
      raise RuntimeError(f'learners_bench N={n} failed: {out.stderr[-2000:]}')
    results.append(json.loads(out.stdout.strip().splitlines()[-1]))
  one = results[0]['update_secs']
  for r in results:
    r['update_secs_ratio_vs_1'] = r['update_secs'] / one
  return dict(protocol=dict(batch_size=BATCH, unroll_length=UNROLL,
                            network='atari shallow feed-forward',
                            frame=list(FRAME), num_actions=ACTIONS,
                            updates_timed=updates, warmup=WARMUP),
              runs=results)


if __name__ == '__main__':
  if len(sys.argv) >= 3 and sys.argv[1] == '--child':
    print(json.dumps(measure(int(sys.argv[2]), int(sys.argv[3]))))
  else:
    print(json.dumps(run(), indent=2))
