"""Table 4 of the paper (Atari-57, median/mean human-normalised score).

Builds, from the test_results.json of our runs (one multi-task run, or a
suite root with one `<Game>/` expert run per game), the summary beside the
paper's Table 4 and a per-game table beside Table C.1 (docs/impala.md §6,
§7). The core reaches this module only through the suite registry
(`scalable_agent_tf2.suites.get('atari').paper_table('table4')`).
"""

import os

import numpy as np

import atari57
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.paper import published
from scalable_agent_tf2.paper.render import MISSING
from scalable_agent_tf2.paper.render import Table
from scalable_agent_tf2.paper.render import missing_text
from scalable_agent_tf2.paper.runs import subdirs

# Table C.1 columns aggregated in the Table 4 summary (ACKTR is not in
# Table 4 and misses 13 games).
_C1_SUMMARY_COLUMNS = ('impala_deep', 'impala_shallow',
                       'impala_deep_multitask', 'reactor')
# Table C.1 columns shown per game.
_C1_GAME_COLUMNS = ('impala_deep', 'impala_shallow', 'impala_deep_multitask')


def _atari_results_of(logdir):
  results = run_dir.read_test_results(logdir)
  if results.get('env', 'atari') != 'atari':
    raise ValueError('%s: test_results.json is for env %r, not Atari '
                     '(DMLab-30 results go to table3).' % (logdir,
                                                           results['env']))
  return results


def _result_sources(logdir):
  """[(expected game or None, results)] of a run dir or a suite root."""
  if os.path.exists(run_dir.test_results_path(logdir)):
    return [(None, _atari_results_of(logdir))]
  sources = []
  for name in subdirs(logdir):
    game_dir = os.path.join(logdir, name)
    if not os.path.exists(run_dir.test_results_path(game_dir)):
      continue
    try:
      expected = atari57.canonical_game_name(name)
    except ValueError:
      # Not an expert's directory (e.g. the suite's `multitask/` run, which
      # is a run of its own: pass it to the table separately).
      continue
    sources.append((expected, _atari_results_of(game_dir)))
  return sources


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
  returns = {}
  frames = []
  for expected, results in _result_sources(logdir):
    if results.get('frames') is not None:
      frames.append(results['frames'])
    for level, level_returns in results['level_returns'].items():
      game = atari57.canonical_game_name(level)
      if expected is not None and game != expected:
        raise ValueError('%s/%s holds results for %s.' % (logdir, expected,
                                                          game))
      if game in returns:
        raise ValueError('%s: game %s appears twice.' % (logdir, game))
      if level_returns:
        returns[game] = level_returns
  return {'returns': returns, 'frames': frames}


def _aggregates(label, game_scores, source, num_bootstrap, seed,
                require_all, episodes=None, frames=None):
  """Row: label, games, median, mean, mean (paper random), IQM, CI, ..."""
  ours = atari57.aggregate_scores(game_scores, num_bootstrap=num_bootstrap,
                                  seed=seed, require_all=require_all)
  paper_random = atari57.aggregate_scores(
      game_scores, random_scores=atari57.PAPER_RANDOM_SCORES,
      num_bootstrap=num_bootstrap, seed=seed, require_all=require_all)
  return [label, ours['num_games'], ours['median'], ours['mean'],
          paper_random['mean'], ours['iqm'],
          '[%.1f, %.1f]' % ours['iqm_ci'], episodes, frames, source]


def _aggregate_row(label, game_scores, source, num_bootstrap, seed,
                   episodes=None, frames=None):
  """Summary row over all 57 games; 'n/a (missing: ...)' cells otherwise."""
  missing = [g for g in atari57.GAMES if g not in game_scores]
  if missing or not game_scores:
    text = missing_text(len(missing), 'games')
    return [label, len(game_scores), text, text, text, text, text, episodes,
            frames, source]
  return _aggregates(label, game_scores, source, num_bootstrap, seed, True,
                     episodes, frames)


def _our_run(name, logdir):
  run = load_atari_run(logdir)
  run['name'], run['logdir'] = name, logdir
  run['scores'] = {g: float(np.mean(r)) for g, r in run['returns'].items()}
  run['missing'] = [g for g in atari57.GAMES if g not in run['scores']]
  return run


