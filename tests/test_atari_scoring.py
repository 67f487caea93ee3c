"""Tests for atari57's game data and human-normalised scoring (pure numpy)."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

import atari57
from atari57 import scoring

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DATA = os.path.join(_REPO, 'scalable_agent_tf2', 'paper', 'data',
                     'atari57_table_c1.csv')


def _score_at(game, hns):
  """The raw score of `game` whose hns (with RANDOM_SCORES) is `hns`."""
  random = atari57.RANDOM_SCORES[game]
  return random + hns / 100.0 * (atari57.HUMAN_SCORES[game] - random)


def _paper_column(column):
  with open(_DATA) as f:
    return {row['game']: float(row[column]) for row in csv.DictReader(f)}


def test_games_and_score_tables_cover_the_57_games():
  assert len(atari57.GAMES) == 57
  assert len(set(atari57.GAMES)) == 57
  assert atari57.GAMES[0] == 'Alien' and atari57.GAMES[-1] == 'Zaxxon'
  assert list(atari57.GAMES) == sorted(atari57.GAMES)  # docs/impala.md §6 order.
  for table in (atari57.RANDOM_SCORES, atari57.HUMAN_SCORES,
                atari57.PAPER_RANDOM_SCORES, atari57.MINIMAL_ACTION_SET_SIZES):
    assert set(table) == set(atari57.GAMES)
  # Spot checks against docs/impala.md §6.
  assert atari57.RANDOM_SCORES['Pong'] == -20.7
  assert atari57.HUMAN_SCORES['MontezumaRevenge'] == 4753.3
  assert atari57.RANDOM_SCORES['VideoPinball'] == 16256.9
  # The paper-means variant differs from the table in VideoPinball only.
  assert atari57.PAPER_RANDOM_SCORES['VideoPinball'] == 0.0
  assert {g for g in atari57.GAMES if atari57.PAPER_RANDOM_SCORES[g] !=
          atari57.RANDOM_SCORES[g]} == {'VideoPinball'}


@pytest.mark.parametrize('name, expected', [
    ('Pong', 'Pong'), ('pong', 'Pong'), ('PONG', 'Pong'),
    ('bank_heist', 'BankHeist'), ('BankHeist', 'BankHeist'),
    ('ALE/BankHeist-v5', 'BankHeist'), ('BankHeistNoFrameskip-v4', 'BankHeist'),
    ('montezuma_revenge', 'MontezumaRevenge'), ('up_n_down', 'UpNDown'),
    ('ms_pacman', 'MsPacman'), ('jamesbond', 'Jamesbond'),
])
def test_canonical_game_name_accepts_common_spellings(name, expected):
  assert atari57.canonical_game_name(name) == expected


@pytest.mark.parametrize('name', ['Pongg', 'Tetris', '', 'ALE/Pong-v5x', None])
def test_canonical_game_name_rejects_unknown_names_listing_valid_ones(name):
  with pytest.raises(ValueError, match='Valid names: Alien, Amidar'):
    atari57.canonical_game_name(name)


def test_num_actions_is_a_cheap_lookup():
  assert atari57.num_actions('Pong') == 6
  assert atari57.num_actions('breakout') == 4
  assert atari57.num_actions('Pong', full_action_space=True) == 18
  with pytest.raises(ValueError, match='Unknown Atari-57 game'):
    atari57.num_actions('NotAGame')


def test_importing_atari57_does_not_import_tensorflow_or_the_emulator():
  code = ('import sys, atari57; atari57.num_actions("Pong"); '
          'print(sorted(m for m in ("tensorflow", "ale_py", "gymnasium") '
          'if m in sys.modules))')
  env = dict(os.environ, PYTHONPATH=_REPO)
  out = subprocess.run([sys.executable, '-c', code], env=env, cwd=_REPO,
                       check=True, capture_output=True, text=True).stdout
  assert out.strip() == '[]'


def test_random_and_human_scores_normalise_to_0_and_100_for_every_game():
  for table in (atari57.RANDOM_SCORES, atari57.PAPER_RANDOM_SCORES):
    for game in atari57.GAMES:
      assert atari57.human_normalized_score(
          game, table[game],
          random_scores=table) == pytest.approx(0.0, abs=1e-9)
      assert atari57.human_normalized_score(
          game, atari57.HUMAN_SCORES[game],
          random_scores=table) == pytest.approx(100.0, rel=1e-12)


def test_human_normalized_score_formula_and_table_choice():
  # Pong: random -20.7, human 14.6 -> 100 * (21 + 20.7) / 35.3.
  assert atari57.human_normalized_score('pong', 21.0) == pytest.approx(
      100 * 41.7 / 35.3)
  # VideoPinball 17667.9 is human (100) in either table; 0 is -1152.1% with
  # the table and 0% with the paper-means variant.
  assert atari57.human_normalized_score('VideoPinball', 0.0) == pytest.approx(
      -100 * 16256.9 / (17667.9 - 16256.9))
  assert atari57.human_normalized_score(
      'VideoPinball', 0.0, random_scores=atari57.PAPER_RANDOM_SCORES) == 0.0
  with pytest.raises(ValueError, match='finite'):
    atari57.human_normalized_score('Pong', float('nan'))
  with pytest.raises(ValueError, match='no entry for Pong'):
    atari57.human_normalized_score('Pong', 0.0, random_scores={'Alien': 1.0})


def test_aggregates_on_a_hand_made_subset():
  # hns: Boxing 50, Breakout 200, Freeway 0, Enduro 100, Venture 400.
  game_scores = {'Boxing': 6.1, 'Breakout': 59.3, 'Freeway': 0.0,
                 'Enduro': 860.5, 'Venture': 4750.0}
  result = atari57.aggregate_scores(game_scores, require_all=False)
  assert result['num_games'] == 5
  assert result['median'] == pytest.approx(100.0)
  assert result['mean'] == pytest.approx(150.0)
  # n = 5 -> trim int(1.25) = 1 per side -> mean(50, 100, 200).
  assert result['iqm'] == pytest.approx(350.0 / 3.0)
  low, high = result['iqm_ci']
  assert 0.0 <= low <= result['iqm'] <= high <= 400.0


def test_aggregates_on_a_hand_made_full_table():
  # 45 games at human level (100%), 10 at random (0%), 2 at 200%.
  hns = {g: 100.0 for g in atari57.GAMES}
  for g in atari57.GAMES[:10]:
    hns[g] = 0.0
  hns['YarsRevenge'] = hns['Zaxxon'] = 200.0
  game_scores = {g: _score_at(g, h) for g, h in hns.items()}
  result = atari57.aggregate_scores(game_scores)
  assert result['num_games'] == 57
  assert result['median'] == pytest.approx(100.0)
  assert result['mean'] == pytest.approx(4900.0 / 57.0)  # 85.96...
  # Trimming 14 per side removes all the 0% and 200% games.
  assert result['iqm'] == pytest.approx(100.0)


def test_interquartile_mean_trims_a_quarter_each_side_like_rliable():
  values = [1000.0, -100.0, 3.0, 0.0, 6.0, 1.0, 2.0, 7.0, 4.0, 5.0]
  # n = 10 -> drop int(2.5) = 2 per side of sorted -> mean(1..6) = 3.5.
  assert scoring.interquartile_mean(values) == pytest.approx(3.5)
  # n = 8 -> drop 2 per side -> mean(3, 4, 5, 6).
  assert scoring.interquartile_mean(np.arange(1.0, 9.0)) == pytest.approx(4.5)
  # n < 4 trims nothing.
  assert scoring.interquartile_mean([1.0, 2.0, 9.0]) == pytest.approx(4.0)
  # Batched over leading axes (the bootstrap relies on it).
  batched = scoring.interquartile_mean(np.array([values, values[::-1]]))
  np.testing.assert_allclose(batched, [3.5, 3.5])
  # The same trimming through aggregate_scores on hns values.
  games = atari57.GAMES[:10]
  result = atari57.aggregate_scores(
      {g: _score_at(g, v) for g, v in zip(games, values)}, require_all=False)
  assert result['iqm'] == pytest.approx(3.5)


def test_bootstrap_interval_is_deterministic_and_degenerate_when_it_must_be():
  scores = _paper_column('impala_deep')
  a = atari57.aggregate_scores(scores, seed=3)
  b = atari57.aggregate_scores(scores, seed=3)
  c = atari57.aggregate_scores(scores, seed=4)
  assert a['iqm_ci'] == b['iqm_ci']
  assert a['iqm_ci'] != c['iqm_ci']
  low, high = a['iqm_ci']
  assert low < a['iqm'] < high
  # One game: every resample is that game, so the interval is a point.
  one = atari57.aggregate_scores({'Pong': 14.6}, require_all=False)
  assert one['iqm_ci'] == pytest.approx((100.0, 100.0))


def test_missing_unknown_or_duplicated_games_are_errors():
  scores = _paper_column('impala_deep')
  del scores['zaxxon'], scores['pong']
  with pytest.raises(ValueError, match='missing 2: Pong, Zaxxon'):
    atari57.aggregate_scores(scores)
  assert atari57.aggregate_scores(scores, require_all=False)['num_games'] == 55
  with pytest.raises(ValueError, match='Unknown Atari-57 game'):
    atari57.aggregate_scores({'Tetris': 1.0}, require_all=False)
  with pytest.raises(ValueError, match='Pong more than once'):
    atari57.aggregate_scores({'Pong': 1.0, 'pong': 2.0}, require_all=False)
  with pytest.raises(ValueError, match='no games'):
    atari57.aggregate_scores({}, require_all=False)
  with pytest.raises(ValueError, match='num_bootstrap'):
    atari57.aggregate_scores({'Pong': 1.0}, require_all=False, num_bootstrap=0)


def test_per_game_table_rows_in_games_order():
  rows = atari57.per_game_table({'zaxxon': 32.5, 'Pong': 14.6,
                                 'Alien': 7127.7})
  assert [r[0] for r in rows] == ['Alien', 'Pong', 'Zaxxon']
  assert [r[1] for r in rows] == [7127.7, 14.6, 32.5]
  np.testing.assert_allclose([r[2] for r in rows], [100.0, 100.0, 0.0],
                             atol=1e-9)


# Table 4 of the paper and the columns of Table C.1 they come from.
_PAPER_TABLE_4 = [
    # column, median, mean
    ('impala_deep', 191.8, 957.6),
    ('impala_shallow', 93.2, 466.4),
    ('impala_deep_multitask', 59.7, 176.9),
]


@pytest.mark.parametrize('column, median, mean', _PAPER_TABLE_4)
def test_paper_table_c1_reproduces_table_4(column, median, mean):
  scores = _paper_column(column)
  # Medians: the published random/human table reproduces them to 0.1.
  table = atari57.aggregate_scores(scores)
  assert round(table['median'], 1) == median
  # Means: only with VideoPinball random = 0.0 (docs/impala.md §7); at one decimal
  # they come out 0.3 below the paper's (e.g. 957.3 for 957.6).
  paper = atari57.aggregate_scores(
      scores, random_scores=atari57.PAPER_RANDOM_SCORES)
  assert abs(round(paper['mean'], 1) - mean) <= 0.3 + 1e-9
  assert abs(table['mean'] - mean) > 1.0  # The table alone does not.
  assert round(paper['median'], 1) == median
