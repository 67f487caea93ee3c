"""Table 2 of the paper: off-policy corrections (final return), ours beside it.

Layout of a Table 2 root: `<root>/<correction>/<level>/` with correction in
vtrace, 1step, epsilon, none (paper §5.2.2), `<correction>_replay` for the
experience-replay variant; a level directory is one run, or holds one run
per setting (seed or hyperparameter sample) of that cell.
"""

import math
import os

import numpy as np

from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.paper import published
from scalable_agent_tf2.paper.render import MISSING
from scalable_agent_tf2.paper.render import Table
from scalable_agent_tf2.paper.runs import subdirs

# "Final return" is the mean return over the last 10% of episodes.
DEFAULT_LAST_FRACTION = 0.1
# The paper reports the mean of the best 3 hyperparameter settings.
TABLE2_BEST_K = 3


def final_return(episodes, last_fraction=DEFAULT_LAST_FRACTION):
  """Mean episode_return over the last `last_fraction` of the episodes.

  At least one episode is used (ceil). Returns None with no episodes.
  """
  if not 0.0 < last_fraction <= 1.0:
    raise ValueError('last_fraction must be in (0, 1], got %r.' %
                     (last_fraction,))
  try:
    returns = [float(e['episode_return']) for e in episodes]
  except (KeyError, TypeError, ValueError):
    raise ValueError(
        'Every episode record needs a numeric "episode_return".') from None
  if not returns:
    return None
  count = max(1, int(math.ceil(len(returns) * last_fraction)))
  return float(np.mean(returns[-count:]))


def _has_episodes(path):
  return os.path.isfile(run_dir.episodes_path(path))


def discover_table2_runs(root):
  """Finds `<root>/<correction>[_replay]/<level>/` run directories.

  A level directory is a run if it has episodes.jsonl; otherwise each of its
  subdirectories with episodes.jsonl is one setting (seed or hyperparameter
  sample) of that cell.

  Returns:
    (runs, ignored): runs maps (correction, replay: bool, level) -> list of
    run dirs; ignored lists directories that are not a known correction.
  """
  if not os.path.isdir(root):
    raise ValueError('Table 2 root %r is not a directory.' % (root,))
  runs = {}
  ignored = []
  for name in subdirs(root):
    replay = name.endswith('_replay')
    correction = name[:-len('_replay')] if replay else name
    if correction not in published.TABLE2_CORRECTIONS:
      ignored.append(name)
      continue
    correction_dir = os.path.join(root, name)
    for level in subdirs(correction_dir):
      level_dir = os.path.join(correction_dir, level)
      if _has_episodes(level_dir):
        dirs = [level_dir]
      else:
        dirs = [os.path.join(level_dir, d) for d in subdirs(level_dir)
                if _has_episodes(os.path.join(level_dir, d))]
      if dirs:
        runs[(correction, replay, level)] = dirs
  return runs, ignored


def _cell(dirs, last_fraction):
  """(our score or MISSING, number of settings used, number of settings)."""
  finals = [final_return(run_dir.read_episodes(d), last_fraction)
            for d in dirs]
  finals = sorted((f for f in finals if f is not None), reverse=True)
  if not finals:
    return MISSING, 0, 0
  best = finals[:TABLE2_BEST_K]
  return float(np.mean(best)), len(best), len(finals)


def short_of_protocol(dirs, found):
  """Why a cell of `found` settings falls short of the paper's, or None.

  The paper's cell is TABLE2_SETTINGS settings of TABLE2_FRAMES frames each
  (published.py); fewer of either is said, so a cell built from a smaller
  grid is never read as the paper's.
  """
  why = []
  if found < published.TABLE2_SETTINGS:
    why.append('%d of %d settings' % (found, published.TABLE2_SETTINGS))
  frames = [run_dir.last_progress_frames(d) for d in dirs]
  if frames and min(frames) < published.TABLE2_FRAMES:
    why.append('runs of %s frames, not %s' % (
        _frames_text(min(frames)), _frames_text(published.TABLE2_FRAMES)))
  return ', '.join(why) or None


