"""Human-normalised scores and suite aggregates for Atari-57 (pure numpy).

Per game (docs/impala.md §6): hns = 100 * (score - random) / (human - random), in
percent, uncapped (the paper's Atari numbers are not capped).

Suite aggregates over the per-game hns:
  median, mean: the paper's Table 4 statistics.
  iqm: interquartile mean, the mean of the middle 50% of the scores after
    dropping floor(0.25 * n) from each end (the trimming rliable does through
    scipy.stats.trim_mean(..., 0.25)); 'iqm_ci' is its 95% percentile bootstrap
    confidence interval over games (resampled with replacement). rliable's
    stratified bootstrap resamples runs within each game; with one run (one
    mean score) per game that reduces to resampling games.

Which random table to use: RANDOM_SCORES reproduces the paper's medians,
PAPER_RANDOM_SCORES (VideoPinball random = 0.0) its means (docs/impala.md §7).
"""

import math
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from atari57.games import GAMES, HUMAN_SCORES, RANDOM_SCORES
from atari57.games import canonical_game_name

# rliable's IQM trims this fraction of the sorted scores from each end.
_IQM_TRIM = 0.25


def _canonical_random_scores(
    random_scores: Optional[Mapping[str, float]]) -> Dict[str, float]:
  if random_scores is None:
    return RANDOM_SCORES
  return {canonical_game_name(g): float(s) for g, s in random_scores.items()}


def _hns(game: str, score: float, random_scores: Mapping[str, float]) -> float:
  """hns of one canonical game; `random_scores` already canonical."""
  score = float(score)
  if not math.isfinite(score):
    raise ValueError(f'Score for {game} must be finite, got {score!r}.')
  if game not in random_scores:
    raise ValueError(f'random_scores has no entry for {game}.')
  random = random_scores[game]
  human = HUMAN_SCORES[game]
  if human == random:
    raise ValueError(
        f'Human and random scores of {game} are equal ({human}); the '
        'normalisation is undefined.')
  return 100.0 * (score - random) / (human - random)


def human_normalized_score(
    game: str, score: float,
    random_scores: Optional[Mapping[str, float]] = None) -> float:
  """Human-normalised score of `score` on `game`, in percent (uncapped).

  Args:
    game: any spelling `canonical_game_name` accepts.
    score: raw score (e.g. mean episode return), a finite number.
    random_scores: random-agent scores per game; RANDOM_SCORES if None (pass
      PAPER_RANDOM_SCORES to reproduce the paper's published means).

  Returns:
    100 * (score - random) / (human - random).

  Raises:
    ValueError: unknown game, non-finite score, or a game missing from
      `random_scores`.
  """
  game = canonical_game_name(game)
  return _hns(game, score, _canonical_random_scores(random_scores))


def _canonical_scores(game_scores: Mapping[str, float]) -> Dict[str, float]:
  """Canonicalises the keys; two spellings of one game are an error."""
  if not isinstance(game_scores, Mapping):
    raise ValueError(
        f'game_scores must be a dict game -> score, got {type(game_scores)}.')
  out = {}
  for name, score in game_scores.items():
    game = canonical_game_name(name)
    if game in out:
      raise ValueError(f'game_scores names {game} more than once.')
    out[game] = score
  return out


def per_game_table(
    game_scores: Mapping[str, float],
    random_scores: Optional[Mapping[str, float]] = None,
) -> List[Tuple[str, float, float]]:
  """Rows (game, raw score, hns) in GAMES order, for the games given.

  Args:
    game_scores: dict game (any accepted spelling) -> raw score.
    random_scores: as in `human_normalized_score`.

  Raises:
    ValueError: unknown or duplicated game, non-finite score.
  """
  scores = _canonical_scores(game_scores)
  randoms = _canonical_random_scores(random_scores)
  return [(g, float(scores[g]), _hns(g, scores[g], randoms))
          for g in GAMES if g in scores]


def interquartile_mean(values: np.ndarray) -> np.ndarray:
  """Mean of the middle 50% along the last axis (rliable's IQM trimming).

  Sorts, drops k = floor(0.25 * n) values from each end and averages the rest
  (scipy.stats.trim_mean(values, 0.25, axis=-1)).

  Args:
    values: float array [..., n], n >= 1.

  Returns:
    float64 array [...].
  """
  values = np.sort(np.asarray(values, dtype=np.float64), axis=-1)
  n = values.shape[-1]
  if n == 0:
    raise ValueError('interquartile_mean of an empty set of scores.')
  k = int(_IQM_TRIM * n)
  return values[..., k:n - k].mean(axis=-1)


def aggregate_scores(
    game_scores: Mapping[str, float],
    random_scores: Optional[Mapping[str, float]] = None,
    num_bootstrap: int = 2000,
    seed: int = 0,
    require_all: bool = True,
) -> Dict[str, object]:
  """Suite aggregates of human-normalised scores.

  Args:
    game_scores: dict game -> raw score (mean episode return), one per game.
    random_scores: as in `human_normalized_score`.
    num_bootstrap: bootstrap resamples for 'iqm_ci' (>= 1).
    seed: seed of the bootstrap's numpy generator (deterministic CI).
    require_all: if True all 57 games must be present.

  Returns:
    dict with
      'median', 'mean': median / mean hns over the games (percent),
      'iqm': interquartile mean of the hns,
      'iqm_ci': (low, high), 95% percentile bootstrap interval of the IQM,
      'num_games': number of games aggregated.

  Raises:
    ValueError: missing games (when `require_all`; the message names them),
      unknown or duplicated games, no games, non-finite scores, bad
      `num_bootstrap`.
  """
  if isinstance(num_bootstrap, bool) or not isinstance(
      num_bootstrap, (int, np.integer)) or num_bootstrap < 1:
    raise ValueError(
        f'num_bootstrap must be a positive int, got {num_bootstrap!r}.')
  scores = _canonical_scores(game_scores)
  if require_all:
    missing = [g for g in GAMES if g not in scores]
    if missing:
      raise ValueError(
          f'aggregate_scores needs all {len(GAMES)} games; missing '
          f'{len(missing)}: {", ".join(missing)}. Pass require_all=False to '
          'aggregate a subset.')
  if not scores:
    raise ValueError('aggregate_scores got no games.')
  hns = np.array([row[2] for row in per_game_table(scores, random_scores)])

  # Percentile bootstrap over games: resample n games with replacement.
  rng = np.random.default_rng(seed)
  n = hns.shape[0]
  resampled = hns[rng.integers(0, n, size=(int(num_bootstrap), n))]
  bootstrap_iqms = interquartile_mean(resampled)
  low, high = np.percentile(bootstrap_iqms, [2.5, 97.5])
  return {
      'median': float(np.median(hns)),
      'mean': float(np.mean(hns)),
      'iqm': float(interquartile_mean(hns)),
      'iqm_ci': (float(low), float(high)),
      'num_games': int(n),
  }
