r"""End-to-end training throughput on this machine.

What the paper's Table 1 measures -- environment frames per second of a whole
IMPALA run with the shallow model and batch 32 -- here for Atari Pong with the
Table G.1 hyperparameters (`--preset=paper`: batch 32, unroll 20, action
repeat 4), through the real entry point: a learner and N actor OS processes
joined by a TF cluster on localhost, exactly what `python -m
scalable_agent_tf2.experiment` starts (`bench.training_run`).

For each configuration the run gets a fresh temporary logdir; once the
learner has written its first progress line (start-up done: processes up,
cluster connected, first train step traced; its duration is reported as
`startup_secs`) it trains for a fixed wall time `seconds` and is then stopped
with SIGTERM (the launcher stops the learner, which writes a final
checkpoint). The number reported is the median of the learner's
progress.jsonl `fps` (env frames/s, action repeats included, as the paper
counts) over a steady-state window (`scalable_agent_tf2.run_dir`): the
progress lines written before the SIGTERM, minus the first `warmup_fraction`
of them. The first lines are not steady: while the learner traces its first
step the actors fill the queue, and the first intervals after that drain the
backlog faster than the actors produce.

Measured per configuration:
  * training fps for 1, 2 and 4 actor processes (the preset's
    envs_per_actor), and with 2 actors what envs_per_actor in {1, 2, 4} buys
    (one batched inference for all environments of an actor);
  * the env-only fps of the same number of OS processes, each stepping the
    same number of atari57 Pong environments with uniformly random actions
    and no network (`bench.env_only`), and the ratio training/env-only: the
    fraction of the raw emulator speed that survives inference, the queue and
    the learner;
  * the peak resident memory (VmHWM) of the learner and of actor 0
    (`bench.memory`).

Usage (the numbers are only meaningful on an otherwise idle machine):

  python -m bench.throughput --seconds=90 --out=/tmp/throughput.json

`bench.run` calls `run()` and stores the result under "end_to_end".
"""

import argparse
import json
import os
import sys
from typing import Callable, Dict, Iterable, List, Sequence

from bench import env_only
from bench.training_run import DEFAULT_PROGRESS_SECS
from bench.training_run import DEFAULT_SECONDS
from bench.training_run import DEFAULT_STARTUP_TIMEOUT_SECS
from bench.training_run import DEFAULT_WARMUP_FRACTION
from bench.training_run import paper_config
from bench.training_run import run_training
from bench.training_run import training_command

DEFAULT_ENV_SECONDS = env_only.DEFAULT_ENV_SECONDS
ACTOR_COUNTS = (1, 2, 4)
ENVS_PER_ACTOR_SWEEP = (1, 2, 4)
SWEEP_NUM_ACTORS = 2


def _ratio(numerator, denominator):
  if numerator is None or not denominator:
    return None
  return numerator / denominator


def _fmt(value, digits=0):
  return 'n/a' if value is None else f'{value:,.{digits}f}'


def protocol(seconds: float, env_seconds: float, progress_secs: float,
             warmup_fraction: float, extra_flags: Sequence[str] = ()
             ) -> Dict[str, object]:
  """The "protocol" block of the result: what every run trains with."""
  paper = paper_config()
  return dict(
      level_name=paper.level_name, torso=paper.torso,
      batch_size=paper.batch_size, unroll_length=paper.unroll_length,
      num_action_repeats=paper.num_action_repeats,
      training_secs_after_startup=seconds, env_only_secs=env_seconds,
      progress_secs=progress_secs, warmup_fraction=warmup_fraction,
      envs_per_actor=paper.envs_per_actor, sweep_num_actors=SWEEP_NUM_ACTORS,
      statistic=('median of progress.jsonl fps (env frames/s incl. action '
                 'repeats) over lines before the SIGTERM, minus the first '
                 'warmup_fraction of them'),
      command=' '.join(training_command('<tmp logdir>', '<N>', '<k>',
                                        progress_secs, extra_flags)))


