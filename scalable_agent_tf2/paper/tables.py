"""Builds the paper's Tables 1-4 from run logs, next to the published numbers.

Every `tableN` function is pure apart from reading the run logs: it returns a
list of `Table`s (rows of plain values) that `render_markdown` / `render_csv`
turn into text. Run-log files (written by the runtime; fixed contract):

  <logdir>/progress.jsonl     one JSON object per progress interval:
                              {"time", "frames", "updates", "fps", "loss", ...}
  <logdir>/episodes.jsonl     one JSON object per finished real episode:
                              {"time", "frames", "level_name",
                               "episode_return", "episode_step"}
  <logdir>/test_results.json  --mode=test: {"env", "frames", "level_returns":
                              {level: [return, ...]}, "test_num_episodes"}
  <logdir>/config.json        the run's flags.

Missing runs, levels or games never crash a table: the cell says what is
missing ("n/a (missing: 3 games)"). With `strict=True` they raise ValueError.
"""

import csv
import dataclasses
import io
import json
import math
import os
import platform
from typing import Any, List, Optional

import atari57
import dmlab30
import numpy as np

from scalable_agent_tf2.paper import published

PROGRESS_FILE = 'progress.jsonl'
EPISODES_FILE = 'episodes.jsonl'
TEST_RESULTS_FILE = 'test_results.json'
CONFIG_FILE = 'config.json'

# Table 1: the first 20% of progress lines (start-up, queues filling, the
# first graph traces) are excluded from the throughput median.
DEFAULT_WARMUP_FRACTION = 0.2
# Table 2: "final return" is the mean return over the last 10% of episodes.
DEFAULT_LAST_FRACTION = 0.1
# Table 2: the paper reports the mean of the best 3 hyperparameter settings.
TABLE2_BEST_K = 3
# Test protocol episode counts (paper §5.3.1 DMLab-30: 500 per level;
# Appendix G Atari: 200 per game), used to flag short evaluations.
DMLAB30_PAPER_TEST_EPISODES = 500
ATARI_PAPER_TEST_EPISODES = 200

_MISSING = 'n/a (missing)'


@dataclasses.dataclass
class Table:
  """One rendered table.

  Attributes:
    name: short slug (CSV file stem), e.g. 'table3_levels'.
    title: Markdown heading text.
    columns: column headers.
    rows: list of rows, each a list aligned with `columns`; cells are float,
      int, str (e.g. 'n/a (missing: 3 games)') or None (no number).
    formats: per-column format strings for floats (None -> '{:.1f}').
    notes: lines printed under the table.
  """
  name: str
  title: str
  columns: List[str]
  rows: List[List[Any]]
  formats: Optional[List[Optional[str]]] = None
  notes: List[str] = dataclasses.field(default_factory=list)

  def row(self, label):
    """The first row whose first cell is `label` (KeyError if none)."""
    for row in self.rows:
      if row[0] == label:
        return row
    raise KeyError('No row %r in %s.' % (label, self.name))

  def cell(self, label, column):
    """The cell of row `label` under header `column`."""
    return self.row(label)[self.columns.index(column)]


# --- Rendering -------------------------------------------------------------------


def _format_cell(value, fmt):
  if value is None:
    return '—'
  if isinstance(value, bool):
    return str(value)
  if isinstance(value, (int, np.integer)):
    return '{:,}'.format(int(value))
  if isinstance(value, (float, np.floating)):
    if math.isnan(value):
      return 'nan'
    return (fmt or '{:.1f}').format(float(value))
  return str(value)


def format_rows(table):
  """The table's rows as display strings (what `render_markdown` prints)."""
  formats = table.formats or [None] * len(table.columns)
  return [[_format_cell(v, f) for v, f in zip(row, formats)]
          for row in table.rows]


def _markdown_line(cells):
  return '| ' + ' | '.join(c.replace('|', '\\|') for c in cells) + ' |'


