r"""The small-machine preset search: Pong runs, their health, one table.

Every run trains Pong through `bench.pong` (the shallow net, 2 actor processes,
10M frames, the learning rate annealed over the preset's own 200M frames,
seed 1) into bench/results/pong_search/<name>/, and differs from the `small`
preset (batch 4, epsilon 1e-5, 2 x 8 environments) in the flags listed in
RUNS. After a run, `health` reads its last checkpoint with `bench.torso_health`
(dead first-layer channels, RMSProp `ms`) and `bench.clip_budget` (gradient
norms of the loss terms, the clip factor, RMSProp step sizes), and `table`
writes the markdown table of all runs (table.md) that the README quotes and
their curves in one figure (curves.png).

  python -m bench.pong_search run small_200M     # resumable; Ctrl-C is safe
  python -m bench.pong_search health small_200M
  python -m bench.pong_search table
"""

import argparse
import collections
import json
import os
import sys
from typing import Dict, List, Optional

ROOT = 'bench/results/pong_search'
FRAMES = 10_000_000

# name -> (bench.pong --preset, --extra flags, what the run asks).
RUNS = collections.OrderedDict([
    ('small_200M', ('small', '',
                    'the small preset (batch 4, epsilon 1e-5), 200M schedule')),
    ('b4_eps1e-2', ('small', '--epsilon=0.01',
                    'batch 4 with the paper\'s epsilon 0.01')),
    ('b32_eps1e-5', ('small', '--batch_size=32',
                     'the paper\'s batch 32 with epsilon 1e-5')),
    ('b32_clip320', ('paper', '--envs_per_actor=8 --grad_norm_clip=320',
                     'batch 32, epsilon 0.01, the clip scaled to the batch '
                     '(40 x 32 / 4)')),
])


# Earlier runs drawn beside the search for comparison (their own schedules).
EARLIER_CURVES = collections.OrderedDict([
    ('small, 40M schedule (earlier)',
     'bench/results/pong_small/learning_curve.csv')])


def run_dir_of(name: str) -> str:
  return os.path.join(ROOT, name)


def pong_args(name: str) -> List[str]:
  """The bench.pong command-line options of run `name`."""
  if name not in RUNS:
    raise SystemExit(f'Unknown search run {name!r}; known: '
                     f'{", ".join(RUNS)}.')
  preset, extra, _ = RUNS[name]
  return [f'--frames={FRAMES}', f'--preset={preset}',
          f'--out-dir={run_dir_of(name)}', f'--extra={extra}']


def _read_json(path: str) -> Optional[dict]:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _fmt(value, spec: str = '.1f') -> str:
  return '—' if value is None else format(value, spec)


def table_row(name: str, summary: dict, health: Optional[dict],
              budget: Optional[dict]) -> str:
  """One markdown row of run `name` from its summary.json, torso_health.json
  and clip_budget.json (missing files give '—')."""
  hp = summary.get('hyperparameters', {})
  frames = summary.get('frames_to_threshold')
  dead = fresh_dead = None
  if health:
    dead = health['torso_trained']['conv_1']['never_active']
    fresh_dead = health['torso_initial']['conv_1']['never_active']
  entry = (budget or {}).get('by_batch_size', {}).get(
      str(hp.get('batch_size')), {})
  return (f'| `{name}` | {hp.get("batch_size")} | {hp.get("epsilon"):g} | '
          f'{_fmt(hp.get("grad_norm_clip"), "g")} | '
          f'{summary.get("frames_trained", 0) / 1e6:.2f}M | '
          f'{_fmt(summary.get("final_mean_return_last_20"))} | '
          f'{_fmt(summary.get("best_moving_average"))} | '
          f'{"—" if frames is None else f"{frames / 1e6:.2f}M"} | '
          f'{"—" if dead is None else f"{dead} / 16 (fresh {fresh_dead})"} | '
          f'{_fmt(entry.get("clip_factor"), ".2f")} | '
          f'{_fmt(summary.get("fps_steady_state"), ",.0f")} |')


