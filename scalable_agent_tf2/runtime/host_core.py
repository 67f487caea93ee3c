"""The acting loop of an actor host: workers, independent streams, batching.

Decoupled acting (paper §3, Figure 2(c); docs/actor_hosts.md): each
environment stream of a host begins its next unroll the moment its last one
is complete, with the host's current parameter slot, and hands the finished
unroll to a sink (the learner link's outbox) without waiting for any other
stream. There are no rounds. The loop waits on the workers' sockets; once
some observations are ready it waits at most --inference_batch_timeout_ms
for more (or until every stepping stream is ready, or the batch is full),
runs the network on them, one call per parameter slot in use, and sends
each its action.

Faults. A worker that dies is restarted with its own level and seed; only
its stream's half-built unroll is discarded (never handed on), and that
stream starts afresh (zero state, as a new actor) once the worker is back.
More than --max_actor_restarts restarts make the host exit with an error
(the launcher then restarts it).

`HostCore` has no learner connection: a sink with `has_room()` and
`put(unroll, version)` receives the unrolls (tests use a list).
"""

import json
import os
import select
import time
from typing import List, Sequence

from absl import logging

from scalable_agent_tf2 import run_dir
from scalable_agent_tf2 import suites
from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import batching
from scalable_agent_tf2.runtime import host_stats
from scalable_agent_tf2.runtime import unrolls
from scalable_agent_tf2.runtime import worker_pool

# How long a blocked wait lasts before dead or restarting workers are checked.
LIVENESS_SECS = 1.0
# Workers must have built their environments by then (a loaded machine).
STARTUP_TIMEOUT_SECS = 600.0


class WorkerStartError(RuntimeError):
  pass


class ListSink:
  """A sink that keeps every unroll, its version and its stream (tests)."""

  def __init__(self, capacity: int = 1 << 30):
    self.capacity = capacity
    self.unrolls: List = []
    self.versions: List = []
    self.streams: List[int] = []

  def has_room(self) -> bool:
    return len(self.unrolls) < self.capacity

  def put(self, unroll, version, stream: int = -1) -> None:
    self.unrolls.append(unroll)
    self.versions.append(version)
    self.streams.append(stream)

  def of_stream(self, k: int) -> List:
    """The unrolls of stream k (its position in the host), in order."""
    return [u for u, s in zip(self.unrolls, self.streams) if s == k]


