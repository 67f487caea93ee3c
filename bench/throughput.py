r"""End-to-end training throughput on this machine.

What the paper's Table 1 measures -- environment frames per second of a whole
IMPALA run with the shallow model and batch 32 -- here for Atari Pong with the
Table G.1 hyperparameters (batch 32, unroll 20, action repeat 4), through the
real entry point: a learner and N actor OS processes joined by a TF cluster on
localhost, exactly what `python -m scalable_agent_tf2.experiment` starts.

For each configuration the run gets a fresh temporary logdir; once the
learner has written its first progress line (start-up done: processes up,
cluster connected, first train step traced; its duration is reported as
`startup_secs`) it trains for a fixed wall time `seconds` and is then stopped
with SIGTERM (the launcher stops the learner, which writes a final
checkpoint). The number reported is the median of the learner's
progress.jsonl `fps` (env frames/s, action repeats included, as the paper
counts) over a steady-state window: the progress lines written before the
SIGTERM, minus the first `warmup_fraction` of them. The first lines are not
steady: while the learner traces its first step the actors fill the queue,
and the first intervals after that drain the backlog faster than the actors
produce.

Measured per configuration:
  * training fps for 1, 2 and 4 actor processes (envs_per_actor 4, the Atari
    default), and with 2 actors what envs_per_actor in {1, 2, 4} buys (one
    batched inference for all environments of an actor);
  * the env-only fps of the same number of OS processes, each stepping the
    same number of atari57 Pong environments with uniformly random actions
    and no network (frames = agent steps * 4), and the ratio training/env-only:
    the fraction of the raw emulator speed that survives inference, the
    queue and the learner;
  * the peak resident memory (VmHWM) of the learner and of actor 0, found by
    scanning /proc/*/cmdline for `--job_name=...` plus the run's own logdir.

Usage (the numbers are only meaningful on an otherwise idle machine):

  python -m bench.throughput --seconds=90 --out=/tmp/throughput.json

`bench.run` calls `run()` and stores the result under "end_to_end".
"""

import argparse
import ctypes
import ctypes.util
import json
import multiprocessing
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LEVEL_NAME = 'Pong'
TORSO = 'shallow'  # Table 1 measures the shallow model.
BATCH_SIZE = 32  # Table G.1.
UNROLL_LENGTH = 20  # Table G.1.
NUM_ACTION_REPEATS = 4  # Table G.1; frames = agent steps * 4.
DEFAULT_ENVS_PER_ACTOR = 4  # The Atari default of --envs_per_actor.

DEFAULT_SECONDS = 90.0
DEFAULT_ENV_SECONDS = 30.0
DEFAULT_PROGRESS_SECS = 2.0
# The first 35% of the progress lines (start-up, the first traced step, the
# queue backlog being drained) are left out of the median.
DEFAULT_WARMUP_FRACTION = 0.35
ACTOR_COUNTS = (1, 2, 4)
ENVS_PER_ACTOR_SWEEP = (1, 2, 4)
SWEEP_NUM_ACTORS = 2
# A run that has not written its first progress line by then has failed.
DEFAULT_STARTUP_TIMEOUT_SECS = 300.0
# Memory is sampled this often while a run trains.
MEMORY_SAMPLE_SECS = 2.0
# The launcher gives its children 9 s to stop; then some slack.
STOP_TIMEOUT_SECS = 60.0

_PR_SET_PDEATHSIG = 1
_KIB_PER_MIB = 1024.0


# --- Pure helpers (unit-tested) ----------------------------------------------


def steady_state_window(records: Sequence[dict], stop_time: Optional[float],
                        warmup_fraction: float = DEFAULT_WARMUP_FRACTION
                        ) -> List[dict]:
  """The progress records of a run's steady state.

  Args:
    records: progress.jsonl records in file order, each with 'time' (unix
      seconds) and 'fps'.
    stop_time: when the run was asked to stop; records written at or after
      it (the learner's final, partial interval) are dropped. None keeps all.
    warmup_fraction: fraction in [0, 1) of the remaining records, counted
      from the start, that are dropped as start-up (rounded down).

  Returns:
    The records of the window, in order (possibly empty).
  """
  if not 0.0 <= warmup_fraction < 1.0:
    raise ValueError(f'warmup_fraction must be in [0, 1), got '
                     f'{warmup_fraction!r}.')
  kept = []
  for index, record in enumerate(records):
    try:
      record_time = float(record['time'])
      float(record['fps'])
    except (KeyError, TypeError, ValueError):
      raise ValueError(f'progress record {index + 1} needs numeric "time" and '
                       f'"fps", got {record!r}.') from None
    if stop_time is None or record_time < stop_time:
      kept.append(record)
  return kept[int(len(kept) * warmup_fraction):]


