r"""The Atari-57 suite driver: train the 57 experts (or one multi-task agent),
evaluate them, and write the suite table beside the paper's Table 4.

  python -m atari57.suite train --root=logs/atari57 [--games="Pong Breakout"]
      [--frames_per_game=200000000] [--torso=deep] [--parallel=1]
      [--multitask=0] [--extra="--num_actors=8"] [--dry_run] [--quiet]
  python -m atari57.suite eval --root=logs/atari57 [--episodes=200]
      [--games=...] [--multitask=0] [--extra=...] [--strict] [--force]
      [--dry_run] [--quiet]

(`make train-atari57` / `make eval-atari57` call exactly these.)

Layout under --root:
  <root>/<Game>/        one expert per game: a normal experiment logdir
                        (checkpoints/, config.json, progress.jsonl, ...) plus
                        suite_train.log / suite_eval.log, the output of the
                        subprocesses this driver started.
  <root>/multitask/     --multitask=1: one agent on all 57 games (actors take
                        the games round robin, full action set of 18; paper
                        §5.3.2, Appendix G).
  <root>/table4.md      the suite table (eval), with table4.csv and
                        table4_games.csv.

Train. Every game is one `python -m scalable_agent_tf2.experiment --env=atari
--level_name=<Game> --logdir=<root>/<Game> --torso=... \
--total_environment_frames=<frames_per_game> <extra>` subprocess (a local run:
its own learner and actors). Games run one after another, or --parallel=N at a
time; with N > 1 and no --num_actors in --extra each run gets
max(2, cores // N) actors so that N runs do not oversubscribe the machine.

  * Finished = the latest checkpoint's `num_env_frames` >= the budget, read
    with `tf.train.load_checkpoint` (the checkpoint is what evaluation and a
    resume use, so it is the ground truth; an exit status of 0 alone is not:
    a run stopped by a signal also exits cleanly). A rerun skips finished
    games and starts the others; the experiment resumes from the logdir's
    checkpoint by itself, so a bigger --frames_per_game continues training
    from where the checkpoint is (the LR schedule follows the new budget).
  * A game that fails (non-zero exit, or exit 0 short of the budget) is
    reported and the suite goes on; the driver exits with status 1 at the
    end, listing the failed games.
  * --multitask=1: one run with --level_name=atari57 in <root>/multitask/ and
    a budget of frames_per_game x 57 frames: the same 200M frames per game as
    the experts (our reading of the paper, whose Atari scores are all "after
    200M frames" per game; the paper's multi-task agent also used PBT, which
    this driver does not do).
  * One training driver per root at a time (a lock file), so two drivers
    never train the same logdir.

Eval. For every selected game with a checkpoint: `python -m
scalable_agent_tf2.experiment --mode=test --logdir=<root>/<Game> --env=atari
--level_name=<Game> --test_num_episodes=<episodes> <extra>` (multi-task:
`--level_name=atari57`, which tests all 57 games from one checkpoint). Games
without a checkpoint are reported and skipped; a game whose
test_results.json already holds >= episodes for its latest checkpoint is not
re-evaluated (--force does). Then the table: `scalable_agent_tf2.paper.tables.
table4` over every <Game>/test_results.json under the root (the experts) and
<root>/multitask/test_results.json, printed and written to <root>/table4.md;
missing games show as missing, or fail the command with --strict.

--extra is passed through to every experiment subprocess (after the driver's
own flags; a --torso there replaces --torso). Flags that define the suite's
layout or budget (--env, --level_name, --logdir, --mode, --job_name, --task,
--total_environment_frames, --test_num_episodes) are refused there, and so
are flags the experiment does not define: use the driver's options.

Ctrl-C / SIGTERM: the running run(s) get SIGTERM (a training run's learner
writes a final checkpoint), no further game starts, the exit status is
128 + signal; rerunning the same command resumes. If the driver is killed
outright its runs get SIGTERM too (PR_SET_PDEATHSIG).

Exit status: 0 all good; 1 failed games or evaluations (listed at the end),
or --strict with missing games; 2 bad input (unknown game, bad --extra).
"""

import argparse
import contextlib
import ctypes
import ctypes.util
import dataclasses
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

import atari57

