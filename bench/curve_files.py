"""One game's learning curve as bench.pong writes it and bench.pong_search
reads it: learning_curve.csv, learning_curve.png and the statistics that
summary.json reports (frames to a target return, the last episodes' mean).

The curve is the moving average over CURVE_WINDOW finished episodes against
the learner's environment frames (docs/impala.md §4: frames count action
repeats), as in the paper's figures.
"""

import csv
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from atari57 import games
from scalable_agent_tf2.paper import plots
from scalable_agent_tf2.paper import published

CURVE_WINDOW = 20  # Episodes in the moving average of the curve.
CURVE_CSV = 'learning_curve.csv'
CURVE_PNG = 'learning_curve.png'

# The level a curve is held to: "the paper's level" of Pong (Table C.1 Pong
# is 20.40 shallow, 20.98 deep). Other games have no target here: their
# curves are read against Table C.1's scores after 200M frames.
TARGET_RETURNS: Dict[str, float] = {'Pong': 18.0}
# Games whose returns have fixed bounds: the figure shows all of them.
RETURN_RANGES: Dict[str, Tuple[float, float]] = {'Pong': (-21.0, 21.0)}


def frames_to_threshold(frames: Sequence[float], returns: Sequence[float],
                        window: int = CURVE_WINDOW,
                        threshold: float = TARGET_RETURNS['Pong']
                        ) -> Optional[float]:
  """Frames at which the mean of the last `window` episodes first >= threshold.

  Args:
    frames, returns: [N] per finished episode, ordered by frames.
    window: episodes in the moving average; only full windows count (one
      lucky early episode is not "reaching" a level).
    threshold: the return to reach.

  Returns:
    The learner's frame count at the episode completing the first such
    window, or None if no window reaches the threshold.
  """
  if int(window) != window or window < 1:
    raise ValueError(f'window must be a positive int, got {window!r}.')
  returns = np.asarray(returns, dtype=np.float64)
  frames = np.asarray(frames, dtype=np.float64)
  if returns.shape != frames.shape or returns.ndim != 1:
    raise ValueError(f'frames and returns must be 1-D of equal length, got '
                     f'{frames.shape} and {returns.shape}.')
  if returns.size < window:
    return None
  cumsum = np.concatenate([[0.0], np.cumsum(returns)])
  means = (cumsum[window:] - cumsum[:-window]) / window  # Full windows only.
  # A tolerance: a cumulative sum can land a hair below an exact +18.0.
  hits = np.nonzero(means >= threshold - 1e-9)[0]
  if hits.size == 0:
    return None
  return float(frames[hits[0] + window - 1])


def final_mean_return(returns: Sequence[float],
                      window: int = CURVE_WINDOW) -> Optional[float]:
  """Mean of the last `window` episode returns (fewer if fewer exist)."""
  if not len(returns):
    return None
  return float(np.mean(np.asarray(returns, np.float64)[-window:]))


def best_moving_average(returns: Sequence[float],
                        window: int = CURVE_WINDOW) -> Optional[float]:
  """The highest mean of `window` consecutive episodes (None if fewer)."""
  if len(returns) < window:
    return None
  return float(np.max(plots.moving_average(
      np.asarray(returns, np.float64), window)[window - 1:]))


def write_curve_csv(path: str, frames: np.ndarray, returns: np.ndarray,
                    window: int = CURVE_WINDOW) -> None:
  smoothed = plots.moving_average(returns, window) if returns.size else []
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['episode', 'frames', 'episode_return',
                     f'moving_average_{window}'])
    for i, (x, y, m) in enumerate(zip(frames, returns, smoothed)):
      writer.writerow([i + 1, int(x), f'{y:g}', f'{m:.4f}'])


def read_curve_csv(path: str) -> Tuple[np.ndarray, np.ndarray]:
  """(frames, returns) float arrays [N] from a learning_curve.csv."""
  with open(path, newline='') as f:
    rows = list(csv.DictReader(f))
  return (np.array([float(r['frames']) for r in rows]),
          np.array([float(r['episode_return']) for r in rows]))


def mark_game(axes, game: str) -> None:
  """The game's return bounds and target line on a curve's axes."""
  if game in RETURN_RANGES:
    low, high = RETURN_RANGES[game]
    axes.set_ylim(low - 0.5, high + 0.5)
  if game in TARGET_RETURNS:
    axes.axhline(TARGET_RETURNS[game], color='gray', linestyle='--',
                 linewidth=0.8, label=f'{TARGET_RETURNS[game]:+g}')


def write_curve_png(path: str, curves, name: str, game: str,
                    window: int = CURVE_WINDOW) -> None:
  """One line (run `name`) of `curves` ({level: (frames, returns)})."""
  figure = plots.learning_curve_figure(
      {name: curves}, window,
      title=f'{game}: episode return (moving average over {window} episodes)')
  figure.set_size_inches(7.0, 4.5)  # The default panel clips the title.
  axes = figure.axes[0]
  mark_game(axes, game)
  axes.legend(fontsize=7)
  figure.savefig(path, dpi=100)


def paper_scores(game: str) -> Dict[str, Optional[float]]:
  """Table C.1's row of `game`, an ale-py name (returns after 200M frames)."""
  rows = {games.canonical_game_name(name): row
          for name, row in published.load_table_c1().items()}
  row = rows.get(game, {})
  return {'impala_shallow_200M': row.get('impala_shallow'),
          'impala_deep_200M': row.get('impala_deep')}
