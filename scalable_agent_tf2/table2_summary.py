"""What the Table 2 runs of a root did: final returns, policy lags, curves.

`python -m scalable_agent_tf2.table2_runner summary --root R --out_dir D`
reads every run of a Table 2 root (`<root>/<correction>[_replay]/<level>/
<setting>/`, paper §5.2.2) from its own files (episodes.jsonl,
progress.jsonl, config.json, through `scalable_agent_tf2.run_dir`) and
writes into D:

  summary.csv / summary.md  one row per run: frames, updates, episodes, the
                            final return (Table 2's statistic), the policy lag
                            of the whole batch, of its fresh and of its
                            replayed part (docs/replay.md);
  episodes.csv              every episode: run, frames, return;
  lags.csv                  every progress line: run, frames, lags, fill;
  curves.png                the learning curves of all runs in one figure.
"""

import os
from typing import Dict, List

import numpy as np

from scalable_agent_tf2 import run_dir

# Lags are averaged over the second half of a run's progress lines, when
# the buffer is (nearly) full and the lag settled.
LAG_FRACTION = 0.5
LAG_KEYS = ('mean_policy_lag', 'policy_lag_fresh', 'policy_lag_replayed',
            'replay_fill')
SUMMARY_COLUMNS = ('run', 'correction', 'replay', 'level', 'setting', 'frames',
                   'updates', 'episodes', 'final_return', 'mean_policy_lag',
                   'policy_lag_fresh', 'policy_lag_replayed')


def _late_mean(records: List[Dict], key: str):
  values = [r[key] for r in records if r.get(key) is not None]
  if not values:
    return None
  late = values[int(len(values) * (1.0 - LAG_FRACTION)):]
  return round(float(np.mean(late)), 2)


def run_rows(root: str, last_fraction: float):
  """(summary rows, episode rows, lag rows) of every run under `root`."""
  from scalable_agent_tf2.paper import tables  # pylint: disable=g-import-not-at-top
  runs, _ = tables.discover_table2_runs(root)
  summary, episodes, lags = [], [], []
  for (correction, replay, level), dirs in sorted(runs.items()):
    for logdir in dirs:
      name = os.path.relpath(logdir, root)
      progress = run_dir.read_progress(logdir)
      records = run_dir.read_episodes(logdir)
      final = tables.final_return(records, last_fraction)
      summary.append([
          name, correction, replay, level, os.path.basename(logdir),
          run_dir.last_progress_frames(logdir),
          progress[-1].get('updates') if progress else None, len(records),
          None if final is None else round(final, 2)] +
                     [_late_mean(progress, k) for k in LAG_KEYS[:3]])
      episodes += [[name, e.get('frames'), e.get('episode_return')]
                   for e in records]
      lags += [[name, p.get('frames'), p.get('updates')] +
               [p.get(k) for k in LAG_KEYS] for p in progress]
  return summary, episodes, lags


def _markdown(root: str, rows, last_fraction: float) -> str:
  lines = ['# Table 2 runs under %s' % root, '',
           '| ' + ' | '.join(SUMMARY_COLUMNS) + ' |',
           '|' + '---|' * len(SUMMARY_COLUMNS)]
  for row in rows:
    lines.append('| ' + ' | '.join('-' if v is None else str(v)
                                   for v in row) + ' |')
  lines += ['', 'final_return: mean episode return over the last %d%% of '
            'the episodes; lags: mean over the second half of the progress '
            'lines (updates since the acting parameters).' %
            round(100 * last_fraction), '']
  return '\n'.join(lines)


def write_summary(root: str, out_dir: str, last_fraction: float = 0.1,
                  window: int = 20) -> List[str]:
  """Writes the files listed in the module docstring; returns their paths.

  Raises:
    ValueError: `root` holds no Table 2 run.
  """
  from scalable_agent_tf2.paper import plots  # pylint: disable=g-import-not-at-top
  summary, episodes, lags = run_rows(root, last_fraction)
  if not summary:
    raise ValueError('No Table 2 run (with episodes.jsonl) under %s.' % root)
  os.makedirs(out_dir, exist_ok=True)
  written = run_dir.write_markdown_and_csv(
      os.path.join(out_dir, 'summary.md'),
      _markdown(root, summary, last_fraction), {
          os.path.join(out_dir, 'summary.csv'): run_dir.csv_text(
              SUMMARY_COLUMNS, summary),
          os.path.join(out_dir, 'episodes.csv'): run_dir.csv_text(
              ('run', 'frames', 'episode_return'), episodes),
          os.path.join(out_dir, 'lags.csv'): run_dir.csv_text(
              ('run', 'frames', 'updates') + LAG_KEYS, lags),
      })
  png = os.path.join(out_dir, 'curves.png')
  plots.write_learning_curves([(row[0], os.path.join(root, row[0]))
                               for row in summary], png, window,
                              title='Table 2 runs: %s' % os.path.basename(
                                  os.path.normpath(root)))
  return written + [png]