# Entry point of every run the suite starts.
EXPERIMENT_MODULE = 'scalable_agent_tf2.experiment'
# The multi-task pseudo level (config.MULTI_TASK_LEVELS['atari']) and its dir.
MULTITASK_LEVEL = 'atari57'
MULTITASK_DIR = 'multitask'
# Same as scalable_agent_tf2.runtime.checkpoints.CHECKPOINT_DIR (not imported:
# that module imports TensorFlow).
CHECKPOINT_DIR = 'checkpoints'
# Same as scalable_agent_tf2.evaluation.RESULTS_FILE.
RESULTS_FILE = 'test_results.json'
TRAIN_LOG = 'suite_train.log'
EVAL_LOG = 'suite_eval.log'
LOCK_FILE = '.suite_train.lock'
TABLE_MARKDOWN = 'table4.md'
# Flags of the experiment that the driver sets itself (layout and budget).
RESERVED_FLAGS = {
    'env': 'the suite is Atari',
    'level_name': 'use --games (or --multitask=1)',
    'logdir': 'the suite puts each game in <root>/<Game>; use --root',
    'mode': 'use the train / eval commands',
    'job_name': 'the suite starts local runs',
    'task': 'the suite starts local runs',
    'total_environment_frames': 'use --frames_per_game (the driver needs the '
                                'budget to tell finished games)',
    'test_num_episodes': 'use --episodes',
}
EXIT_FAILED = 1


class SuiteError(ValueError):
  """Bad driver input (unknown game, bad --extra, ...)."""


def _log(message: str) -> None:
  print('[atari57.suite %s] %s' % (time.strftime('%H:%M:%S'), message),
        flush=True)


# --- Parsing ------------------------------------------------------------------


def parse_games(text: Optional[str]) -> List[str]:
  """The games named in `text` (space/comma separated), canonical spelling.

  Empty (or only separators) means all 57 games, in atari57.GAMES order;
  otherwise the user's order is kept and duplicates are dropped.

  Raises:
    SuiteError: unknown names (the message lists them and the valid names).
  """
  names = [n for n in re.split(r'[\s,]+', text or '') if n]
  if not names:
    return list(atari57.GAMES)
  games, unknown = [], []
  for name in names:
    try:
      game = atari57.canonical_game_name(name)
    except ValueError:
      unknown.append(name)
      continue
    if game not in games:
      games.append(game)
  if unknown:
    raise SuiteError('Unknown Atari-57 game(s): %s. Valid names: %s.' % (
        ', '.join(repr(n) for n in unknown), ', '.join(atari57.GAMES)))
  return games


def _flag_name(token: str) -> str:
  return token.lstrip('-').split('=', 1)[0]


def _experiment_flag_names() -> Optional[set]:
  """Flags the experiment defines (plus absl's), or None if unavailable."""
  try:
    # Defines the experiment's absl flags; imports no TensorFlow.
    from scalable_agent_tf2 import experiment  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return set(experiment.FLAGS)


def parse_extra(text: Optional[str]) -> List[str]:
  """Splits --extra into flags for the experiment, refusing reserved ones.

  Every token must be a flag (`--name=value`, or `--name` / `--noname` for a
  boolean); a bare word is refused because it would make every run fail.

  Raises:
    SuiteError: a token that is not a flag, an unknown flag, or a flag the
      driver sets itself (RESERVED_FLAGS).
  """
  try:
    tokens = shlex.split(text or '')
  except ValueError as e:
    raise SuiteError('--extra=%r cannot be split: %s.' % (text, e)) from None
  known = _experiment_flag_names()
  for token in tokens:
    if not token.startswith('-') or not _flag_name(token):
      raise SuiteError(
          '--extra: %r is not a flag; write the experiment\'s flags as '
          '--name=value (e.g. --extra="--num_actors=2 --batch_size=4").'
          % token)
    name = _flag_name(token)
    # `--noflag` is absl's false for a boolean `--flag`.
    candidates = [name] + ([name[2:]] if name.startswith('no') else [])
    reserved = [c for c in candidates if c in RESERVED_FLAGS]
    if reserved:
      raise SuiteError('--extra may not set --%s: %s.' % (
          reserved[0], RESERVED_FLAGS[reserved[0]]))
    if known is not None and not any(c in known for c in candidates):
      raise SuiteError('--extra: the experiment has no flag --%s (see python '
                       '-m %s --helpfull).' % (name, EXPERIMENT_MODULE))
  return tokens


def extra_flag_value(extra: Sequence[str], name: str) -> Optional[str]:
  """The value `extra` gives flag `name` (the last one wins, as in absl).

  Returns None when `extra` does not set it; 'true' / 'false' for a bare
  boolean `--name` / `--noname`.
  """
  value = None
  for token in extra:
    flag, sep, text = token.lstrip('-').partition('=')
    if flag == name:
      value = text if sep else 'true'
    elif flag == 'no' + name and not sep:
      value = 'false'
  return value