def render_markdown(tables):
  """Markdown for one `Table` or a list of them (heading, table, notes)."""
  if isinstance(tables, Table):
    tables = [tables]
  blocks = []
  for table in tables:
    lines = ['### ' + table.title, '', _markdown_line(table.columns),
             '|' + '|'.join(['---'] * len(table.columns)) + '|']
    lines.extend(_markdown_line(cells) for cells in format_rows(table))
    if table.notes:
      lines.append('')
      lines.extend('- ' + note for note in table.notes)
    blocks.append('\n'.join(lines))
  return '\n\n'.join(blocks) + '\n'


def render_csv(table):
  """CSV text of one `Table`: raw numbers (full precision), '' for None."""
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(table.columns)
  for row in table.rows:
    writer.writerow(['' if v is None else v for v in row])
  return out.getvalue()


# --- Run-log readers -------------------------------------------------------------


def read_jsonl(path):
  """Records of a JSON-lines file as a list of dicts.

  A run that is still writing may leave a partial last line; that one line is
  dropped. Any other malformed line is an error.

  Raises:
    ValueError: a line that is not a JSON object.
  """
  with open(path, encoding='utf-8') as f:
    text = f.read()
  lines = text.split('\n')
  records = []
  for index, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
    except json.JSONDecodeError as e:
      if index == len(lines) - 1:  # Unterminated last line: still written.
        break
      raise ValueError('%s line %d is not valid JSON: %s' %
                       (path, index + 1, e)) from None
    if not isinstance(record, dict):
      raise ValueError('%s line %d is not a JSON object.' % (path, index + 1))
    records.append(record)
  return records


def _read_json(path):
  with open(path, encoding='utf-8') as f:
    try:
      value = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError('%s is not valid JSON: %s' % (path, e)) from None
  if not isinstance(value, dict):
    raise ValueError('%s must hold a JSON object.' % path)
  return value


def read_config(logdir):
  """config.json of a run as a dict; {} if the run has none."""
  path = os.path.join(logdir, CONFIG_FILE)
  return _read_json(path) if os.path.exists(path) else {}


def read_test_results(logdir):
  """test_results.json of a run, validated.

  Returns:
    dict with 'env', 'frames', 'test_num_episodes' and 'level_returns'
    (level name -> list of float returns).

  Raises:
    ValueError: missing file or malformed content.
  """
  path = os.path.join(logdir, TEST_RESULTS_FILE)
  if not os.path.exists(path):
    raise ValueError('No %s in %s (run --mode=test first).' %
                     (TEST_RESULTS_FILE, logdir))
  results = _read_json(path)
  level_returns = results.get('level_returns')
  if not isinstance(level_returns, dict):
    raise ValueError('%s has no "level_returns" object.' % path)
  cleaned = {}
  for level, returns in level_returns.items():
    if not isinstance(returns, list):
      raise ValueError('%s: returns of %r must be a list.' % (path, level))
    try:
      cleaned[level] = [float(r) for r in returns]
    except (TypeError, ValueError):
      raise ValueError('%s: returns of %r must be numbers.' %
                       (path, level)) from None
  results['level_returns'] = cleaned
  return results


def parse_run_spec(spec):
  """'NAME=DIR' -> (NAME, DIR); 'DIR' -> (basename of DIR, DIR)."""
  name, sep, path = spec.partition('=')
  if sep and name and os.sep not in name:
    return name, path
  path = spec
  return os.path.basename(os.path.normpath(path)), path


def _short_level_name(level_name):
  # 'contributed/dmlab30/rooms_watermaze' -> 'rooms_watermaze'.
  return str(level_name).rsplit('/', 1)[-1]


# --- Table 1: throughput -----------------------------------------------------------


