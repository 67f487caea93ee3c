"""What a training run writes for people and for the paper tables.

  <logdir>/progress.jsonl  one JSON object per progress interval:
      time, frames, updates, fps, eta_secs, loss terms, learning_rate,
      queue_size, policy_lag, mean_episode_return; with the learner's stage
      timer also the stage shares, queue_full_share, dropped_unroll_share,
      dropped_unrolls and the verdict (`bottleneck`: its side, and
      bottleneck_is_learner / _is_acting; runtime/bottleneck.py,
      docs/metrics.md).
  <logdir>/episodes.jsonl  one JSON object per finished (real) episode:
      time, frames, level_name, episode_return, episode_step.
  <logdir>/ TensorBoard event files: losses, entropy, learning rate, fps,
      queue size, policy lag, the same stage numbers under learner/, per-level
      episode returns and lengths.
  and one progress line in the log at a fixed interval, ending with the
  bottleneck verdict, e.g. `bottleneck: learner (queue full 93%)`.

The tables (`python -m scalable_agent_tf2.paper`) parse exactly these files.
"""

import collections
import json
import os
import time
from typing import Dict, Iterable, List, Optional, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from scalable_agent_tf2.runtime import bottleneck

PROGRESS_FILE = 'progress.jsonl'
EPISODES_FILE = 'episodes.jsonl'


def finished_episodes(level_names, episode_done, episode_return,
                      episode_step) -> List[Tuple[str, float, int]]:
  """Real episodes that ended inside a batch of unrolls.

  Args:
    level_names: [B] bytes.
    episode_done, episode_return, episode_step: [B, T+1] numpy arrays.
  Step 0 of each unroll repeats the previous unroll's last step, so only
  steps 1..T are counted (no episode is reported twice).
  """
  episodes = []
  for b, t in zip(*np.nonzero(episode_done[:, 1:])):
    episodes.append((level_names[b].decode(),
                     float(episode_return[b, t + 1]),
                     int(episode_step[b, t + 1])))
  return episodes


def format_duration(seconds: float) -> str:
  if not np.isfinite(seconds):
    return '?'
  seconds = int(seconds)
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m' if h else f'{m}m{s:02d}s'


