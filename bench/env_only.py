"""Env-only throughput: OS processes stepping Atari Pong at random, no network.

`bench.throughput` divides training frames/s by this: the raw emulator speed
of the same number of processes and environments, so the ratio is the
fraction that survives inference, the queue and the learner. Frames count
action repeats, as the paper's Table 1 does.
"""

import multiprocessing
import queue
import time
from typing import Dict

from bench.memory import load_average

LEVEL_NAME = 'Pong'
DEFAULT_ENV_SECONDS = 30.0
# How long the workers may take to build their environments / to report.
_TIMEOUT_SECS = 300


def _env_worker(index, envs_per_process, num_action_repeats, seconds, ready,
                start, results):
  """One process stepping `envs_per_process` Pong environments at random."""
  try:
    import atari57  # pylint: disable=g-import-not-at-top
    import numpy as np  # pylint: disable=g-import-not-at-top
    envs = [atari57.make_environment(LEVEL_NAME, seed=index * envs_per_process
                                     + i + 1,
                                     num_action_repeats=num_action_repeats)
            for i in range(envs_per_process)]
    for env in envs:
      env.initial()
    rng = np.random.default_rng(index)
    num_actions = envs[0].num_actions
    ready.put(index)
    start.wait()
    steps = 0
    begin = time.perf_counter()
    deadline = begin + seconds
    # The actor's loop without the network: one action per environment, all
    # environments stepped in turn.
    while time.perf_counter() < deadline:
      for env, action in zip(envs, rng.integers(num_actions,
                                                size=len(envs))):
        env.step(int(action))
      steps += len(envs)
    elapsed = time.perf_counter() - begin
    for env in envs:
      env.close()
    results.put((index, steps, elapsed, None))
  except Exception as e:  # pylint: disable=broad-except
    ready.put(index)
    results.put((index, 0, 0.0, f'{type(e).__name__}: {e}'))


def env_only_throughput(num_processes: int, envs_per_process: int,
                        seconds: float = DEFAULT_ENV_SECONDS,
                        num_action_repeats: int = 4) -> Dict[str, object]:
  """Frames/s of `num_processes` OS processes stepping Pong at random.

  All processes build their environments first and then step together for
  `seconds`; frames/s is the sum over processes of agent steps *
  `num_action_repeats` / elapsed (the caller passes the training run's).
  """
  if num_processes < 1 or envs_per_process < 1:
    raise ValueError('num_processes and envs_per_process must be >= 1.')
  if seconds <= 0:
    raise ValueError(f'seconds must be > 0, got {seconds!r}.')
  context = multiprocessing.get_context('spawn')
  ready, results, start = context.Queue(), context.Queue(), context.Event()
  load_before = load_average()
  workers = [context.Process(target=_env_worker, daemon=True,
                             args=(i, envs_per_process, num_action_repeats,
                                   seconds, ready, start, results))
             for i in range(num_processes)]
  for w in workers:
    w.start()
  try:
    for _ in workers:
      ready.get(timeout=_TIMEOUT_SECS)
    start.set()
    outcomes = [results.get(timeout=seconds + _TIMEOUT_SECS) for _ in workers]
  except queue.Empty:
    return dict(num_processes=num_processes,
                envs_per_process=envs_per_process,
                error='an env-only worker died or hung (exit codes '
                f'{[w.exitcode for w in workers]}).')
  finally:
    for w in workers:
      w.join(timeout=10)
      if w.is_alive():
        w.kill()
  errors = [error for _, _, _, error in outcomes if error]
  if errors:
    return dict(num_processes=num_processes,
                envs_per_process=envs_per_process, error='; '.join(errors))
  per_process = [num_action_repeats * steps / elapsed
                 for _, steps, elapsed, _ in sorted(outcomes)]
  return dict(num_processes=num_processes, envs_per_process=envs_per_process,
              seconds=seconds, fps=sum(per_process),
              fps_per_process=per_process, loadavg_before=load_before,
              loadavg_after=load_average())