def steady_state_fps(progress, warmup_fraction=DEFAULT_WARMUP_FRACTION):
  """Median env frames/s of the steady-state part of a run.

  Args:
    progress: progress.jsonl records (each with 'fps': env frames/s over its
      interval, action repeats included, as the paper's Table 1 counts).
    warmup_fraction: fraction of the first lines left out.

  Returns:
    float, or None when there are no records.
  """
  if not 0.0 <= warmup_fraction < 1.0:
    raise ValueError('warmup_fraction must be in [0, 1), got %r.' %
                     (warmup_fraction,))
  try:
    fps = [float(record['fps']) for record in progress]
  except (KeyError, TypeError, ValueError):
    raise ValueError('Every progress record needs a numeric "fps".') from None
  if not fps:
    return None
  start = int(math.floor(len(fps) * warmup_fraction))
  return float(np.median(fps[start:]))


def machine_description(cpus=None, gpus=0, description=None):
  """Our hardware for Table 1: dict with 'cpus', 'gpus', 'description'.

  Defaults: cpus = os.cpu_count(), gpus = 0, description from `platform`.
  """
  if cpus is None:
    cpus = os.cpu_count()
  if cpus is not None and int(cpus) < 1:
    raise ValueError('cpus must be >= 1, got %r.' % (cpus,))
  if int(gpus) < 0:
    raise ValueError('gpus must be >= 0, got %r.' % (gpus,))
  if description is None:
    processor = platform.processor() or platform.machine() or 'unknown CPU'
    description = '%s, %s' % (processor, platform.system() or 'unknown OS')
  return {'cpus': cpus, 'gpus': int(gpus), 'description': description}


def table1(runs, machine=None, warmup_fraction=DEFAULT_WARMUP_FRACTION,
           strict=False):
  """Table 1: our runs' frames/s next to the published throughput rows.

  Args:
    runs: list of (name, logdir). Each logdir holds progress.jsonl and,
      optionally, config.json (level_name, torso, num_actors, batch_size).
    machine: `machine_description()` dict; the current machine if None.
    warmup_fraction: see `steady_state_fps`.
    strict: raise instead of marking runs without progress lines.

  Returns:
    [Table] with the published rows, then one row per run.
  """
  machine = machine or machine_description()
  tasks = list(published.TABLE1_TASKS)
  gpu_label = 'none' if machine['gpus'] == 0 else str(machine['gpus'])
  ours = []
  other_task = False
  missing = []
  for name, logdir in runs:
    config = read_config(logdir)
    path = os.path.join(logdir, PROGRESS_FILE)
    fps = None
    if os.path.exists(path):
      fps = steady_state_fps(read_jsonl(path), warmup_fraction)
    if fps is None:
      missing.append('%s (no %s lines in %s)' % (name, PROGRESS_FILE, logdir))
    task = _short_level_name(config.get('level_name', 'unknown level'))
    details = [str(config[key]) + suffix for key, suffix in (
        ('torso', ''), ('num_actors', ' actors'), ('batch_size', ' batch'))
               if key in config]
    setup = 'Ours: %s' % name
    if details:
      setup += ' (%s)' % ', '.join(details)
    value = _MISSING if fps is None else fps
    cells = [None] * len(tasks)
    other = None
    if task in tasks:
      cells[tasks.index(task)] = value
    else:
      other_task = True
      setup += ' on %s' % task
      other = value
    ours.append([setup, machine['cpus'], gpu_label] + cells + [other])
  if strict and missing:
    raise ValueError('Table 1: missing throughput for ' + '; '.join(missing))

  columns = (['Setup', 'CPUs', 'GPUs'] +
             ['Task %d: %s (frames/s)' % (i + 1, t)
              for i, t in enumerate(tasks)])
  rows = [[row.setup, row.cpus, row.gpus] + list(row.task_fps)
          for row in published.TABLE1]
  if other_task:
    columns.append('Other task (frames/s)')
    rows = [row + [None] for row in rows]
  rows += [row if other_task else row[:-1] for row in ours]
  formats = [None] * 3 + ['{:,.0f}'] * (len(columns) - 3)
  notes = [
      published.TABLE1_HARDWARE +
      ' Published numbers are from the paper (Table 1); their hardware is '
      'not comparable with ours.',
      'Ours: %s CPU cores, GPU %s (%s).' % (machine['cpus'], gpu_label,
                                            machine['description']),
      'Ours: frames/s = median of progress.jsonl "fps" (environment frames '
      'including the action repeat of 4, as in the paper) after the first '
      '%d%% of the lines (start-up).' % round(100 * warmup_fraction),
  ]
  if missing:
    notes.append('Missing: ' + '; '.join(missing) + '.')
  return [Table('table1', 'Table 1: throughput (environment frames/s)',
                columns, rows, formats, notes)]