def _parse_bool(text: str) -> bool:
  value = str(text).strip().lower()
  if value in ('1', 'true', 'yes', 'on'):
    return True
  if value in ('0', 'false', 'no', 'off', ''):
    return False
  raise argparse.ArgumentTypeError('expected 0 or 1, got %r' % text)


def _positive_int(text: str) -> int:
  """An integer >= 1; '2e8' is accepted for 200000000."""
  try:
    value = int(text)
  except ValueError:
    try:
      number = float(text)
    except ValueError:
      number = float('nan')
    value = (int(number) if math.isfinite(number) and number == int(number)
             else 0)
  if value < 1:
    raise argparse.ArgumentTypeError('expected an integer >= 1, got %r' % text)
  return value


# --- Command lines ------------------------------------------------------------


def game_logdir(root: str, game: str) -> str:
  return os.path.join(root, game)


def multitask_logdir(root: str) -> str:
  return os.path.join(root, MULTITASK_DIR)


def multitask_budget(frames_per_game: int) -> int:
  """Total frames of the multi-task run: the experts' budget per game."""
  return frames_per_game * len(atari57.GAMES)


def _experiment() -> List[str]:
  return [sys.executable, '-m', EXPERIMENT_MODULE]


def train_command(level: str, logdir: str, frames: int, torso: str,
                  extra: Sequence[str] = (),
                  num_actors: Optional[int] = None) -> List[str]:
  """argv of one training run (an expert, or level 'atari57' = multi-task).

  `extra` comes last; a --torso there replaces the driver's `torso`.
  """
  argv = _experiment() + [
      '--env=atari', '--level_name=%s' % level, '--logdir=%s' % logdir,
      '--total_environment_frames=%d' % frames]
  if extra_flag_value(extra, 'torso') is None:
    argv.append('--torso=%s' % torso)
  # The suite reproduces the paper: Table G.1, not the small-machine preset.
  if extra_flag_value(extra, 'preset') is None:
    argv.append('--preset=paper')
  if num_actors is not None:
    argv.append('--num_actors=%d' % num_actors)
  return argv + list(extra)


def eval_command(level: str, logdir: str, episodes: int,
                 extra: Sequence[str] = ()) -> List[str]:
  """argv of one --mode=test run (level 'atari57' tests all 57 games)."""
  # The network's shape (torso, ...) comes from the run's config.json.
  return _experiment() + [
      '--mode=test', '--env=atari', '--level_name=%s' % level,
      '--logdir=%s' % logdir, '--test_num_episodes=%d' % episodes
  ] + list(extra)