class RunLog:
  """Appends JSON lines, writes TensorBoard summaries, prints progress."""

  def __init__(self, logdir: str, total_frames: int, progress_secs: float,
               summary_secs: float, window: int = 100,
               timer: Optional[bottleneck.StageTimer] = None):
    """`timer`: the learner's stage timer; each progress line then ends with
    the bottleneck verdict and progress.jsonl holds the stage shares."""
    self._logdir = logdir
    self._timer = timer
    self._total_frames = total_frames
    self._progress_secs = progress_secs
    self._summary_secs = summary_secs
    self._progress = open(os.path.join(logdir, PROGRESS_FILE), 'a')
    self._episodes = open(os.path.join(logdir, EPISODES_FILE), 'a')
    self._writer = tf.summary.create_file_writer(logdir)
    self._returns = collections.defaultdict(
        lambda: collections.deque(maxlen=window))
    self._last_progress = self._last_summary = time.time()
    self._last_frames = None
    self._last_stats: Dict[str, float] = {}
    self.fps = 0.0

  def start(self, frames: int) -> None:
    self._last_frames = frames
    self._last_progress = self._last_summary = time.time()

  def record_episodes(self, episodes: Iterable[Tuple[str, float, int]],
                      frames: int) -> None:
    now = time.time()
    with self._writer.as_default(step=frames):
      for level, episode_return, episode_step in episodes:
        self._returns[level].append(episode_return)
        self._episodes.write(json.dumps(dict(
            time=now, frames=frames, level_name=level,
            episode_return=episode_return, episode_step=episode_step)) + '\n')
        tf.summary.scalar(f'{level}/episode_return', episode_return)
        # Agent steps, not frames (x --num_action_repeats for frames).
        tf.summary.scalar(f'{level}/episode_agent_steps', episode_step)
    self._episodes.flush()

  def mean_returns(self) -> Dict[str, float]:
    return {level: float(np.mean(r)) for level, r in self._returns.items()
            if r}

  def maybe_write(self, frames: int, updates: int, stats: Dict[str, float],
                  queue_size: int, extra_scalars=None, force=False) -> None:
    """Writes summaries / the progress line when their interval has passed."""
    now = time.time()
    stats = stats or self._last_stats
    self._last_stats = stats
    extra_scalars = extra_scalars or {}
    if force or now - self._last_summary >= self._summary_secs:
      self._last_summary = now
      with self._writer.as_default(step=frames):
        for key, value in stats.items():
          tf.summary.scalar(f'learner/{key}', value)
        tf.summary.scalar('learner/queue_size', queue_size)
        tf.summary.scalar('learner/fps', self.fps)
        for key, value in extra_scalars.items():
          tf.summary.scalar(key, value)
      self._writer.flush()
    if force or now - self._last_progress >= self._progress_secs:
      self._write_progress(now, frames, updates, stats, queue_size,
                           extra_scalars)

  def _stage_numbers(self, frames: int):
    """(scalars, verdict text) of the interval since the last progress line.

    The learner's stage shares and the bottleneck verdict (bottleneck.py),
    also written to TensorBoard here: they are measured per progress
    interval. ({}, '') without a stage timer.
    """
    if self._timer is None:
      return {}, ''
    interval = self._timer.take()
    result = bottleneck.verdict(interval)
    values = bottleneck.scalars(interval, result, self._timer.total_dropped)
    with self._writer.as_default(step=frames):
      for key, value in values.items():
        if value is not None:
          tf.summary.scalar(f'learner/{key}', value)
    return dict(values, bottleneck=result.side), result.text

  def _write_progress(self, now, frames, updates, stats, queue_size,
                      extra_scalars) -> None:
    elapsed = now - self._last_progress
    if self._last_frames is not None and elapsed > 0:
      self.fps = (frames - self._last_frames) / elapsed
    self._last_progress, self._last_frames = now, frames
    remaining = max(0, self._total_frames - frames)
    eta = remaining / self.fps if self.fps > 0 else float('inf')
    returns = self.mean_returns()
    mean_return = float(np.mean(list(returns.values()))) if returns else None
    stage_values, verdict_text = self._stage_numbers(frames)
    record = dict(time=now, frames=frames, updates=updates, fps=self.fps,
                  eta_secs=eta if np.isfinite(eta) else None,
                  queue_size=queue_size, mean_episode_return=mean_return,
                  **{k: float(v) for k, v in stats.items()},
                  **{k: float(v) for k, v in extra_scalars.items()},
                  **stage_values)
    record['loss'] = record.get('total_loss')
    self._progress.write(json.dumps(record) + '\n')
    self._progress.flush()
    if len(returns) == 1:
      return_text = f'return({next(iter(returns))})={mean_return:.2f}'
    elif returns:
      return_text = f'mean return over {len(returns)} levels={mean_return:.2f}'
    else:
      return_text = 'no episode finished yet'
    for key, value in sorted(extra_scalars.items()):
      return_text += f'  {key}={value:.2f}'
    logging.info(
        'frames %s/%s (%.1f%%)  fps %.0f  ETA %s  updates %d  %s  loss %.3f'
        '  entropy %.3f  lr %.2e  queue %d  lag %.1f%s',
        _human(frames), _human(self._total_frames),
        100.0 * frames / self._total_frames, self.fps, format_duration(eta),
        updates, return_text, stats.get('total_loss', float('nan')),
        stats.get('entropy', float('nan')),
        stats.get('learning_rate', float('nan')), queue_size,
        stats.get('mean_policy_lag', float('nan')),
        '  ' + verdict_text if verdict_text else '')

  def close(self) -> None:
    self._writer.flush()
    self._progress.close()
    self._episodes.close()


def _human(n: float) -> str:
  for unit, scale in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
    if abs(n) >= scale:
      return f'{n / scale:.2f}{unit}'
  return str(int(n))
