r"""How much a trained Atari agent's torso has moved, from its logdir.

The diagnosis behind the `--preset=small` choice of RMSProp epsilon (README,
"Pong on 2 cores"): with epsilon 0.01 inside the square root, a weight whose
mean-square gradient `ms` is far below 0.01 takes steps shrunk by
sqrt(ms / (ms + epsilon)). This command reads the latest checkpoint of a run
and prints, as JSON:

  * per agent variable: the RMSProp `ms` slot's median and 10th / 90th
    percentiles, and that median's step shrink factor at the run's epsilon;
  * per torso layer: the weight spread (std) of a freshly initialised agent
    (the same initialisers; the run's own initial weights are not kept) and
    of the checkpoint;
  * per torso layer: how many channels / units never fire (ReLU output 0
    everywhere) on `--frames` frames of the run's game under a random policy,
    for the fresh and the trained agent.

  python -m bench.torso_health bench/results/pong_small/run
"""

import argparse
import json
import os
import sys
from typing import Dict, Sequence

import numpy as np


# --- Pure helpers (unit-tested) -----------------------------------------------


def ms_summary(ms: np.ndarray, epsilon: float) -> Dict[str, float]:
  """Percentiles of one RMSProp `ms` slot and its median's step shrink.

  The shrink is sqrt(ms / (ms + epsilon)): the factor by which epsilon inside
  the square root scales a step of a weight with that mean-square gradient.
  """
  ms = np.asarray(ms, np.float64).ravel()
  median = float(np.median(ms))
  return {'ms_median': median,
          'ms_p10': float(np.percentile(ms, 10)),
          'ms_p90': float(np.percentile(ms, 90)),
          'median_step_shrink': float(np.sqrt(median / (median + epsilon)))}


def never_active(activations: np.ndarray) -> int:
  """Channels (last axis) whose ReLU output is 0 for every frame and place.

  Args:
    activations: `[N, ..., C]` non-negative ReLU outputs.
  """
  activations = np.asarray(activations)
  flat = activations.reshape(-1, activations.shape[-1])
  return int(np.sum(~np.any(flat > 0, axis=0)))


# --- Reading a run ------------------------------------------------------------


def _random_policy_frames(config, num_frames: int, seed: int) -> np.ndarray:
  from scalable_agent_tf2 import suites  # pylint: disable=g-import-not-at-top
  env = suites.get(config.env).make_environment(config, config.level_name,
                                                seed=seed)
  rng = np.random.default_rng(seed)
  try:
    env.initial()
    frames = [env.step(int(rng.integers(env.num_actions))).observation[0]
              for _ in range(num_frames)]
  finally:
    env.close()
  return np.stack(frames)


def _torso_report(agent, frames) -> Dict[str, Dict[str, float]]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import torsos  # pylint: disable=g-import-not-at-top
  torso = agent.torso
  if not isinstance(torso, torsos.ShallowTorso):
    raise SystemExit('torso_health reads the shallow torso only.')
  x = torsos.frames_to_float(tf.constant(frames))
  conv_1 = tf.nn.relu(torso.conv_1(x))
  conv_2 = tf.nn.relu(torso.conv_2(conv_1))
  linear = tf.nn.relu(torso.linear(tf.reshape(conv_2, [len(frames), -1])))
  report = {}
  for name, layer, output in (('conv_1', torso.conv_1, conv_1),
                              ('conv_2', torso.conv_2, conv_2),
                              ('linear', torso.linear, linear)):
    report[name] = {'weight_std': float(np.std(layer.w.numpy())),
                    'never_active': never_active(output.numpy()),
                    'units': int(output.shape[-1])}
  return report


def run(logdir: str, num_frames: int = 600, seed: int = 7) -> Dict[str, object]:
  from bench import run_agent  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import checkpoints  # pylint: disable=g-import-not-at-top

  config, path = run_agent.feedforward_atari_run(logdir, 'torso_health')
  frames = _random_policy_frames(config, num_frames, seed)
  agent = run_agent.fresh_agent(config, seed)
  initial = _torso_report(agent, frames)
  run_agent.restore(agent, path)
  trained = _torso_report(agent, frames)
  names = [v.name for v in agent.trainable_variables]
  ms = run_agent.rmsprop_ms(agent, path)
  slots = {name: ms_summary(m, config.epsilon) for name, m in zip(names, ms)}
  return {'checkpoint': path,
          'frames': checkpoints.checkpoint_frames(path),
          'epsilon': config.epsilon,
          'random_policy_frames': num_frames,
          'torso_initial': initial,
          'torso_trained': trained,
          'rmsprop_ms': dict(sorted(slots.items()))}


def main(argv: Sequence[str] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m bench.torso_health',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('logdir', help='a training run\'s --logdir')
  parser.add_argument('--frames', type=int, default=600,
                      help='random-policy frames to probe (default 600)')
  args = parser.parse_args(argv)
  if args.frames < 1:
    raise SystemExit('--frames must be >= 1.')
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  print(json.dumps(run(args.logdir, args.frames), indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
