"""Process memory of a training run, sampled from /proc (Linux); machine load.

`bench.throughput` reports the peak resident memory (VmHWM) of a run's
learner and of actor 0: the processes are found by their command lines
(`--job_name=learner|actor` plus the run's own `--logdir=`), so processes of
other runs on the machine never count (docs/impala.md §8 for the process
layout of a local run).
"""

import os
from typing import Dict, List, Optional, Sequence

_KIB_PER_MIB = 1024.0


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


def load_average() -> Optional[List[float]]:
  """The 1/5/15-minute load averages (how busy the shared machine was)."""
  try:
    return [round(x, 2) for x in os.getloadavg()]
  except OSError:
    return None