# --- Table 2: off-policy corrections ----------------------------------------------


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
  return os.path.isfile(os.path.join(path, EPISODES_FILE))


def _subdirs(path):
  return sorted(e.name for e in os.scandir(path) if e.is_dir())


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
  for name in _subdirs(root):
    replay = name.endswith('_replay')
    correction = name[:-len('_replay')] if replay else name
    if correction not in published.TABLE2_CORRECTIONS:
      ignored.append(name)
      continue
    correction_dir = os.path.join(root, name)
    for level in _subdirs(correction_dir):
      level_dir = os.path.join(correction_dir, level)
      if _has_episodes(level_dir):
        dirs = [level_dir]
      else:
        dirs = [os.path.join(level_dir, d) for d in _subdirs(level_dir)
                if _has_episodes(os.path.join(level_dir, d))]
      if dirs:
        runs[(correction, replay, level)] = dirs
  return runs, ignored


def table2(root, levels=published.TABLE2_LEVELS,
           last_fraction=DEFAULT_LAST_FRACTION, strict=False):
  """Table 2: final return per correction and level, ours beside the paper's.

  Layout: `<root>/<correction>/<level>/` with correction in vtrace, 1step,
  epsilon, none; `<correction>_replay` for the experience-replay variant. A
  cell's score is the `final_return` of its run; with several settings under
  the level directory it is the mean of the best 3 (as the paper reports the
  best 3 hyperparameter settings).

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
  rows = []
  missing = []
  settings = []
  for replay in ((False, True) if with_replay else (False,)):
    for correction, label in published.TABLE2_CORRECTIONS.items():
      row = [label, 'yes' if replay else 'no']
      for level in levels:
        finals = [final_return(read_jsonl(os.path.join(d, EPISODES_FILE)),
                                last_fraction)
                  for d in runs.get((correction, replay, level), [])]
        finals = sorted((f for f in finals if f is not None), reverse=True)
        if finals:
          best = finals[:TABLE2_BEST_K]
          ours = float(np.mean(best))
          if len(finals) > 1:
            settings.append('%s%s/%s: mean of best %d of %d' % (
                correction, '_replay' if replay else '', level, len(best),
                len(finals)))
        else:
          ours = _MISSING
          missing.append('%s%s/%s' % (correction, '_replay' if replay else '',
                                      level))
        row += [ours, published.table2_published(correction, level, replay)]
      rows.append(row)
  if strict and missing:
    raise ValueError('Table 2: missing runs (or runs without episodes) under '
                     '%s: %s.' % (root, ', '.join(missing)))
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
  notes.extend(settings)
  if missing:
    notes.append('Missing (%d): %s.' % (len(missing), ', '.join(missing)))
  if extra_levels:
    notes.append('Not in Table 2, ignored: levels %s.' %
                 ', '.join(extra_levels))
  if ignored:
    notes.append('Ignored directories (not a known correction): %s.' %
                 ', '.join(ignored))
  return [Table('table2', 'Table 2: off-policy corrections (final return)',
                columns, rows, None, notes)]


# --- Table 3: DMLab-30 -----------------------------------------------------------------


def _missing_text(count, what):
  return 'n/a (missing: %d %s)' % (count, what if count != 1 else what[:-1])


def _dmlab30_run_scores(name, logdir):
  """Per-level returns/scores and the suite scores of one DMLab-30 test run."""
  results = read_test_results(logdir)
  if results.get('env', 'dmlab') != 'dmlab':
    raise ValueError('%s: test_results.json is for env %r, not DMLab-30 '
                     '(Atari results go to table4).' % (logdir,
                                                        results['env']))
  # Empty return lists count as missing levels, not as errors.
  level_returns = {k: v for k, v in results['level_returns'].items() if v}
  # Accepts any subset of the levels; maps train names to test names and
  # rejects unknown level names.
  uncapped = dmlab30.per_level_human_normalized_scores(level_returns)
  means = {}
  counts = {}
  for level, returns in level_returns.items():
    short_name = _short_level_name(level)
    test_name = dmlab30.LEVEL_MAPPING.get(short_name, short_name)
    means[test_name] = float(np.mean(returns))
    counts[test_name] = len(returns)
  test_levels = list(dmlab30.LEVEL_MAPPING.values())
  missing = [level for level in test_levels if level not in uncapped]
  run = {'name': name, 'logdir': logdir, 'means': means, 'counts': counts,
         'scores': uncapped, 'missing': missing,
         'frames': results.get('frames')}
  if missing:
    run['capped'] = run['uncapped'] = _missing_text(len(missing), 'levels')
  else:
    run['capped'] = dmlab30.compute_human_normalized_score(
        level_returns, per_level_cap=100)
    run['uncapped'] = dmlab30.compute_human_normalized_score(
        level_returns, per_level_cap=None)
  return run


def _table_b1_scores(column, per_level_cap):
  """Mean HNS of a Table B.1 column using the table's own human/random."""
  b1 = published.load_table_b1()
  scores = []
  for row in b1.values():
    score = 100.0 * (row[column] - row['random']) / (row['human'] -
                                                     row['random'])
    if per_level_cap is not None:
      score = min(score, per_level_cap)
    scores.append(score)
  return float(np.mean(scores))