TABLE_HEADER = (
    '| run | batch | epsilon | clip | frames | last-20 mean | best 20-ep mean '
    '| frames to +18 | dead conv_1 channels | clip factor at end | frames/s |\n'
    '|---|---|---|---|---|---|---|---|---|---|---|')


def table() -> str:
  rows = [TABLE_HEADER]
  for name in RUNS:
    directory = run_dir_of(name)
    summary = _read_json(os.path.join(directory, 'summary.json'))
    if summary is None:
      continue
    rows.append(table_row(
        name, summary, _read_json(os.path.join(directory, 'torso_health.json')),
        _read_json(os.path.join(directory, 'clip_budget.json'))))
  return '\n'.join(rows) + '\n'


def read_curve_csv(path: str):
  """(frames, returns) float arrays from a bench.pong learning_curve.csv."""
  import csv  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  with open(path, newline='') as f:
    rows = list(csv.DictReader(f))
  return (np.array([float(r['frames']) for r in rows]),
          np.array([float(r['episode_return']) for r in rows]))


def curves_png(path: str) -> Optional[str]:
  """Every run's moving average in one figure (None without any curve)."""
  from bench import pong  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.paper import plots  # pylint: disable=g-import-not-at-top
  curves = collections.OrderedDict()
  paths = [(n, os.path.join(run_dir_of(n), pong.CURVE_CSV)) for n in RUNS]
  for name, csv_path in paths + list(EARLIER_CURVES.items()):
    if os.path.exists(csv_path):
      frames, returns = read_curve_csv(csv_path)
      if returns.size:
        curves[name] = {pong.GAME: (frames, returns)}
  if not curves:
    return None
  figure = plots.learning_curve_figure(
      curves, pong.CURVE_WINDOW, title='Pong on 2 cores: the preset search '
      f'(moving average over {pong.CURVE_WINDOW} episodes)')
  figure.set_size_inches(8.0, 5.0)
  axes = figure.axes[0]
  axes.set_ylim(-21.5, 21.5)
  axes.axhline(pong.TARGET_RETURN, color='gray', linestyle='--',
               linewidth=0.8)
  axes.axvline(FRAMES, color='gray', linestyle=':', linewidth=0.8)
  axes.set_xlim(0, 2 * FRAMES)
  axes.legend(fontsize=7)
  figure.savefig(path, dpi=100)
  return path


def health(name: str) -> Dict[str, object]:
  """torso_health.json and clip_budget.json of run `name`'s last checkpoint."""
  from bench import clip_budget  # pylint: disable=g-import-not-at-top
  from bench import torso_health  # pylint: disable=g-import-not-at-top
  logdir = os.path.join(run_dir_of(name), 'run')
  from scalable_agent_tf2 import run_dir  # pylint: disable=g-import-not-at-top
  batch = run_dir.read_config(logdir).get('batch_size')
  if not batch:
    raise SystemExit(f'{logdir} has no config.json: run it first.')
  out = {'torso_health': torso_health.run(logdir),
         'clip_budget': clip_budget.run(logdir, batch_sizes=(int(batch),))}
  for key, value in out.items():
    with open(os.path.join(run_dir_of(name), f'{key}.json'), 'w') as f:
      json.dump(value, f, indent=2)
      f.write('\n')
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m bench.pong_search',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('command', choices=('run', 'health', 'table', 'list'))
  parser.add_argument('name', nargs='?', default=None,
                      help='a search run (python -m bench.pong_search list)')
  args = parser.parse_args(argv)
  if args.command == 'list':
    for name, (preset, extra, why) in RUNS.items():
      print(f'{name:<14} --preset={preset} {extra:<40} {why}')
    return 0
  if args.command == 'table':
    text = table()
    with open(os.path.join(ROOT, 'table.md'), 'w') as f:
      f.write(text)
    curves_png(os.path.join(ROOT, 'curves.png'))
    print(text, end='')
    return 0
  if args.name is None:
    raise SystemExit(f'{args.command} needs a run name: '
                     f'{", ".join(RUNS)}.')
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  if args.command == 'run':
    from bench import pong  # pylint: disable=g-import-not-at-top
    return pong.main(pong_args(args.name))
  print(json.dumps(health(args.name), indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
