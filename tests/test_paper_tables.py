"""Tests for the paper-table regeneration (scalable_agent_tf2.paper).

Run logs are small fake run directories built in tmp_path in the runtime's
formats (progress.jsonl, episodes.jsonl, test_results.json, config.json).
"""

import csv
import io
import json
import os

import pytest

import atari57
import dmlab30
from scalable_agent_tf2.paper import __main__ as cli
from scalable_agent_tf2.paper import plots
from scalable_agent_tf2.paper import published
from scalable_agent_tf2.paper import tables

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
TEST_LEVELS = list(dmlab30.LEVEL_MAPPING.values())


def _write_jsonl(path, records):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    for record in records:
      f.write(json.dumps(record) + '\n')


def _write_json(path, value):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(value, f)


def _progress_run(logdir, fps_values, config=None):
  _write_jsonl(os.path.join(logdir, 'progress.jsonl'), [
      {'time': 1000.0 + i, 'frames': 4000 * (i + 1), 'updates': i + 1,
       'fps': fps, 'loss': 0.5} for i, fps in enumerate(fps_values)])
  if config is not None:
    _write_json(os.path.join(logdir, 'config.json'), config)
  return str(logdir)


def _episodes_run(logdir, returns, level_name='rooms_watermaze'):
  _write_jsonl(os.path.join(logdir, 'episodes.jsonl'), [
      {'time': 1000.0 + i, 'frames': 1000 * (i + 1), 'level_name': level_name,
       'episode_return': float(r), 'episode_step': 100}
      for i, r in enumerate(returns)])
  return str(logdir)


def _test_results(logdir, env, level_returns, frames=1000000):
  _write_json(os.path.join(logdir, 'test_results.json'), {
      'env': env, 'frames': frames, 'level_returns': level_returns,
      'test_num_episodes': 2})
  return str(logdir)


def _rendered_cell(table, label, column):
  """The Markdown text of one cell."""
  row_index = [row[0] for row in table.rows].index(label)
  return tables.format_rows(table)[row_index][table.columns.index(column)]


# --- Published data ----------------------------------------------------------------


def test_table_b1_loader_has_the_30_dmlab30_test_levels():
  b1 = published.load_table_b1()
  assert set(b1) == set(TEST_LEVELS)
  assert b1['rooms_watermaze'] == {'human': 54.0, 'random': 4.1,
                                   'impala_experts_deep': 26.9,
                                   'impala_deep_pbt': 31.1}


def test_table_c1_loader_has_57_games_and_na_as_none():
  c1 = published.load_table_c1()
  assert len(c1) == 57
  assert {atari57.canonical_game_name(g) for g in c1} == set(atari57.GAMES)
  assert c1['chopper_command']['acktr'] is None
  assert sum(v['acktr'] is None for v in c1.values()) == 13
  assert all(v[column] is not None for v in c1.values()
             for column in ('reactor', 'impala_deep_multitask',
                            'impala_shallow', 'impala_deep'))
  assert c1['pong']['impala_deep'] == 20.98


def test_table_c1_reproduces_table4_medians_and_paper_random_means():
  c1 = published.load_table_c1()
  for column, median, mean in (('impala_deep', 191.8, 957.6),
                               ('impala_shallow', 93.2, 466.4),
                               ('impala_deep_multitask', 59.7, 176.9)):
    scores = {g: v[column] for g, v in c1.items()}
    assert round(atari57.aggregate_scores(scores, num_bootstrap=1)['median'],
                 1) == median
    # docs/impala.md §7: the means need VideoPinball's random score at 0.0; they
    # then agree to the rounding of Table C.1 (957.28 vs 957.6 is the worst).
    paper_mean = atari57.aggregate_scores(
        scores, random_scores=atari57.PAPER_RANDOM_SCORES,
        num_bootstrap=1)['mean']
    assert abs(paper_mean - mean) < 0.35
    # With the published random table the means are far off (e.g. 1592.5).
    assert abs(atari57.aggregate_scores(scores, num_bootstrap=1)['mean'] -
               mean) > 2.0


def test_table2_published_lookup():
  assert published.table2_published('vtrace', 'rooms_watermaze') == 46.8
  assert published.table2_published('none', 'seekavoid_arena_01',
                                    replay=True) == 11.2
  with pytest.raises(ValueError, match='Unknown correction'):
    published.table2_published('retrace', 'rooms_watermaze')


