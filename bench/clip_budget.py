r"""Where the gradient-clip budget goes, and how big RMSProp's steps are.

The measurements behind the small-machine preset (README, "Pong on 2 cores").
For a fresh agent (or a run's latest checkpoint) this command plays real
Pong with that agent's own policy to build `--batches` batches of unrolls of
each `--batch_sizes` value (unroll 20, the paper's time alignment), and on
each batch computes the gradient of the learner's loss (docs/impala.md §3)
and of its three terms:

  * the global norms of the policy-gradient, baseline (x baseline_cost),
    entropy (x entropy_cost) and total gradients; the summed losses grow
    with the batch, so do the norms;
  * the clip factor min(1, grad_norm_clip / total norm): how much the global
    clip (Table G.1: 40) shrinks every gradient, the policy-gradient part
    included;
  * per layer group (torso, policy head, baseline head), the norm of one
    RMSProp step lr * g / sqrt(ms + epsilon) of the clipped gradient, with
    the `ms` slot of the checkpoint (ones for a fresh agent: TF1's start,
    docs/impala.md §4), for each `--epsilons` value, and their ratio.

  python -m bench.clip_budget --out bench/results/pong_search/clip_budget_init.json
  python -m bench.clip_budget --logdir bench/results/pong_search/<run>/run
"""

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

UNROLL_LENGTH = 20


# --- Pure helpers (unit-tested) -----------------------------------------------


def global_norm(arrays: Sequence[np.ndarray]) -> float:
  """sqrt of the sum of squares over every element of every array."""
  return float(np.sqrt(sum(np.sum(np.square(np.asarray(a, np.float64)))
                           for a in arrays)))


def clip_factor(total_norm: float, grad_norm_clip: float) -> float:
  """The factor global-norm clipping multiplies every gradient by (1 = none;
  `grad_norm_clip` 0 means no clipping, as in the learner)."""
  if grad_norm_clip <= 0 or total_norm <= grad_norm_clip:
    return 1.0
  return float(grad_norm_clip / total_norm)


def rmsprop_step_norm(grads: Sequence[np.ndarray], ms: Sequence[np.ndarray],
                      learning_rate: float, decay: float,
                      epsilon: float) -> float:
  """Norm of TF1 RMSProp's next step lr * g / sqrt(ms' + epsilon), where
  ms' = decay * ms + (1 - decay) * g^2 is the slot after this gradient."""
  steps = []
  for g, m in zip(grads, ms):
    g = np.asarray(g, np.float64)
    new_ms = decay * np.asarray(m, np.float64) + (1.0 - decay) * g * g
    steps.append(learning_rate * g / np.sqrt(new_ms + epsilon))
  return global_norm(steps)


def step_norm_key(epsilon: float) -> str:
  """The key of the step norm at `epsilon` in a group of clip_budget.json."""
  return f'step_norm_eps_{epsilon:g}'


def layer_group(variable_name: str) -> str:
  """'torso', 'policy' or 'baseline' for an agent variable name."""
  name = variable_name.lower()
  if 'policy' in name:
    return 'policy'
  if 'baseline' in name:
    return 'baseline'
  return 'torso'


# --- Playing and measuring ------------------------------------------------------


def _play_batches(config, agent, batch_size: int, num_batches: int,
                  seed: int, warmup_unrolls: int) -> List[object]:
  """`num_batches` batch-major ActorOutputs [B, T+1, ...] of real Pong, after
  `warmup_unrolls` unrolls thrown away (an episode's first 20 steps hold no
  point scored, so no reward)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import suites  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import unrolls  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.structures import ActorOutput, AgentOutput  # pylint: disable=g-import-not-at-top
  suite = suites.get(config.env)
  envs = [suite.make_environment(config, config.level_name, seed=seed + i)
          for i in range(batch_size)]
  try:
    env_output = unrolls.stack_env_outputs([e.initial() for e in envs])
    agent_output = AgentOutput(*unrolls.zeros_like_spec(
        unrolls.agent_output_spec(suite.num_actions(config)), [batch_size]))
    batches = []
    for _ in range(warmup_unrolls + num_batches):
      env_steps, agent_steps = [env_output], [agent_output]
      for _ in range(UNROLL_LENGTH):
        out, _ = agent.step(
            tf.nest.map_structure(tf.convert_to_tensor, env_output),
            tf.convert_to_tensor(agent_output.action), ())
        agent_output = AgentOutput(*tf.nest.map_structure(np.asarray, out))
        env_output = unrolls.stack_env_outputs(
            [e.step(int(a)) for e, a in zip(envs, agent_output.action)])
        env_steps.append(env_output)
        agent_steps.append(agent_output)
      batches.append(ActorOutput(
          level_name=np.array([config.level_name.encode()] * batch_size,
                              dtype=object), agent_state=(),
          env_outputs=unrolls.stack_time(env_steps),
          agent_outputs=unrolls.stack_time(agent_steps)))
    return batches[warmup_unrolls:]
  finally:
    for e in envs:
      e.close()


def _gradients(agent, config, batch) -> Dict[str, List[np.ndarray]]:
  """The gradient of each weighted loss term and of the total."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import learner as learner_lib  # pylint: disable=g-import-not-at-top
  variables = agent.trainable_variables
  with tf.GradientTape(persistent=True) as tape:
    losses, _, _ = learner_lib.compute_loss(
        agent, learner_lib.batch_major_to_time_major(batch), config)
    terms = {'policy_gradient': losses.policy_gradient,
             'baseline': config.baseline_cost * losses.baseline,
             'entropy': config.entropy_cost * losses.entropy,
             'total': losses.total}
  grads = {k: [np.zeros(v.shape) if g is None else g.numpy()
               for g, v in zip(tape.gradient(t, variables), variables)]
           for k, t in terms.items()}
  del tape
  return grads


