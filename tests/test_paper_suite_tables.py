"""Tests for Tables 3 and 4, which the suites build (dmlab30/table3.py,
atari57/table4.py) and scalable_agent_tf2.paper.tables reaches through the
suite registry. Fake run directories: tests/paper_helpers.py.
"""

import os

import pytest

import atari57
import dmlab30
from atari57 import table4 as atari_table4
from paper_helpers import rendered_cell
from paper_helpers import write_test_results
from scalable_agent_tf2.paper import __main__ as cli
from scalable_agent_tf2.paper import tables

TEST_LEVELS = list(dmlab30.LEVEL_MAPPING.values())


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
  run = write_test_results(tmp_path / 'run', 'dmlab', returns)
  summary, levels = tables.table3([('ours', run)])
  assert rendered_cell(summary, 'ours', 'Capped mean HNS (%)') == '100.0'
  assert rendered_cell(summary, 'ours', 'Uncapped mean HNS (%)') == '110.0'
  assert rendered_cell(summary, 'IMPALA, deep, PBT', 'Capped mean HNS (%)'
                       ) == '49.4'
  assert rendered_cell(levels, 'rooms_watermaze', 'ours HNS') == '400.0'
  assert rendered_cell(levels, 'rooms_watermaze',
                       'IMPALA, deep, PBT return (B.1)') == '31.1'
  assert [row[0] for row in levels.rows] == TEST_LEVELS


def test_table3_recomputes_table_b1_means():
  # docs/impala.md §7: Table B.1 gives 44.4 and 49.3 (the paper: 44.5, 49.4).
  summary, _ = tables.table3([])
  capped = 'Capped mean HNS (%)'
  assert rendered_cell(summary, 'IMPALA-Experts, deep (from Table B.1)',
                       capped) == '44.4'
  assert rendered_cell(summary, 'IMPALA, deep, PBT (from Table B.1)',
                       capped) == '49.3'


def test_table3_accepts_train_names(tmp_path):
  returns = _dmlab_returns_at_human()
  returns['rooms_collect_good_objects_train'] = returns.pop(
      'rooms_collect_good_objects_test')
  run = write_test_results(tmp_path / 'run', 'dmlab', returns)
  summary, levels = tables.table3([('ours', run)])
  assert summary.cell('ours', 'Capped mean HNS (%)') == pytest.approx(100.0)
  assert levels.cell('rooms_collect_good_objects_test',
                     'ours return') == 10.0


def test_table3_missing_levels_and_strict(tmp_path):
  returns = _dmlab_returns_at_human()
  for level in TEST_LEVELS[:3]:
    del returns[level]
  returns[TEST_LEVELS[3]] = []  # No episodes counts as missing too.
  run = write_test_results(tmp_path / 'run', 'dmlab', returns)
  summary, levels = tables.table3([('ours', run)])
  assert summary.cell('ours', 'Capped mean HNS (%)') == (
      'n/a (missing: 4 levels)')
  assert levels.cell(TEST_LEVELS[0], 'ours HNS') == 'n/a (missing)'
  assert levels.cell(TEST_LEVELS[5], 'ours HNS') == pytest.approx(100.0)
  with pytest.raises(ValueError, match=TEST_LEVELS[0]):
    tables.table3([('ours', run)], strict=True)


def test_table3_rejects_atari_results_and_unknown_levels(tmp_path):
  atari = write_test_results(tmp_path / 'atari', 'atari', {'Pong': [1.0]})
  with pytest.raises(ValueError, match='table4'):
    tables.table3([('a', atari)])
  unknown = write_test_results(tmp_path / 'unknown', 'dmlab',
                               {'seekavoid_arena_01': [1.0]})
  with pytest.raises(ValueError, match='seekavoid_arena_01'):
    tables.table3([('u', unknown)])
  with pytest.raises(ValueError, match='test_results.json'):
    tables.table3([('none', str(tmp_path / 'nothing'))])


