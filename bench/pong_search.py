r"""The small-machine preset search: Pong runs, their health, one table.

Every run trains Pong through `bench.pong` (the shallow net, 2 actor processes,
10M frames, the learning rate annealed over the preset's own 200M frames,
seed 1) into bench/results/pong_search/<name>/, and differs from the `small`
preset (batch 4, epsilon 1e-5, 2 x 8 environments) in the flags listed in
RUNS; the last run trains the chosen preset on a second game, Breakout, so
that the choice is not tuned to Pong alone. After a run, `health` reads its last checkpoint with `bench.torso_health`
(dead first-layer channels, RMSProp `ms`) and `bench.clip_budget` (gradient
norms of the loss terms, the clip factor, RMSProp step sizes), and `table`
writes the markdown tables of all runs (table.md: Pong, then other games)
that the README quotes and the Pong curves in one figure (curves.png).

  python -m bench.pong_search run small_200M     # resumable; Ctrl-C is safe
  python -m bench.pong_search health small_200M
  python -m bench.pong_search table
"""

import argparse
import collections
import json
import os
import sys
from typing import Dict, List, NamedTuple, Optional

ROOT = 'bench/results/pong_search'
FRAMES = 10_000_000


class SearchRun(NamedTuple):
  preset: str  # bench.pong --preset.
  extra: str  # bench.pong --extra: how the run differs from the preset.
  why: str  # What the run asks.
  game: str = 'Pong'


