"""Human-normalised scores on DMLab-30 (docs/impala.md §5, paper Table 3 / B.1).

Per level: `100 * (mean_return - random) / (human - random)`, optionally
capped at `per_level_cap` (the paper's "capped" score uses 100); there is no
floor. The suite score is the plain mean over the 30 levels, in percent.

Returns may be keyed by train or test level names: train names are mapped to
their test names through `LEVEL_MAPPING` (training-time summaries use train
names, the score tables use test names).
"""

import math
from typing import Dict, Iterable, Mapping, Optional

import numpy as np

from dmlab30.levels import HUMAN_SCORES
from dmlab30.levels import LEVEL_MAPPING
from dmlab30.levels import LEVEL_PREFIX
from dmlab30.levels import RANDOM_SCORES

_TEST_NAME_BY_ANY_NAME = dict(LEVEL_MAPPING)
_TEST_NAME_BY_ANY_NAME.update({name: name for name in LEVEL_MAPPING.values()})


def to_test_level_name(level_name: str) -> str:
  """Maps a DMLab-30 train or test level name to its test level name.

  A leading `contributed/dmlab30/` is accepted and stripped.

  Raises:
    ValueError: `level_name` is not a DMLab-30 level.
  """
  if not isinstance(level_name, str):
    raise ValueError('Level names must be str, got %r.' % (level_name,))
  short_name = level_name
  if short_name.startswith(LEVEL_PREFIX):
    short_name = short_name[len(LEVEL_PREFIX):]
  if short_name not in _TEST_NAME_BY_ANY_NAME:
    raise ValueError(
        'Unknown DMLab-30 level %r. Known levels: the keys and values of '
        'dmlab30.LEVEL_MAPPING.' % (level_name,))
  return _TEST_NAME_BY_ANY_NAME[short_name]


def _mean_return(level_name: str, returns: Iterable[float]) -> float:
  """Mean of one level's episode returns, rejecting empty/non-finite input."""
  try:
    if not isinstance(returns, (np.ndarray, list, tuple)):
      returns = list(returns)
    values = np.asarray(returns, dtype=np.float64)
  except (TypeError, ValueError) as e:
    raise ValueError('Returns for level %r must be a list or 1-D array of '
                     'numbers: %s' % (level_name, e)) from e
  if values.ndim != 1:
    raise ValueError('Returns for level %r must be 1-D (one entry per '
                     'episode), got shape %s.' % (level_name, values.shape))
  if values.size == 0:
    raise ValueError('No episode returns for level %r.' % (level_name,))
  if not np.all(np.isfinite(values)):
    raise ValueError('Non-finite episode return for level %r.' % (level_name,))
  return float(values.mean())


def _check_cap(per_level_cap: Optional[float]) -> None:
  if per_level_cap is None:
    return
  if isinstance(per_level_cap, bool) or not isinstance(
      per_level_cap, (int, float, np.integer, np.floating)):
    raise ValueError('per_level_cap must be a number or None, got %r.'
                     % (per_level_cap,))
  if math.isnan(per_level_cap):
    raise ValueError('per_level_cap must not be NaN.')


def per_level_human_normalized_scores(
    level_returns: Mapping[str, Iterable[float]],
    per_level_cap: Optional[float] = None) -> Dict[str, float]:
  """Human-normalised score of each level in `level_returns`.

  Args:
    level_returns: dict level name (train or test name) -> list or 1-D array
      of episode returns. Any subset of the 30 levels is accepted (for tables
      of partial runs); `compute_human_normalized_score` requires all 30.
    per_level_cap: None (uncapped) or the maximum per-level score (100 for
      the paper's capped score). No floor is applied.

  Returns:
    dict test level name -> score in percent, in `LEVEL_MAPPING` order.

  Raises:
    ValueError: unknown level name, a level given twice (by its train and its
      test name), an empty/non-finite list of returns, or a bad cap.
  """
  if not isinstance(level_returns, Mapping):
    raise ValueError('level_returns must be a dict level name -> returns, '
                     'got %s.' % type(level_returns).__name__)
  _check_cap(per_level_cap)
  given_as = {}  # test name -> the name the caller used.
  means = {}
  for name, returns in level_returns.items():
    test_name = to_test_level_name(name)
    if test_name in given_as:
      raise ValueError(
          'Level %r given twice, as %r and %r; merge the returns under one '
          'name.' % (test_name, given_as[test_name], name))
    given_as[test_name] = name
    means[test_name] = _mean_return(name, returns)
  scores = {}
  for test_name in LEVEL_MAPPING.values():
    if test_name not in means:
      continue
    human = HUMAN_SCORES[test_name]
    random = RANDOM_SCORES[test_name]
    score = 100.0 * (means[test_name] - random) / (human - random)
    if per_level_cap is not None:
      score = min(score, float(per_level_cap))
    scores[test_name] = score
  return scores


def compute_human_normalized_score(
    level_returns: Mapping[str, Iterable[float]],
    per_level_cap: Optional[float]) -> float:
  """Mean human-normalised score over the 30 DMLab-30 levels, in percent.

  The paper's Table 3 number is `compute_human_normalized_score(returns,
  per_level_cap=100)` on test-mode returns (docs/impala.md §5, §7).

  Args:
    level_returns: dict level name (train or test name) -> list or 1-D array
      of episode returns; must cover all 30 levels.
    per_level_cap: None (uncapped) or the maximum per-level score.

  Returns:
    float, the mean over the 30 per-level scores.

  Raises:
    ValueError: a level is missing (the message names them), or any error of
      `per_level_human_normalized_scores`.
  """
  scores = per_level_human_normalized_scores(level_returns, per_level_cap)
  missing = [name for name in LEVEL_MAPPING.values() if name not in scores]
  if missing:
    raise ValueError('Missing DMLab-30 level(s) for the suite score: %s.'
                     % ', '.join(missing))
  return float(np.mean([scores[name] for name in LEVEL_MAPPING.values()]))
