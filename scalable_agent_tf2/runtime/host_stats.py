"""What an actor host measures about itself, and the log line that says it.

Per host (docs/actor_hosts.md): inference batch sizes (mean and histogram),
seconds spent waiting for environments, seconds in inference, seconds
between rounds (enqueueing unrolls and pulling parameters), env steps,
worker restarts and discarded unrolls. The host logs one line

  actor_host_stats {"task": 0, "batch_mean": 7.6, ...}

per interval (the JSON after `STATS_PREFIX`), which `parse_stats_lines`
reads back (the benchmarks use it), and writes the same numbers to
TensorBoard. TF-free.
"""

import json
from typing import Dict, List

import numpy as np

STATS_PREFIX = 'actor_host_stats '


class HostStats:
  """Accumulates one interval's numbers; `interval()` returns and resets."""

  def __init__(self, max_batch: int):
    self.max_batch = int(max_batch)
    self.total_steps = 0
    self.total_restarts = 0
    self.total_discarded = 0
    self._reset()

  def _reset(self):
    self.batch_counts = np.zeros([self.max_batch + 1], np.int64)
    self.wait_secs = 0.0
    self.inference_secs = 0.0
    self.learner_secs = 0.0
    self.steps = 0

  def record_batch(self, size: int, inference_secs: float) -> None:
    self.batch_counts[size] += 1
    self.inference_secs += inference_secs
    self.steps += size
    self.total_steps += size

  def record_wait(self, secs: float) -> None:
    self.wait_secs += secs

  def record_learner(self, secs: float) -> None:
    """Time between rounds: enqueueing the unrolls, pulling parameters."""
    self.learner_secs += secs

  def record_restart(self, discarded_unroll: bool) -> None:
    self.total_restarts += 1
    self.total_discarded += int(discarded_unroll)

  def batch_sizes(self) -> np.ndarray:
    """Every batch size of the interval, e.g. for a histogram."""
    return np.repeat(np.arange(self.max_batch + 1), self.batch_counts)

  def interval(self, secs: float) -> Dict[str, object]:
    """The interval's summary (JSON-serialisable); starts a new interval."""
    batches = int(self.batch_counts.sum())
    out = dict(
        batches=batches,
        batch_mean=(float(self.steps / batches) if batches else None),
        batch_histogram={str(b): int(n) for b, n in
                         enumerate(self.batch_counts) if n},
        env_wait_secs=round(self.wait_secs, 4),
        inference_secs=round(self.inference_secs, 4),
        learner_secs=round(self.learner_secs, 4),
        interval_secs=round(secs, 4),
        env_steps_per_sec=(self.steps / secs if secs > 0 else None),
        total_env_steps=self.total_steps,
        worker_restarts=self.total_restarts,
        discarded_unrolls=self.total_discarded)
    self._reset()
    return out


def format_stats_line(task: int, stats: Dict[str, object]) -> str:
  return STATS_PREFIX + json.dumps(dict(task=task, **stats), sort_keys=True)


def parse_stats_lines(text: str) -> List[Dict[str, object]]:
  """The stats records in a log's text (other lines are ignored)."""
  records = []
  for line in text.splitlines():
    index = line.find(STATS_PREFIX)
    if index < 0:
      continue
    try:
      records.append(json.loads(line[index + len(STATS_PREFIX):]))
    except json.JSONDecodeError:
      continue  # A line cut by a kill.
  return records


def mean_batch(records: List[Dict[str, object]]) -> float:
  """The mean inference batch over `records` (weighted by batches)."""
  batches = sum(r.get('batches') or 0 for r in records)
  steps = sum((r.get('batch_mean') or 0) * (r.get('batches') or 0)
              for r in records)
  return steps / batches if batches else None