def steady_state_stats(records: Sequence[dict], stop_time: Optional[float],
                       warmup_fraction: float = DEFAULT_WARMUP_FRACTION
                       ) -> Dict[str, object]:
  """Throughput statistics of the steady-state window (`steady_state_window`).

  Returns:
    dict with
      fps_median: median of the per-interval 'fps' (None without records);
      fps_window_mean: frames gained over the window / its duration, from the
        first to the last record (None with fewer than two records, or if
        they lack 'frames'); less sensitive to how updates fall into
        intervals than the median;
      window_lines, total_lines: records used / records before the stop;
      window_secs: duration between the first and last record of the window.
  """
  before_stop = steady_state_window(records, stop_time, 0.0)
  window = steady_state_window(records, stop_time, warmup_fraction)
  stats = dict(fps_median=None, fps_window_mean=None,
               window_lines=len(window), total_lines=len(before_stop),
               window_secs=None)
  if not window:
    return stats
  stats['fps_median'] = float(statistics.median(float(r['fps'])
                                                for r in window))
  if len(window) >= 2:
    seconds = float(window[-1]['time']) - float(window[0]['time'])
    stats['window_secs'] = seconds
    try:
      frames = float(window[-1]['frames']) - float(window[0]['frames'])
    except (KeyError, TypeError, ValueError):
      frames = None
    if frames is not None and seconds > 0:
      stats['fps_window_mean'] = frames / seconds
  return stats


def parse_status_kib(status_text: str, field: str) -> Optional[int]:
  """A `kB` field (e.g. 'VmHWM', 'VmRSS') of /proc/<pid>/status, in KiB.

  Returns None when the field is absent (e.g. a zombie process has no Vm*).
  """
  for line in status_text.splitlines():
    name, sep, value = line.partition(':')
    if sep and name.strip() == field:
      parts = value.split()
      if not parts:
        return None
      if len(parts) > 1 and parts[1] != 'kB':
        raise ValueError(f'Unexpected unit in status line {line!r}.')
      return int(parts[0])
  return None


def parse_cmdline(raw: bytes) -> List[str]:
  """The argv of /proc/<pid>/cmdline (NUL-separated, NUL-terminated)."""
  text = raw.decode('utf-8', errors='replace')
  if text.endswith('\0'):
    text = text[:-1]
  return text.split('\0') if text else []


def run_role(argv: Sequence[str], logdir: str) -> Optional[str]:
  """'learner', 'actor <task>' or None: which process of the run `argv` is.

  A process belongs to the run when it was started with exactly
  `--logdir=<logdir>` (every run gets its own temporary logdir, so processes
  of other runs on the machine never match) and `--job_name=learner|actor`.
  """
  args = set(argv)
  if f'--logdir={logdir}' not in args:
    return None
  if '--job_name=learner' in args:
    return 'learner'
  if '--job_name=actor' in args:
    task = next((a.partition('=')[2] for a in argv
                 if a.startswith('--task=')), '0')
    return f'actor {task}'
  return None


def find_run_processes(logdir: str, proc_root: str = '/proc'
                       ) -> Dict[str, List[int]]:
  """pids of the run's processes by role ('learner', 'actor 0', ...)."""
  roles: Dict[str, List[int]] = {}
  try:
    entries = os.listdir(proc_root)
  except OSError:
    return roles
  for entry in entries:
    if not entry.isdigit():
      continue
    try:
      with open(os.path.join(proc_root, entry, 'cmdline'), 'rb') as f:
        argv = parse_cmdline(f.read())
    except OSError:  # The process exited meanwhile, or is not ours to read.
      continue
    role = run_role(argv, logdir)
    if role:
      roles.setdefault(role, []).append(int(entry))
  return roles