def _table_b1_label_mismatches():
  """Levels whose Table B.1 human score differs from dmlab30.HUMAN_SCORES."""
  mismatches = []
  for level, row in published.load_table_b1().items():
    human = dmlab30.HUMAN_SCORES[level]
    # B.1 rounds to one decimal (e.g. 85.65 -> 85.7).
    if abs(row['human'] - human) > 0.051:
      mismatches.append('%s (B.1 %.1f, ours %s)' % (level, row['human'],
                                                    human))
  return mismatches


def table3(runs, strict=False):
  """Table 3 (DMLab-30 test, human-normalised) and per-level scores vs B.1.

  Args:
    runs: list of (name, logdir) whose test_results.json hold returns of the
      30 DMLab-30 test levels.
    strict: raise ValueError if a run misses levels.

  Returns:
    [summary Table, per-level Table].
  """
  our_runs = [_dmlab30_run_scores(name, logdir) for name, logdir in runs]
  incomplete = ['%s misses %s' % (r['name'], ', '.join(r['missing']))
                for r in our_runs if r['missing']]
  if strict and incomplete:
    raise ValueError('Table 3: ' + '; '.join(incomplete) + '.')

  columns = ['Agent', 'Capped mean HNS (%)', 'Uncapped mean HNS (%)',
             'Min test episodes/level', 'Frames', 'Source']
  rows = []
  for run in our_runs:
    episodes = min(run['counts'].values()) if run['counts'] else None
    rows.append([run['name'], run['capped'], run['uncapped'], episodes,
                 run['frames'], 'ours: ' + run['logdir']])
  for agent, capped in published.TABLE3:
    rows.append([agent, capped, None, None, None, 'paper, Table 3'])
  for column, agent in published.TABLE_B1_AGENTS.items():
    rows.append([agent + ' (from Table B.1)',
                 _table_b1_scores(column, 100.0),
                 _table_b1_scores(column, None), None, None,
                 'recomputed from Table B.1'])
  notes = [
      'HNS per level = 100 * (mean return - random) / (human - random) with '
      'dmlab30.HUMAN_SCORES / RANDOM_SCORES; capped = min(HNS, 100) per level '
      '(no floor); the suite score is the mean over the 30 test levels.',
      'Rows "from Table B.1" recompute the mean from the paper\'s per-level '
      'returns and its own (rounded) human/random columns; the paper\'s '
      'Table 3 says 44.5 and 49.4.',
  ]
  short = [r['name'] for r in our_runs if r['counts'] and
           min(r['counts'].values()) < DMLAB30_PAPER_TEST_EPISODES]
  if short:
    notes.append('Fewer than %d test episodes on some level (the paper\'s '
                 'count): %s.' % (DMLAB30_PAPER_TEST_EPISODES,
                                  ', '.join(short)))
  if incomplete:
    notes.append('Missing levels: ' + '; '.join(incomplete) + '.')
  summary = Table('table3', 'Table 3: DMLab-30 test, mean human-normalised '
                  'score', columns, rows, None, notes)

  b1 = published.load_table_b1()
  level_columns = ['Level', 'Human', 'Random']
  for run in our_runs:
    level_columns += ['%s return' % run['name'], '%s HNS' % run['name']]
  for agent in published.TABLE_B1_AGENTS.values():
    level_columns += ['%s return (B.1)' % agent, '%s HNS (B.1)' % agent]
  level_rows = []
  for level in dmlab30.LEVEL_MAPPING.values():
    row = [level, float(dmlab30.HUMAN_SCORES[level]),
           float(dmlab30.RANDOM_SCORES[level])]
    for run in our_runs:
      if level in run['scores']:
        row += [run['means'][level], run['scores'][level]]
      else:
        row += [_MISSING, _MISSING]
    paper = b1.get(level)
    for column in published.TABLE_B1_AGENTS:
      if paper is None:
        row += [None, None]
      else:
        row += [paper[column], 100.0 * (paper[column] - paper['random']) /
                (paper['human'] - paper['random'])]
    level_rows.append(row)
  level_notes = [
      'HNS columns are uncapped. B.1 HNS use Table B.1\'s own human/random '
      'columns.',
  ]
  mismatches = _table_b1_label_mismatches()
  if mismatches:
    level_notes.append(
        'Table B.1\'s human score differs from dmlab30.HUMAN_SCORES for: %s. '
        'The values match the released score table position by position, so '
        'the paper\'s row labels for these levels look permuted; compare them '
        'with care.' % ', '.join(mismatches))
  levels_table = Table('table3_levels', 'DMLab-30 per level (test), next to '
                       'Table B.1', level_columns, level_rows,
                       [None, '{:.2f}', '{:.3f}'] +
                       ['{:.2f}', None] * len(our_runs) +
                       [None] * (2 * len(published.TABLE_B1_AGENTS)),
                       level_notes)
  return [summary, levels_table]


