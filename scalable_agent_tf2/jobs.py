"""The suite drivers' job runner: experiment runs as supervised subprocesses.

Both suite drivers (`python -m atari57.suite`, `python -m dmlab30.suite`)
start their experiments through this module, built on
`scalable_agent_tf2.runtime.processes` (children die with the driver).

  * `run_jobs`: N jobs, at most `parallel` at a time; each job's output is
    appended to its own log file (and echoed, prefixed with its name, under
    one lock so lines never interleave); one failing job stops no other;
    Ctrl-C / SIGTERM stops them all (a training run's learner then writes a
    final checkpoint, docs/impala.md §8) and starts no further one.
  * `root_lock`: one driver per directory at a time.
  * `run_foreground`: one run in our process group, stop signals forwarded.
"""

import contextlib
import dataclasses
import os
import shlex
import signal
import sys
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from scalable_agent_tf2.runtime import processes

# The key of run_jobs' result that holds the stop signal, if one came.
SIGNAL_KEY = '__signal__'
# Grandchildren that outlive a job keep its pipe open; do not wait forever.
_DRAIN_SECS = 30.0
_POLL_SECS = 0.2


@dataclasses.dataclass
class Job:
  """One subprocess of a suite.

  Attributes:
    name: e.g. the game (or 'multitask'); prefixes its echoed output.
    argv: the command line.
    log_path: where its stdout+stderr are appended.
    label: what the start line says, e.g. '[3/57] Pong: training ...'.
  """
  name: str
  argv: List[str]
  log_path: str
  label: str = ''


def job_env() -> Dict[str, str]:
  """Our environment, with TF's INFO lines off and Python unbuffered."""
  env = dict(os.environ)
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  env['PYTHONUNBUFFERED'] = '1'
  return env


def _print(message: str) -> None:
  print(message, flush=True)


class _Running:
  """A started job: its process and the thread copying its output."""

  def __init__(self, job: Job, echo: bool, lock: threading.Lock):
    self.job = job
    os.makedirs(os.path.dirname(job.log_path) or '.', exist_ok=True)
    self._log = open(job.log_path, 'ab')  # pylint: disable=consider-using-with
    self._log.write(('\n=== %s %s\n' % (time.strftime('%Y-%m-%d %H:%M:%S'),
                                         shlex.join(job.argv))).encode())
    self._log.flush()
    # A session of its own: a Ctrl-C reaches only the driver, which then
    # stops each job once, cleanly (a signal to the job's process group).
    self.child = processes.Child(job.name, job.argv, capture_output=True,
                                 env=job_env(), signal_group=True)
    try:
      self.child.start()
    except BaseException:
      self._log.close()
      raise
    self._echo, self._lock = echo, lock
    self._thread = threading.Thread(target=self._pump, daemon=True,
                                    name='output-' + job.name)
    self._thread.start()

  def _pump(self):
    prefix = '[%s] ' % self.job.name
    for line in iter(self.child.stdout.readline, b''):
      self._log.write(line)
      self._log.flush()
      if self._echo:
        with self._lock:
          sys.stdout.write(prefix + line.decode('utf-8', 'replace'))
          sys.stdout.flush()

  def finish(self) -> int:
    """Waits for the output to drain; returns the exit code."""
    code = self.child.wait()
    self._thread.join(timeout=_DRAIN_SECS)
    self.child.stdout.close()
    self._log.close()
    return code


def run_jobs(jobs: Sequence[Job], parallel: int = 1, echo: bool = True,
             on_exit: Optional[Callable[[Job, int, bool], None]] = None,
             log: Callable[[str], None] = _print
             ) -> Dict[str, Optional[int]]:
  """Runs `jobs`, at most `parallel` at a time; one failure stops no other.

  On SIGINT/SIGTERM no further job starts and the running ones get SIGTERM
  (the experiment then saves a final checkpoint); a second signal kills them.
  `on_exit(job, exit code, interrupted)` is called as each job ends; `log`
  gets the start lines (the jobs' labels) and the stop message.

  Returns:
    job name -> exit code (negative: killed by that signal; None: not started
    because the driver was interrupted). SIGNAL_KEY holds the signal number
    when interrupted.
  """
  if parallel < 1:
    raise ValueError(f'parallel must be >= 1, got {parallel}.')
  pending, running = list(jobs), []
  codes: Dict[str, Optional[int]] = {job.name: None for job in jobs}
  signals: List[int] = []
  output_lock = threading.Lock()

  def on_signal(signum):
    signals.append(signum)
    if len(signals) == 1:
      log('Got signal %d: stopping the running job(s) (they checkpoint); '
          'no new job starts.' % signum)
    for r in running:
      r.child.signal(signal.SIGTERM if len(signals) == 1 else signal.SIGKILL)

  with processes.on_signals(on_signal):
    try:
      while pending or running:
        while pending and len(running) < parallel and not signals:
          job = pending.pop(0)
          if job.label:
            log(job.label)
          running.append(_Running(job, echo, output_lock))
        for r in [r for r in running if not r.child.running]:
          running.remove(r)
          codes[r.job.name] = r.finish()
          if on_exit is not None:
            on_exit(r.job, codes[r.job.name], bool(signals))
        if signals and not running:
          break
        time.sleep(_POLL_SECS)
    finally:
      processes.kill_all(r.child for r in running)  # Only on an exception.
  if signals:
    codes[SIGNAL_KEY] = signals[0]
  return codes


def interrupted_exit(codes: Dict[str, Optional[int]]) -> Optional[int]:
  """128 + the stop signal if run_jobs was interrupted, else None."""
  signum = codes.get(SIGNAL_KEY)
  return None if signum is None else 128 + signum


@contextlib.contextmanager
def root_lock(directory: str, lock_name: str, holder: str) -> Iterator[None]:
  """Holds <directory>/<lock_name> (an flock) for the block.

  Raises:
    SystemExit: another process holds it (the message names `holder`, e.g.
      'atari57.suite train', and the directory).
  """
  import fcntl  # pylint: disable=g-import-not-at-top
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, lock_name), 'w') as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      raise SystemExit(f'Another {holder} is running on {directory}; two '
                       'drivers would train the same logdirs.') from None
    f.write(str(os.getpid()))
    f.flush()
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def run_foreground(argv: Sequence[str], name: str = 'experiment') -> int:
  """Runs `argv` in our process group, forwarding SIGINT/SIGTERM to it.

  Its output is ours. A Ctrl-C at a terminal reaches it directly as well;
  the experiment treats the repeated signal as one stop (its learner writes
  a final checkpoint).

  Returns:
    its exit status as a shell reports it (signal n -> 128 + n).
  """
  child = processes.Child(name, argv, new_session=False)
  code, _ = processes.run_in_foreground(child)
  return processes.exit_status(code)
