r"""The box's limit: what frames/s this machine could reach at best.

Two costs, measured on their own (docs/actor_hosts.md):
  * the learner-only cost of one update: Pong, the paper preset (batch 32,
    unroll 20), shallow torso, a synthetic batch, `Learner.train_step`
    timed in a fresh process per thread setting (TensorFlow's default pools
    and one thread), wall and CPU seconds;
  * the env-only cost per frame: `bench.env_only` with every core busy.
With C usable cores perfectly shared, a frame costs env_cpu + learner_cpu /
frames_per_update core-seconds, so the limit is

  C / (C / env_only_fps + learner_cpu_secs_per_update / frames_per_update)

(inference and transport are left out: the limit is optimistic).

  python -m bench.box_limit --learner --threads=1   # one measurement (JSON)
"""

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Dict, Optional

from bench import env_only
from bench.training_run import REPO, child_env, paper_config

DEFAULT_UPDATES = 10
_TIMEOUT_SECS = 1800


def _learner_cost(threads: int, updates: int) -> Dict[str, object]:
  """Times `updates` train steps in this process (imports TensorFlow)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
  from scalable_agent_tf2 import learner as learner_lib  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import suites  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import actor as actor_lib  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import unrolls  # pylint: disable=g-import-not-at-top
  config = paper_config()
  suite = suites.get(config.env)
  agent = actor_lib.build_agent(config, suite.num_actions(config))
  learner = learner_lib.Learner(agent, config)
  spec = unrolls.queue_element_spec(suite.frame_shape(config),
                                    suite.num_actions(config),
                                    config.unroll_length, agent)
  element = unrolls.zeros_like_spec(spec[0], leading=[config.batch_size])
  rng = np.random.default_rng(0)
  frames = element.env_outputs.observation[0]
  frames[...] = rng.integers(0, 255, frames.shape, dtype=np.uint8)
  element.level_name[...] = config.level_name.encode()
  learner.initialize(learner_lib.batch_major_to_time_major(
      tf.nest.map_structure(lambda x: x[:1], element)))
  versions = np.zeros([config.batch_size], np.int64)
  def update():  # Reads the results back: the step has surely finished.
    tf.nest.map_structure(lambda t: t.numpy(),
                          learner.train_step(element, versions))
  for _ in range(2):  # Tracing and warm-up.
    update()
  wall, cpu = time.perf_counter(), time.process_time()
  for _ in range(updates):
    update()
  return dict(threads=threads or 'tf_default', updates=updates,
              wall_secs_per_update=(time.perf_counter() - wall) / updates,
              cpu_secs_per_update=(time.process_time() - cpu) / updates,
              frames_per_update=config.frames_per_update)


def learner_cost(threads: int, updates: int = DEFAULT_UPDATES
                 ) -> Dict[str, object]:
  """`_learner_cost` in a fresh process (thread pools are per process)."""
  argv = [sys.executable, '-m', 'bench.box_limit', '--learner',
          f'--threads={threads}', f'--updates={updates}']
  try:
    out = subprocess.run(argv, cwd=REPO, env=child_env(), text=True,
                         capture_output=True, timeout=_TIMEOUT_SECS,
                         check=False)
  except subprocess.TimeoutExpired:
    return dict(threads=threads, error='timed out')
  if out.returncode != 0:
    return dict(threads=threads, error=out.stderr[-1500:])
  return json.loads(out.stdout.strip().splitlines()[-1])


def implied_limit(cores: int, env_only_fps: Optional[float],
                  learner_secs_per_update: Optional[float],
                  frames_per_update: int) -> Optional[float]:
  """Frames/s with `cores` perfectly shared (see the module docstring)."""
  if not env_only_fps or learner_secs_per_update is None:
    return None
  per_frame = cores / env_only_fps + learner_secs_per_update / (
      frames_per_update)
  return cores / per_frame


def run(env_seconds: float, updates: int = DEFAULT_UPDATES,
        log=print) -> Dict[str, object]:
  """The limit's inputs and the limit (CPU-time model and wall x cores)."""
  cores = len(os.sched_getaffinity(0))
  costs = {}
  for threads in (0, 1):
    log(f'[box_limit] learner-only update, threads={threads or "default"}')
    costs['default' if threads == 0 else str(threads)] = learner_cost(
        threads, updates)
  processes = max(1, cores)
  log(f'[box_limit] env-only: {processes} process(es) x 4 envs')
  only = env_only.env_only_throughput(processes, 4, env_seconds)
  best = costs['default']
  fpu = best.get('frames_per_update') or paper_config().frames_per_update
  return dict(
      cores=cores, learner=costs, env_only=only,
      env_core_secs_per_frame=(cores / only['fps'] if only.get('fps')
                               else None),
      limit_fps_cpu_model=implied_limit(
          cores, only.get('fps'), best.get('cpu_secs_per_update'), fpu),
      limit_fps_wall_x_cores=implied_limit(
          cores, only.get('fps'),
          None if best.get('wall_secs_per_update') is None
          else best['wall_secs_per_update'] * cores, fpu))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m bench.box_limit')
  parser.add_argument('--learner', action='store_true',
                      help='measure the learner-only update here (JSON).')
  parser.add_argument('--threads', type=int, default=0)
  parser.add_argument('--updates', type=int, default=DEFAULT_UPDATES)
  parser.add_argument('--env_seconds', type=float, default=30.0)
  args = parser.parse_args(argv)
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  if args.learner:
    print(json.dumps(_learner_cost(args.threads, args.updates)), flush=True)
  else:
    print(json.dumps(run(args.env_seconds, args.updates), indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
