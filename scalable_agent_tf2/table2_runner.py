"""`python -m scalable_agent_tf2.table2_runner`: the runs behind Table 2.

Table 2 of the paper (§5.2.2) compares the off-policy corrections (V-trace,
1-step importance sampling, epsilon-correction, no correction) without and
with experience replay on five DMLab tasks, each cell the mean final return
of the best 3 of several hyperparameter settings. `train` trains every
(setting, level, correction, replay) run into

  <root>/<correction>[_replay]/<level>/setting_<k>/

the layout `scalable_agent_tf2.paper.table2` reads (`make table2 ROOT=...`),
through `scalable_agent_tf2.jobs` (N at a time, one log per run, Ctrl-C stops
all). A run whose latest checkpoint reached the budget is skipped; any other
resumes from its checkpoint. Setting k is the same for every level and
correction: with `--sweep=table_d1` its entropy cost, learning rate and RMSProp
epsilon are drawn from Table D.1's ranges (docs/impala.md §4) by a generator
seeded with (SWEEP_SEED, k); with `--sweep=none` the suite's preset values are
used. Setting k also trains with --seed=k+1. The defaults are the paper's
protocol (§5.2, docs/replay.md): 24 settings of 1e9 frames, shallow torso,
48 actors of one environment, batch 32, 4 corrections x {no replay, replay}
x the 5 tasks (960 runs); `--dry_run` prints the grid. `render` writes the
table (one column pair per level found, Atari levels too) and marks every
cell short of that protocol. Suite-agnostic: the suite of the levels is
found through the suite registry.
"""

import argparse
import contextlib
import os
import shlex
import sys
import time
from typing import Dict, List, NamedTuple, Sequence

import numpy as np

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import jobs
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2 import suites
from scalable_agent_tf2.paper import published
from scalable_agent_tf2.runtime import processes

CORRECTIONS = tuple(published.TABLE2_CORRECTIONS)
DEFAULT_LEVELS = tuple(published.TABLE2_LEVELS)
# The paper's replay buffer (§5.2.2): 10,000 unrolls, half of every batch.
PAPER_REPLAY_CAPACITY = 10000
PAPER_REPLAY_PROPORTION = 0.5
# Table D.1: (low, high) sampled log-uniformly, or a set sampled uniformly.
TABLE_D1 = {'entropy_cost': (5e-5, 1e-2), 'learning_rate': (5e-6, 5e-3),
            'epsilon': (1e-1, 1e-3, 1e-5, 1e-7)}
SWEEPS = ('table_d1', 'none')
SWEEP_SEED = 20180209  # Fixed: setting k is the same on every machine.
SETTINGS_FILE = 'table2_settings.json'
TRAIN_LOG = 'table2_train.log'
LOCK_FILE = '.table2_train.lock'
EXIT_FAILED = 1
# Chosen by the runner; in --extra they would contradict it.
RESERVED = ('env', 'level_name', 'logdir', 'total_environment_frames',
            'correction', 'seed', 'mode', 'job_name', 'replay_capacity',
            'replay_proportion', 'torso', 'num_actors', 'envs_per_actor',
            'batch_size')


class Run(NamedTuple):
  name: str  # <correction>[_replay]/<level>/setting_<k>
  level: str
  correction: str
  replay: bool
  setting: int
  logdir: str


def _log(message: str) -> None:
  print('[table2 %s] %s' % (time.strftime('%H:%M:%S'), message), flush=True)


def sample_setting(index: int, sweep: str = 'table_d1') -> Dict[str, float]:
  """Hyperparameters of setting `index` (empty for --sweep=none)."""
  if sweep == 'none':
    return {}
  rng = np.random.default_rng([SWEEP_SEED, index])
  values = {}
  for name, choices in TABLE_D1.items():
    if name == 'epsilon':
      values[name] = float(choices[int(rng.integers(len(choices)))])
    else:
      low, high = np.log(choices[0]), np.log(choices[1])
      values[name] = float(np.exp(rng.uniform(low, high)))
  return values


def setting_name(index: int) -> str:
  return 'setting_%d' % index


def run_logdir(root: str, correction: str, replay: bool, level: str,
               index: int) -> str:
  """The directory `paper.table2.discover_table2_runs` finds the run in."""
  return os.path.join(root, correction + ('_replay' if replay else ''), level,
                      setting_name(index))