# --- Table 1 -------------------------------------------------------------------------


def test_steady_state_fps_drops_the_warmup_and_takes_the_median():
  progress = [{'fps': fps} for fps in (1.0, 100.0, 200.0, 300.0, 400.0)]
  assert tables.steady_state_fps(progress) == 250.0
  assert tables.steady_state_fps(progress, warmup_fraction=0.0) == 200.0
  assert tables.steady_state_fps([]) is None
  with pytest.raises(ValueError, match='fps'):
    tables.steady_state_fps([{'frames': 3}])


def test_table1_puts_our_fps_in_the_task_column(tmp_path):
  run = _progress_run(tmp_path / 'seek', [1, 100, 200, 300, 400], config={
      'level_name': 'seekavoid_arena_01', 'torso': 'shallow',
      'num_actors': 2, 'batch_size': 32})
  other = _progress_run(tmp_path / 'water', [5000, 1234, 1234],
                        config={'level_name': 'rooms_watermaze'})
  machine = tables.machine_description(cpus=2, gpus=0, description='test box')
  [table] = tables.table1([('mine', run), ('water', other)], machine)
  label = 'Ours: mine (shallow, 2 actors, 32 batch)'
  task1 = 'Task 1: seekavoid_arena_01 (frames/s)'
  assert _rendered_cell(table, label, task1) == '250'
  assert _rendered_cell(table, label, 'CPUs') == '2'
  assert _rendered_cell(table, label, 'GPUs') == 'none'
  assert _rendered_cell(table, 'Ours: water on rooms_watermaze',
                        'Other task (frames/s)') == '1,234'
  assert _rendered_cell(table, 'IMPALA, 48 actors', task1) == '17,000'
  markdown = tables.render_markdown(table)
  assert '48-500 CPU cores' in markdown and 'P100' in markdown
  assert '2 CPU cores, GPU none (test box)' in markdown


def test_table1_missing_progress_and_strict(tmp_path):
  empty = tmp_path / 'empty'
  _write_json(str(empty / 'config.json'),
              {'level_name': 'rooms_keys_doors_puzzle'})
  machine = tables.machine_description(cpus=2)
  [table] = tables.table1([('empty', str(empty))], machine)
  assert _rendered_cell(table, 'Ours: empty',
                        'Task 2: rooms_keys_doors_puzzle (frames/s)') == (
                            'n/a (missing)')
  with pytest.raises(ValueError, match='empty'):
    tables.table1([('empty', str(empty))], machine, strict=True)


def test_read_jsonl_drops_only_a_partial_last_line(tmp_path):
  path = tmp_path / 'progress.jsonl'
  path.write_text('{"fps": 1.0}\n{"fps": 2.0}\n{"fps": 3')
  assert tables.read_jsonl(str(path)) == [{'fps': 1.0}, {'fps': 2.0}]
  path.write_text('{"fps": 1.0}\nnot json\n{"fps": 3.0}\n')
  with pytest.raises(ValueError, match='line 2'):
    tables.read_jsonl(str(path))


# --- Table 2 -------------------------------------------------------------------------


def test_final_return_is_the_mean_of_the_last_tenth():
  episodes = [{'episode_return': r} for r in range(20)]
  assert tables.final_return(episodes) == 18.5
  assert tables.final_return(episodes[:3]) == 2.0  # At least one episode.
  assert tables.final_return([]) is None


def test_table2_side_by_side_with_missing_cells(tmp_path):
  root = tmp_path / 'table2'
  _episodes_run(root / 'vtrace' / 'rooms_watermaze', range(20))
  # Four settings of one cell: the mean of the best 3 final returns.
  for name, value in (('a', 1), ('b', 2), ('c', 3), ('d', 4)):
    _episodes_run(root / 'none' / 'seekavoid_arena_01' / name, [value] * 10,
                  'seekavoid_arena_01')
  [table] = tables.table2(str(root))
  assert table.cell('V-trace', 'rooms_watermaze (ours)') == 18.5
  assert table.cell('V-trace', 'rooms_watermaze (paper)') == 46.8
  assert table.cell('No-correction', 'seekavoid_arena_01 (ours)') == 3.0
  assert table.cell('No-correction', 'seekavoid_arena_01 (paper)') == 16.1
  assert _rendered_cell(table, '1-Step', 'rooms_watermaze (ours)') == (
      'n/a (missing)')
  assert len(table.rows) == 4  # No replay directories: no replay rows.
  assert 'Missing (18)' in tables.render_markdown(table)
  with pytest.raises(ValueError, match='1step/rooms_watermaze'):
    tables.table2(str(root), strict=True)