class MemorySampler:
  """Keeps the largest VmHWM / VmRSS seen per role of one run (KiB)."""

  def __init__(self, logdir: str, proc_root: str = '/proc'):
    self._logdir = logdir
    self._proc_root = proc_root
    self.peak_kib: Dict[str, int] = {}
    self.last_rss_kib: Dict[str, int] = {}

  def sample(self) -> None:
    last_rss = {}
    for role, pids in find_run_processes(self._logdir,
                                         self._proc_root).items():
      for pid in pids:
        try:
          with open(os.path.join(self._proc_root, str(pid), 'status')) as f:
            status = f.read()
        except OSError:
          continue
        hwm = parse_status_kib(status, 'VmHWM')
        rss = parse_status_kib(status, 'VmRSS')
        if hwm is not None:
          self.peak_kib[role] = max(self.peak_kib.get(role, 0), hwm)
        if rss is not None:
          last_rss[role] = last_rss.get(role, 0) + rss
    if last_rss:
      self.last_rss_kib = last_rss

  def summary(self) -> Dict[str, Optional[float]]:
    """Peak RSS of the learner and of actor 0, total RSS at the last sample."""
    def mib(kib):
      return None if kib is None else round(kib / _KIB_PER_MIB, 1)
    actor_roles = sorted(r for r in self.peak_kib if r.startswith('actor '))
    actor_role = 'actor 0' if 'actor 0' in self.peak_kib else (
        actor_roles[0] if actor_roles else None)
    return dict(
        learner_peak_rss_mib=mib(self.peak_kib.get('learner')),
        actor_peak_rss_mib=mib(self.peak_kib.get(actor_role)
                               if actor_role else None),
        actor_measured=actor_role,
        total_rss_mib_at_stop=mib(sum(self.last_rss_kib.values())
                                  if self.last_rss_kib else None))


def training_command(logdir: str, num_actors: int, envs_per_actor: int,
                     progress_secs: float,
                     extra_flags: Sequence[str] = ()) -> List[str]:
  """The entry-point command line of one throughput run."""
  return [
      sys.executable, '-m', 'scalable_agent_tf2.experiment',
      '--env=atari', '--preset=paper', f'--level_name={LEVEL_NAME}',
      f'--torso={TORSO}',
      f'--batch_size={BATCH_SIZE}', f'--unroll_length={UNROLL_LENGTH}',
      f'--num_action_repeats={NUM_ACTION_REPEATS}',
      f'--num_actors={num_actors}', f'--envs_per_actor={envs_per_actor}',
      f'--progress_secs={progress_secs}', f'--logdir={logdir}',
      *extra_flags]


def load_average() -> Optional[List[float]]:
  """The 1/5/15-minute load averages (how busy the shared machine was)."""
  try:
    return [round(x, 2) for x in os.getloadavg()]
  except OSError:
    return None


# --- Training runs ------------------------------------------------------------


def die_with_parent():
  # Runs in the child between fork and exec: if this benchmark dies (even by
  # SIGKILL) its launcher gets SIGTERM, and the launcher's own children die
  # with it, so no training run survives the benchmark.
  libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
  libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _tail(path: str, lines: int = 15) -> str:
  try:
    with open(path, errors='replace') as f:
      return ''.join(f.readlines()[-lines:])
  except OSError:
    return ''


def _read_progress(logdir: str) -> List[dict]:
  path = os.path.join(logdir, 'progress.jsonl')
  if not os.path.exists(path):
    return []
  # The tables' reader tolerates a partially written last line.
  from scalable_agent_tf2.paper import tables  # pylint: disable=g-import-not-at-top
  return tables.read_jsonl(path)


