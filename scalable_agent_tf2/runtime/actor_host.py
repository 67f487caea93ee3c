"""An actor host: one TensorFlow process acting for many actors.

With --env_processes=true every actor process is an actor host
(docs/actor_hosts.md): its --envs_per_actor environments live in TF-free
worker processes (runtime/env_worker.py), and inference is batched
dynamically over the actors whose observations are ready (paper §3, Table 1
"dyn. batch"), not in lockstep over all of them.

Rounds. The host pulls the learner's parameters once per round for all its
actors (never once per actor); in a round every actor acts one unroll of T
steps with those parameters, so each unroll carries the exact version it
was acted with. Within the round the host loops: wait until some
observations are ready (then at most --inference_batch_timeout_ms more, or
until every busy actor is ready), run the network on those, send each its
action. The round's completed unrolls are enqueued together.

Faults. A worker that dies is restarted with its own level and seed; the
unroll its actor was building is discarded (never enqueued half-built), the
actor starts afresh (zero state, as a new actor) at the next round, and the
other actors keep being served. More than --max_actor_restarts worker
restarts make the host exit with an error (the launcher then restarts it).
Losing the learner is handled as by every actor (runtime/actor.py).
"""

import json
import os
import select
import time
from typing import List, Optional

from absl import logging
import numpy as np
import tensorflow as tf

from scalable_agent_tf2 import run_dir
from scalable_agent_tf2 import suites
from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import actor as actor_lib
from scalable_agent_tf2.runtime import batching
from scalable_agent_tf2.runtime import host_stats
from scalable_agent_tf2.runtime import unrolls
from scalable_agent_tf2.runtime import worker_pool

# How long a blocked wait lasts before dead or restarting workers are checked.
_LIVENESS_SECS = 1.0
# Workers must have built their environments by then (a loaded machine).
STARTUP_TIMEOUT_SECS = 600.0


def summary_dir(logdir: str, task: int) -> str:
  """TensorBoard directory of host `task` (inside the run's logs dir)."""
  return os.path.join(run_dir.logs_dir(logdir), f'actor_host_{task}')


class WorkerStartError(RuntimeError):
  pass


class HostCore:
  """Workers, actor streams and batched inference of one host (no
  learner connection: `run_round()` returns the round's unrolls)."""

  def __init__(self, config: Config, agent, env_indices: List[int],
               frame_shape, num_actions: int):
    self._config = config
    self.policy = batching.BatchedPolicy(agent, frame_shape)
    self.max_batch = len(env_indices)
    self._timeout = config.inference_batch_timeout_ms / 1000.0
    self.stats = host_stats.HostStats(self.max_batch)
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
      self._wait(_LIVENESS_SECS, starting_is_fatal=True)
    # Variables are created by the first call (Sonnet builds on first use).
    self.policy([self.streams[0].env_output], [0],
                [self.streams[0].state])

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
    elif event == worker_pool.EVENT_READY:
      if worker.restarts:
        logging.info('Actor host %d: %s restarted (seed %d); its actor '
                     'rejoins at the next round.', self._config.task,
                     worker.name, worker.seed)
      stream.level_name = worker.slot.read_level_name()  # As today's.
      stream.reset(worker.output)
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
    stream.discard()
    worker.restart()

  # -- Rounds -----------------------------------------------------------------

  def _gather(self) -> Optional[List[int]]:
    """Indices of actors to run inference on (None: the round is over)."""
    start = time.perf_counter()
    deadline = None
    while True:
      ready = [i for i, s in enumerate(self.streams)
               if s.status == batching.READY]
      busy = any(s.status == batching.STEPPING for s in self.streams)
      if len(ready) >= self.max_batch or (ready and not busy):
        break
      if not ready and not busy:
        self._wait(0.0)  # Let restarting workers report; the round ends.
        ready = None
        break
      now = time.perf_counter()
      if ready and deadline is None:
        deadline = now + self._timeout
      if deadline is not None and now >= deadline:
        self._wait(0.0)
        ready = [i for i, s in enumerate(self.streams)
                 if s.status == batching.READY]
        break
      self._wait(_LIVENESS_SECS if deadline is None else deadline - now)
    self.stats.record_wait(time.perf_counter() - start)
    return None if ready is None else ready[:self.max_batch]

  def _infer(self, batch: List[int]) -> None:
    streams = [self.streams[i] for i in batch]
    start = time.perf_counter()
    outputs, states = self.policy(
        [s.env_output for s in streams],
        [int(s.agent_output.action) for s in streams],
        [s.state for s in streams])
    self.stats.record_batch(len(batch), time.perf_counter() - start)
    for i, stream, output, state in zip(batch, streams, outputs, states):
      self.workers[i].send_step(stream.acted(output, state))

  def run_round(self) -> List:
    """Every available actor acts one unroll; returns the completed
    unrolls (ActorOutput, time-major), in actor order."""
    while not any(s.status == batching.WAITING for s in self.streams):
      self._wait(_LIVENESS_SECS)  # Every worker is restarting.
    for stream in self.streams:
      if stream.status == batching.WAITING:
        stream.begin_unroll()
    while True:
      batch = self._gather()
      if batch is None:
        break
      self._infer(batch)
    return [s.unroll() for s in self.streams if s.complete]

  def close(self) -> None:
    worker_pool.close_all(self.workers)
    try:
      os.rmdir(self._socket_dir)
    except OSError:
      pass


class ActorHost(actor_lib.Actor):
  """An actor process whose environments are worker processes."""

  def _start_environments(self, suite) -> None:
    config = self._config
    self.core = HostCore(config, self.agent, self._env_indices,
                         self._frame_shape, self._num_actions)
    try:
      self.core.start()
    except BaseException:
      self.core.close()
      raise
    self._writer = tf.summary.create_file_writer(
        summary_dir(config.logdir, config.task))
    self._last_stats = self._last_summary = time.time()
    self._round_end = None
    logging.info('Actor host %d: %d environment workers (pids %s), '
                 'inference batch timeout %g ms.', config.task,
                 len(self.core.workers),
                 [w.child.pid for w in self.core.workers],
                 config.inference_batch_timeout_ms)

  def unroll(self):
    """One round: the batch-major element of the completed unrolls."""
    started = time.perf_counter()
    if self._round_end is not None:  # Enqueue + pull since the last round.
      self.core.stats.record_learner(started - self._round_end)
    completed = self.core.run_round()
    self._round_end = time.perf_counter()
    self.steps += len(completed) * self._config.unroll_length
    self._maybe_report()
    if not completed:
      return None
    return batching.batch_of_unrolls(completed)

  def _maybe_report(self) -> None:
    now = time.time()
    if now - self._last_stats < self._config.progress_secs:
      return
    sizes = self.core.stats.batch_sizes()
    stats = self.core.stats.interval(now - self._last_stats)
    self._last_stats = now
    logging.info('%s', host_stats.format_stats_line(self._config.task, stats))
    if now - self._last_summary < self._config.summary_secs:
      return
    self._last_summary = now
    with self._writer.as_default(step=stats['total_env_steps']):
      if stats['batch_mean'] is not None:
        tf.summary.scalar('actor_host/inference_batch_mean',
                          stats['batch_mean'])
        tf.summary.histogram('actor_host/inference_batch_size',
                             sizes.astype(np.float32))
      for key in ('env_wait_secs', 'inference_secs', 'learner_secs',
                  'env_steps_per_sec',
                  'worker_restarts', 'discarded_unrolls'):
        if stats[key] is not None:
          tf.summary.scalar(f'actor_host/{key}', stats[key])

  def close(self) -> None:
    if hasattr(self, 'core'):
      self.core.close()
