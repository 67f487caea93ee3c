"""Table 3 of the paper (DMLab-30, mean human-normalised test score).

Builds, from the test_results.json of our runs, the summary beside the
paper's Table 3 and a per-level table beside Table B.1 (docs/impala.md §5,
§7). The core reaches this module only through the suite registry
(`scalable_agent_tf2.suites.get('dmlab').paper_table('table3')`).
"""

import numpy as np

import dmlab30
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.paper import published
from scalable_agent_tf2.paper.render import MISSING
from scalable_agent_tf2.paper.render import Table
from scalable_agent_tf2.paper.render import missing_text
from scalable_agent_tf2.paper.runs import short_level_name

_TEST_LEVELS = tuple(dmlab30.LEVEL_MAPPING.values())


def _run_scores(name, logdir):
  """Per-level returns/scores and the suite scores of one DMLab-30 test run."""
  results = run_dir.read_test_results(logdir)
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
    short_name = short_level_name(level)
    test_name = dmlab30.LEVEL_MAPPING.get(short_name, short_name)
    means[test_name] = float(np.mean(returns))
    counts[test_name] = len(returns)
  missing = [level for level in _TEST_LEVELS if level not in uncapped]
  run = {'name': name, 'logdir': logdir, 'means': means, 'counts': counts,
         'scores': uncapped, 'missing': missing,
         'frames': results.get('frames')}
  if missing:
    run['capped'] = run['uncapped'] = missing_text(len(missing), 'levels')
  else:
    run['capped'] = dmlab30.compute_human_normalized_score(
        level_returns, per_level_cap=100)
    run['uncapped'] = dmlab30.compute_human_normalized_score(
        level_returns, per_level_cap=None)
  return run


def _b1_hns(row, column):
  """Uncapped HNS of a Table B.1 cell with the table's own human/random."""
  return 100.0 * (row[column] - row['random']) / (row['human'] - row['random'])


def _table_b1_scores(column, per_level_cap):
  """Mean HNS of a Table B.1 column using the table's own human/random."""
  scores = []
  for row in published.load_table_b1().values():
    score = _b1_hns(row, column)
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


def _summary_notes(our_runs, incomplete):
  notes = [
      'HNS per level = 100 * (mean return - random) / (human - random) with '
      'dmlab30.HUMAN_SCORES / RANDOM_SCORES; capped = min(HNS, 100) per level '
      '(no floor); the suite score is the mean over the 30 test levels.',
      'Rows "from Table B.1" recompute the mean from the paper\'s per-level '
      'returns and its own (rounded) human/random columns; the paper\'s '
      'Table 3 says 44.5 and 49.4.',
  ]
  short = [r['name'] for r in our_runs if r['counts'] and
           min(r['counts'].values()) < published.DMLAB30_TEST_EPISODES]
  if short:
    notes.append('Fewer than %d test episodes on some level (the paper\'s '
                 'count): %s.' % (published.DMLAB30_TEST_EPISODES,
                                  ', '.join(short)))
  if incomplete:
    notes.append('Missing levels: ' + '; '.join(incomplete) + '.')
  return notes


def _summary_table(our_runs, incomplete):
  """Our runs, the paper's Table 3 and the means recomputed from Table B.1."""
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
  return Table('table3', 'Table 3: DMLab-30 test, mean human-normalised '
               'score', columns, rows, None,
               _summary_notes(our_runs, incomplete))


def _level_row(level, our_runs, b1):
  row = [level, float(dmlab30.HUMAN_SCORES[level]),
         float(dmlab30.RANDOM_SCORES[level])]
  for run in our_runs:
    if level in run['scores']:
      row += [run['means'][level], run['scores'][level]]
    else:
      row += [MISSING, MISSING]
  paper = b1.get(level)
  for column in published.TABLE_B1_AGENTS:
    row += ([None, None] if paper is None else
            [paper[column], _b1_hns(paper, column)])
  return row


def _levels_table(our_runs):
  """One row per test level: human, random, ours and Table B.1's."""
  b1 = published.load_table_b1()
  columns = ['Level', 'Human', 'Random']
  for run in our_runs:
    columns += ['%s return' % run['name'], '%s HNS' % run['name']]
  for agent in published.TABLE_B1_AGENTS.values():
    columns += ['%s return (B.1)' % agent, '%s HNS (B.1)' % agent]
  rows = [_level_row(level, our_runs, b1) for level in _TEST_LEVELS]
  notes = [
      'HNS columns are uncapped. B.1 HNS use Table B.1\'s own human/random '
      'columns.',
  ]
  mismatches = _table_b1_label_mismatches()
  if mismatches:
    notes.append(
        'Table B.1\'s human score differs from dmlab30.HUMAN_SCORES for: %s. '
        'The values match the released score table position by position, so '
        'the paper\'s row labels for these levels look permuted; compare them '
        'with care.' % ', '.join(mismatches))
  formats = ([None, '{:.2f}', '{:.3f}'] + ['{:.2f}', None] * len(our_runs) +
             [None] * (2 * len(published.TABLE_B1_AGENTS)))
  return Table('table3_levels', 'DMLab-30 per level (test), next to '
               'Table B.1', columns, rows, formats, notes)


def table3(runs, strict=False):
  """Table 3 (DMLab-30 test, human-normalised) and per-level scores vs B.1.

  Args:
    runs: list of (name, logdir) whose test_results.json hold returns of the
      30 DMLab-30 test levels.
    strict: raise ValueError if a run misses levels.

  Returns:
    [summary Table, per-level Table].
  """
  our_runs = [_run_scores(name, logdir) for name, logdir in runs]
  incomplete = ['%s misses %s' % (r['name'], ', '.join(r['missing']))
                for r in our_runs if r['missing']]
  if strict and incomplete:
    raise ValueError('Table 3: ' + '; '.join(incomplete) + '.')
  return [_summary_table(our_runs, incomplete), _levels_table(our_runs)]