def child_env() -> Dict[str, str]:
  env = dict(os.environ)
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  env['PYTHONPATH'] = os.pathsep.join(
      [REPO] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
  return env


def _has_progress_line(logdir: str) -> bool:
  try:
    return os.path.getsize(os.path.join(logdir, 'progress.jsonl')) > 0
  except OSError:
    return False


def run_training(num_actors: int, envs_per_actor: int,
                 seconds: float = DEFAULT_SECONDS,
                 progress_secs: float = DEFAULT_PROGRESS_SECS,
                 warmup_fraction: float = DEFAULT_WARMUP_FRACTION,
                 extra_flags: Sequence[str] = (),
                 startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_SECS,
                 keep_logdir: bool = False) -> Dict[str, object]:
  """Trains Pong for `seconds` after start-up; returns throughput and memory.

  Start-up -- from the launch to the learner's first progress line (processes
  starting, the cluster connecting, the first train step being traced) --
  is not part of the `seconds` budget: on a loaded machine it alone can take
  longer than a short measurement. It is reported as 'startup_secs' and
  capped by `startup_timeout`.

  The run's logdir is a fresh temporary directory, deleted afterwards unless
  `keep_logdir`. A run that fails (exits on its own, or never trains within
  `startup_timeout`) is reported with an 'error' entry instead of raising, so
  that one broken configuration does not lose the others.
  """
  if num_actors < 1 or envs_per_actor < 1:
    raise ValueError('num_actors and envs_per_actor must be >= 1, got '
                     f'{num_actors} and {envs_per_actor}.')
  if seconds <= 0 or startup_timeout <= 0:
    raise ValueError(f'seconds and startup_timeout must be > 0, got '
                     f'{seconds!r} and {startup_timeout!r}.')
  logdir = tempfile.mkdtemp(prefix=f'bench_a{num_actors}_e{envs_per_actor}_')
  log_path = os.path.join(logdir, 'launcher.log')
  command = training_command(logdir, num_actors, envs_per_actor,
                             progress_secs, extra_flags)
  result: Dict[str, object] = dict(
      num_actors=num_actors, envs_per_actor=envs_per_actor,
      measured_secs=seconds, startup_secs=None,
      loadavg_before=load_average())
  sampler = MemorySampler(logdir)
  with open(log_path, 'wb') as log:
    start = time.time()
    proc = subprocess.Popen(command, cwd=REPO, env=child_env(), stdout=log,
                            stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent,
                            start_new_session=True)
  stop_time = None
  try:
    next_sample = start + MEMORY_SAMPLE_SECS
    deadline = start + startup_timeout
    training_since = None
    while proc.poll() is None and time.time() < deadline:
      time.sleep(0.25)
      now = time.time()
      if training_since is None and _has_progress_line(logdir):
        training_since = now
        result['startup_secs'] = now - start
        deadline = now + seconds
      if now >= next_sample:
        sampler.sample()
        next_sample = time.time() + MEMORY_SAMPLE_SECS
    if proc.poll() is not None:
      result['error'] = (f'the run exited on its own with code '
                         f'{proc.returncode} after {time.time() - start:.0f} '
                         f's; launcher log tail:\n{_tail(log_path)}')
    else:
      sampler.sample()  # VmHWM just before stopping.
      stop_time = time.time()
      if training_since is None:
        result['error'] = (f'no progress line within --startup_timeout='
                           f'{startup_timeout:.0f} s of the launch; launcher '
                           f'log tail:\n{_tail(log_path)}')
      proc.send_signal(signal.SIGTERM)
      try:
        proc.wait(timeout=STOP_TIMEOUT_SECS)
      except subprocess.TimeoutExpired:
        result['stop_warning'] = (f'the launcher did not stop within '
                                  f'{STOP_TIMEOUT_SECS:.0f} s; killed.')
        proc.kill()
        proc.wait()
  finally:
    if proc.poll() is None:  # Interrupted (e.g. Ctrl-C): never leave it.
      proc.kill()
      proc.wait()
  result['exit_code'] = proc.returncode
  result['loadavg_after'] = load_average()
  records = _read_progress(logdir)
  result.update(steady_state_stats(records, stop_time, warmup_fraction))
  if records:
    result['frames'] = records[-1].get('frames')
    result['updates'] = records[-1].get('updates')
  if result['fps_median'] is None and 'error' not in result:
    result['error'] = ('no progress line in the steady-state window: give the '
                       'run more --seconds.')
  result.update(sampler.summary())
  if keep_logdir:
    result['logdir'] = logdir
  else:
    shutil.rmtree(logdir, ignore_errors=True)
  return result


# --- Env-only runs ------------------------------------------------------------


def _env_worker(index, envs_per_process, seconds, ready, start, results):
  """One process stepping `envs_per_process` Pong environments at random."""
  try:
    import atari57  # pylint: disable=g-import-not-at-top
    import numpy as np  # pylint: disable=g-import-not-at-top
    envs = [atari57.make_environment(LEVEL_NAME, seed=index * envs_per_process
                                     + i + 1,
                                     num_action_repeats=NUM_ACTION_REPEATS)
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
                        seconds: float = DEFAULT_ENV_SECONDS
                        ) -> Dict[str, object]:
  """Frames/s of `num_processes` OS processes stepping Pong at random.

  All processes build their environments first and then step together for
  `seconds`; frames/s is the sum over processes of agent steps * 4 / elapsed.
  """
  if num_processes < 1 or envs_per_process < 1:
    raise ValueError('num_processes and envs_per_process must be >= 1.')
  if seconds <= 0:
    raise ValueError(f'seconds must be > 0, got {seconds!r}.')
  context = multiprocessing.get_context('spawn')
  ready, results, start = context.Queue(), context.Queue(), context.Event()
  load_before = load_average()
  workers = [context.Process(target=_env_worker, daemon=True,
                             args=(i, envs_per_process, seconds, ready, start,
                                   results))
             for i in range(num_processes)]
  for w in workers:
    w.start()
  try:
    for _ in workers:
      ready.get(timeout=300)
    start.set()
    outcomes = [results.get(timeout=seconds + 300) for _ in workers]
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
  per_process = [NUM_ACTION_REPEATS * steps / elapsed
                 for _, steps, elapsed, _ in sorted(outcomes)]
  return dict(num_processes=num_processes, envs_per_process=envs_per_process,
              seconds=seconds, fps=sum(per_process),
              fps_per_process=per_process, loadavg_before=load_before,
              loadavg_after=load_average())


# --- The benchmark ------------------------------------------------------------


def _ratio(numerator, denominator):
  if numerator is None or not denominator:
    return None
  return numerator / denominator


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
  actor_counts = list(actor_counts)
  envs_per_actor_sweep = list(envs_per_actor_sweep)
  env_seconds = min(env_seconds, seconds)
  out: Dict[str, object] = dict(
      protocol=dict(
          level_name=LEVEL_NAME, torso=TORSO, batch_size=BATCH_SIZE,
          unroll_length=UNROLL_LENGTH, num_action_repeats=NUM_ACTION_REPEATS,
          training_secs_after_startup=seconds, env_only_secs=env_seconds,
          progress_secs=progress_secs, warmup_fraction=warmup_fraction,
          envs_per_actor=DEFAULT_ENVS_PER_ACTOR,
          sweep_num_actors=SWEEP_NUM_ACTORS,
          statistic=('median of progress.jsonl fps (env frames/s incl. '
                     'action repeats) over lines before the SIGTERM, minus '
                     'the first warmup_fraction of them'),
          command=' '.join(training_command('<tmp logdir>', '<N>', '<k>',
                                            progress_secs, extra_flags))),
      actors={}, envs_per_actor={})
  trained = {}

  def train(num_actors, envs_per_actor):
    key = (num_actors, envs_per_actor)
    if key not in trained:
      log(f'[end_to_end] training {num_actors} actor(s) x {envs_per_actor} '
          f'env(s) for {seconds:.0f} s after start-up ...')
      trained[key] = run_training(num_actors, envs_per_actor, seconds,
                                  progress_secs, warmup_fraction, extra_flags,
                                  startup_timeout)
      done = trained[key]
      log(f'[end_to_end]   -> {_fmt(done.get("fps_median"))} frames/s '
          f'(start-up {_fmt(done.get("startup_secs"))} s)' +
          (f' ERROR: {done["error"].splitlines()[0]}' if 'error' in done
           else ''))
    return trained[key]

  for n in actor_counts:
    log(f'[end_to_end] env-only: {n} process(es) x {DEFAULT_ENVS_PER_ACTOR} '
        f'env(s), random actions, {env_seconds:.0f} s ...')
    env_only = env_only_throughput(n, DEFAULT_ENVS_PER_ACTOR, env_seconds)
    log(f'[end_to_end]   -> {_fmt(env_only.get("fps"))} frames/s')
    training = train(n, DEFAULT_ENVS_PER_ACTOR)
    out['actors'][str(n)] = dict(
        training=training, env_only=env_only,
        training_over_env_only=_ratio(training.get('fps_median'),
                                      env_only.get('fps')))
  for k in envs_per_actor_sweep:
    out['envs_per_actor'][str(k)] = train(SWEEP_NUM_ACTORS, k)
  return out


def _fmt(value, digits=0):
  return 'n/a' if value is None else f'{value:,.{digits}f}'


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