def test_table2_replay_rows(tmp_path):
  root = tmp_path / 'table2'
  _episodes_run(root / 'vtrace_replay' / 'rooms_watermaze', [7.0] * 10)
  [table] = tables.table2(str(root))
  replay_rows = [row for row in table.rows if row[1] == 'yes']
  assert len(replay_rows) == 4 and replay_rows[0][0] == 'V-trace'
  column = table.columns.index('rooms_watermaze (ours)')
  assert replay_rows[0][column] == 7.0
  assert replay_rows[0][column + 1] == 47.1


# --- Table 3 -------------------------------------------------------------------------


def _dmlab_returns_at_human():
  return {level: [float(dmlab30.HUMAN_SCORES[level])] * 2
          for level in TEST_LEVELS}


def test_table3_all_levels_at_human_score(tmp_path):
  returns = _dmlab_returns_at_human()
  # One level at 400% of human: uncapped mean (29 * 100 + 400) / 30 = 110.
  human, random = (dmlab30.HUMAN_SCORES['rooms_watermaze'],
                   dmlab30.RANDOM_SCORES['rooms_watermaze'])
  returns['rooms_watermaze'] = [random + 4.0 * (human - random)]
  run = _test_results(tmp_path / 'run', 'dmlab', returns)
  summary, levels = tables.table3([('ours', run)])
  assert _rendered_cell(summary, 'ours', 'Capped mean HNS (%)') == '100.0'
  assert _rendered_cell(summary, 'ours', 'Uncapped mean HNS (%)') == '110.0'
  assert _rendered_cell(summary, 'IMPALA, deep, PBT', 'Capped mean HNS (%)'
                       ) == '49.4'
  assert _rendered_cell(levels, 'rooms_watermaze', 'ours HNS') == '400.0'
  assert _rendered_cell(levels, 'rooms_watermaze',
                        'IMPALA, deep, PBT return (B.1)') == '31.1'
  assert [row[0] for row in levels.rows] == TEST_LEVELS


def test_table3_recomputes_table_b1_means():
  # docs/impala.md §7: Table B.1 gives 44.4 and 49.3 (the paper: 44.5, 49.4).
  summary, _ = tables.table3([])
  capped = 'Capped mean HNS (%)'
  assert _rendered_cell(summary, 'IMPALA-Experts, deep (from Table B.1)',
                        capped) == '44.4'
  assert _rendered_cell(summary, 'IMPALA, deep, PBT (from Table B.1)',
                        capped) == '49.3'


def test_table3_accepts_train_names(tmp_path):
  returns = _dmlab_returns_at_human()
  returns['rooms_collect_good_objects_train'] = returns.pop(
      'rooms_collect_good_objects_test')
  run = _test_results(tmp_path / 'run', 'dmlab', returns)
  summary, levels = tables.table3([('ours', run)])
  assert summary.cell('ours', 'Capped mean HNS (%)') == pytest.approx(100.0)
  assert levels.cell('rooms_collect_good_objects_test',
                     'ours return') == 10.0


def test_table3_missing_levels_and_strict(tmp_path):
  returns = _dmlab_returns_at_human()
  for level in TEST_LEVELS[:3]:
    del returns[level]
  returns[TEST_LEVELS[3]] = []  # No episodes counts as missing too.
  run = _test_results(tmp_path / 'run', 'dmlab', returns)
  summary, levels = tables.table3([('ours', run)])
  assert summary.cell('ours', 'Capped mean HNS (%)') == (
      'n/a (missing: 4 levels)')
  assert levels.cell(TEST_LEVELS[0], 'ours HNS') == 'n/a (missing)'
  assert levels.cell(TEST_LEVELS[5], 'ours HNS') == pytest.approx(100.0)
  with pytest.raises(ValueError, match=TEST_LEVELS[0]):
    tables.table3([('ours', run)], strict=True)


