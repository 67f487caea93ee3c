"""What the local launcher does when a process of the run fails (TF-free).

docs/faults.md lists every case. Two policies live here, apart from the
launcher's loop so that they can be tested without processes:

  * Learner restarts. A learner that exits without being asked to stop
    (killed, crashed) is started again from its latest checkpoint, after a
    backoff, at most `--max_learner_restarts` times. Its actors keep trying
    to reach the learner's address meanwhile and reconnect by themselves
    (docs/impala.md §8). Exits that would only repeat are final: a
    non-finite loss (the restored state would diverge the same way) and a
    refused configuration.
  * Stalled actors. An actor that makes no progress -- stopped (SIGSTOP),
    hung in a deadlock -- produces no unrolls yet never exits. The launcher
    reads each actor's CPU time from /proc/<pid>/stat: an actor that used
    less than `MIN_CPU_SECS` of CPU in `--actor_stall_secs` while the
    learner was up is killed and restarted like an actor that died. Acting
    (environment steps and inference on every step) keeps a core busy, so a
    healthy actor is far above that bound even on a loaded machine.
"""

import dataclasses
import os
from typing import Dict, Optional

# Exit codes of the learner process that a restart would only repeat.
# runtime/learner_process.py returns these (it imports them from here, so the
# TF-free launcher and the learner agree on one number).
EXIT_NON_FINITE = 5
EXIT_REFUSED_CONFIG = 7  # Also a refused logdir, port or checkpoint set.
NOT_RESTARTED = {EXIT_NON_FINITE: 'it stopped on a non-finite loss (a '
                                  'restart would diverge again)',
                 EXIT_REFUSED_CONFIG: 'it refused the configuration, the '
                                      'logdir or the port (see its message)'}
# The final checkpoint could not be written (disk full): a restart resumes
# from the last good one and trains those frames again.
EXIT_SAVE_FAILED = 8

# An actor's exit after --actor_reconnect_secs without a learner (the actor
# returns it; it imports it from here). While the launcher brings a dead
# learner back, such an exit is expected and its restart is not counted.
EXIT_LEARNER_UNREACHABLE = 3
# How long after a learner restart an actor's EXIT_LEARNER_UNREACHABLE is
# put down to the restart: restoring the checkpoint and starting the server
# took about 58 s on a loaded 2-core machine (docs/faults.md, the soak).
LEARNER_RESTART_GRACE_SECS = 600.0

# Learner restart backoff: 2 s, 4 s, 8 s, ... at most 30 s.
_FIRST_BACKOFF_SECS = 2.0
_MAX_BACKOFF_SECS = 30.0
# An actor using less CPU than this in --actor_stall_secs is stalled.
MIN_CPU_SECS = 1.0


def learner_backoff_secs(restart: int) -> float:
  """Seconds to wait before learner restart number `restart` (1-based)."""
  return min(_MAX_BACKOFF_SECS, _FIRST_BACKOFF_SECS * 2 ** (restart - 1))


def learner_restart_refusal(code: int, restarts_done: int,
                            limit: int) -> Optional[str]:
  """Why a learner that exited with `code` is not restarted, or None.

  Args:
    code: its return code (non-zero; negative: killed by that signal).
    restarts_done: restarts already made in this run.
    limit: --max_learner_restarts.
  """
  if code in NOT_RESTARTED:
    return NOT_RESTARTED[code]
  if restarts_done >= limit:
    return (f'its {restarts_done} restart(s) used up '
            f'--max_learner_restarts={limit}')
  return None


def cpu_seconds(pid: int, proc_root: str = '/proc') -> Optional[float]:
  """User + system CPU seconds of process `pid`; None if it is gone."""
  try:
    with open(os.path.join(proc_root, str(pid), 'stat')) as f:
      text = f.read()
  except OSError:
    return None
  return parse_stat_cpu_seconds(text)


def parse_stat_cpu_seconds(stat_text: str,
                           ticks_per_sec: Optional[float] = None) -> float:
  """utime + stime of a /proc/<pid>/stat line, in seconds.

  The command name (field 2) is in parentheses and may hold spaces, so the
  fields are counted from the last ')'; utime and stime are fields 14, 15.
  """
  fields = stat_text[stat_text.rindex(')') + 2:].split()
  # fields[0] is field 3 (state); utime is field 14.
  ticks = int(fields[11]) + int(fields[12])
  if ticks_per_sec is None:
    ticks_per_sec = os.sysconf('SC_CLK_TCK')
  return ticks / ticks_per_sec


@dataclasses.dataclass
class _Mark:
  time: float
  cpu: Optional[float]


class StallWatch:
  """Finds actors that used almost no CPU for `stall_secs` (0 = off)."""

  def __init__(self, stall_secs: float, min_cpu_secs: float = MIN_CPU_SECS,
               proc_root: str = '/proc'):
    self.stall_secs = stall_secs
    self.min_cpu_secs = min_cpu_secs
    self._proc_root = proc_root
    self._marks: Dict[str, _Mark] = {}

  def reset(self, name: str, now: float) -> None:
    """Starts the clock of `name` afresh (at a (re)start of it or the
    learner: waiting for a learner is not a stall)."""
    self._marks[name] = _Mark(now, None)

  def reset_all(self, now: float) -> None:
    for name in list(self._marks):
      self.reset(name, now)

  def check(self, name: str, pid: int, now: float) -> Optional[str]:
    """A description if `name` (process `pid`) is stalled, else None."""
    if self.stall_secs <= 0:
      return None
    cpu = cpu_seconds(pid, self._proc_root)
    if cpu is None:
      return None  # Exited: the launcher sees it on its next poll.
    mark = self._marks.get(name)
    if mark is None or mark.cpu is None or \
        cpu - mark.cpu >= self.min_cpu_secs:
      self._marks[name] = _Mark(now, cpu)  # Progress: a new baseline.
      return None
    if now - mark.time < self.stall_secs:
      return None
    return (f'{name} used {cpu - mark.cpu:.2f} s of CPU in the last '
            f'{now - mark.time:.0f} s (--actor_stall_secs='
            f'{self.stall_secs:g}; state {process_state(pid, self._proc_root)})')


def process_state(pid: int, proc_root: str = '/proc') -> str:
  """The one-letter state of /proc/<pid>/stat ('T': stopped), or '?'."""
  try:
    with open(os.path.join(proc_root, str(pid), 'stat')) as f:
      text = f.read()
    return text[text.rindex(')') + 2:].split()[0]
  except (OSError, ValueError, IndexError):
    return '?'