def run(seconds: float = DEFAULT_SECONDS,
        env_seconds: float = DEFAULT_ENV_SECONDS,
        progress_secs: float = DEFAULT_PROGRESS_SECS,
        warmup_fraction: float = DEFAULT_WARMUP_FRACTION,
        actor_counts: Iterable[int] = ACTOR_COUNTS,
        envs_per_actor_sweep: Iterable[int] = ENVS_PER_ACTOR_SWEEP,
        extra_flags: Sequence[str] = (),
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_SECS,
        log: Callable[[str], None] = print) -> Dict[str, object]:
  """All end-to-end measurements; a JSON-serialisable dict.

  Returns:
    {"protocol": {...},
     "actors": {"<N>": {"training": run_training(...), "env_only":
                env_only_throughput(...), "training_over_env_only": ratio}},
     "envs_per_actor": {"<k>": run_training(2 actors, k envs each)}}
  Each configuration takes its start-up (~10-60 s depending on the load)
  + `seconds` + a few seconds to stop; each env-only measurement
  `env_seconds` + environment start-up.
  """
  env_seconds = min(env_seconds, seconds)
  out = dict(protocol=protocol(seconds, env_seconds, progress_secs,
                               warmup_fraction, extra_flags),
             actors={}, envs_per_actor={})
  envs, repeats = out['protocol']['envs_per_actor'], out['protocol'][
      'num_action_repeats']
  trained = {}

  def train(num_actors, envs_per_actor):
    key = (num_actors, envs_per_actor)
    if key not in trained:
      log(f'[end_to_end] training {num_actors} actor(s) x {envs_per_actor} '
          f'env(s) for {seconds:.0f} s after start-up ...')
      done = trained[key] = run_training(
          num_actors, envs_per_actor, seconds, progress_secs, warmup_fraction,
          extra_flags, startup_timeout)
      log(f'[end_to_end]   -> {_fmt(done.get("fps_median"))} frames/s '
          f'(start-up {_fmt(done.get("startup_secs"))} s)' +
          (f' ERROR: {done["error"].splitlines()[0]}' if 'error' in done
           else ''))
    return trained[key]

  for n in actor_counts:
    log(f'[end_to_end] env-only: {n} process(es) x {envs} env(s), random '
        f'actions, {env_seconds:.0f} s ...')
    only = env_only.env_only_throughput(n, envs, env_seconds, repeats)
    log(f'[end_to_end]   -> {_fmt(only.get("fps"))} frames/s')
    training = train(n, envs)
    out['actors'][str(n)] = dict(
        training=training, env_only=only,
        training_over_env_only=_ratio(training.get('fps_median'),
                                      only.get('fps')))
  for k in envs_per_actor_sweep:
    out['envs_per_actor'][str(k)] = train(SWEEP_NUM_ACTORS, k)
  return out


def summary_lines(result: Dict[str, object]) -> List[str]:
  """A readable table of `run()`'s result."""
  protocol = result.get('protocol', {})
  lines = [
      f'End-to-end {protocol.get("level_name", "?")} training '
      f'({protocol.get("torso", "?")} torso, batch '
      f'{protocol.get("batch_size", "?")}, unroll '
      f'{protocol.get("unroll_length", "?")}; median env frames/s over the '
      'steady state):',
      f'  {"actors":>6} {"envs":>4} {"train fps":>10} {"(window)":>10} '
      f'{"env-only":>10} {"ratio":>6} {"learner MiB":>11} {"actor MiB":>9} '
      f'{"start-up s":>10}']
  for n, entry in result.get('actors', {}).items():
    training, env_only = entry['training'], entry['env_only']
    ratio = entry.get('training_over_env_only')
    lines.append(
        f'  {n:>6} {training["envs_per_actor"]:>4} '
        f'{_fmt(training.get("fps_median")):>10} '
        f'{_fmt(training.get("fps_window_mean")):>10} '
        f'{_fmt(env_only.get("fps")):>10} '
        f'{"n/a" if ratio is None else f"{ratio:.2f}":>6} '
        f'{_fmt(training.get("learner_peak_rss_mib")):>11} '
        f'{_fmt(training.get("actor_peak_rss_mib")):>9} '
        f'{_fmt(training.get("startup_secs")):>10}')
  sweep = result.get('envs_per_actor', {})
  if sweep:
    lines.append(f'  envs_per_actor with {protocol.get("sweep_num_actors")} '
                 'actors: ' + ', '.join(
                     f'{k}: {_fmt(v.get("fps_median"))}'
                     for k, v in sweep.items()) + ' frames/s')
  errors = [f'{n} actors: {e["training"]["error"].splitlines()[0]}'
            for n, e in result.get('actors', {}).items()
            if 'error' in e['training']]
  errors += [f'{k} envs/actor: {v["error"].splitlines()[0]}'
             for k, v in sweep.items() if 'error' in v]
  lines += [f'  ERROR {e}' for e in errors]
  return lines


