"""Where the learner's time goes, and which side of the queue limits a run.

With the paper's decoupled acting (§3) actors and the learner run at their
own pace with the unroll queue between them, so a run is limited by one
side. Over each progress interval the learner measures the share of wall
time it spends in

  train_step   `Learner.train_step`, until its result is read;
  queue_wait   `BatchSource.next`: blocked on the queue for the batch (also
               the dequeues that replace unrolls dropped by --max_policy_lag);
  publish      `PublishedParameters.publish`;
  other        the rest: episode records, logging, checkpoints, PBT;

and, per update, whether the queue already held the fresh unrolls that update
dequeues when it began (`queue_full_share`: the fraction of updates that did
not have to wait for an actor). `verdict` names the bottleneck from those
numbers; docs/metrics.md lists every field and what healthy looks like.

TF-free: the learner process feeds it durations and counts.
"""

import collections
import contextlib
import dataclasses
import time
from typing import Callable, Dict, Iterator, Optional

STAGES = ('train_step', 'queue_wait', 'publish')

# The verdict's thresholds (docs/metrics.md). Waiting this share of the wall
# time or more for batches: the actors do not keep up.
ACTING_WAIT_SHARE = 0.20
# Waiting less, and the queue held the batch at this share of the updates or
# more: the learner is what limits the run.
LEARNER_QUEUE_FULL_SHARE = 0.75

LEARNER, ACTING, BALANCED, UNKNOWN = 'learner', 'acting', 'balanced', 'unknown'


@dataclasses.dataclass(frozen=True)
class Interval:
  """What the learner did between two progress lines.

  Attributes:
    wall_secs: the interval's wall time.
    stage_secs: seconds in each of STAGES (the rest is "other").
    updates: updates in the interval.
    ready_updates: those whose dequeue found the queue holding all the fresh
      unrolls the update needed.
    dequeued: fresh unrolls dequeued (dropped ones included).
    dropped: fresh unrolls dropped by --max_policy_lag.
  """
  wall_secs: float
  stage_secs: Dict[str, float]
  updates: int
  ready_updates: int
  dequeued: int
  dropped: int

  def share(self, stage: str) -> float:
    """Fraction of the wall time in `stage` (one of STAGES, or 'other')."""
    if self.wall_secs <= 0:
      return 0.0
    if stage == 'other':
      return max(0.0, 1.0 - sum(self.share(s) for s in STAGES))
    return min(1.0, self.stage_secs[stage] / self.wall_secs)

  @property
  def queue_full_share(self) -> Optional[float]:
    """Fraction of updates that found their batch waiting (None: none)."""
    return self.ready_updates / self.updates if self.updates else None

  @property
  def dropped_share(self) -> Optional[float]:
    """Fraction of the dequeued fresh unrolls dropped (None: none dequeued)."""
    return self.dropped / self.dequeued if self.dequeued else None


class _Span:
  secs = 0.0


class StageTimer:
  """Accumulates an Interval; `take` returns it and starts the next one.

  Args:
    clock: seconds, monotonic (a fake one in tests).
  """

  def __init__(self, clock: Callable[[], float] = time.monotonic):
    self._clock = clock
    self.total_dropped = 0  # Since the learner process started.
    self._reset(clock())

  def _reset(self, now: float) -> None:
    self._start = now
    self._secs = dict.fromkeys(STAGES, 0.0)
    self._updates = self._ready = self._dequeued = self._dropped = 0

  @contextlib.contextmanager
  def stage(self, name: str) -> Iterator[_Span]:
    """Times the block as `name`; the yielded span's `secs` is its duration
    once the block has ended (also when it raised)."""
    span = _Span()
    start = self._clock()
    try:
      yield span
    finally:
      span.secs = self._clock() - start
      self.add(name, span.secs)

  def add(self, name: str, secs: float) -> None:
    if name not in self._secs:
      raise ValueError(f'Unknown stage {name!r}; the stages are {STAGES}.')
    self._secs[name] += secs

  def record_update(self, queue_ready: bool, dequeued: int,
                    dropped: int = 0) -> None:
    """One update: did the queue hold its fresh unrolls when its dequeue
    began, and how many fresh unrolls it dequeued and dropped."""
    self._updates += 1
    self._ready += int(bool(queue_ready))
    self._dequeued += dequeued
    self._dropped += dropped
    self.total_dropped += dropped

  def take(self) -> Interval:
    now = self._clock()
    interval = Interval(now - self._start, dict(self._secs), self._updates,
                        self._ready, self._dequeued, self._dropped)
    self._reset(now)
    return interval


Verdict = collections.namedtuple('Verdict', 'side text')


def _percent(share: float) -> str:
  return f'{100 * share:.0f}%'


def verdict(interval: Interval) -> Verdict:
  """The interval's bottleneck: side in (LEARNER, ACTING, BALANCED, UNKNOWN).

  acting:   queue_wait share >= ACTING_WAIT_SHARE
            -> 'bottleneck: acting (learner waits 41%)'
  learner:  less waiting and queue_full_share >= LEARNER_QUEUE_FULL_SHARE
            -> 'bottleneck: learner (queue full 93%)'
  balanced: neither
            -> 'bottleneck: balanced (learner waits 12%, queue full 30%)'
  unknown:  no update in the interval -> 'bottleneck: unknown (no update)'
  """
  if not interval.updates:
    return Verdict(UNKNOWN, 'bottleneck: unknown (no update)')
  waits = interval.share('queue_wait')
  full = interval.queue_full_share
  if waits >= ACTING_WAIT_SHARE:
    return Verdict(ACTING, f'bottleneck: acting (learner waits '
                   f'{_percent(waits)})')
  if full >= LEARNER_QUEUE_FULL_SHARE:
    return Verdict(LEARNER, f'bottleneck: learner (queue full '
                   f'{_percent(full)})')
  return Verdict(BALANCED, f'bottleneck: balanced (learner waits '
                 f'{_percent(waits)}, queue full {_percent(full)})')


def scalars(interval: Interval, result: Verdict,
            total_dropped: int) -> Dict[str, Optional[float]]:
  """The interval's numbers for progress.jsonl and TensorBoard (learner/...).

  Shares are in [0, 1]; None where undefined (no update, no unroll).
  """
  values = {f'{s}_share': interval.share(s) for s in STAGES + ('other',)}
  values.update(
      queue_full_share=interval.queue_full_share,
      dropped_unroll_share=interval.dropped_share,
      dropped_unrolls=float(total_dropped),
      bottleneck_is_learner=float(result.side == LEARNER),
      bottleneck_is_acting=float(result.side == ACTING))
  return values
