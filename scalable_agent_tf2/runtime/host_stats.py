"""What an actor host measures about itself, and the log line that says it.

Per host (docs/actor_hosts.md): inference batch sizes (mean and histogram),
the shares of wall time the main thread spent waiting for environments and
in inference, the shares the background threads spent enqueueing (including
blocked on a full learner queue) and pulling parameters, the share of
stream time spent blocked with a complete unroll on a full outbox, the
policy lag of the enqueued unrolls (min / mean / max, in updates), env
steps, worker restarts and discarded unrolls, and one verdict naming what
limits the host. The host logs one line

  actor_host_stats {"task": 0, "batch_mean": 7.6, ...}

per interval (the JSON after `STATS_PREFIX`), which `parse_stats_lines`
reads back (the benchmarks use it), and writes the same numbers to
TensorBoard. TF-free.
"""

import json
from typing import Dict, List, Optional, Sequence

import numpy as np

STATS_PREFIX = 'actor_host_stats '

# The verdict's thresholds (docs/actor_hosts.md, "Stage timings").
# Streams blocked on a full outbox this share of their time: the learner
# takes unrolls more slowly than the host makes them.
BLOCKED_SHARE_LEARNER = 0.2
# Otherwise the main thread's larger share of environment wait and
# inference names the stage that limits acting.


def verdict(blocked_share: float, env_wait_share: float,
            inference_share: float) -> str:
  """The one-phrase bottleneck of a host, e.g. 'learner (streams blocked
  35%)' or 'acting: inference (61%)'."""
  if blocked_share >= BLOCKED_SHARE_LEARNER:
    return f'learner (streams blocked {100 * blocked_share:.0f}%)'
  if inference_share >= env_wait_share:
    return f'acting: inference ({100 * inference_share:.0f}%)'
  return f'acting: environments (env wait {100 * env_wait_share:.0f}%)'


def lag_summary(lags: Sequence[int]) -> Dict[str, Optional[float]]:
  """min / mean / max policy lag (updates) of the interval's unrolls."""
  if not len(lags):  # pylint: disable=g-explicit-length-test
    return dict(policy_lag_min=None, policy_lag_mean=None,
                policy_lag_max=None)
  lags = np.asarray(lags, np.float64)
  return dict(policy_lag_min=float(lags.min()),
              policy_lag_mean=round(float(lags.mean()), 3),
              policy_lag_max=float(lags.max()))


class HostStats:
  """Accumulates one interval's numbers; `interval()` returns and resets.

  Args:
    num_streams: the host's environment streams (also the largest batch).
  """

  def __init__(self, num_streams: int):
    self.max_batch = int(num_streams)
    self.num_streams = int(num_streams)
    self.total_steps = 0
    self.total_unrolls = 0
    self.total_restarts = 0
    self.total_discarded = 0
    self._reset()

  def _reset(self):
    self.batch_counts = np.zeros([self.max_batch + 1], np.int64)
    self.wait_secs = 0.0
    self.inference_secs = 0.0
    self.blocked_stream_secs = 0.0
    self.steps = 0
    self.unrolls = 0

  def record_batch(self, size: int, inference_secs: float) -> None:
    self.batch_counts[size] += 1
    self.inference_secs += inference_secs
    self.steps += size
    self.total_steps += size

  def record_wait(self, secs: float) -> None:
    self.wait_secs += secs

  def record_blocked(self, stream_secs: float) -> None:
    """Stream-seconds spent with a complete unroll and a full outbox."""
    self.blocked_stream_secs += stream_secs

  def record_unroll(self) -> None:
    self.unrolls += 1
    self.total_unrolls += 1

  def record_restart(self, discarded_unroll: bool) -> None:
    self.total_restarts += 1
    self.total_discarded += int(discarded_unroll)

  def batch_sizes(self) -> np.ndarray:
    """Every batch size of the interval, e.g. for a histogram."""
    return np.repeat(np.arange(self.max_batch + 1), self.batch_counts)

  def interval(self, secs: float, enqueue_secs: float = 0.0,
               pull_secs: float = 0.0, pulls: int = 0,
               lags: Sequence[int] = ()) -> Dict[str, object]:
    """The interval's summary (JSON-serialisable); starts a new interval.

    Args:
      secs: the interval's wall time.
      enqueue_secs, pull_secs, pulls, lags: the learner link's
        (runtime/learner_link.py LinkTimes.take()).
    """
    batches = int(self.batch_counts.sum())
    share = (lambda x: round(x / secs, 4)) if secs > 0 else (lambda x: None)
    blocked = (self.blocked_stream_secs / (secs * self.num_streams)
               if secs > 0 else 0.0)
    out = dict(
        batches=batches,
        batch_mean=(float(self.steps / batches) if batches else None),
        batch_histogram={str(b): int(n) for b, n in
                         enumerate(self.batch_counts) if n},
        env_wait_secs=round(self.wait_secs, 4),
        inference_secs=round(self.inference_secs, 4),
        enqueue_secs=round(enqueue_secs, 4),
        pull_secs=round(pull_secs, 4),
        env_wait_share=share(self.wait_secs),
        inference_share=share(self.inference_secs),
        enqueue_share=share(enqueue_secs),
        pull_share=share(pull_secs),
        blocked_share=round(blocked, 4),
        pulls=int(pulls),
        unrolls=self.unrolls,
        interval_secs=round(secs, 4),
        env_steps_per_sec=(self.steps / secs if secs > 0 else None),
        total_env_steps=self.total_steps,
        total_unrolls=self.total_unrolls,
        worker_restarts=self.total_restarts,
        discarded_unrolls=self.total_discarded,
        **lag_summary(lags))
    out['bottleneck'] = verdict(blocked, out['env_wait_share'] or 0.0,
                                out['inference_share'] or 0.0)
    self._reset()
    return out


def format_stats_line(task: int, stats: Dict[str, object]) -> str:
  return STATS_PREFIX + json.dumps(dict(task=task, **stats), sort_keys=True)


def _pct(x) -> str:
  return '-' if x is None else f'{100 * x:.0f}%'


def format_progress_line(task: int, stats: Dict[str, object]) -> str:
  """The human line of an interval, ending with the bottleneck verdict."""
  lag = ('-' if stats['policy_lag_mean'] is None else
         f"{stats['policy_lag_min']:.0f}/{stats['policy_lag_mean']:.1f}/"
         f"{stats['policy_lag_max']:.0f}")
  batch = ('-' if stats['batch_mean'] is None
           else f"{stats['batch_mean']:.1f}")
  return (f"Actor host {task}: {stats['env_steps_per_sec'] or 0:.0f} env "
          f"steps/s, batch {batch}, env wait {_pct(stats['env_wait_share'])}"
          f", inference {_pct(stats['inference_share'])}, enqueue "
          f"{_pct(stats['enqueue_share'])}, pull {_pct(stats['pull_share'])}"
          f", blocked {_pct(stats['blocked_share'])}, lag min/mean/max "
          f"{lag}  bottleneck: {stats['bottleneck']}")


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
