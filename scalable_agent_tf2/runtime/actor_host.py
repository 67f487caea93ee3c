"""An actor host: one TensorFlow process acting for many actors.

With --env_processes=true every actor process is an actor host
(docs/actor_hosts.md): its --envs_per_actor environments live in TF-free
worker processes (runtime/env_worker.py), its streams act independently and
inference is batched dynamically over the ready ones (runtime/host_core.py;
paper §3, Figure 2(c), Table 1 "dyn. batch").

Threads. The main thread steps environments and runs inference; the
learner link's two threads (runtime/learner_link.py) enqueue finished
unrolls and pull parameters, so neither waits on the other.

Parameters. The host keeps two local copies of the learner's parameters
(slots). A stream that begins an unroll takes the current slot and keeps it
to the unroll's end, so each unroll is acted with one version and carries
it; the link pulls into the other slot once no unroll uses it and the
learner has a newer version, at most once per --param_refresh_ms.

Losing the learner: the host stops acting, lets the steps in flight finish,
drops every unroll not yet enqueued, reconnects as every actor does
(runtime/actor.py, --actor_reconnect_secs) and resumes each stream where its
episode stands. Its workers stay up meanwhile.
"""

import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.runtime import actor as actor_lib
from scalable_agent_tf2.runtime import host_core
from scalable_agent_tf2.runtime import host_stats
from scalable_agent_tf2.runtime import learner_link
from scalable_agent_tf2.runtime import transport

# Re-exported for callers that catch it.
WorkerStartError = host_core.WorkerStartError
# The TensorBoard scalars of a host (docs/actor_hosts.md).
SUMMARY_KEYS = ('env_wait_share', 'inference_share', 'enqueue_share',
                'pull_share', 'blocked_share', 'env_steps_per_sec',
                'policy_lag_min', 'policy_lag_mean', 'policy_lag_max',
                'worker_restarts', 'discarded_unrolls')


def summary_dir(logdir: str, task: int) -> str:
  """TensorBoard directory of host `task` (inside the run's logs dir)."""
  return os.path.join(run_dir.logs_dir(logdir), f'actor_host_{task}')


class _LearnerLost(Exception):
  pass


class ActorHost(actor_lib.Actor):
  """An actor process whose environments are worker processes."""

  def _start_environments(self, suite) -> None:
    config = self._config
    # The second parameter slot's agent (the first is self.agent).
    self._slot_agents = [self.agent,
                         actor_lib.build_agent(config, self._num_actions)]
    self.core = host_core.HostCore(config, self._slot_agents,
                                   self._env_indices, self._frame_shape,
                                   self._num_actions)
    try:
      self.core.start()
    except BaseException:
      self.core.close()
      raise
    self._writer = tf.summary.create_file_writer(
        summary_dir(config.logdir, config.task))
    self._last_stats = self._last_summary = time.time()
    logging.info('Actor host %d: %d environment workers (pids %s), '
                 'independent streams, inference batch timeout %g ms, at '
                 'most %d per call, parameter refresh every %g ms.',
                 config.task, len(self.core.workers),
                 [w.child.pid for w in self.core.workers],
                 config.inference_batch_timeout_ms, self.core.max_batch,
                 config.param_refresh_ms)

  def run(self) -> int:
    """Acts until the learner closes the queue. Returns a process exit code."""
    config = self._config
    connection = self._connect()
    while True:
      if connection is None:
        return actor_lib.EXIT_LEARNER_UNREACHABLE
      try:
        code = self._act(connection)
      except _LearnerLost as e:
        logging.warning('Actor host %d lost the learner (%s); dropping the '
                        'unrolls not yet enqueued and reconnecting for up to '
                        '%.0f s.', config.task, e, config.actor_reconnect_secs)
        self.core.drain()
        connection = self._connect(reconnect=True)
        continue
      return code

  def _act(self, connection) -> int:
    """Acts with one connection; returns an exit code or raises
    _LearnerLost."""
    config = self._config
    core = self.core
    core.connected(connection.version)
    link = learner_link.LearnerLink(
        connection.queue,
        [connection.params] + learner_link.slot_parameters(
            self._slot_agents[1:]),
        core.slots, capacity=len(core.streams),
        refresh_secs=config.param_refresh_ms / 1000.0)
    core.sink = link
    self._link = link
    link.start()
    try:
      while not link.failed:
        offer = link.take_offer()
        if offer is not None:
          core.install(*offer)
        core.poll(0.2)
        self.steps = core.stats.total_unrolls * config.unroll_length
        self._maybe_report()
    finally:
      link.stop()
    if link.learner_done:
      logging.info('Actor host %d: the learner closed the queue; exiting.',
                   config.task)
      return actor_lib.EXIT_LEARNER_DONE
    error = link.error
    if isinstance(error, transport.ParameterMismatchError):
      logging.error('Actor host %d: %s', config.task, error)
      return actor_lib.EXIT_MISMATCH
    if isinstance(error, tf.errors.OpError):
      raise _LearnerLost(type(error).__name__)
    raise error

  def _maybe_report(self) -> None:
    now = time.time()
    if now - self._last_stats < self._config.progress_secs:
      return
    sizes = self.core.stats.batch_sizes()
    enqueue_secs, pull_secs, pulls, lags = self._link.times.take()
    stats = self.core.stats.interval(now - self._last_stats, enqueue_secs,
                                     pull_secs, pulls, lags)
    self._last_stats = now
    task = self._config.task
    logging.info('%s', host_stats.format_progress_line(task, stats))
    logging.info('%s', host_stats.format_stats_line(task, stats))
    if now - self._last_summary < self._config.summary_secs:
      return
    self._last_summary = now
    with self._writer.as_default(step=stats['total_env_steps']):
      if stats['batch_mean'] is not None:
        tf.summary.scalar('actor_host/inference_batch_mean',
                          stats['batch_mean'])
        tf.summary.histogram('actor_host/inference_batch_size',
                             sizes.astype(np.float32))
      tf.summary.scalar('actor_host/bottleneck_is_learner',
                        float(stats['bottleneck'].startswith('learner')))
      for key in SUMMARY_KEYS:
        if stats[key] is not None:
          tf.summary.scalar(f'actor_host/{key}', stats[key])

  def close(self) -> None:
    if hasattr(self, 'core'):
      self.core.close()
