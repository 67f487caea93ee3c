"""One learner vs N replicas on logical CPU devices: same updates.

Run as a program (logical devices must be configured before TensorFlow
starts): `python tests/programs/replica_equivalence.py NETWORK UPDATES N`,
NETWORK in {deep_lstm, atari_ff}. Exits 0 when, after UPDATES updates on the
same 8 unrolls, parameters and RMSProp slots of both agree (rtol 1e-5) and
the replicas' copies are identical; prints the largest differences.
"""

import json
import sys

import numpy as np
import tensorflow as tf

from scalable_agent_tf2 import learner as learner_lib
from scalable_agent_tf2 import networks
from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import replicas
from scalable_agent_tf2.runtime import unrolls
from scalable_agent_tf2.structures import AgentOutput, StepOutput
from scalable_agent_tf2.structures import StepOutputInfo

B, T, A = 8, 5, 4
NETWORKS = {
    # DMLab-style deep CNN + LSTM, no grad clip; Atari feed-forward, clip 40.
    'deep_lstm': dict(frame=(24, 32, 3), torso='deep', use_lstm=True,
                      grad_norm_clip=0.0),
    'atari_ff': dict(frame=(84, 84, 4), torso='shallow', use_lstm=False,
                     grad_norm_clip=40.0),
}


def make_batch(agent, frame, seed=0):
  """8 batch-major unrolls [B, T+1, ...] as the queue delivers them."""
  rs = np.random.RandomState(seed)
  spec, _ = unrolls.queue_element_spec(frame, A, T, agent)
  batch = unrolls.zeros_like_spec(spec, leading=[B])
  env_outputs = StepOutput(
      reward=(rs.normal(size=[B, T + 1]) * 3).astype(np.float32),
      info=StepOutputInfo(np.zeros([B, T + 1], np.float32),
                          np.zeros([B, T + 1], np.int32),
                          np.zeros([B, T + 1], bool)),
      done=rs.uniform(size=[B, T + 1]) < 0.2,
      observation=(rs.randint(0, 256, size=[B, T + 1, *frame]).astype(
          np.uint8), np.full([B, T + 1], b'', dtype=object)))
  agent_outputs = AgentOutput(
      action=rs.randint(0, A, size=[B, T + 1]).astype(np.int32),
      policy_logits=rs.normal(size=[B, T + 1, A]).astype(np.float32),
      baseline=rs.normal(size=[B, T + 1]).astype(np.float32))
  state = tf.nest.map_structure(
      lambda s: (rs.normal(size=s.shape) * 0.1).astype(np.float32),
      batch.agent_state)
  batch = batch._replace(env_outputs=env_outputs, agent_outputs=agent_outputs,
                         agent_state=state)
  return tf.nest.map_structure(tf.convert_to_tensor, batch)


def build(config, frame, strategy):
  scope = strategy.scope() if strategy else tf.name_scope('single')
  with scope:
    agent = networks.ImpalaAgent(A, torso=config.torso,
                                 use_lstm=config.use_lstm)
    learner = learner_lib.Learner(agent, config, device='/device:CPU:0',
                                  strategy=strategy)
  example = make_batch(agent, frame)
  learner.initialize(learner_lib.batch_major_to_time_major(example))
  return learner, example


def max_rel_diff(a, b):
  a, b = np.asarray(a), np.asarray(b)
  return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-6)))


def main(network, updates, num_learners, seed=1):
  tf.random.set_seed(seed)
  settings = dict(NETWORKS[network])
  frame = settings.pop('frame')
  devices = replicas.configure_devices(num_learners, 'cpu')
  strategy = replicas.make_strategy(devices)
  config = Config(env='atari', batch_size=B, unroll_length=T,
                  total_environment_frames=100_000, **settings
                  ).resolve().validate()
  single, batch = build(config, frame, None)
  replicated, _ = build(config, frame, strategy)
  for source, target in zip(single.agent.trainable_variables,
                            replicated.agent.trainable_variables):
    target.assign(source.numpy())
  versions = tf.zeros([B], tf.int64)
  for _ in range(updates):
    one = single.train_step(batch, versions)
    many = replicated.train_step(batch, versions)
  report = {'loss': [float(one.total_loss), float(many.total_loss)],
            'frames': [int(one.num_env_frames), int(many.num_env_frames)]}
  pairs = {'params': (single.agent.trainable_variables,
                      replicated.agent.trainable_variables),
           'ms': (single.optimizer.ms, replicated.optimizer.ms),
           'mom': (single.optimizer.mom, replicated.optimizer.mom)}
  ok = report['frames'][0] == report['frames'][1]
  for name, (ones, manys) in pairs.items():
    diffs = []
    for a, b in zip(ones, manys):
      copies = [c.numpy() for c in strategy.experimental_local_results(b)]
      ok &= all(np.array_equal(copies[0], c) for c in copies[1:])
      ok &= np.allclose(copies[0], a.numpy(), rtol=1e-5, atol=1e-7)
      diffs.append(max_rel_diff(copies[0], a.numpy()))
    report[name + '_max_rel_diff'] = max(diffs)
  report['replicas'] = len(strategy.extended.worker_devices)
  print(json.dumps(report))
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                *[int(a) for a in sys.argv[4:]]))