# --- Table 4: Atari-57 ------------------------------------------------------------------


def _canonical_game(name):
  return atari57.canonical_game_name(name)


def _atari_results_of(logdir):
  results = read_test_results(logdir)
  if results.get('env', 'atari') != 'atari':
    raise ValueError('%s: test_results.json is for env %r, not Atari '
                     '(DMLab-30 results go to table3).' % (logdir,
                                                           results['env']))
  return results


def load_atari_run(logdir):
  """Per-game test returns of an Atari-57 run.

  `logdir` is either a run directory with test_results.json (multi-task: all
  games in one file; or a single game) or a suite root with one
  `<Game>/test_results.json` per game (experts). Game directories without
  test results are treated as missing games.

  Returns:
    dict with 'returns' (canonical game -> list of returns, non-empty),
    'frames' (list of checkpoint frame counters).

  Raises:
    ValueError: not a directory, unknown game names, a game twice, a game
      directory whose results name another game.
  """
  if not os.path.isdir(logdir):
    raise ValueError('Atari run %r is not a directory.' % (logdir,))
  sources = []  # (expected game or None, results)
  if os.path.exists(os.path.join(logdir, TEST_RESULTS_FILE)):
    sources.append((None, _atari_results_of(logdir)))
  else:
    for name in _subdirs(logdir):
      game_dir = os.path.join(logdir, name)
      if not os.path.exists(os.path.join(game_dir, TEST_RESULTS_FILE)):
        continue
      try:
        expected = _canonical_game(name)
      except ValueError:
        # Not an expert's directory (e.g. the suite's `multitask/` run, which
        # is a run of its own: pass it to the table separately).
        continue
      sources.append((expected, _atari_results_of(game_dir)))
  returns = {}
  frames = []
  for expected, results in sources:
    if results.get('frames') is not None:
      frames.append(results['frames'])
    for level, level_returns in results['level_returns'].items():
      game = _canonical_game(level)
      if expected is not None and game != expected:
        raise ValueError('%s/%s holds results for %s.' % (logdir, expected,
                                                          game))
      if game in returns:
        raise ValueError('%s: game %s appears twice.' % (logdir, game))
      if level_returns:
        returns[game] = level_returns
  return {'returns': returns, 'frames': frames}