def detect_env(levels: Sequence[str]) -> str:
  """The first suite of the registry that accepts every level."""
  for env in suites.names():
    try:
      for level in levels:
        config_lib.Config(env=env, level_name=level).resolve().validate()
    except config_lib.ConfigError:
      continue
    return env
  raise SystemExit('No suite accepts all of the levels %s; pass --env.'
                   % ' '.join(levels))


def plan(args) -> List[Run]:
  """Every run, setting by setting (so early settings cover every cell)."""
  runs = []
  for k in range(args.settings):
    for level in args.levels:
      for correction in args.corrections:
        for replay in args.replay_modes:
          logdir = run_logdir(args.root, correction, replay, level, k)
          runs.append(Run(os.path.relpath(logdir, args.root), level,
                          correction, replay, k, logdir))
  return runs


def train_command(args, run: Run) -> List[str]:
  """argv of one run: the runner's flags, the setting's, then --extra."""
  values = dict(env=args.env, level_name=run.level, logdir=run.logdir,
                total_environment_frames=args.frames,
                correction=run.correction, seed=run.setting + 1,
                replay_capacity=args.replay_capacity if run.replay else 0,
                torso=args.torso, num_actors=args.num_actors,
                envs_per_actor=args.envs_per_actor,
                batch_size=args.batch_size)
  if run.replay:
    values['replay_proportion'] = args.replay_proportion
  values.update(sample_setting(run.setting, args.sweep))
  return config_lib.experiment_command(config_lib.to_flags(values) +
                                       list(args.extra))


def checkpoint_frames(logdir: str):
  """Frames of the run's latest checkpoint, None if it has none."""
  if not os.path.exists(os.path.join(run_dir.checkpoint_dir(logdir),
                                     'checkpoint')):
    return None  # No TensorFlow import for runs not started.
  from scalable_agent_tf2.runtime import checkpoints  # pylint: disable=g-import-not-at-top
  path = checkpoints.latest_checkpoint(logdir)
  try:
    return checkpoints.checkpoint_frames(path) if path else None
  except checkpoints.CheckpointError as e:
    _log('%s: %s (the run restores an older checkpoint or refuses).'
         % (logdir, e))
    return None


def _record_settings(args) -> None:
  """Writes the settings into the root; refuses a root sampled otherwise."""
  path = os.path.join(args.root, SETTINGS_FILE)
  current = {setting_name(k): sample_setting(k, args.sweep)
             for k in range(args.settings)}
  saved = run_dir.read_json_if_exists(path) or {}
  if saved.get('sweep', args.sweep) != args.sweep or any(
      saved.get('settings', {}).get(k, v) != v for k, v in current.items()):
    raise SystemExit(f'{path} records other settings (sweep '
                     f'{saved.get("sweep")!r}); use another --root.')
  merged = dict(saved.get('settings', {}), **current)
  run_dir.write_json_atomic(path, {'sweep': args.sweep,
                                   'sweep_seed': SWEEP_SEED,
                                   'settings': merged})


def _jobs(args, runs, frames) -> List[jobs.Job]:
  todo = []
  for i, run in enumerate(runs, 1):
    where = '[%d/%d] %s' % (i, len(runs), run.name)
    if frames[run.name] is not None and frames[run.name] >= args.frames:
      _log('%s: finished (%d frames), skipped.' % (where, frames[run.name]))
      continue
    argv = train_command(args, run)
    state = ('resuming at %d frames' % frames[run.name]
             if frames[run.name] is not None else 'new')
    if args.dry_run:
      _log('%s: would run (%s): %s' % (where, state, shlex.join(argv)))
      continue
    todo.append(jobs.Job(run.name, argv, os.path.join(run.logdir, TRAIN_LOG),
                         '%s: training (%s) in %s.' % (where, state,
                                                        run.logdir)))
  return todo