class HostCore:
  """Workers, actor streams and batched inference of one host.

  Args:
    config: the resolved Config.
    agents: one agent per parameter slot (batching.ParameterSlots); their
      variables are the host's local copies of the learner's parameters.
    env_indices: global environment indices of the host's streams.
    frame_shape, num_actions: the suite's.
  """

  def __init__(self, config: Config, agents: Sequence, env_indices: List[int],
               frame_shape, num_actions: int):
    self._config = config
    self.policies = [batching.BatchedPolicy(a, frame_shape) for a in agents]
    self.policy = self.policies[0]
    self.slots = batching.ParameterSlots(len(agents))
    self.slots.install(0, 0)
    self.max_batch = config.max_inference_batch or len(env_indices)
    self._timeout = config.inference_batch_timeout_ms / 1000.0
    self.stats = host_stats.HostStats(len(env_indices))
    self.sink = ListSink()
    zero_output = unrolls.zeros_like_spec(
        unrolls.agent_output_spec(num_actions))
    zero_state = self.policy.initial_state_row()
    config_json = json.dumps(config.to_dict())
    self._socket_dir = worker_pool.socket_directory()
    log_path = (run_dir.actor_log_path(config.logdir, config.task)
                if config.job_name else None)
    self.streams: List[batching.ActorStream] = []
    self.workers: List[worker_pool.EnvWorker] = []
    for g in env_indices:
      level = suites.level_for_env(config, g)
      self.streams.append(batching.ActorStream(
          g, level, config.unroll_length, zero_output, zero_state))
      self.workers.append(worker_pool.EnvWorker(
          f'env worker {g}', level, suites.env_seed(config, g), frame_shape,
          config_json, self._socket_dir, config.logdir, log_path=log_path))
    self._last_poll = None

  def start(self) -> None:
    """Starts every worker and waits until all have built their env."""
    for worker in self.workers:
      worker.start()
    deadline = time.time() + STARTUP_TIMEOUT_SECS
    while any(s.status == batching.RESTARTING for s in self.streams):
      if time.time() > deadline:
        raise WorkerStartError(
            f'Environment workers did not start within '
            f'{STARTUP_TIMEOUT_SECS:.0f} s.')
      self._wait(LIVENESS_SECS, starting_is_fatal=True)
    # Variables are created by the first call (Sonnet builds on first use).
    stream = self.streams[0]
    for policy in self.policies:
      policy([stream.env_output], [0], [stream.state])

  # -- Events -----------------------------------------------------------------

  def _wait(self, timeout: float, starting_is_fatal: bool = False) -> None:
    """Waits up to `timeout` for worker events and handles them."""
    watched = [i for i, s in enumerate(self.streams)
               if s.status in (batching.STEPPING, batching.RESTARTING)]
    if not watched:
      return
    readable, _, _ = select.select([self.workers[i] for i in watched], [], [],
                                   max(0.0, timeout))
    for worker in readable:
      self._on_event(self.workers.index(worker))
    for i in watched:
      if self.workers[i].died_while_starting():
        if starting_is_fatal:
          raise WorkerStartError(
              f'{self.workers[i].name} ({self.workers[i].level}) exited with '
              f'{self.workers[i].exit_description()} before its environment '
              f'was ready; see its output in the actor log.')
        self._on_death(i)

  def _on_event(self, i: int) -> None:
    stream, worker = self.streams[i], self.workers[i]
    event = worker.on_readable()
    if event == worker_pool.EVENT_DONE:
      stream.stepped(worker.output)
      if stream.complete:
        self._hand_on(stream)
    elif event == worker_pool.EVENT_READY:
      if worker.restarts:
        logging.info('Actor host %d: %s restarted (seed %d); its actor '
                     'starts afresh.', self._config.task, worker.name,
                     worker.seed)
      stream.level_name = worker.slot.read_level_name()  # As today's.
      stream.reset(worker.output)
      self._hand_on(stream)
    elif event == worker_pool.EVENT_DIED:
      self._on_death(i)

  def _on_death(self, i: int) -> None:
    stream, worker = self.streams[i], self.workers[i]
    discarded = stream.steps_in_unroll
    self.stats.record_restart(discarded_unroll=discarded > 0)
    logging.warning(
        'Actor host %d: %s (%s) died (%s); discarding the unroll it was '
        'part of (%d of %d steps) and restarting it with seed %d.',
        self._config.task, worker.name, worker.level,
        worker.exit_description(), discarded, self._config.unroll_length,
        worker.seed)
    if self.stats.total_restarts > self._config.max_actor_restarts:
      raise RuntimeError(
          f'Actor host {self._config.task}: {self.stats.total_restarts} '
          f'environment worker restarts exceed --max_actor_restarts='
          f'{self._config.max_actor_restarts}.')
    self.slots.release(stream.slot)
    stream.discard()
    worker.restart()

  # -- Streams ----------------------------------------------------------------

  def _hand_on(self, stream: batching.ActorStream) -> None:
    """A WAITING stream: its complete unroll goes to the sink (if it has
    room) and its next unroll begins with the current slot."""
    if stream.complete:
      if not self.sink.has_room():
        return  # Backpressure: it waits for room.
      self.sink.put(stream.unroll(), stream.version,
                    self.streams.index(stream))
      self.stats.record_unroll()
      self.slots.release(stream.slot)
    stream.begin_unroll(*self.slots.acquire())

  def install(self, slot: int, version: int) -> None:
    """Newly pulled parameters: unrolls begun from now on use them."""
    self.slots.install(slot, version)

  def _ready(self) -> List[int]:
    return [i for i, s in enumerate(self.streams)
            if s.status == batching.READY]

  def _gather(self, max_wait: float) -> List[int]:
    """Indices of streams to run inference on ([] if none became ready
    within `max_wait`)."""
    start = time.perf_counter()
    deadline = None
    while True:
      ready = self._ready()
      stepping = any(s.status == batching.STEPPING for s in self.streams)
      if len(ready) >= self.max_batch or (ready and not stepping):
        break
      now = time.perf_counter()
      if ready and deadline is None:
        deadline = now + self._timeout
      if deadline is not None and now >= deadline:
        self._wait(0.0)
        ready = self._ready()
        break
      if not ready and now - start >= max_wait:
        break
      self._wait(max_wait - (now - start) if deadline is None
                 else deadline - now)
    self.stats.record_wait(time.perf_counter() - start)
    return ready[:self.max_batch]

  def _infer(self, batch: List[int]) -> None:
    """One inference call per parameter slot among `batch`."""
    for slot in sorted({self.streams[i].slot for i in batch}):
      group = [i for i in batch if self.streams[i].slot == slot]
      streams = [self.streams[i] for i in group]
      start = time.perf_counter()
      outputs, states = self.policies[slot](
          [s.env_output for s in streams],
          [int(s.agent_output.action) for s in streams],
          [s.state for s in streams])
      self.stats.record_batch(len(group), time.perf_counter() - start)
      for i, stream, output, state in zip(group, streams, outputs, states):
        self.workers[i].send_step(stream.acted(output, state))

  def poll(self, max_wait: float = LIVENESS_SECS) -> None:
    """One turn of the loop: hand on what waits, gather, infer."""
    now = time.perf_counter()
    waiting = [s for s in self.streams if s.status == batching.WAITING]
    if self._last_poll is not None:
      blocked = sum(1 for s in waiting if s.complete)
      self.stats.record_blocked(blocked * (now - self._last_poll))
    self._last_poll = now
    for stream in waiting:
      self._hand_on(stream)
    if all(s.status == batching.RESTARTING for s in self.streams):
      self._wait(min(max_wait, LIVENESS_SECS))
      return
    batch = self._gather(max_wait)
    if batch:
      self._infer(batch)

  def collect(self, count: int, timeout: float = 300.0) -> List:
    """Acts until the sink holds `count` unrolls (tests, benchmarks)."""
    deadline = time.time() + timeout
    while len(self.sink.unrolls) < count:
      if time.time() > deadline:
        raise TimeoutError(f'{len(self.sink.unrolls)} of {count} unrolls in '
                           f'{timeout:.0f} s.')
      self.poll(0.1)
    return self.sink.unrolls

  def connected(self, version: int) -> None:
    """A (re)connection pulled `version` into slot 0: every stream begins
    its next unroll with it (unrolls begun before had no parameters yet)."""
    self.drain()
    self.slots.reset(version)

  def drain(self, timeout: float = 60.0) -> None:
    """Waits until no environment step is in flight, then abandons every
    stream's unroll (the learner was lost: what was acted for it is
    dropped, each stream keeps its place in its episode)."""
    deadline = time.time() + timeout
    while any(s.status == batching.STEPPING for s in self.streams):
      if time.time() > deadline:
        raise RuntimeError('Environment steps did not finish within '
                           f'{timeout:.0f} s.')
      self._wait(0.1)
    for stream in self.streams:
      self.slots.release(stream.slot)
      stream.abandon_unroll()

  def close(self) -> None:
    worker_pool.close_all(self.workers)
    try:
      os.rmdir(self._socket_dir)
    except OSError:
      pass