def test_table3_flags_fewer_test_episodes_than_the_paper(tmp_path):
  run = write_test_results(tmp_path / 'run', 'dmlab',
                           _dmlab_returns_at_human())
  summary, _ = tables.table3([('ours', run)])
  assert summary.cell('ours', 'Min test episodes/level') == 2
  assert summary.cell('ours', 'Frames') == 1000000
  assert any('Fewer than 500 test episodes' in note and 'ours' in note
             for note in summary.notes)


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
    write_test_results(root / dirname, 'atari', {game: [score, score]})
  summary, per_game = tables.table4([('ours', str(root))], num_bootstrap=50)
  assert rendered_cell(summary, 'ours', 'Median HNS (%)') == '100.0'
  assert rendered_cell(summary, 'ours', _MEAN) == '98.2'
  assert rendered_cell(summary, 'ours', _PAPER_MEAN) == '99.9'
  assert summary.cell('ours', 'Games') == 57
  assert rendered_cell(summary, 'IMPALA, deep, experts (from Table C.1)',
                       'Median HNS (%)') == '191.8'
  assert rendered_cell(summary, 'IMPALA, deep, experts (from Table C.1)',
                       _PAPER_MEAN) == '957.3'
  assert rendered_cell(summary, 'IMPALA, deep, experts', _PAPER_MEAN) == (
      '957.6')
  assert rendered_cell(per_game, 'Pong', 'ours HNS') == '100.00'
  assert rendered_cell(per_game, 'Pong',
                       'IMPALA, deep, experts score (C.1)') == '20.98'
  assert 'VideoPinball' in tables.render_markdown(summary)


def test_table4_from_a_multitask_directory(tmp_path):
  returns = {game: [_atari_game_score(game)] for game in atari57.GAMES}
  run = write_test_results(tmp_path / 'multitask', 'atari', returns)
  summary, _ = tables.table4([('mt', run)], num_bootstrap=50)
  assert rendered_cell(summary, 'mt', _MEAN) == '98.2'


def test_table4_missing_games_and_strict(tmp_path):
  games = atari57.GAMES[3:]
  returns = {game: [atari57.HUMAN_SCORES[game]] for game in games}
  run = write_test_results(tmp_path / 'multitask', 'atari', returns)
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
  write_test_results(root / 'Pong', 'atari', {'Breakout': [1.0]})
  with pytest.raises(ValueError, match='Breakout'):
    tables.table4([('x', str(root))])


def test_table4_rejects_dmlab_results_and_a_missing_directory(tmp_path):
  run = write_test_results(tmp_path / 'run', 'dmlab', {'Pong': [1.0]})
  with pytest.raises(ValueError, match='table3'):
    tables.table4([('d', run)])
  with pytest.raises(ValueError, match='not a directory'):
    tables.table4([('n', str(tmp_path / 'nothing'))])


def test_atari_suite_root_ignores_its_multitask_run(tmp_path):
  # The suite layout: <root>/<Game>/ experts beside <root>/multitask/.
  root = tmp_path / 'atari57'
  write_test_results(str(root / "Pong"), "atari", {"Pong": [20.0, 21.0]})
  write_test_results(str(root / "multitask"), "atari",
                     {'Pong': [-5.0], 'Breakout': [3.0]})
  run = atari_table4.load_atari_run(str(root))
  assert run['returns'] == {'Pong': [20.0, 21.0]}


# --- The command line ----------------------------------------------------------------


def test_cli_table3_writes_markdown_and_csv(tmp_path, capsys):
  run = write_test_results(tmp_path / 'run', 'dmlab',
                           _dmlab_returns_at_human())
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
  run = write_test_results(tmp_path / 'run', 'dmlab', returns)
  assert cli.main(['table3', run, '--strict']) == 1
  assert 'error:' in capsys.readouterr().err
  assert cli.main(['table3', run]) == 0
  assert 'n/a (missing: 1 level)' in capsys.readouterr().out


def test_cli_table4_writes_both_csvs(tmp_path, capsys):
  returns = {game: [_atari_game_score(game)] for game in atari57.GAMES}
  run = write_test_results(tmp_path / 'multitask', 'atari', returns)
  assert cli.main(['table4', 'mt=' + run, '--num-bootstrap', '20',
                   '--csv-dir', str(tmp_path / 'csv')]) == 0
  assert '| mt | 57 | 100.0 | 98.2 | 99.9 |' in capsys.readouterr().out
  assert sorted(os.listdir(tmp_path / 'csv')) == ['table4.csv',
                                                  'table4_games.csv']
