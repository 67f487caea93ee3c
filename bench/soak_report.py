"""The soak's measurements: PSS per process from /proc, growth, outputs.

PSS (proportional set size, /proc/<pid>/smaps_rollup) charges each page
shared by n processes 1/n to each, so summing it over the processes of a run
counts the memory the run really uses (RSS would count TensorFlow's shared
libraries once per process). TF-free; docs/faults.md explains the soak.
"""

import csv
import json
import os
from typing import Dict, List, Optional, Sequence

from bench import memory

CSV_COLUMNS = ('elapsed_secs', 'role', 'pid', 'pss_kib', 'queue_size',
               'frames', 'loadavg_1m')
GROWTH_TARGET_PERCENT = 5.0


def parse_pss_kib(smaps_rollup_text: str) -> Optional[int]:
  """The 'Pss:' line of /proc/<pid>/smaps_rollup, in KiB (None: absent)."""
  for line in smaps_rollup_text.splitlines():
    name, sep, value = line.partition(':')
    if sep and name.strip() == 'Pss':
      parts = value.split()
      if len(parts) != 2 or parts[1] != 'kB':
        raise ValueError(f'Unexpected smaps_rollup line {line!r}.')
      return int(parts[0])
  return None


def pss_kib(pid: int, proc_root: str = '/proc') -> Optional[int]:
  """PSS of process `pid` (None once it exited or is not readable)."""
  try:
    with open(os.path.join(proc_root, str(pid), 'smaps_rollup')) as f:
      return parse_pss_kib(f.read())
  except OSError:
    return None


def sample_processes(logdir: str, launcher_pid: int,
                     proc_root: str = '/proc') -> List[dict]:
  """[{role, pid, pss_kib}] of the launcher and every process of the run."""
  roles = memory.find_run_processes(logdir, proc_root)
  found = [('launcher', launcher_pid)] + [
      (role, pid) for role, pids in sorted(roles.items()) for pid in pids]
  rows = []
  for role, pid in found:
    value = pss_kib(pid, proc_root)
    if value is not None:
      rows.append(dict(role=role, pid=pid, pss_kib=value))
  return rows


def growth(samples: Sequence[dict], warmup_secs: float,
           instance_warmup_secs: float) -> List[dict]:
  """PSS growth of each process (one entry per role and pid).

  The baseline of a process is its first sample both `warmup_secs` into the
  soak and `instance_warmup_secs` into its own life (a restarted process
  first loads TensorFlow and fills its caches); growth is its last sample
  against that baseline. Processes that lived too short have no baseline.
  """
  by_instance: Dict[tuple, List[dict]] = {}
  for row in samples:
    by_instance.setdefault((row['role'], row['pid']), []).append(row)
  result = []
  for (role, pid), rows in sorted(by_instance.items(),
                                  key=lambda item: item[1][0]['elapsed_secs']):
    rows.sort(key=lambda r: r['elapsed_secs'])
    born = rows[0]['elapsed_secs']
    base = next((r for r in rows
                 if r['elapsed_secs'] >= warmup_secs and
                 r['elapsed_secs'] - born >= instance_warmup_secs), None)
    entry = dict(role=role, pid=pid, first_secs=born,
                 last_secs=rows[-1]['elapsed_secs'],
                 first_pss_mib=_mib(rows[0]['pss_kib']),
                 last_pss_mib=_mib(rows[-1]['pss_kib']),
                 max_pss_mib=_mib(max(r['pss_kib'] for r in rows)))
    if base is not None and rows[-1]['elapsed_secs'] > base['elapsed_secs']:
      entry.update(
          baseline_secs=base['elapsed_secs'],
          baseline_pss_mib=_mib(base['pss_kib']),
          measured_secs=rows[-1]['elapsed_secs'] - base['elapsed_secs'],
          growth_percent=round(100.0 * (rows[-1]['pss_kib'] -
                                        base['pss_kib']) / base['pss_kib'],
                               2))
    result.append(entry)
  return result


def _mib(kib: int) -> float:
  return round(kib / 1024.0, 1)


def write_csv(path: str, samples: Sequence[dict]) -> None:
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction='ignore')
    writer.writeheader()
    for row in samples:
      writer.writerow(row)


def write_png(path: str, samples: Sequence[dict], events: Sequence[dict],
              title: str) -> None:
  """PSS of every process (one line per role and pid) and the queue size."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, (top, bottom) = pyplot.subplots(
      2, 1, figsize=(9.0, 6.5), sharex=True,
      gridspec_kw=dict(height_ratios=[3, 1]))
  lines: Dict[tuple, List[dict]] = {}
  for row in samples:
    lines.setdefault((row['role'], row['pid']), []).append(row)
  for (role, pid), rows in lines.items():
    top.plot([r['elapsed_secs'] / 60 for r in rows],
             [r['pss_kib'] / 1024 for r in rows], marker='.', markersize=3,
             linewidth=1, label=f'{role} (pid {pid})')
  for event in events:
    for axes in (top, bottom):
      axes.axvline(event['elapsed_secs'] / 60, linestyle=':', linewidth=0.8,
                   color='red' if event['what'] == 'kill learner' else 'gray')
  top.set_ylabel('PSS (MiB)')
  top.set_title(title, fontsize=9)
  top.legend(fontsize=6, ncol=2)
  queue = [r for r in samples if r['role'] == 'launcher']
  bottom.plot([r['elapsed_secs'] / 60 for r in queue],
              [r['queue_size'] if r['queue_size'] is not None else float('nan')
               for r in queue], linewidth=1)
  bottom.set_ylabel('learner queue')
  bottom.set_xlabel('minutes (dotted: actor killed; red: learner killed)')
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  pyplot.close(figure)


def write_summary(path: str, summary: dict) -> None:
  with open(path, 'w') as f:
    json.dump(summary, f, indent=2, sort_keys=True)
    f.write('\n')


def verdict(growths: Sequence[dict], min_measured_secs: float) -> dict:
  """Largest growth among processes measured for at least that long."""
  measured = [g for g in growths
              if g.get('measured_secs', 0) >= min_measured_secs]
  if not measured:
    return dict(max_growth_percent=None, processes_measured=0,
                under_target=None)
  worst = max(measured, key=lambda g: g['growth_percent'])
  return dict(max_growth_percent=worst['growth_percent'],
              max_growth_process=f"{worst['role']} (pid {worst['pid']})",
              processes_measured=len(measured),
              min_measured_secs=min_measured_secs,
              target_percent=GROWTH_TARGET_PERCENT,
              under_target=worst['growth_percent'] < GROWTH_TARGET_PERCENT)