def _c1_scores():
  """Table C.1 column -> canonical game -> score (games with a score)."""
  c1 = published.load_table_c1()
  return {column: {atari57.canonical_game_name(g): v[column]
                   for g, v in c1.items() if v[column] is not None}
          for column in published.TABLE_C1_AGENTS}


def _summary_rows(our_runs, c1_scores, num_bootstrap, seed):
  rows = []
  for run in our_runs:
    counts = [len(r) for r in run['returns'].values()]
    frames = (min(run['frames']) if run['frames'] else None)
    rows.append(_aggregate_row(run['name'], run['scores'],
                               'ours: ' + run['logdir'], num_bootstrap, seed,
                               min(counts) if counts else None, frames))
    if run['missing'] and run['scores']:
      rows.append(_aggregates(
          '%s (partial: %d of %d games)' % (run['name'], len(run['scores']),
                                            len(atari57.GAMES)),
          run['scores'], 'ours, partial: not comparable', num_bootstrap,
          seed, False))
  for column in _C1_SUMMARY_COLUMNS:
    agent = published.TABLE_C1_AGENTS[column]
    rows.append(_aggregate_row(agent + ' (from Table C.1)',
                               c1_scores[column], 'recomputed from Table C.1',
                               num_bootstrap, seed))
  for row in published.TABLE4:
    rows.append([row.agent, None, row.median, None, row.mean, None, None,
                 None, None, 'paper, Table 4'])
  return rows


def _summary_notes(our_runs, incomplete, num_bootstrap, seed):
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
           published.ATARI57_TEST_EPISODES]
  if short:
    notes.append('Fewer than %d test episodes on some game (the paper\'s '
                 'count): %s.' % (published.ATARI57_TEST_EPISODES,
                                  ', '.join(short)))
  if incomplete:
    notes.append('Missing games: ' + '; '.join(incomplete) + '.')
  return notes


def _game_row(game, our_runs, c1_scores):
  row = [game, float(atari57.RANDOM_SCORES[game]),
         float(atari57.HUMAN_SCORES[game])]
  for run in our_runs:
    if game in run['scores']:
      score = run['scores'][game]
      row += [score, atari57.human_normalized_score(game, score)]
    else:
      row += [MISSING, MISSING]
  for column in _C1_GAME_COLUMNS:
    score = c1_scores[column].get(game)
    row += ([None, None] if score is None else
            [score, atari57.human_normalized_score(game, score)])
  return row


def _games_table(our_runs, c1_scores):
  """One row per game: random, human, ours and Table C.1's."""
  columns = ['Game', 'Random', 'Human']
  for run in our_runs:
    columns += ['%s score' % run['name'], '%s HNS' % run['name']]
  for column in _C1_GAME_COLUMNS:
    agent = published.TABLE_C1_AGENTS[column]
    columns += ['%s score (C.1)' % agent, '%s HNS (C.1)' % agent]
  rows = [_game_row(game, our_runs, c1_scores) for game in atari57.GAMES]
  return Table(
      'table4_games', 'Atari-57 per game, next to Table C.1', columns, rows,
      [None] + ['{:.2f}'] * (len(columns) - 1),
      ['HNS columns use atari57.RANDOM_SCORES (see Table 4 notes).'])


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
  our_runs = [_our_run(name, logdir) for name, logdir in runs]
  incomplete = ['%s misses %d games: %s' % (r['name'], len(r['missing']),
                                            ', '.join(r['missing']))
                for r in our_runs if r['missing']]
  if strict and incomplete:
    raise ValueError('Table 4: ' + '; '.join(incomplete) + '.')
  c1_scores = _c1_scores()
  columns = ['Agent', 'Games', 'Median HNS (%)', 'Mean HNS (%)',
             'Mean HNS (%), VideoPinball random 0', 'IQM HNS (%)',
             'IQM 95% CI', 'Min test episodes/game', 'Frames', 'Source']
  summary = Table('table4', 'Table 4: Atari-57 human-normalised scores',
                  columns, _summary_rows(our_runs, c1_scores, num_bootstrap,
                                         seed),
                  None, _summary_notes(our_runs, incomplete, num_bootstrap,
                                       seed))
  return [summary, _games_table(our_runs, c1_scores)]
