"""Runs a command that dies with its parent process (docs/impala.md §8).

  python orphan_guard.py --parent PID [--signal N] -- ARGV...

The supervisor (`scalable_agent_tf2.runtime.processes.Child`) starts every
child through this file. In this fresh, single-threaded interpreter it

  1. asks the kernel for signal N (default SIGTERM) when the parent thread
     dies: prctl(PR_SET_PDEATHSIG, N). The setting survives execve (it is
     cleared only for set-user-ID / set-group-ID / file-capability
     binaries), so it holds for ARGV;
  2. checks that its parent is still PID: if the supervisor died before
     step 1, the kernel will never send N, so the wrapper sends N to itself
     instead of starting an orphan;
  3. replaces itself by ARGV (os.execvp): same pid, ARGV's command line, no
     wrapper left behind.

It imports only the standard library (run by path with `-I -S` it does not
even need the package on sys.path), so it adds some 20 ms to a start, not a
TensorFlow import. Exit status 127 (126): ARGV not found (not executable).
"""

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126


def _usage(message: str) -> int:
  sys.stderr.write(f'orphan_guard: {message}\nusage: orphan_guard.py --parent '
                   'PID [--signal N] -- ARGV...\n')
  return 2


def parse_args(args):
  """(parent pid, signal number, argv) of the wrapper's command line.

  Raises:
    ValueError: a malformed command line (the message says what).
  """
  parent, signum = None, int(signal.SIGTERM)
  args = list(args)
  while args and args[0] != '--':
    option = args.pop(0)
    if option not in ('--parent', '--signal') or not args:
      raise ValueError(f'unexpected argument {option!r}')
    value = args.pop(0)
    if not value.isdigit():
      raise ValueError(f'{option} needs a positive integer, got {value!r}')
    if option == '--parent':
      parent = int(value)
    else:
      signum = int(value)
  if parent is None or not args or len(args) < 2:
    raise ValueError('--parent PID and -- ARGV are required')
  return parent, signum, args[1:]


def _set_death_signal(signum: int) -> None:
  libc = ctypes.CDLL(None, use_errno=True)  # Symbols of the running python.
  if libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
    errno = ctypes.get_errno()
    raise OSError(errno, f'prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}')


def main(args) -> int:
  try:
    parent, signum, argv = parse_args(args)
  except ValueError as e:
    return _usage(str(e))
  if sys.platform.startswith('linux'):
    _set_death_signal(signum)
  if os.getppid() != parent:
    # The parent died between our fork and the prctl: no death signal will
    # come, so deliver it now rather than run unsupervised.
    os.kill(os.getpid(), signum)
    return 128 + signum  # Only if the signal is ignored or handled.
  try:
    os.execvp(argv[0], argv)
  except FileNotFoundError:
    sys.stderr.write(f'orphan_guard: {argv[0]}: command not found\n')
    return EXIT_NOT_FOUND
  except OSError as e:
    sys.stderr.write(f'orphan_guard: cannot run {argv[0]}: {e}\n')
    return EXIT_NOT_EXECUTABLE
  return EXIT_NOT_EXECUTABLE  # Not reached: execvp returns only by raising.


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