def test_table3_rejects_atari_results_and_unknown_levels(tmp_path):
  atari = _test_results(tmp_path / 'atari', 'atari', {'Pong': [1.0]})
  with pytest.raises(ValueError, match='table4'):
    tables.table3([('a', atari)])
  unknown = _test_results(tmp_path / 'unknown', 'dmlab',
                          {'seekavoid_arena_01': [1.0]})
  with pytest.raises(ValueError, match='seekavoid_arena_01'):
    tables.table3([('u', unknown)])
  with pytest.raises(ValueError, match='test_results.json'):
    tables.table3([('none', str(tmp_path / 'nothing'))])


# --- Table 4 -------------------------------------------------------------------------


def _atari_game_score(game):
  # Human score everywhere except VideoPinball at its random score.
  if game == 'VideoPinball':
    return atari57.RANDOM_SCORES[game]
  return atari57.HUMAN_SCORES[game]


# Expected: 56 games at 100 and VideoPinball at 0 -> mean 5600 / 57 = 98.2;
# with VideoPinball's random at 0.0 it scores 100 * 16256.9 / 17667.9 = 92.0
# -> mean 99.9.
_MEAN = 'Mean HNS (%)'
_PAPER_MEAN = 'Mean HNS (%), VideoPinball random 0'


def test_table4_from_per_game_directories(tmp_path):
  root = tmp_path / 'atari'
  for i, game in enumerate(atari57.GAMES):
    # Some directories in snake_case ('BankHeist' -> 'bank_heist').
    dirname = game if i % 2 else ''.join(
        '_' + c.lower() if c.isupper() and j else c.lower()
        for j, c in enumerate(game))
    score = _atari_game_score(game)
    _test_results(root / dirname, 'atari', {game: [score, score]})
  summary, per_game = tables.table4([('ours', str(root))], num_bootstrap=50)
  assert _rendered_cell(summary, 'ours', 'Median HNS (%)') == '100.0'
  assert _rendered_cell(summary, 'ours', _MEAN) == '98.2'
  assert _rendered_cell(summary, 'ours', _PAPER_MEAN) == '99.9'
  assert summary.cell('ours', 'Games') == 57
  assert _rendered_cell(summary, 'IMPALA, deep, experts (from Table C.1)',
                        'Median HNS (%)') == '191.8'
  assert _rendered_cell(summary, 'IMPALA, deep, experts (from Table C.1)',
                        _PAPER_MEAN) == '957.3'
  assert _rendered_cell(summary, 'IMPALA, deep, experts', _PAPER_MEAN) == (
      '957.6')
  assert _rendered_cell(per_game, 'Pong', 'ours HNS') == '100.00'
  assert _rendered_cell(per_game, 'Pong',
                        'IMPALA, deep, experts score (C.1)') == '20.98'
  assert 'VideoPinball' in tables.render_markdown(summary)


def test_table4_from_a_multitask_directory(tmp_path):
  returns = {game: [_atari_game_score(game)] for game in atari57.GAMES}
  run = _test_results(tmp_path / 'multitask', 'atari', returns)
  summary, _ = tables.table4([('mt', run)], num_bootstrap=50)
  assert _rendered_cell(summary, 'mt', _MEAN) == '98.2'


def test_table4_missing_games_and_strict(tmp_path):
  games = atari57.GAMES[3:]
  returns = {game: [atari57.HUMAN_SCORES[game]] for game in games}
  run = _test_results(tmp_path / 'multitask', 'atari', returns)
  summary, per_game = tables.table4([('mt', run)], num_bootstrap=50)
  assert summary.cell('mt', 'Median HNS (%)') == 'n/a (missing: 3 games)'
  # A separate, clearly labelled aggregate over the games that exist.
  assert summary.cell('mt (partial: 54 of 57 games)', 'Median HNS (%)'
                      ) == pytest.approx(100.0)
  assert per_game.cell(atari57.GAMES[0], 'mt score') == 'n/a (missing)'
  with pytest.raises(ValueError, match=atari57.GAMES[0]):
    tables.table4([('mt', run)], strict=True, num_bootstrap=50)


def test_table4_rejects_a_game_in_the_wrong_directory(tmp_path):
  root = tmp_path / 'atari'
  _test_results(root / 'Pong', 'atari', {'Breakout': [1.0]})
  with pytest.raises(ValueError, match='Breakout'):
    tables.table4([('x', str(root))])


