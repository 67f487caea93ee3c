"""Learning curves (episode return vs environment frames) as PNG.

Reads `<logdir>/episodes.jsonl` (one record per finished real episode:
{"frames", "level_name", "episode_return", ...}) and draws the moving average
of the episode return against the learner's frame counter. One line per
(run, level): a single level gives one plot with a line per run; several
levels (DMLab-30, Table 2 roots) give a grid with one panel per level.

Uses matplotlib's object-oriented API with the Agg canvas (no pyplot, no
display, no global backend switch).
"""

import collections
import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.paper.runs import short_level_name

DEFAULT_WINDOW = 100


def load_curves(logdir):
  """Episode returns of one run, per level, ordered by frames.

  Returns:
    OrderedDict level name (without the `contributed/dmlab30/` prefix) ->
    (frames float64 [N], episode_return float64 [N]), levels in order of first
    appearance.

  Raises:
    ValueError: no episodes.jsonl or malformed records.
  """
  path = run_dir.episodes_path(logdir)
  if not os.path.exists(path):
    raise ValueError('No %s in %s.' % (run_dir.EPISODES_FILE, logdir))
  per_level = collections.OrderedDict()
  for index, record in enumerate(run_dir.read_jsonl(path)):
    try:
      frames = float(record['frames'])
      episode_return = float(record['episode_return'])
    except (KeyError, TypeError, ValueError):
      raise ValueError('%s record %d needs numeric "frames" and '
                       '"episode_return".' % (path, index + 1)) from None
    level = short_level_name(record.get('level_name', 'unknown'))
    per_level.setdefault(level, []).append((frames, episode_return))
  curves = collections.OrderedDict()
  for level, points in per_level.items():
    points = np.asarray(points, dtype=np.float64)
    # Stable: episodes seen at the same frame count keep their file order.
    order = np.argsort(points[:, 0], kind='stable')
    curves[level] = (points[order, 0], points[order, 1])
  return curves


def moving_average(values, window=DEFAULT_WINDOW):
  """Trailing moving average; the first window-1 points average what exists.

  Args:
    values: float [N].
    window: int >= 1.

  Returns:
    float64 [N], element i = mean(values[max(0, i - window + 1):i + 1]).
  """
  if int(window) != window or window < 1:
    raise ValueError('window must be a positive int, got %r.' % (window,))
  values = np.asarray(values, dtype=np.float64)
  if values.ndim != 1:
    raise ValueError('values must be 1-D, got shape %s.' % (values.shape,))
  cumsum = np.concatenate([[0.0], np.cumsum(values)])
  index = np.arange(1, values.size + 1)
  start = np.maximum(0, index - int(window))
  return (cumsum[index] - cumsum[start]) / (index - start)


def learning_curve_figure(curves_by_run, window=DEFAULT_WINDOW, title=None):
  """Figure of smoothed learning curves.

  Args:
    curves_by_run: OrderedDict run name -> `load_curves` output.
    window: moving-average window in episodes.
    title: figure title.

  Returns:
    matplotlib Figure (Agg canvas) with one line per (run, level): a single
    axes when there is one level, else a grid with one panel per level.
  """
  levels = []
  for curves in curves_by_run.values():
    levels.extend(level for level in curves if level not in levels)
  if not levels:
    raise ValueError('No episodes to plot.')
  ncols = int(math.ceil(math.sqrt(len(levels))))
  nrows = int(math.ceil(len(levels) / ncols))
  figure = Figure(figsize=(4.0 * ncols, 3.0 * nrows), layout='constrained')
  FigureCanvasAgg(figure)
  axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
  for ax, level in zip(axes, levels):
    for run, curves in curves_by_run.items():
      if level in curves:
        frames, returns = curves[level]
        ax.plot(frames, moving_average(returns, window), label=run,
                linewidth=1.2)
    ax.set_title(level, fontsize=9)
    ax.set_xlabel('environment frames')
    ax.set_ylabel('episode return')
    ax.grid(alpha=0.3)
    if len(curves_by_run) > 1:
      ax.legend(fontsize=7)
  for ax in axes[len(levels):]:
    figure.delaxes(ax)
  figure.suptitle(title or 'Episode return (moving average over %d episodes)'
                  % window)
  return figure


def count_lines(figure):
  """Number of data lines drawn over all axes of `figure`."""
  return sum(len(ax.get_lines()) for ax in figure.axes)


def write_learning_curves(runs, out_png, window=DEFAULT_WINDOW, title=None):
  """Writes the learning curves of `runs` to one PNG.

  Args:
    runs: list of (name, logdir) with episodes.jsonl.
    out_png: output path (directories are created).
    window, title: see `learning_curve_figure`.

  Returns:
    dict with 'path', 'num_lines', 'levels'.
  """
  curves_by_run = collections.OrderedDict(
      (name, load_curves(logdir)) for name, logdir in runs)
  figure = learning_curve_figure(curves_by_run, window, title)
  directory = os.path.dirname(os.path.abspath(out_png))
  os.makedirs(directory, exist_ok=True)
  figure.savefig(out_png, dpi=100)
  levels = sorted({level for c in curves_by_run.values() for level in c})
  return {'path': out_png, 'num_lines': count_lines(figure), 'levels': levels}
