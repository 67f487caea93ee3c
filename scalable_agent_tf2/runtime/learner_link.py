"""An actor host's conversation with the learner, off the inference path.

The host's main thread only steps environments and runs inference
(runtime/actor_host.py); two background threads talk to the learner, so
environment workers keep stepping while an enqueue waits on a full queue or
a pull crosses the network (paper §3: actors never wait for each other, and
only for the learner through the queue's backpressure):

  enqueue thread  takes every unroll in the outbox and enqueues them with
                  one `enqueue_many`, each with the version it was acted
                  with; blocks while the learner's queue is full.
  pull thread     every `refresh_secs` reads the learner's version (one
                  scalar); when it is newer than the host's current slot and
                  a slot is free (batching.ParameterSlots), pulls the
                  parameters into that slot and offers it to the main thread,
                  which installs it between two inference calls.

The outbox holds at most `capacity` unrolls (counting those being
enqueued); a stream whose unroll is complete while it is full waits, which
carries the learner's backpressure to the environments. Errors end both
threads and are read by the main thread (`error`, `learner_done`).
"""

import collections
import threading
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from scalable_agent_tf2.runtime import batching
from scalable_agent_tf2.runtime import transport

# How long an idle thread sleeps before it looks at the stop flag again.
_IDLE_SECS = 0.5


class LinkTimes:
  """Seconds the two threads spent enqueueing and pulling, and the policy
  lag of the unrolls enqueued, since the last `take()`."""

  def __init__(self):
    self._lock = threading.Lock()
    self._reset()

  def _reset(self):
    self.enqueue_secs = 0.0
    self.pull_secs = 0.0
    self.pulls = 0
    self.lags: List[int] = []

  def add_enqueue(self, secs: float, lags: Sequence[int]) -> None:
    with self._lock:
      self.enqueue_secs += secs
      self.lags.extend(int(x) for x in lags)

  def add_pull(self, secs: float) -> None:
    with self._lock:
      self.pull_secs += secs
      self.pulls += 1

  def take(self) -> Tuple[float, float, int, List[int]]:
    """(enqueue secs, pull secs, pulls, lags) of the interval; resets."""
    with self._lock:
      out = (self.enqueue_secs, self.pull_secs, self.pulls, self.lags)
      self._reset()
    return out


class LearnerLink:
  """The outbox of completed unrolls and the parameter pulls of one host.

  Args:
    queue: transport.UnrollQueue (the learner's).
    slot_params: one transport.PublishedParameters per parameter slot, each
      pulling into that slot's variables.
    slots: batching.ParameterSlots shared with the main thread.
    capacity: unrolls the outbox may hold (including those being enqueued).
    refresh_secs: how often the learner's version is read (at most one pull
      per period).
  """

  def __init__(self, queue, slot_params: Sequence, slots, capacity: int,
               refresh_secs: float):
    self._queue = queue
    self._params = list(slot_params)
    self._slots = slots
    self._capacity = max(1, int(capacity))
    self._refresh = max(0.001, float(refresh_secs))
    self._cond = threading.Condition()
    self._outbox = collections.deque()
    self._in_flight = 0
    self._offer: Optional[Tuple[int, int]] = None
    self._stop = threading.Event()
    self.times = LinkTimes()
    self.latest_version = slots.current_version
    self.error: Optional[BaseException] = None
    self.learner_done = False
    self._threads = [
        threading.Thread(target=self._guard, args=(self._enqueue_loop,),
                         name='enqueue', daemon=True),
        threading.Thread(target=self._guard, args=(self._pull_loop,),
                         name='pull', daemon=True)]

  # -- Main thread -----------------------------------------------------------

  def start(self) -> None:
    for thread in self._threads:
      thread.start()

  def has_room(self) -> bool:
    with self._cond:
      return len(self._outbox) + self._in_flight < self._capacity

  def put(self, unroll, version: int, unused_stream: int = -1) -> None:
    """Hands on a completed unroll (call only when `has_room()`)."""
    with self._cond:
      self._outbox.append((unroll, version))
      self._cond.notify_all()

  def take_offer(self) -> Optional[Tuple[int, int]]:
    """(slot, version) of freshly pulled parameters, once; else None."""
    with self._cond:
      offer, self._offer = self._offer, None
    return offer

  @property
  def failed(self) -> bool:
    return self.error is not None or self.learner_done

  def stop(self, timeout: float = 10.0) -> None:
    """Ends both threads (a blocked enqueue ends with the learner's error
    or the queue's close); drops the outbox."""
    self._stop.set()
    with self._cond:
      self._cond.notify_all()
    for thread in self._threads:
      if thread.is_alive():
        thread.join(timeout)
    with self._cond:
      self._outbox.clear()

  # -- Background threads ----------------------------------------------------

  def _guard(self, loop) -> None:
    try:
      loop()
    except (tf.errors.CancelledError, tf.errors.OutOfRangeError):
      self.learner_done = True  # The learner closed the queue.
    except BaseException as e:  # pylint: disable=broad-except
      if self.error is None:
        self.error = e
    finally:
      self._stop.set()
      with self._cond:
        self._cond.notify_all()

  def _enqueue_loop(self) -> None:
    while not self._stop.is_set():
      with self._cond:
        if not self._outbox:
          self._cond.wait(_IDLE_SECS)
          continue
        items = list(self._outbox)
        self._outbox.clear()
        self._in_flight = len(items)
      element = batching.batch_of_unrolls([u for u, _ in items])
      versions = np.array([v for _, v in items], np.int64)
      start = time.perf_counter()
      self._queue.enqueue_many((element, versions))
      self.times.add_enqueue(time.perf_counter() - start,
                             self.latest_version - versions)
      with self._cond:
        self._in_flight = 0

  def _pull_loop(self) -> None:
    while not self._stop.wait(self._refresh):
      latest = self._params[0].latest_version()
      self.latest_version = max(self.latest_version, latest)
      current = self._slots.current_version
      with self._cond:
        offered = self._offer is not None
      if offered or current is None or latest <= current:
        continue
      slot = self._slots.free_slot()
      if slot is None:
        continue  # Unrolls still act with both slots; try next period.
      start = time.perf_counter()
      version = self._params[slot].pull()
      self.times.add_pull(time.perf_counter() - start)
      with self._cond:
        self._offer = (slot, version)


def slot_parameters(agents: Sequence) -> List:
  """One PublishedParameters per slot agent (same shared names)."""
  return [transport.PublishedParameters(a.trainable_variables)
          for a in agents]