# --- Rendering and the command line ------------------------------------------------


def test_render_csv_keeps_full_precision_and_blank_for_none():
  table = tables.Table('t', 'T', ['a', 'b', 'c'], [['x|y', 1.23456, None]])
  rows = list(csv.reader(io.StringIO(tables.render_csv(table))))
  assert rows == [['a', 'b', 'c'], ['x|y', '1.23456', '']]
  assert '| x\\|y | 1.2 | — |' in tables.render_markdown(table)


def test_cli_table3_writes_markdown_and_csv(tmp_path, capsys):
  run = _test_results(tmp_path / 'run', 'dmlab', _dmlab_returns_at_human())
  out = tmp_path / 'table3.md'
  assert cli.main(['table3', 'mine=' + run, '--out', str(out),
                   '--csv-dir', str(tmp_path / 'csv')]) == 0
  stdout = capsys.readouterr().out
  assert out.read_text() == stdout
  assert '| mine | 100.0 | 100.0 |' in stdout
  assert sorted(os.listdir(tmp_path / 'csv')) == ['table3.csv',
                                                  'table3_levels.csv']


def test_cli_strict_missing_is_an_error(tmp_path, capsys):
  returns = _dmlab_returns_at_human()
  del returns['rooms_watermaze']
  run = _test_results(tmp_path / 'run', 'dmlab', returns)
  assert cli.main(['table3', run, '--strict']) == 1
  assert 'error:' in capsys.readouterr().err
  assert cli.main(['table3', run]) == 0
  assert 'n/a (missing: 1 level)' in capsys.readouterr().out


# --- Learning curves -----------------------------------------------------------------


def test_moving_average_is_trailing_with_partial_start():
  assert list(plots.moving_average([1.0, 2.0, 3.0, 4.0], 2)) == [
      1.0, 1.5, 2.5, 3.5]
  with pytest.raises(ValueError, match='window'):
    plots.moving_average([1.0], 0)


def test_curves_png_one_line_per_run_and_level(tmp_path):
  runs = []
  for name in ('a', 'b'):
    logdir = tmp_path / name
    records = [{'time': float(i), 'frames': 100 * i,
                'level_name': 'contributed/dmlab30/' + level,
                'episode_return': float(i), 'episode_step': 10}
               for i in range(30)
               for level in ('rooms_watermaze', 'explore_goal_locations_small')]
    _write_jsonl(str(logdir / 'episodes.jsonl'), records)
    runs.append((name, str(logdir)))
  out = tmp_path / 'plots' / 'grid.png'
  written = plots.write_learning_curves(runs, str(out), window=5)
  assert written['num_lines'] == 4  # 2 runs x 2 levels.
  assert written['levels'] == ['explore_goal_locations_small',
                               'rooms_watermaze']
  data = out.read_bytes()
  assert data.startswith(PNG_SIGNATURE) and len(data) > 1000

  curves = plots.load_curves(runs[0][1])
  figure = plots.learning_curve_figure({'a': curves}, window=5)
  assert len(figure.axes) == 2 and plots.count_lines(figure) == 2


def test_cli_curves_writes_one_png_per_run(tmp_path, capsys):
  run = _episodes_run(tmp_path / 'run', [1.0, 2.0, 3.0])
  assert cli.main(['curves', 'seed0=' + run, '--out-dir',
                   str(tmp_path / 'png'), '--window', '2']) == 0
  data = (tmp_path / 'png' / 'seed0.png').read_bytes()
  assert data.startswith(PNG_SIGNATURE)
  assert '1 curves' in capsys.readouterr().out
  assert cli.main(['curves', str(tmp_path / 'missing')]) == 1


def test_atari_suite_root_ignores_its_multitask_run(tmp_path):
  # The suite layout: <root>/<Game>/ experts beside <root>/multitask/.
  root = tmp_path / 'atari57'
  _test_results(str(root / "Pong"), "atari", {"Pong": [20.0, 21.0]})
  _test_results(str(root / "multitask"), "atari",
                      {'Pong': [-5.0], 'Breakout': [3.0]})
  run = tables.load_atari_run(str(root))
  assert run['returns'] == {'Pong': [20.0, 21.0]}
