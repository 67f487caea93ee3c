r"""Read-outs of `bench.pong` runs, and the table of a set of them.

`readouts <out-dir>...` reads each run's files while its logdir (<out-dir>/
run, never committed) still exists and writes <out-dir>/readouts.json:

  * frames and wall-clock minutes at which the 20-episode moving mean first
    reaches -10, 0, +10 and +18 (full windows only, curve_files);
  * the moving mean at 5M and 10M frames (the last full window at or below);
  * steady-state frames/s (summary.json);
  * the policy lag of the fresh and the replayed part of each batch, and the
    policy entropy, from progress.jsonl after its first 20% (steady state);
  * the first-layer channels that never fire (bench.torso_health), with
    --health (it loads the last checkpoint).

Minutes count the training time of every session of the run (sessions.jsonl)
up to the episode, so a run resumed after a pause is not charged the pause.

`table <root> [--out table.md]` renders one row per <root>/<run>/readouts.json;
`curves <png> <out-dir>...` draws the runs' 20-episode means in one figure
(from the committed learning_curve.csv files).

  python -m bench.pong_readouts readouts bench/results/pong_replay/probe_s1
  python -m bench.pong_readouts table bench/results/pong_replay
  python -m bench.pong_readouts curves seeds.png bench/results/pong_replay/replay_s*
"""

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from bench import curve_files
from scalable_agent_tf2 import run_dir

THRESHOLDS = (-10.0, 0.0, 10.0, 18.0)
MEAN_AT = (5_000_000, 10_000_000)
READOUTS_JSON = 'readouts.json'
STEADY_FROM = 0.2  # Table 1's steady state: after the first 20% of lines.


def _read_jsonl(path: str) -> List[dict]:
  return run_dir.read_jsonl(path) if os.path.exists(path) else []


def training_minutes(episode_time: float, sessions: Sequence[dict]
                     ) -> Optional[float]:
  """Training minutes up to `episode_time`: earlier sessions' wall time
  plus the time into the session that contains it."""
  total = 0.0
  for session in sessions:
    start, wall = session['start'], session['wall_secs']
    if episode_time <= start + wall:
      return (total + max(0.0, episode_time - start)) / 60.0
    total += wall
  return None


def mean_at(frames: np.ndarray, returns: np.ndarray, at: float,
            window: int = curve_files.CURVE_WINDOW) -> Optional[float]:
  """The mean of the last full window of episodes ending at or below `at`."""
  upto = int(np.searchsorted(frames, at, side='right'))
  if upto < window:
    return None
  return float(np.mean(returns[upto - window:upto]))


def _steady(progress: List[dict], key: str) -> Optional[float]:
  values = [p[key] for p in progress[int(len(progress) * STEADY_FROM):]
            if p.get(key) is not None]
  return float(np.mean(values)) if values else None


def readouts(out_dir: str, with_health: bool = False) -> Dict[str, object]:
  """The read-outs of one bench.pong output directory (see the docstring)."""
  logdir = os.path.join(out_dir, 'run')
  summary = run_dir.read_json(os.path.join(out_dir, 'summary.json'))
  episodes = run_dir.read_episodes(logdir)
  if not episodes:
    raise SystemExit(f'{logdir} has no episodes.jsonl: the logdir is needed '
                     '(read-outs are taken before it is deleted).')
  frames = np.array([e['frames'] for e in episodes], np.float64)
  returns = np.array([e['episode_return'] for e in episodes], np.float64)
  sessions = _read_jsonl(os.path.join(out_dir, 'sessions.jsonl'))
  progress = run_dir.read_progress(logdir)
  reached = {}
  for threshold in THRESHOLDS:
    at = curve_files.frames_to_threshold(frames, returns,
                                         threshold=threshold)
    index = None if at is None else int(np.nonzero(frames == at)[0][0])
    reached[f'{threshold:+g}'] = {
        'frames': at,
        'minutes': None if index is None else training_minutes(
            episodes[index]['time'], sessions)}
  out = {
      'run': os.path.basename(os.path.normpath(out_dir)),
      'flags': summary.get('hyperparameters', {}),
      'schedule_frames': summary.get('learning_rate_schedule', {}).get(
          'over_frames'),
      'frames_trained': summary.get('frames_trained'),
      'reached': reached,
      'mean_at': {str(at): mean_at(frames, returns, at) for at in MEAN_AT},
      'best_moving_average': summary.get('best_moving_average'),
      'fps_steady_state': summary.get('fps_steady_state'),
      'wall_minutes': sum(s['wall_secs'] for s in sessions) / 60.0,
      'policy_lag_fresh': _steady(progress, 'policy_lag_fresh'),
      'policy_lag_replayed': _steady(progress, 'policy_lag_replayed'),
      'entropy': _steady(progress, 'entropy'),
      'entropy_last': progress[-1].get('entropy') if progress else None,
      'machine': summary.get('machine', {}),
  }
  if with_health:
    from bench import torso_health  # pylint: disable=g-import-not-at-top
    report = torso_health.run(logdir)
    out['dead_first_layer_channels'] = (
        report['torso_trained']['conv_1']['never_active'])
  run_dir.write_json_atomic(os.path.join(out_dir, READOUTS_JSON), out)
  return out