def _measure_batch(agent, config, batch, ms, epsilons) -> Dict[str, object]:
  grads = _gradients(agent, config, batch)
  norms = {f'{k}_norm': global_norm(g) for k, g in grads.items()}
  factor = clip_factor(norms['total_norm'], config.grad_norm_clip)
  clipped = [g * factor for g in grads['total']]
  groups = {}
  names = [v.name for v in agent.trainable_variables]
  for group in ('torso', 'policy', 'baseline'):
    index = [i for i, n in enumerate(names) if layer_group(n) == group]
    groups[group] = {step_norm_key(e): rmsprop_step_norm(
        [clipped[i] for i in index], [ms[i] for i in index],
        config.learning_rate, config.decay, e) for e in epsilons}
  return dict(norms, clip_factor=factor, steps=groups)


def _mean_of(records: List[Dict[str, object]]) -> Dict[str, object]:
  """Element-wise mean of nested dicts of floats."""
  first = records[0]
  if isinstance(first, dict):
    return {k: _mean_of([r[k] for r in records]) for k in first}
  return float(np.mean(records))


def _load(logdir: Optional[str], seed: int):
  """(config, agent, ms slots, checkpoint path or None)."""
  from bench import run_agent  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import config as config_lib  # pylint: disable=g-import-not-at-top
  if logdir:
    config, path = run_agent.feedforward_atari_run(logdir, 'clip_budget')
  else:
    config, path = config_lib.Config(
        env='atari', level_name='Pong', preset='paper',
        torso='shallow').resolve(), None
  agent = run_agent.fresh_agent(config, seed)
  if path:
    run_agent.restore(agent, path)
  return config, agent, run_agent.rmsprop_ms(agent, path), path


def run(logdir: Optional[str] = None, batch_sizes: Sequence[int] = (4, 32),
        num_batches: int = 8, epsilons: Sequence[float] = (0.01, 1e-5),
        seed: int = 1, warmup_unrolls: int = 5) -> Dict[str, object]:
  """The measurements, as a JSON-ready dict (means over the batches)."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  config, agent, ms, path = _load(logdir, seed)
  result = {'checkpoint': path, 'unroll_length': UNROLL_LENGTH,
            'batches_per_size': num_batches,
            'warmup_unrolls': warmup_unrolls, 'learning_rate':
            config.learning_rate, 'grad_norm_clip': config.grad_norm_clip,
            'baseline_cost': config.baseline_cost,
            'entropy_cost': config.entropy_cost, 'by_batch_size': {}}
  for b in batch_sizes:
    c = dataclasses.replace(config, batch_size=b, unroll_length=UNROLL_LENGTH)
    batches = _play_batches(c, agent, b, num_batches, 1000 * b + seed,
                            warmup_unrolls)
    records = [_measure_batch(agent, c, x, ms, epsilons) for x in batches]
    result['by_batch_size'][str(b)] = _mean_of(records)
  return result


def main(argv: Sequence[str] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m bench.clip_budget',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--logdir', default=None,
                      help='a run whose latest checkpoint to measure '
                      '(default: a fresh shallow agent, --seed)')
  parser.add_argument('--batch_sizes', default='4,32',
                      help='comma-separated batch sizes (default 4,32)')
  parser.add_argument('--batches', type=int, default=8,
                      help='batches per size to average over (default 8)')
  parser.add_argument('--warmup_unrolls', type=int, default=5,
                      help='unrolls played and dropped first (default 5)')
  parser.add_argument('--epsilons', default='0.01,1e-5',
                      help='RMSProp epsilons to compare (default 0.01,1e-5)')
  parser.add_argument('--seed', type=int, default=1)
  parser.add_argument('--out', default=None, help='also write the JSON here')
  args = parser.parse_args(argv)
  try:
    sizes = [int(x) for x in args.batch_sizes.split(',') if x.strip()]
    epsilons = [float(x) for x in args.epsilons.split(',') if x.strip()]
  except ValueError as e:
    raise SystemExit(f'--batch_sizes / --epsilons: {e}') from None
  if not sizes or min(sizes) < 1 or args.batches < 1 or not epsilons or \
      min(epsilons) <= 0 or args.warmup_unrolls < 0:
    raise SystemExit('--batch_sizes and --batches must be >= 1, --epsilons '
                     '> 0, --warmup_unrolls >= 0.')
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  result = run(args.logdir, sizes, args.batches, epsilons, args.seed,
               args.warmup_unrolls)
  text = json.dumps(result, indent=2)
  if args.out:
    with open(args.out, 'w') as f:
      f.write(text + '\n')
  print(text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