def _frames_text(frames):
  for unit, size in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
    if frames >= size:
      return '%g%s' % (round(frames / size, 2), unit)
  return str(frames)


def _rows(runs, levels, last_fraction, with_replay):
  """(rows, missing cells, notes on cells with several settings or short of
  the paper's protocol)."""
  rows, missing, settings = [], [], []
  for replay in ((False, True) if with_replay else (False,)):
    for correction, label in published.TABLE2_CORRECTIONS.items():
      row = [label, 'yes' if replay else 'no']
      for level in levels:
        cell = '%s%s/%s' % (correction, '_replay' if replay else '', level)
        dirs = runs.get((correction, replay, level), [])
        ours, used, found = _cell(dirs, last_fraction)
        short = short_of_protocol(dirs, found) if used else None
        if not used:
          missing.append(cell)
        elif found > 1 or short:
          settings.append('%s: mean of best %d of %d%s' % (
              cell, used, found,
              '; SHORT OF THE PAPER: %s' % short if short else ''))
        row += [ours, published.table2_published(correction, level, replay)]
      rows.append(row)
  return rows, missing, settings


def _notes(runs, levels, last_fraction, with_replay, ignored, missing,
           settings):
  extra_levels = sorted({level for (_, _, level) in runs} - set(levels))
  notes = [
      'Ours: final return = mean episode_return over the last %d%% of the '
      'episodes in episodes.jsonl (at least one episode); with several '
      'settings per cell, the mean of the best %d.' % (
          round(100 * last_fraction), TABLE2_BEST_K),
      'Paper: Table 2, mean final return of the best 3 hyperparameter '
      'settings (%s).' % ('with and without replay' if with_replay else
                          'without replay; replay rows appear when '
                          '<correction>_replay directories exist'),
  ]
  short = sum('SHORT OF THE PAPER' in line for line in settings)
  if short:
    notes.append('%d cell(s) SHORT OF THE PAPER\'s protocol (%d settings of '
                 '%s frames per cell, §5.2): not comparable with its numbers '
                 'as they stand.' % (short, published.TABLE2_SETTINGS,
                                      _frames_text(published.TABLE2_FRAMES)))
  notes.extend(settings)
  if missing:
    notes.append('Missing (%d): %s.' % (len(missing), ', '.join(missing)))
  if extra_levels:
    notes.append('Not in Table 2, ignored: levels %s.' %
                 ', '.join(extra_levels))
  if ignored:
    notes.append('Ignored directories (not a known correction): %s.' %
                 ', '.join(ignored))
  return notes


def table2(root, levels=published.TABLE2_LEVELS,
           last_fraction=DEFAULT_LAST_FRACTION, strict=False):
  """Table 2: final return per correction and level, ours beside the paper's.

  A cell's score is the `final_return` of its run; with several settings
  under the level directory it is the mean of the best 3 (as the paper
  reports the best 3 hyperparameter settings).

  Returns:
    [Table] with rows (correction, replay) and, per level, our final return
    and the published one.

  Raises:
    ValueError: bad root; with `strict`, any missing cell.
  """
  runs, ignored = discover_table2_runs(root)
  with_replay = any(replay for (_, replay, _) in runs)
  columns = ['Correction', 'Replay']
  for level in levels:
    columns += ['%s (ours)' % level, '%s (paper)' % level]
  rows, missing, settings = _rows(runs, levels, last_fraction, with_replay)
  if strict and missing:
    raise ValueError('Table 2: missing runs (or runs without episodes) under '
                     '%s: %s.' % (root, ', '.join(missing)))
  notes = _notes(runs, levels, last_fraction, with_replay, ignored, missing,
                 settings)
  return [Table('table2', 'Table 2: off-policy corrections (final return)',
                columns, rows, None, notes)]