def _cell(value, spec: str = '.1f', suffix: str = '') -> str:
  return '—' if value is None else f'{value:{spec}}{suffix}'


def _reached(entry: dict) -> str:
  if entry['frames'] is None:
    return 'not reached'
  return f'{entry["frames"] / 1e6:.2f}M ({entry["minutes"]:.0f} min)'


def table(root: str) -> str:
  """Markdown: one row per <root>/<run>/readouts.json, by name."""
  rows = []
  for name in sorted(os.listdir(root)):
    path = os.path.join(root, name, READOUTS_JSON)
    if not os.path.exists(path):
      continue
    r = run_dir.read_json(path)
    rows.append('| `{run}` | {sched} | {reach} | {m5} | {m10} | {best} | '
                '{fps} | {lags} | {ent} | {dead} |'.format(
                    run=r['run'],
                    sched=_cell((r['schedule_frames'] or 0) / 1e6, '.0f', 'M'),
                    reach=' | '.join(_reached(r['reached'][f'{t:+g}'])
                                     for t in THRESHOLDS),
                    m5=_cell(r['mean_at'][str(MEAN_AT[0])]),
                    m10=_cell(r['mean_at'][str(MEAN_AT[1])]),
                    best=_cell(r['best_moving_average']),
                    fps=_cell(r['fps_steady_state'], ',.0f'),
                    lags=f'{_cell(r["policy_lag_fresh"])} / '
                         f'{_cell(r["policy_lag_replayed"])}',
                    ent=_cell(r['entropy'], '.2f'),
                    dead=_cell(r.get('dead_first_layer_channels'), 'd')))
  header = ('| run | LR schedule | -10 at | 0 at | +10 at | +18 at | mean at '
            '5M | mean at 10M | best | frames/s | policy lag fresh / '
            'replayed | entropy | dead conv channels |\n|' + '---|' * 13)
  return header + '\n' + '\n'.join(rows) + '\n'


def curves(png: str, out_dirs: Sequence[str]) -> str:
  """One figure of the runs' moving means (run names from the folders)."""
  from scalable_agent_tf2.paper import plots  # pylint: disable=g-import-not-at-top
  runs = {os.path.basename(os.path.normpath(d)): {'Pong': curve_files.
          read_curve_csv(os.path.join(d, curve_files.CURVE_CSV))}
          for d in out_dirs}
  window = curve_files.CURVE_WINDOW
  figure = plots.learning_curve_figure(
      runs, window, title=f'Pong: episode return (moving average over '
      f'{window} episodes)')
  figure.set_size_inches(7.0, 4.5)
  axes = figure.axes[0]
  curve_files.mark_game(axes, 'Pong')
  axes.axvline(MEAN_AT[1], color='gray', linestyle=':', linewidth=0.8)
  axes.legend(fontsize=7)
  figure.savefig(png, dpi=100)
  return png


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m bench.pong_readouts',
                                   description=__doc__.split('\n')[0])
  sub = parser.add_subparsers(dest='command', required=True)
  p = sub.add_parser('readouts')
  p.add_argument('out_dirs', nargs='+')
  p.add_argument('--health', action='store_true',
                 help='Also count dead first-layer channels (loads TF).')
  p = sub.add_parser('table')
  p.add_argument('root')
  p.add_argument('--out', default='')
  p = sub.add_parser('curves')
  p.add_argument('png')
  p.add_argument('out_dirs', nargs='+')
  args = parser.parse_args(argv)
  if args.command == 'curves':
    print(curves(args.png, args.out_dirs))
    return 0
  if args.command == 'readouts':
    for out_dir in args.out_dirs:
      print(json.dumps(readouts(out_dir, args.health)['reached']))
    return 0
  text = table(args.root)
  if args.out:
    run_dir.write_text_atomic(args.out, text)
  sys.stdout.write(text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