def _summary(args, runs, codes) -> int:
  failed = []
  interrupted = jobs.interrupted_exit(codes)
  _log('Summary (%s):' % args.root)
  for run in runs:
    frames = checkpoint_frames(run.logdir)
    if frames is not None and frames >= args.frames:
      outcome = 'finished' if run.name in codes else 'already finished'
    elif codes.get(run.name) is None:
      outcome = 'not run (interrupted)' if run.name in codes else 'not run'
    elif interrupted is not None:
      outcome = 'stopped by the interrupt (%s), resumable' % (
          processes.describe_exit(codes[run.name]))
    else:
      outcome = 'FAILED (%s; see %s)' % (
          processes.describe_exit(codes[run.name]),
          os.path.join(run.logdir, TRAIN_LOG))
      failed.append(run.name)
    _log('  %-50s %10s frames  %s' % (run.name, frames, outcome))
  if interrupted is not None:
    _log('Interrupted; rerun the same command to resume.')
    return interrupted
  if failed:
    _log('%d of %d run(s) failed: %s.' % (len(failed), len(runs),
                                         ', '.join(failed)))
    return EXIT_FAILED
  return 0


def _log_protocol(args) -> None:
  """Says where the grid departs from the paper's Table 2 protocol."""
  paper = dict(
      settings=published.TABLE2_SETTINGS, frames=published.TABLE2_FRAMES,
      torso=published.TABLE2_TORSO, num_actors=published.TABLE2_ACTORS,
      envs_per_actor=1, batch_size=published.TABLE2_BATCH_SIZE,
      levels=list(DEFAULT_LEVELS), corrections=list(CORRECTIONS),
      replay_modes=(False, True), sweep='table_d1')
  differ = [f'{name} {getattr(args, name)!r} (paper: {value!r})'
            for name, value in paper.items() if getattr(args, name) != value]
  _log('Not the paper\'s protocol: %s.' % '; '.join(differ) if differ else
       'The paper\'s protocol (§5.2): 24 Table D.1 settings per cell.')


def train(args) -> int:
  runs = plan(args)
  lock = (contextlib.nullcontext() if args.dry_run else
          jobs.root_lock(args.root, LOCK_FILE, 'table2_runner train'))
  with lock:
    if not args.dry_run:
      _record_settings(args)
    frames = {run.name: checkpoint_frames(run.logdir) for run in runs}
    _log('Root %s: %d run(s) (%d setting(s) x %d level(s) x %d '
         'correction(s) x %s), %d frames each, env %s, sweep %s; %s torso, '
         '%d actors x %d env(s), batch %d.' % (
             args.root, len(runs), args.settings, len(args.levels),
             len(args.corrections),
             '/'.join('replay' if r else 'no replay'
                      for r in args.replay_modes), args.frames, args.env,
             args.sweep, args.torso, args.num_actors, args.envs_per_actor,
             args.batch_size))
    _log_protocol(args)
    todo = _jobs(args, runs, frames)
    if args.dry_run:
      return 0
    codes = jobs.run_jobs(todo, args.parallel, echo=not args.quiet, log=_log)
  return _summary(args, runs, codes)


# -- Rendering -------------------------------------------------------------------


def render(args) -> int:
  """Table 2 with one column pair per level (the given or the found ones)."""
  from scalable_agent_tf2.paper import tables  # pylint: disable=g-import-not-at-top
  runs, _ = tables.discover_table2_runs(args.root)
  found = {level for (_, _, level) in runs}
  levels = args.levels or (
      [level for level in DEFAULT_LEVELS if level in found] +
      sorted(found - set(DEFAULT_LEVELS)) or list(DEFAULT_LEVELS))
  result = tables.table2(args.root, levels=levels,
                         last_fraction=args.last_fraction)
  markdown = tables.render_markdown(result)
  sys.stdout.write(markdown)
  if args.out:
    run_dir.write_text_atomic(args.out, markdown)
  if args.csv_dir:
    for table in result:
      run_dir.write_text_atomic(os.path.join(args.csv_dir, table.name + '.csv'),
                                tables.render_csv(table))
  return 0


# -- Command line ----------------------------------------------------------------


def _words(text: str) -> List[str]:
  return text.replace(',', ' ').split()