def _aggregate_row(label, game_scores, source, num_bootstrap, seed,
                   episodes=None, frames=None):
  """Summary row: label, games, median, mean, mean (paper random), IQM, CI."""
  missing = [g for g in atari57.GAMES if g not in game_scores]
  if missing or not game_scores:
    text = _missing_text(len(missing), 'games')
    return [label, len(game_scores), text, text, text, text, text, episodes,
            frames, source]
  ours = atari57.aggregate_scores(game_scores, num_bootstrap=num_bootstrap,
                                  seed=seed)
  paper_random = atari57.aggregate_scores(
      game_scores, random_scores=atari57.PAPER_RANDOM_SCORES,
      num_bootstrap=num_bootstrap, seed=seed)
  return [label, ours['num_games'], ours['median'], ours['mean'],
          paper_random['mean'], ours['iqm'],
          '[%.1f, %.1f]' % ours['iqm_ci'], episodes, frames, source]


def _partial_row(label, game_scores, source, num_bootstrap, seed):
  ours = atari57.aggregate_scores(game_scores, num_bootstrap=num_bootstrap,
                                  seed=seed, require_all=False)
  paper_random = atari57.aggregate_scores(
      game_scores, random_scores=atari57.PAPER_RANDOM_SCORES,
      num_bootstrap=num_bootstrap, seed=seed, require_all=False)
  return [label, ours['num_games'], ours['median'], ours['mean'],
          paper_random['mean'], ours['iqm'],
          '[%.1f, %.1f]' % ours['iqm_ci'], None, None, source]


# Table C.1 columns aggregated in the Table 4 summary (ACKTR is not in
# Table 4 and misses 13 games).
_C1_SUMMARY_COLUMNS = ('impala_deep', 'impala_shallow',
                       'impala_deep_multitask', 'reactor')