def _int_list(text: str) -> List[int]:
  try:
    values = [int(x) for x in text.split(',') if x.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f'expected comma-separated integers, got {text!r}') from None
  if not values or min(values) < 1:
    raise argparse.ArgumentTypeError(
        f'expected integers >= 1, got {text!r}')
  return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """The end-to-end options (shared with `bench.run`)."""
  parser.add_argument('--seconds', type=float, default=DEFAULT_SECONDS,
                      help='wall time of each training run after its '
                      'start-up (default %(default)s).')
  parser.add_argument('--startup_timeout', type=float,
                      default=DEFAULT_STARTUP_TIMEOUT_SECS,
                      help='a run without a progress line this long after '
                      'its launch has failed (default %(default)s).')
  parser.add_argument('--env_seconds', type=float,
                      default=DEFAULT_ENV_SECONDS,
                      help='duration of each env-only measurement (capped '
                      'at --seconds; default %(default)s).')
  parser.add_argument('--progress_secs', type=float,
                      default=DEFAULT_PROGRESS_SECS,
                      help='--progress_secs of the training runs (default '
                      '%(default)s).')
  parser.add_argument('--warmup_fraction', type=float,
                      default=DEFAULT_WARMUP_FRACTION,
                      help='fraction of the first progress lines left out '
                      '(default %(default)s).')
  parser.add_argument('--actors', type=_int_list, default=list(ACTOR_COUNTS),
                      help='actor counts to measure (default 1,2,4).')
  parser.add_argument('--envs_per_actor_sweep', type=_int_list,
                      default=list(ENVS_PER_ACTOR_SWEEP),
                      help=f'envs_per_actor values to measure with '
                      f'{SWEEP_NUM_ACTORS} actors (default 1,2,4).')


def check_arguments(args: argparse.Namespace) -> None:
  """Raises SystemExit naming the bad option."""
  if min(args.seconds, args.env_seconds, args.progress_secs,
         args.startup_timeout) <= 0:
    raise SystemExit('--seconds, --env_seconds, --progress_secs and '
                     '--startup_timeout must be > 0.')
  if not 0.0 <= args.warmup_fraction < 1.0:
    raise SystemExit('--warmup_fraction must be in [0, 1).')
  if args.progress_secs * 3 > args.seconds:
    raise SystemExit(f'--seconds={args.seconds} leaves no room for a '
                     f'steady state at --progress_secs={args.progress_secs}.')


def run_from_args(args: argparse.Namespace, log=print) -> Dict[str, object]:
  return run(seconds=args.seconds, env_seconds=args.env_seconds,
             progress_secs=args.progress_secs,
             warmup_fraction=args.warmup_fraction, actor_counts=args.actors,
             envs_per_actor_sweep=args.envs_per_actor_sweep,
             startup_timeout=args.startup_timeout, log=log)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m bench.throughput', description=__doc__.split('\n')[0])
  add_arguments(parser)
  parser.add_argument('--out', default='',
                      help='also write the result as JSON to this path.')
  args = parser.parse_args(argv)
  check_arguments(args)
  result = run_from_args(args)
  print('\n'.join(summary_lines(result)))
  if args.out:
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
      json.dump(result, f, indent=2, sort_keys=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