RUNS = collections.OrderedDict([
    ('small_200M', SearchRun(
        'small', '', 'the small preset (batch 4, epsilon 1e-5), 200M '
        'schedule')),
    ('b4_eps1e-2', SearchRun('small', '--epsilon=0.01',
                             'batch 4 with the paper\'s epsilon 0.01')),
    ('b32_eps1e-5', SearchRun('small', '--batch_size=32',
                              'the paper\'s batch 32 with epsilon 1e-5')),
    ('b32_clip320', SearchRun(
        'paper', '--envs_per_actor=8 --grad_norm_clip=320',
        'batch 32, epsilon 0.01, the clip scaled to the batch (40 x 32 / 4)')),
    ('b4_lr2.1e-4', SearchRun(
        'small', '--learning_rate=0.00021',
        'batch 4 with the learning rate / sqrt(8): the random walk of 8x the '
        'updates no longer than batch 32\'s (dead first-layer channels)')),
    # The preset chosen from the Pong runs, on a second game.
    ('breakout_small', SearchRun(
        'small', '', 'the chosen preset on Breakout (Table C.1 shallow: '
        '640 after 200M frames)', game='Breakout')),
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
  run = RUNS[name]
  return [f'--frames={FRAMES}', f'--preset={run.preset}',
          f'--game={run.game}', f'--out-dir={run_dir_of(name)}',
          f'--extra={run.extra}']


def _read_json(path: str) -> Optional[dict]:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _fmt(value, spec: str = '.1f') -> str:
  return '—' if value is None else format(value, spec)


def _dead_channels(health: Optional[dict]) -> str:
  if not health:
    return '—'
  return (f'{health["torso_trained"]["conv_1"]["never_active"]} / 16 (fresh '
          f'{health["torso_initial"]["conv_1"]["never_active"]})')


def torso_path(summary: dict, budget_entry: dict) -> Optional[float]:
  """How far the torso's weights travel in the run, roughly: one RMSProp step
  of the torso at the run's own epsilon (clip included, measured on the final
  agent by `bench.clip_budget`) times the run's number of updates,
  frames_trained / `Config.frames_per_update`. None if not measured."""
  from bench import clip_budget  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import config as config_lib  # pylint: disable=g-import-not-at-top
  hp = summary.get('hyperparameters', {})
  step = budget_entry.get('steps', {}).get('torso', {}).get(
      clip_budget.step_norm_key(hp.get('epsilon', 0)))
  if step is None:
    return None
  # Fields the summary does not record keep their defaults (no replay).
  config = config_lib.Config(**hp)
  return step * summary.get('frames_trained', 0) / config.frames_per_update


def table_row(name: str, summary: dict, health: Optional[dict],
              budget: Optional[dict]) -> str:
  """One markdown row of Pong run `name` from its summary.json,
  torso_health.json and clip_budget.json (missing files give '—')."""
  hp = summary.get('hyperparameters', {})
  frames = summary.get('frames_to_threshold')
  entry = (budget or {}).get('by_batch_size', {}).get(
      str(hp.get('batch_size')), {})
  return (f'| `{name}` | {hp.get("batch_size")} | {hp.get("epsilon"):g} | '
          f'{_fmt(hp.get("grad_norm_clip"), "g")} | '
          f'{_fmt(hp.get("learning_rate"), "g")} | '
          f'{summary.get("frames_trained", 0) / 1e6:.2f}M | '
          f'{_fmt(summary.get("final_mean_return_last_20"))} | '
          f'{_fmt(summary.get("best_moving_average"))} | '
          f'{"—" if frames is None else f"{frames / 1e6:.2f}M"} | '
          f'{_dead_channels(health)} | '
          f'{_fmt(entry.get("clip_factor"), ".2f")} | '
          f'{_fmt(torso_path(summary, entry), ",.0f")} | '
          f'{_fmt(summary.get("fps_steady_state"), ",.0f")} |')


def other_game_row(name: str, summary: dict, health: Optional[dict]) -> str:
  """One markdown row of a run on another game than Pong."""
  hp = summary.get('hyperparameters', {})
  paper = summary.get('paper_table_c1', {}).get('impala_shallow_200M')
  return (f'| `{name}` | {summary.get("game")} | {hp.get("preset")} | '
          f'{summary.get("frames_trained", 0) / 1e6:.2f}M | '
          f'{_fmt(summary.get("final_mean_return_last_20"))} | '
          f'{_fmt(summary.get("best_moving_average"))} | '
          f'{_fmt(paper, ".1f")} | {_dead_channels(health)} | '
          f'{_fmt(summary.get("fps_steady_state"), ",.0f")} |')


TABLE_HEADER = (
    '| run | batch | epsilon | clip | lr | frames | last-20 mean '
    '| best 20-ep mean | frames to +18 | dead conv_1 channels '
    '| clip factor at end | torso step x updates | frames/s |\n'
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|')
OTHER_GAME_HEADER = (
    '| run | game | preset | frames | last-20 mean | best 20-ep mean '
    '| Table C.1 shallow, 200M | dead conv_1 channels | frames/s |\n'
    '|---|---|---|---|---|---|---|---|---|')


def table() -> str:
  """The Pong runs' table and, if any ran, the other games' table."""
  pong_rows, other_rows = [TABLE_HEADER], [OTHER_GAME_HEADER]
  for name, run in RUNS.items():
    directory = run_dir_of(name)
    summary = _read_json(os.path.join(directory, 'summary.json'))
    if summary is None:
      continue
    health = _read_json(os.path.join(directory, 'torso_health.json'))
    if run.game == 'Pong':
      pong_rows.append(table_row(name, summary, health, _read_json(
          os.path.join(directory, 'clip_budget.json'))))
    else:
      other_rows.append(other_game_row(name, summary, health))
  text = '\n'.join(pong_rows) + '\n'
  if len(other_rows) > 1:
    text += '\n' + '\n'.join(other_rows) + '\n'
  return text


def curves_png(path: str) -> Optional[str]:
  """Every Pong run's moving average in one figure (None without any)."""
  from bench import curve_files  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.paper import plots  # pylint: disable=g-import-not-at-top
  curves = collections.OrderedDict()
  paths = [(n, os.path.join(run_dir_of(n), curve_files.CURVE_CSV))
           for n, run in RUNS.items() if run.game == 'Pong']
  for name, csv_path in paths + list(EARLIER_CURVES.items()):
    if os.path.exists(csv_path):
      frames, returns = curve_files.read_curve_csv(csv_path)
      if returns.size:
        curves[name] = {'Pong': (frames, returns)}
  if not curves:
    return None
  window = curve_files.CURVE_WINDOW
  figure = plots.learning_curve_figure(
      curves, window, title='Pong on 2 cores: the preset search '
      f'(moving average over {window} episodes)')
  figure.set_size_inches(8.0, 5.0)
  axes = figure.axes[0]
  curve_files.mark_game(axes, 'Pong')
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
    for name, run in RUNS.items():
      print(f'{name:<14} {run.game:<9} --preset={run.preset} '
            f'{run.extra:<40} {run.why}')
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