def table4(runs, strict=False, num_bootstrap=2000, seed=0):
  """Table 4 (Atari-57 median/mean HNS) and per-game scores vs Table C.1.

  Args:
    runs: list of (name, logdir) accepted by `load_atari_run`.
    strict: raise ValueError if a run misses games.
    num_bootstrap, seed: for the IQM confidence interval
      (`atari57.aggregate_scores`).

  Returns:
    [summary Table, per-game Table].
  """
  our_runs = []
  for name, logdir in runs:
    run = load_atari_run(logdir)
    run['name'], run['logdir'] = name, logdir
    run['scores'] = {g: float(np.mean(r)) for g, r in run['returns'].items()}
    run['missing'] = [g for g in atari57.GAMES if g not in run['scores']]
    our_runs.append(run)
  incomplete = ['%s misses %d games: %s' % (r['name'], len(r['missing']),
                                            ', '.join(r['missing']))
                for r in our_runs if r['missing']]
  if strict and incomplete:
    raise ValueError('Table 4: ' + '; '.join(incomplete) + '.')

  c1 = published.load_table_c1()
  c1_scores = {column: {_canonical_game(g): v[column] for g, v in c1.items()
                        if v[column] is not None}
               for column in published.TABLE_C1_AGENTS}

  columns = ['Agent', 'Games', 'Median HNS (%)', 'Mean HNS (%)',
             'Mean HNS (%), VideoPinball random 0', 'IQM HNS (%)',
             'IQM 95% CI', 'Min test episodes/game', 'Frames', 'Source']
  rows = []
  for run in our_runs:
    counts = [len(r) for r in run['returns'].values()]
    frames = (min(run['frames']) if run['frames'] else None)
    rows.append(_aggregate_row(run['name'], run['scores'],
                               'ours: ' + run['logdir'], num_bootstrap, seed,
                               min(counts) if counts else None, frames))
    if run['missing'] and run['scores']:
      rows.append(_partial_row(
          '%s (partial: %d of %d games)' % (run['name'], len(run['scores']),
                                            len(atari57.GAMES)),
          run['scores'], 'ours, partial: not comparable', num_bootstrap,
          seed))
  for column in _C1_SUMMARY_COLUMNS:
    agent = published.TABLE_C1_AGENTS[column]
    rows.append(_aggregate_row(agent + ' (from Table C.1)',
                               c1_scores[column], 'recomputed from Table C.1',
                               num_bootstrap, seed))
  for row in published.TABLE4:
    rows.append([row.agent, None, row.median, None, row.mean, None, None,
                 None, None, 'paper, Table 4'])
  notes = [
      'HNS = 100 * (score - random) / (human - random) per game (uncapped), '
      'score = mean test return; random/human from atari57 (docs/impala.md §6).',
      'Median and mean use atari57.RANDOM_SCORES (VideoPinball random '
      '16256.9); with it Table C.1 reproduces the paper\'s medians exactly. '
      'The paper\'s means (957.6 / 466.4 / 176.9) only come out with '
      'VideoPinball\'s random score taken as 0.0 (atari57.PAPER_RANDOM_SCORES,'
      ' column "VideoPinball random 0"), so the published means sit in that '
      'column; compare like with like.',
      'IQM: interquartile mean of the per-game HNS with a 95%% percentile '
      'bootstrap CI over games (%d resamples, seed %d); not in the paper.' % (
          num_bootstrap, seed),
  ]
  short = [r['name'] for r in our_runs if r['returns'] and
           min(len(v) for v in r['returns'].values()) <
           ATARI_PAPER_TEST_EPISODES]
  if short:
    notes.append('Fewer than %d test episodes on some game (the paper\'s '
                 'count): %s.' % (ATARI_PAPER_TEST_EPISODES, ', '.join(short)))
  if incomplete:
    notes.append('Missing games: ' + '; '.join(incomplete) + '.')
  summary = Table('table4', 'Table 4: Atari-57 human-normalised scores',
                  columns, rows, None, notes)

  shown = ('impala_deep', 'impala_shallow', 'impala_deep_multitask')
  game_columns = ['Game', 'Random', 'Human']
  for run in our_runs:
    game_columns += ['%s score' % run['name'], '%s HNS' % run['name']]
  for column in shown:
    agent = published.TABLE_C1_AGENTS[column]
    game_columns += ['%s score (C.1)' % agent, '%s HNS (C.1)' % agent]
  game_rows = []
  for game in atari57.GAMES:
    row = [game, float(atari57.RANDOM_SCORES[game]),
           float(atari57.HUMAN_SCORES[game])]
    for run in our_runs:
      if game in run['scores']:
        score = run['scores'][game]
        row += [score, atari57.human_normalized_score(game, score)]
      else:
        row += [_MISSING, _MISSING]
    for column in shown:
      score = c1_scores[column].get(game)
      row += ([None, None] if score is None else
              [score, atari57.human_normalized_score(game, score)])
    game_rows.append(row)
  per_game = Table(
      'table4_games', 'Atari-57 per game, next to Table C.1', game_columns,
      game_rows, [None] + ['{:.2f}'] * (len(game_columns) - 1),
      ['HNS columns use atari57.RANDOM_SCORES (see Table 4 notes).'])
  return [summary, per_game]
