"""Supervised child processes: the one place that starts and stops them.

Used by the local launcher (learner + actors, docs/impala.md §8), the suite
drivers' job runner (`scalable_agent_tf2.jobs`) and the benchmarks. TF-free.

A child must never outlive its supervisor: a killed launcher must not leave
actors stepping environments, a killed suite driver no training run. Linux
offers this as prctl(PR_SET_PDEATHSIG), but it has to be set in the child,
after fork. The usual way -- `subprocess.Popen(preexec_fn=...)` calling
ctypes -- runs Python between fork and exec in a copy of a possibly
multi-threaded parent, where any lock another thread held at the fork (the
import lock, malloc's, the dynamic loader's for a CDLL) stays locked forever:
the child can deadlock before it ever execs.

Design: no Python runs after fork. Every child is started as

  <python> -I -S .../runtime/orphan_guard.py --parent <our pid> \
      --signal <N> -- <argv...>

`subprocess` forks and execs in C (`start_new_session` is a setsid() there
too), and the wrapper, a NEW single-threaded interpreter, sets
PR_SET_PDEATHSIG for itself, checks that its parent is still us (if we died
before the prctl no signal would ever come, so it signals itself), then
execs argv: same pid, argv's command line, and the death signal survives the
exec (it is cleared only for set-user-ID binaries). We chose this over a
watchdog pipe (a wrapper that stays alive reading a pipe from us and kills
the child on EOF) because the exec keeps one process per child: signals,
exit codes, /proc/<pid>/cmdline and pid-based tools see the real program.

Caveat of PDEATHSIG: it fires when the *thread* that started the child
exits, so start children from a thread that outlives them (the main thread
in every user of this module).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

_GUARD = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      'orphan_guard.py')
# How often stop() and waits look at their children.
_POLL_SECS = 0.05


def describe_exit(code: Optional[int]) -> str:
  """'exit code 3', 'signal SIGKILL' (code -9), or 'not run' (None)."""
  if code is None:
    return 'not run'
  if code < 0:
    try:
      return f'signal {signal.Signals(-code).name}'
    except ValueError:
      return f'signal {-code}'
  return f'exit code {code}'


def exit_status(code: int) -> int:
  """A shell's exit status for a child's return code: signal n -> 128 + n.

  Raises:
    ValueError: `code` is None (the child has not exited).
  """
  if code is None:
    raise ValueError('exit_status of a child that has not exited.')
  return 128 - code if code < 0 else code


def guarded_argv(argv: Sequence[str],
                 death_signal: int = signal.SIGTERM) -> List[str]:
  """`argv` behind the orphan guard: it gets `death_signal` when we die."""
  if not sys.platform.startswith('linux'):
    return list(argv)  # No PR_SET_PDEATHSIG; the child runs unguarded.
  return [sys.executable, '-I', '-S', _GUARD, '--parent', str(os.getpid()),
          '--signal', str(int(death_signal)), '--', *argv]


def _check_executable(program: str) -> None:
  """Raises FileNotFoundError now, as Popen would, not exit 127 later."""
  if os.sep in program:
    found = os.path.isfile(program) and os.access(program, os.X_OK)
  else:
    found = shutil.which(program) is not None
  if not found:
    raise FileNotFoundError(f'No executable {program!r} (to start a child '
                            'process).')


class Child:
  """One supervised child process; restartable after it exited.

  Attributes:
    name: what messages call it, e.g. 'actor 3'.
    argv: its command line.
    log_path: None to inherit our stdout/stderr, or a file its stdout and
      stderr are appended to.
    stdout: with capture_output=True, the pipe (bytes) of its stdout+stderr
      while it runs; the caller reads and closes it.
  """

  def __init__(self, name: str, argv: Sequence[str],
               log_path: Optional[str] = None, *,
               capture_output: bool = False,
               env: Optional[Dict[str, str]] = None,
               cwd: Optional[str] = None, new_session: bool = True,
               signal_group: bool = False,
               death_signal: int = signal.SIGTERM):
    """See the class docstring.

    Args:
      capture_output: read its output through `stdout` (not with log_path).
      env: its environment (default: ours at start()).
      new_session: own session and process group (then a Ctrl-C at the
        terminal reaches only us, and we decide how to stop it); False keeps
        it in our process group.
      signal_group: signal() reaches its whole process group (its own
        children that stayed in it too); needs new_session.
      death_signal: what it gets when this process dies.
    """
    if capture_output and log_path:
      raise ValueError('Child: capture_output and log_path exclude each '
                       'other.')
    if signal_group and not new_session:
      raise ValueError('Child: signal_group needs new_session (our own '
                       'group would be signalled).')
    if not argv:
      raise ValueError(f'Child {name!r}: empty argv.')
    self.name = name
    self.argv = list(argv)
    self.log_path = log_path
    self.stdout = None
    self._capture = capture_output
    self._env, self._cwd = env, cwd
    self._new_session, self._group = new_session, signal_group
    self._death_signal = death_signal
    self.proc: Optional[subprocess.Popen] = None

  def start(self) -> 'Child':
    """Starts it (again, if it had exited).

    Raises:
      RuntimeError: it is still running.
      FileNotFoundError: argv[0] is not an executable.
    """
    if self.running:
      raise RuntimeError(f'{self.name} is already running.')
    _check_executable(self.argv[0])
    out = subprocess.PIPE if self._capture else None
    if self.log_path:
      os.makedirs(os.path.dirname(os.path.abspath(self.log_path)),
                  exist_ok=True)
      out = open(self.log_path, 'ab')  # pylint: disable=consider-using-with
    try:
      self.proc = subprocess.Popen(
          guarded_argv(self.argv, self._death_signal), env=self._env,
          cwd=self._cwd, stdout=out,
          stderr=None if out is None else subprocess.STDOUT,
          stdin=subprocess.DEVNULL if self._new_session else None,
          start_new_session=self._new_session)
    finally:
      if self.log_path:
        out.close()
    self.stdout = self.proc.stdout
    return self

  @property
  def pid(self) -> Optional[int]:
    return None if self.proc is None else self.proc.pid

  @property
  def running(self) -> bool:
    return self.proc is not None and self.proc.poll() is None

  @property
  def returncode(self) -> Optional[int]:
    """None while running (or never started); negative: killed by signal."""
    return None if self.proc is None else self.proc.poll()

  def poll(self) -> Optional[int]:
    return self.returncode

  def signal(self, signum: int) -> None:
    """Sends `signum` if it runs (to its group with signal_group)."""
    if not self.running:
      return
    try:
      if self._group:
        os.killpg(self.proc.pid, signum)
      else:
        self.proc.send_signal(signum)
    except (ProcessLookupError, PermissionError):
      pass  # Exited meanwhile.

  def wait(self, timeout: Optional[float] = None) -> Optional[int]:
    """Its return code once it exited; None if still running at `timeout`."""
    if self.proc is None:
      return None
    try:
      return self.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
      return None

  def __repr__(self):
    return f'Child({self.name!r}, pid={self.pid}, returncode={self.returncode})'


def stop(children: Iterable[Child], grace_secs: float,
         first_signal: int = signal.SIGTERM,
         log: Optional[Callable[[str], None]] = None) -> Dict[str, int]:
  """Stops every running child: `first_signal`, then SIGKILL after grace.

  All children get `first_signal` at once and share one deadline; the ones
  still alive `grace_secs` later are killed (and `log` says so).

  Returns:
    name -> return code of every child that was started.
  """
  children = [c for c in children if c.proc is not None]
  for child in children:
    child.signal(first_signal)
  deadline = time.monotonic() + max(0.0, grace_secs)
  while any(c.running for c in children) and time.monotonic() < deadline:
    time.sleep(_POLL_SECS)
  for child in children:
    if child.running:
      if log is not None:
        log(f'{child.name} did not stop within {grace_secs:g} s; killing it.')
      child.signal(signal.SIGKILL)
  return {child.name: child.wait() for child in children}


def kill_all(children: Iterable[Child]) -> None:
  """SIGKILL to every running child (the last resort on an error path)."""
  for child in children:
    child.signal(signal.SIGKILL)


# --- Signals ------------------------------------------------------------------

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_signals(handler: Callable[[int], None],
               signals: Sequence[int] = STOP_SIGNALS) -> Iterator[None]:
  """Calls handler(signum) on `signals` inside the block; restores after.

  Python runs signal handlers only in the main thread: elsewhere this does
  nothing (the default handlers stay).
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  previous = {s: signal.signal(s, lambda signum, _: handler(signum))
              for s in signals}
  try:
    yield
  finally:
    for s, old in previous.items():
      signal.signal(s, old)


@contextlib.contextmanager
def forward_signals(children: Sequence[Child],
                    signals: Sequence[int] = STOP_SIGNALS
                    ) -> Iterator[List[int]]:
  """Inside the block, `signals` we receive are sent on to `children`.

  Yields the list of the signals received so far (in order). A child in our
  process group also gets a terminal's Ctrl-C directly; programs of this
  project treat the repeated stop signal as one.
  """
  received: List[int] = []

  def forward(signum: int) -> None:
    received.append(signum)
    for child in children:
      child.signal(signum)

  with on_signals(forward, signals):
    yield received


def run_in_foreground(child: Child, signals: Sequence[int] = STOP_SIGNALS):
  """Starts `child`, forwards `signals` to it and waits for its exit.

  Returns:
    (return code, list of the signals received meanwhile).
  """
  with forward_signals([child], signals) as received:
    child.start()
    if received:  # A signal came while it was being started.
      child.signal(received[-1])
    code = child.wait()
  return code, list(received)