def _positive(text: str) -> int:
  value = int(text)
  if value < 1:
    raise argparse.ArgumentTypeError('must be >= 1, got %s' % text)
  return value


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m scalable_agent_tf2.'
                                   'table2_runner', description=__doc__.split(
                                       '\n')[0])
  sub = parser.add_subparsers(dest='command', required=True)
  p = sub.add_parser('train', help='Train the Table 2 runs (resumable).')
  p.add_argument('--root', required=True)
  p.add_argument('--levels', default='', help='Space/comma separated; '
                 'default the five Table 2 DMLab tasks.')
  p.add_argument('--env', default='', help='Suite (default: the first in '
                 'the registry that accepts every level).')
  p.add_argument('--settings', type=_positive,
                 default=published.TABLE2_SETTINGS,
                 help='Hyperparameter settings per cell (paper: 24).')
  p.add_argument('--frames', type=_positive, default=published.TABLE2_FRAMES,
                 help='Environment frames per run (fresh frames with replay; '
                 'paper: 1e9).')
  p.add_argument('--torso', choices=config_lib.TORSOS,
                 default=published.TABLE2_TORSO,
                 help='Network of every run (paper: shallow, §5.2).')
  p.add_argument('--num_actors', type=_positive,
                 default=published.TABLE2_ACTORS,
                 help='Actors of every run (paper: 48); the policy lag that '
                 'Table 2 studies grows with them.')
  p.add_argument('--envs_per_actor', type=_positive, default=1,
                 help='Environments per actor (paper: 1).')
  p.add_argument('--batch_size', type=_positive,
                 default=published.TABLE2_BATCH_SIZE,
                 help='Learner batch of every run (paper: 32).')
  p.add_argument('--sweep', choices=SWEEPS, default='table_d1')
  p.add_argument('--corrections', default=' '.join(CORRECTIONS))
  p.add_argument('--replay', choices=('both', 'off', 'on'), default='both')
  p.add_argument('--replay_capacity', type=_positive,
                 default=PAPER_REPLAY_CAPACITY)
  p.add_argument('--replay_proportion', type=float,
                 default=PAPER_REPLAY_PROPORTION)
  p.add_argument('--parallel', type=_positive, default=1)
  p.add_argument('--extra', default='', help='More experiment flags.')
  p.add_argument('--dry_run', action='store_true')
  p.add_argument('--quiet', action='store_true', help='Do not echo the runs.')
  p = sub.add_parser('render', help='Table 2 of a root, any levels.')
  p.add_argument('--root', required=True)
  p.add_argument('--levels', default='')
  p.add_argument('--last_fraction', type=float, default=0.1)
  p.add_argument('--out', default='')
  p.add_argument('--csv_dir', default='')
  p = sub.add_parser('summary', help='Final returns, lags and curves of '
                     'every run (scalable_agent_tf2/table2_summary.py).')
  p.add_argument('--root', required=True)
  p.add_argument('--out_dir', required=True)
  p.add_argument('--last_fraction', type=float, default=0.1)
  p.add_argument('--window', type=_positive, default=20,
                 help='Moving-average window of the curves, in episodes.')
  return parser


def parse_args(argv: Sequence[str]):
  """Parsed and checked arguments (SystemExit with a message if bad)."""
  args = _parser().parse_args(argv)
  if args.command == 'summary':
    return args
  args.levels = _words(args.levels)
  if args.command == 'render':
    return args
  args.levels = args.levels or list(DEFAULT_LEVELS)
  args.corrections = _words(args.corrections)
  unknown = sorted(set(args.corrections) - set(CORRECTIONS))
  if unknown or not args.corrections:
    raise SystemExit('--corrections: %s not among %s.' % (
        ' '.join(unknown) or '(none)', ' '.join(CORRECTIONS)))
  args.replay_modes = {'both': (False, True), 'off': (False,),
                       'on': (True,)}[args.replay]
  try:
    args.extra = config_lib.parse_extra(args.extra, reserved=RESERVED)
  except config_lib.ConfigError as e:
    raise SystemExit('--extra: %s' % e) from None
  swept = [n for n in TABLE_D1 if args.sweep == 'table_d1' and
           config_lib.extra_flag_value(args.extra, n) is not None]
  if swept:
    raise SystemExit('--extra sets %s, which --sweep=table_d1 samples; use '
                     '--sweep=none to set them.' % ', '.join(swept))
  args.env = args.env or detect_env(args.levels)
  return args


def main(argv: Sequence[str]) -> int:
  args = parse_args(argv)
  if args.command == 'summary':
    from scalable_agent_tf2 import table2_summary  # pylint: disable=g-import-not-at-top
    for path in table2_summary.write_summary(args.root, args.out_dir,
                                             args.last_fraction, args.window):
      print(path)
    return 0
  return render(args) if args.command == 'render' else train(args)


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
