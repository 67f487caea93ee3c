"""The learner's stage timings and bottleneck verdict (runtime/bottleneck.py,
docs/metrics.md), with a fake clock and literal durations."""

import pytest

from scalable_agent_tf2.runtime import bottleneck


class FakeClock:
  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


def interval(wall=10.0, train=0.0, wait=0.0, publish=0.0, updates=10,
             ready=10, dequeued=40, dropped=0):
  return bottleneck.Interval(
      wall, {'train_step': train, 'queue_wait': wait, 'publish': publish},
      updates, ready, dequeued, dropped)


def test_timer_splits_the_interval_into_stage_shares():
  clock = FakeClock()
  timer = bottleneck.StageTimer(clock)
  for _ in range(4):  # 4 updates of 2.5 s: 0.5 wait, 1.5 train, 0.25 publish.
    with timer.stage('queue_wait') as wait:
      clock.now += 0.5
    timer.record_update(queue_ready=False, dequeued=4)
    with timer.stage('train_step'):
      clock.now += 1.5
    with timer.stage('publish'):
      clock.now += 0.25
    clock.now += 0.25  # Logging: "other".
  assert wait.secs == 0.5
  result = timer.take()
  assert result.wall_secs == 10.0 and result.updates == 4
  assert result.share('queue_wait') == pytest.approx(0.2)
  assert result.share('train_step') == pytest.approx(0.6)
  assert result.share('publish') == pytest.approx(0.1)
  assert result.share('other') == pytest.approx(0.1)
  assert result.queue_full_share == 0.0


def test_take_starts_a_new_interval_and_dropped_count_accumulates():
  clock = FakeClock()
  timer = bottleneck.StageTimer(clock)
  timer.record_update(queue_ready=True, dequeued=6, dropped=2)
  timer.record_update(queue_ready=False, dequeued=4, dropped=0)
  clock.now += 5.0
  first = timer.take()
  assert (first.updates, first.ready_updates) == (2, 1)
  assert first.queue_full_share == 0.5
  assert first.dropped_share == pytest.approx(0.2)  # 2 of 10 dequeued.
  timer.record_update(queue_ready=True, dequeued=5, dropped=1)
  clock.now += 2.0
  second = timer.take()
  assert second.wall_secs == 2.0 and second.updates == 1
  assert second.dropped_share == pytest.approx(0.2)  # 1 of 5.
  assert timer.total_dropped == 3  # Over both intervals.


def test_a_stage_that_raises_is_still_timed():
  clock = FakeClock()
  timer = bottleneck.StageTimer(clock)
  with pytest.raises(RuntimeError):
    with timer.stage('queue_wait'):
      clock.now += 3.0
      raise RuntimeError('queue closed')
  clock.now += 1.0
  assert timer.take().share('queue_wait') == pytest.approx(0.75)


def test_unknown_stage_is_refused():
  with pytest.raises(ValueError, match='Unknown stage'):
    bottleneck.StageTimer(FakeClock()).add('logging', 1.0)


def test_verdict_acting_when_the_learner_waits_a_fifth_or_more():
  result = bottleneck.verdict(interval(wait=4.1, train=5.0, ready=1))
  assert result == ('acting', 'bottleneck: acting (learner waits 41%)')
  # Exactly at the threshold (20%) it is still the actors.
  assert bottleneck.verdict(interval(wait=2.0, ready=0)).side == 'acting'


def test_verdict_learner_when_the_queue_is_mostly_full():
  result = bottleneck.verdict(interval(wait=0.1, train=9.0, updates=100,
                                       ready=93))
  assert result == ('learner', 'bottleneck: learner (queue full 93%)')
  # Waiting 19% with the batch there at 75% of the updates: still the learner.
  assert bottleneck.verdict(interval(wait=1.9, updates=100, ready=75)
                            ).side == 'learner'


def test_verdict_balanced_between_the_thresholds():
  result = bottleneck.verdict(interval(wait=1.2, train=8.0, updates=10,
                                       ready=3))
  assert result == ('balanced',
                    'bottleneck: balanced (learner waits 12%, queue full 30%)')


def test_verdict_without_an_update_is_unknown():
  result = bottleneck.verdict(interval(wait=10.0, updates=0, ready=0,
                                       dequeued=0))
  assert result == ('unknown', 'bottleneck: unknown (no update)')


def test_scalars_hold_shares_and_the_verdict_encoding():
  numbers = interval(wall=10.0, train=7.0, wait=0.5, publish=1.0, updates=20,
                     ready=19, dequeued=25, dropped=5)
  values = bottleneck.scalars(numbers, bottleneck.verdict(numbers), 12)
  assert values == pytest.approx(dict(
      train_step_share=0.7, queue_wait_share=0.05, publish_share=0.1,
      other_share=0.15, queue_full_share=0.95, dropped_unroll_share=0.2,
      dropped_unrolls=12.0, bottleneck_is_learner=1.0,
      bottleneck_is_acting=0.0))
  idle = interval(updates=0, ready=0, dequeued=0)
  values = bottleneck.scalars(idle, bottleneck.verdict(idle), 0)
  assert values['queue_full_share'] is None
  assert values['dropped_unroll_share'] is None
  assert values['bottleneck_is_learner'] == values[
      'bottleneck_is_acting'] == 0.0