def actors_per_run(parallel: int, extra: Sequence[str],
                   cpu_count: Optional[int] = None) -> Optional[int]:
  """--num_actors for each of `parallel` simultaneous runs, or None.

  None (leave the experiment's default of one actor per core) when one run at
  a time, or when the user set --num_actors in --extra. Otherwise the cores
  are shared: max(2, cores // parallel) (2 = the experiment's minimum).
  """
  if parallel <= 1 or extra_flag_value(extra, 'num_actors') is not None:
    return None
  cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
  return max(2, cores // parallel)


# --- Run state ----------------------------------------------------------------


def checkpoint_frames(logdir: str) -> Optional[int]:
  """`num_env_frames` of the latest checkpoint in `logdir`, None if none.

  Raises:
    SuiteError: the latest checkpoint exists but cannot be read.
  """
  directory = os.path.join(logdir, CHECKPOINT_DIR)
  if not os.path.exists(os.path.join(directory, 'checkpoint')):
    return None  # Cheap path: no TensorFlow import for untrained games.
  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import checkpoints
  path = checkpoints.latest_checkpoint(logdir)
  if not path:
    return None
  try:
    return checkpoints.checkpoint_frames(path)
  except checkpoints.CheckpointError as e:
    raise SuiteError(str(e)) from None


def _read_json(path: str) -> Optional[dict]:
  try:
    with open(path, encoding='utf-8') as f:
      value = json.load(f)
  except (OSError, ValueError):
    return None
  return value if isinstance(value, dict) else None


@dataclasses.dataclass
class RunStatus:
  """Where one training run stands.

  Attributes:
    logdir: the run's directory.
    budget: frames it must reach.
    frames: the latest checkpoint's frame counter (None: no checkpoint, or
      one that cannot be read).
    problem: why the run must not be started (a run of another torso in the
      logdir), or None.
    note: something to say about the run (an unreadable checkpoint: the
      experiment then restores an older one or refuses), or None.
  """
  logdir: str
  budget: int
  frames: Optional[int] = None
  problem: Optional[str] = None
  note: Optional[str] = None

  @property
  def finished(self) -> bool:
    return (self.problem is None and self.frames is not None and
            self.frames >= self.budget)

  def describe(self) -> str:
    if self.problem:
      return self.problem
    if self.note:
      return self.note
    if self.frames is None:
      return 'new run'
    if self.finished:
      return 'finished (%s of %s frames)' % (
          _human(self.frames), _human(self.budget))
    return 'resuming at %s of %s frames' % (
        _human(self.frames), _human(self.budget))


def run_status(logdir: str, budget: int,
               torso: Optional[str] = None) -> RunStatus:
  """Reads a run's state: its checkpoint's frames and its saved torso.

  Args:
    logdir: the run's directory (need not exist).
    budget: frames the run must reach to count as finished.
    torso: the torso this suite trains; a logdir holding a run of another
      torso is a problem (the experiment would refuse to resume it, and a
      finished one would otherwise be skipped silently and mix into the
      suite's table).
  """
  status = RunStatus(logdir, budget)
  try:
    status.frames = checkpoint_frames(logdir)
  except SuiteError as e:
    status.note = '%s; the experiment will try older checkpoints' % e
  saved = _read_json(os.path.join(logdir, 'config.json')) or {}
  if torso and saved.get('torso') not in (None, torso):
    status.problem = ('%s holds a --torso=%s run, not %s; use another --root '
                      'or the same torso' % (logdir, saved['torso'], torso))
  return status


def results_up_to_date(logdir: str, episodes: int, levels: Sequence[str],
                       frames: Optional[int]) -> bool:
  """Whether test_results.json already evaluates the latest checkpoint.

  True when it was written for a checkpoint with `frames` frames and holds
  at least `episodes` episodes of every level in `levels`.
  """
  results = _read_json(os.path.join(logdir, RESULTS_FILE))
  if not results or frames is None or results.get('frames') != frames:
    return False
  returns = results.get('level_returns')
  if not isinstance(returns, dict):
    return False
  return all(isinstance(returns.get(level), list) and
             len(returns[level]) >= episodes for level in levels)


def _human(n: Optional[float]) -> str:
  if n is None:
    return '-'
  for unit, scale in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
    if abs(n) >= scale:
      return '%g%s' % (round(n / scale, 2), unit)
  return str(int(n))


# --- Running subprocesses -----------------------------------------------------


@dataclasses.dataclass
class Job:
  """One subprocess of the suite.

  Attributes:
    name: the game (or 'multitask'); prefixes its echoed output.
    argv: the command line.
    log_path: where its stdout+stderr are appended.
    label: what the start line says, e.g. '[3/57] Pong: training ...'.
  """
  name: str
  argv: List[str]
  log_path: str
  label: str = ''


_PR_SET_PDEATHSIG = 1
_LIBC = None


def _preexec():
  # Runs in the child between fork and exec: if the driver dies, the run gets
  # SIGTERM (a launcher then stops its learner, which saves a checkpoint)
  # instead of training on unsupervised.
  if _LIBC is not None:
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _Running:
  """A started job: the process and the thread copying its output."""

  def __init__(self, job: Job, echo: bool, lock: threading.Lock):
    global _LIBC
    if _LIBC is None and sys.platform.startswith('linux'):
      # Loaded in the parent: dlopen between fork and exec can deadlock.
      _LIBC = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    self.job = job
    os.makedirs(os.path.dirname(job.log_path) or '.', exist_ok=True)
    self._log = open(job.log_path, 'ab')
    self._log.write(('\n=== %s %s\n' % (time.strftime('%Y-%m-%d %H:%M:%S'),
                                         shlex.join(job.argv))).encode())
    self._log.flush()
    env = dict(os.environ)
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    env['PYTHONUNBUFFERED'] = '1'
    # A session of its own: a Ctrl-C reaches only the driver, which then
    # stops each run once, cleanly (SIGTERM to the run's process group).
    self.proc = subprocess.Popen(
        job.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, env=env, start_new_session=True,
        preexec_fn=_preexec if _LIBC is not None else None)
    self._echo, self._lock = echo, lock
    self._thread = threading.Thread(target=self._pump, daemon=True,
                                    name='output-' + job.name)
    self._thread.start()

  def _pump(self):
    prefix = '[%s] ' % self.job.name
    for line in iter(self.proc.stdout.readline, b''):
      self._log.write(line)
      self._log.flush()
      if self._echo:
        with self._lock:
          sys.stdout.write(prefix + line.decode('utf-8', 'replace'))
          sys.stdout.flush()

  def signal(self, signum: int) -> None:
    try:
      os.killpg(self.proc.pid, signum)
    except (ProcessLookupError, PermissionError):
      pass

  def finish(self) -> int:
    """Waits for the output to drain; returns the exit code."""
    code = self.proc.wait()
    # Grandchildren that outlive the run keep the pipe open: do not hang.
    self._thread.join(timeout=30.0)
    self.proc.stdout.close()
    self._log.close()
    return code


def run_jobs(jobs: Sequence[Job], parallel: int = 1, echo: bool = True,
             on_exit: Optional[Callable[[Job, int, bool], None]] = None
             ) -> Dict[str, Optional[int]]:
  """Runs `jobs`, at most `parallel` at a time; one failure stops no other.

  On SIGINT/SIGTERM no further job starts and the running ones get SIGTERM
  (the experiment then saves a final checkpoint); a second signal kills them.
  `on_exit(job, exit code, interrupted)` is called as each job ends.

  Returns:
    job name -> exit code (negative: killed by that signal; None: not started
    because the driver was interrupted). A '__signal__' key holds the signal
    number when interrupted.
  """
  pending = list(jobs)
  running: List[_Running] = []
  codes: Dict[str, Optional[int]] = {job.name: None for job in jobs}
  signals: List[int] = []
  output_lock = threading.Lock()

  def on_signal(signum, unused_frame):
    signals.append(signum)
    if len(signals) == 1:
      _log('Got signal %d: stopping the running job(s) (they checkpoint); '
           'no new job starts.' % signum)
    for r in running:
      r.signal(signal.SIGTERM if len(signals) == 1 else signal.SIGKILL)

  in_main_thread = threading.current_thread() is threading.main_thread()
  previous = {}
  if in_main_thread:
    previous = {s: signal.signal(s, on_signal)
                for s in (signal.SIGINT, signal.SIGTERM)}
  try:
    while pending or running:
      while pending and len(running) < parallel and not signals:
        job = pending.pop(0)
        if job.label:
          _log(job.label)
        running.append(_Running(job, echo, output_lock))
      for r in list(running):
        if r.proc.poll() is None:
          continue
        running.remove(r)
        code = r.finish()
        codes[r.job.name] = code
        if on_exit is not None:
          on_exit(r.job, code, bool(signals))
      if signals and not running:
        break
      time.sleep(0.2)
  finally:
    for r in running:  # Only on an exception in this loop.
      r.signal(signal.SIGKILL)
    for s, handler in previous.items():
      signal.signal(s, handler)
  if signals:
    codes['__signal__'] = signals[0]
  return codes


@contextlib.contextmanager
def _root_lock(root: str):
  """Holds <root>/.suite_train.lock; refuses a second training driver."""
  import fcntl  # pylint: disable=g-import-not-at-top
  os.makedirs(root, exist_ok=True)
  with open(os.path.join(root, LOCK_FILE), 'w') as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      raise SystemExit('Another atari57.suite train is running on %s; two '
                       'drivers would train the same logdirs.' % root) from None
    f.write(str(os.getpid()))
    f.flush()
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def _describe_exit(code: Optional[int]) -> str:
  if code is None:
    return 'not run'
  if code < 0:
    try:
      return 'killed by %s' % signal.Signals(-code).name
    except ValueError:
      return 'killed by signal %d' % -code
  return 'exit code %d' % code


def _interrupted_exit(codes) -> Optional[int]:
  signum = codes.get('__signal__')
  return None if signum is None else 128 + signum


# --- train --------------------------------------------------------------------


def _check_multitask_games(args) -> None:
  if args.multitask and args.games.strip():
    games = parse_games(args.games)
    if sorted(games) != sorted(atari57.GAMES):
      raise SuiteError('--multitask=1 trains and tests one agent on all 57 '
                       'games; leave --games empty (got %s).'
                       % ', '.join(games))


def train(args) -> int:
  """`train`: experts one by one (or --parallel), or the multi-task run."""
  games = parse_games(args.games)
  extra = parse_extra(args.extra)
  _check_multitask_games(args)
  torso = extra_flag_value(extra, 'torso') or args.torso
  if args.multitask:
    runs = [(MULTITASK_DIR, MULTITASK_LEVEL, multitask_logdir(args.root),
             multitask_budget(args.frames_per_game))]
  else:
    runs = [(game, game, game_logdir(args.root, game), args.frames_per_game)
            for game in games]

  with (contextlib.nullcontext() if args.dry_run else _root_lock(args.root)):
    statuses = {name: run_status(logdir, budget, torso)
                for name, _, logdir, budget in runs}
    to_run = [r for r in runs if not statuses[r[0]].finished and
              statuses[r[0]].problem is None]
    parallel = max(1, min(args.parallel, len(to_run)))
    num_actors = actors_per_run(parallel, extra)
    _log('Root %s: %d run(s): %d finished, %d to train%s, %d with problems; '
         'torso %s, %s frames per %s.' % (
             args.root, len(runs), sum(s.finished for s in statuses.values()),
             len(to_run), ' (%d at a time, %d actors each)' % (
                 parallel, num_actors) if num_actors else '',
             sum(s.problem is not None for s in statuses.values()), torso,
             _human(runs[0][3]), 'run' if args.multitask else 'game'))
    jobs = []
    for k, (name, level, logdir, budget) in enumerate(runs, 1):
      status = statuses[name]
      where = '[%d/%d] %s' % (k, len(runs), name)
      if status.finished:
        _log('%s: %s, skipped.' % (where, status.describe()))
        continue
      if status.problem:
        _log('%s: FAILED before start: %s.' % (where, status.problem))
        continue
      argv = train_command(level, logdir, budget, args.torso, extra,
                           num_actors)
      log_path = os.path.join(logdir, TRAIN_LOG)
      label = '%s: training, %s, in %s (output also in %s).' % (
          where, status.describe(), logdir, log_path)
      if args.dry_run:
        _log('%s: would run (%s): %s' % (where, status.describe(),
                                         shlex.join(argv)))
        continue
      jobs.append(Job(name, argv, log_path, label))
    if args.dry_run:
      return 0

    outcomes = {}

    def on_exit(job, code, interrupted):
      logdir, budget = next((r[2], r[3]) for r in runs if r[0] == job.name)
      status = run_status(logdir, budget, torso)
      statuses[job.name] = status
      if code == 0 and status.finished:
        outcomes[job.name] = 'trained'
        _log('%s: done, %s.' % (job.name, status.describe()))
      elif interrupted:
        outcomes[job.name] = 'stopped by the interrupt (%s)' % (
            _describe_exit(code))
        _log('%s: stopped, checkpoint at %s of %s frames.' % (
            job.name, _human(status.frames), _human(budget)))
      else:
        reason = (_describe_exit(code) if code != 0 else
                  'exit code 0 but the checkpoint is at %s of %s frames' % (
                      _human(status.frames), _human(budget)))
        outcomes[job.name] = 'FAILED (%s; see %s)' % (reason, job.log_path)
        _log('%s: FAILED: %s. Output: %s. Going on with the other games.'
             % (job.name, reason, job.log_path))

    codes = run_jobs(jobs, args.parallel, echo=not args.quiet,
                     on_exit=on_exit)

  failed = []
  _log('Summary (%s):' % args.root)
  for name, _, logdir, budget in runs:
    status = statuses[name]
    if name in outcomes:
      outcome = outcomes[name]
    elif status.problem:
      outcome = 'FAILED (%s)' % status.problem
    elif status.finished:
      outcome = 'already finished, skipped'
    else:
      outcome = 'not run (interrupted)'
    if outcome.startswith('FAILED'):
      failed.append(name)
    _log('  %-16s %8s frames  %s' % (name, _human(status.frames), outcome))
  interrupted = _interrupted_exit(codes)
  if interrupted is not None:
    _log('Interrupted; rerun the same command to resume.')
    return interrupted
  if failed:
    _log('%d failed: %s.' % (len(failed), ', '.join(failed)))
    return EXIT_FAILED
  return 0


# --- eval ---------------------------------------------------------------------


def _run_label(logdirs: Sequence[str], kind: str) -> str:
  torsos = sorted({str((_read_json(os.path.join(d, 'config.json')) or {})
                       .get('torso', '?')) for d in logdirs})
  return 'Ours, %s, %s' % ('/'.join(torsos) or '?', kind)


def suite_tables(root: str, num_bootstrap: int = 2000, seed: int = 0):
  """Table 4 (summary + per game) of the results under `root`.

  Experts: every <root>/<Game>/test_results.json; multi-task:
  <root>/multitask/test_results.json. Either may be absent (not both).

  Returns:
    (tables, missing): the `tables.Table`s, and the games without results
    of each run present, keyed 'experts' / 'multitask'.

  Raises:
    SuiteError: no test results at all under root.
  """
  from scalable_agent_tf2.paper import tables  # pylint: disable=g-import-not-at-top
  expert_dirs = {g: game_logdir(root, g) for g in atari57.GAMES
                 if os.path.exists(os.path.join(game_logdir(root, g),
                                                RESULTS_FILE))}
  has_multitask = os.path.exists(os.path.join(multitask_logdir(root),
                                              RESULTS_FILE))
  if not expert_dirs and not has_multitask:
    raise SuiteError('No %s under %s: nothing to tabulate.' % (RESULTS_FILE,
                                                               root))
  runs, kinds, sources, missing = [], [], {}, {}
  with tempfile.TemporaryDirectory(prefix='atari57_suite_') as view:
    if expert_dirs:
      # `tables.load_atari_run` reads every <Game>/ dir with results under a
      # root; a view of only the selected games' dirs keeps games outside
      # --games (and the multitask/ run, tabulated on its own) out.
      for game, logdir in expert_dirs.items():
        os.symlink(os.path.abspath(logdir), os.path.join(view, game))
      name = _run_label(list(expert_dirs.values()), 'experts')
      runs.append((name, view))
      kinds.append('experts')
      sources['ours: ' + view] = 'ours: ' + root
    if has_multitask:
      runs.append((_run_label([multitask_logdir(root)], 'multi-task'),
                   multitask_logdir(root)))
      kinds.append('multitask')
    for (_, logdir), kind in zip(runs, kinds):
      have = tables.load_atari_run(logdir)['returns']
      missing[kind] = [g for g in atari57.GAMES if g not in have]
    result = tables.table4(runs, strict=False, num_bootstrap=num_bootstrap,
                           seed=seed)
  summary = result[0]
  source = summary.columns.index('Source')
  for row in summary.rows:
    row[source] = sources.get(row[source], row[source])
  return result, missing


def write_suite_table(root: str, result) -> List[str]:
  """Writes <root>/table4.md and one CSV per table; returns the paths."""
  from scalable_agent_tf2.paper import tables  # pylint: disable=g-import-not-at-top
  paths = [os.path.join(root, TABLE_MARKDOWN)]
  with open(paths[0], 'w', encoding='utf-8') as f:
    f.write(tables.render_markdown(result))
  for table in result:
    paths.append(os.path.join(root, table.name + '.csv'))
    with open(paths[-1], 'w', encoding='utf-8', newline='') as f:
      f.write(tables.render_csv(table))
  return paths


def evaluate(args) -> int:
  """`eval`: test every trained game (or the multi-task run), then Table 4."""
  games = parse_games(args.games)
  extra = parse_extra(args.extra)
  _check_multitask_games(args)
  if args.multitask:
    runs = [(MULTITASK_DIR, MULTITASK_LEVEL, multitask_logdir(args.root),
             list(atari57.GAMES))]
  else:
    runs = [(game, game, game_logdir(args.root, game), [game])
            for game in games]
  jobs, untrained, failed, outcomes = [], [], [], {}
  for k, (name, level, logdir, levels) in enumerate(runs, 1):
    where = '[%d/%d] %s' % (k, len(runs), name)
    try:
      frames = checkpoint_frames(logdir)
    except SuiteError as e:
      _log('%s: FAILED: %s' % (where, e))
      failed.append(name)
      outcomes[name] = 'FAILED (%s)' % e
      continue
    if frames is None:
      _log('%s: no checkpoint in %s, not trained: skipped.' % (where, logdir))
      untrained.append(name)
      continue
    saved = _read_json(os.path.join(logdir, 'config.json')) or {}
    budget = saved.get('total_environment_frames')
    progress = 'checkpoint at %s frames%s' % (_human(frames), (
        ' of %s: training unfinished' % _human(budget)
        if budget and frames < budget else ''))
    if not args.force and results_up_to_date(logdir, args.episodes, levels,
                                             frames):
      _log('%s: %s already has >= %d episodes per game for this checkpoint '
           '(%s): skipped (--force re-evaluates).' % (
               where, RESULTS_FILE, args.episodes, progress))
      outcomes[name] = 'up to date'
      continue
    argv = eval_command(level, logdir, args.episodes, extra)
    log_path = os.path.join(logdir, EVAL_LOG)
    if args.dry_run:
      _log('%s: would run: %s' % (where, shlex.join(argv)))
      continue
    jobs.append(Job(name, argv, log_path, '%s: testing %d episodes per game, '
                    '%s, in %s (output also in %s).' % (
                        where, args.episodes, progress, logdir, log_path)))
  if args.dry_run:
    return 0

  def on_exit(job, code, interrupted):
    logdir = next(r[2] for r in runs if r[0] == job.name)
    if code == 0 and os.path.exists(os.path.join(logdir, RESULTS_FILE)):
      outcomes[job.name] = 'evaluated'
      _log('%s: wrote %s.' % (job.name, os.path.join(logdir, RESULTS_FILE)))
    elif interrupted:
      _log('%s: stopped by the interrupt.' % job.name)
    else:
      failed.append(job.name)
      outcomes[job.name] = 'FAILED (%s; see %s)' % (_describe_exit(code),
                                                    job.log_path)
      _log('%s: FAILED (%s); output in %s. Going on.' % (
          job.name, _describe_exit(code), job.log_path))

  codes = run_jobs(jobs, 1, echo=not args.quiet, on_exit=on_exit)
  interrupted = _interrupted_exit(codes)
  if interrupted is not None:
    _log('Interrupted; rerun the same command to evaluate the rest.')
    return interrupted
  if untrained:
    _log('%d not trained (no checkpoint, so no results; the table shows them '
         'as missing): %s.' % (len(untrained), ', '.join(untrained)))

  try:
    result, missing = suite_tables(args.root)
  except SuiteError as e:
    _log('No table: %s' % e)
    return EXIT_FAILED
  paths = write_suite_table(args.root, result)
  from scalable_agent_tf2.paper import tables  # pylint: disable=g-import-not-at-top
  sys.stdout.write(tables.render_markdown(result))
  sys.stdout.flush()
  _log('Wrote %s.' % ', '.join(paths))
  status = 0
  if failed:
    _log('%d evaluation(s) failed: %s.' % (len(failed), ', '.join(failed)))
    status = EXIT_FAILED
  # --strict judges the run this command evaluates (both may be tabulated).
  kind = MULTITASK_DIR if args.multitask else 'experts'
  absent = missing.get(kind, list(atari57.GAMES))
  if args.strict and absent:
    _log('--strict: the %s miss %d of %d games: %s.' % (
        'multi-task run' if args.multitask else 'experts', len(absent),
        len(atari57.GAMES), ', '.join(absent)))
    status = EXIT_FAILED
  return status


# --- Command line -------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m atari57.suite',
      description='Train / evaluate the Atari-57 suite (IMPALA experts or the '
      'multi-task agent) and write the suite table beside the paper\'s '
      'Table 4.')
  sub = parser.add_subparsers(dest='command', required=True)

  def common(p):
    p.add_argument('--root', required=True,
                   help='Suite directory: <root>/<Game>/ per expert, '
                   '<root>/multitask/ for the multi-task run.')
    p.add_argument('--games', default='',
                   help='Games, space or comma separated (any spelling '
                   'atari57.canonical_game_name accepts); empty = all 57.')
    p.add_argument('--multitask', type=_parse_bool, default=False,
                   help='1: one agent on all 57 games (--level_name=atari57) '
                   'in <root>/multitask/.')
    p.add_argument('--extra', default='',
                   help='More flags for every experiment run, e.g. '
                   '"--num_actors=2 --batch_size=4".')
    p.add_argument('--dry_run', action='store_true',
                   help='Print what would run (state of each game and the '
                   'command lines) without starting anything.')
    p.add_argument('--quiet', action='store_true',
                   help='Do not echo the runs\' output (it still goes to '
                   '<logdir>/%s / %s).' % (TRAIN_LOG, EVAL_LOG))

  p = sub.add_parser('train', help='Train the experts or the multi-task agent '
                     '(resumable: finished games are skipped).')
  common(p)
  p.add_argument('--frames_per_game', type=_positive_int, default=int(2e8),
                 help='Frames per expert (paper: 200M); the multi-task run '
                 'gets this x 57.')
  p.add_argument('--torso', choices=('shallow', 'deep'), default='deep',
                 help='Network (paper Table 4: deep and shallow experts).')
  p.add_argument('--parallel', type=_positive_int, default=1,
                 help='Games trained at once (each a local run with its own '
                 'learner and actors).')

  p = sub.add_parser('eval', help='Test every trained game and write '
                     '<root>/%s.' % TABLE_MARKDOWN)
  common(p)
  p.add_argument('--episodes', type=_positive_int, default=200,
                 help='Test episodes per game (paper: 200).')
  p.add_argument('--strict', action='store_true',
                 help='Exit with status 1 if any of the 57 games has no '
                 'results.')
  p.add_argument('--force', action='store_true',
                 help='Re-evaluate games whose results are already up to '
                 'date.')
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  try:
    if args.command == 'train':
      return train(args)
    return evaluate(args)
  except SuiteError as e:
    print('error: %s' % e, file=sys.stderr)
    return 2


if __name__ == '__main__':
  sys.exit(main())
