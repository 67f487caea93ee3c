"""The learner process: hosts the queue, trains, publishes, checkpoints.

Threads: the training loop runs in a worker thread because a dequeue blocked
inside TensorFlow cannot be interrupted by a Python signal handler. The main
thread waits for SIGINT/SIGTERM or the end of training; on a signal it closes
the queue (which wakes the blocked dequeue and any blocked actor), joins the
worker and writes a final checkpoint.
"""

import contextlib
import signal
import threading

from absl import logging
import numpy as np
import tensorflow as tf

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import learner as learner_lib
from scalable_agent_tf2 import replay
from scalable_agent_tf2 import suites
from scalable_agent_tf2.pbt import member as pbt_member
from scalable_agent_tf2.runtime import actor as actor_lib
from scalable_agent_tf2.runtime import bottleneck
from scalable_agent_tf2.runtime import checkpoints
from scalable_agent_tf2.runtime import devices
from scalable_agent_tf2.runtime import ports
from scalable_agent_tf2.runtime import preflight
from scalable_agent_tf2.runtime import replicas
from scalable_agent_tf2.runtime import run_log
from scalable_agent_tf2.runtime import transport
from scalable_agent_tf2.runtime import unrolls
from scalable_agent_tf2.runtime import watchdog

EXIT_OK = 0
# The TF-free launcher decides on restarts from these (runtime/watchdog.py).
EXIT_NON_FINITE = watchdog.EXIT_NON_FINITE
EXIT_REFUSED_CONFIG = watchdog.EXIT_REFUSED_CONFIG


class NonFiniteLossError(RuntimeError):
  pass


class LearnerProcess:
  """Everything the learner process owns."""

  def __init__(self, config: config_lib.Config):
    self.config = config
    preflight.prepare_learner(config)  # Refuses a bad logdir or port.
    devices.configure_learner_gpus(config.gpu_memory_growth)
    # Replica devices must exist before TensorFlow starts (runtime/replicas).
    replica_devices = replicas.configure_devices(config.num_learners,
                                                 config.learner_device)
    transport.connect_learner(config.learner_address)
    self.suite = suites.get(config.env)
    num_actions = self.suite.num_actions(config)
    frame_shape = self.suite.frame_shape(config)
    # The initial weights are a function of --seed (docs/determinism.md).
    tf.random.set_seed(config.seed)
    strategy = replicas.make_strategy(replica_devices, transport.LEARNER_TASK)
    with strategy.scope() if strategy else contextlib.nullcontext():
      self.agent = actor_lib.build_agent(config, num_actions)
      self.learner = learner_lib.Learner(self.agent, config,
                                         strategy=strategy)
    self._log_devices(strategy)
    element_spec = unrolls.queue_element_spec(
        frame_shape, num_actions, config.unroll_length, self.agent)
    example = unrolls.zeros_like_spec(element_spec, leading=[1])
    self.learner.initialize(learner_lib.batch_major_to_time_major(example[0]))
    self.queue = transport.UnrollQueue(element_spec,
                                       config.effective_queue_capacity)
    # Experience replay (replay.py): fresh + replayed, or the queue alone.
    self.batches = replay.BatchSource(config, self.queue, element_spec)
    self.params = transport.PublishedParameters(
        self.agent.trainable_variables)
    self.rng = tf.random.Generator.from_seed(config.seed)
    self.checkpoint = checkpoints.make_checkpoint(self.learner, self.rng)
    # Unreadable newer checkpoints are set aside (runtime/checkpoints.py).
    self.manager, restored = checkpoints.restore_and_repair(self.checkpoint,
                                                            config.logdir)
    self.saver = checkpoints.Saver(self.manager, config.checkpoint_secs)
    config.save(config.logdir)  # Only once the restore succeeded.
    if restored:
      checkpoints.log_resume(config.logdir, restored,
                             int(self.learner.num_env_frames.numpy()),
                             int(self.learner.num_updates.numpy()))
    # Run-time hyperparameters: saved from now on, restored when present.
    learner_lib.attach_to_checkpoint(self.checkpoint, self.learner, restored)
    # Population-based training (pbt/member.py): None without --pbt_root.
    self.pbt = pbt_member.create(config, self)
    self.params.publish(int(self.learner.num_updates.numpy()))
    # Where the learner's time goes, per progress line (runtime/bottleneck.py).
    self.timer = bottleneck.StageTimer()
    self.log = run_log.RunLog(config.logdir, config.stop_frames,
                              config.progress_secs, config.summary_secs,
                              timer=self.timer)
    self._stop = threading.Event()
    self._error = None
    self.num_params = int(sum(np.prod(v.shape)
                              for v in self.agent.trainable_variables))
    if not restored:
      # The starting point of a fresh run, so it can be compared and resumed.
      self.save('initial')

  def _log_devices(self, strategy):
    logging.info('Learner step on %s (%d replica(s), %d unrolls each); '
                 'V-trace on %s.',
                 ', '.join(replicas.replica_devices(strategy,
                                                    self.learner.device)),
                 self.learner.num_replicas,
                 self.config.batch_size // self.learner.num_replicas,
                 '/cpu:0' if self.config.vtrace_device == 'cpu' else
                 'the learner device')

  @property
  def frames(self) -> int:
    return int(self.learner.num_env_frames.numpy())

  def save(self, reason: str):
    """The checkpoint's path; None if the disk refused it (Saver warns)."""
    path = self.saver.save(self.learner.num_updates)
    if path:
      logging.info('Checkpoint (%s) at %d frames: %s', reason, self.frames,
                   path)
    return path

  # -- Training thread --------------------------------------------------------

  def _train_loop(self):
    config = self.config
    self.log.start(self.frames)
    self.timer.take()  # The first interval starts with training.
    logging.info('Learner ready: %d parameters, waiting for unrolls from '
                 'actors (batch %d x unroll %d).', self.num_params,
                 config.batch_size, config.unroll_length)
    try:
      while not self._stop.is_set() and \
          self.frames < config.stop_frames:
        self._update()
        if self.saver.due():  # Every --checkpoint_secs; retries sooner.
          self.save('periodic')
    except (tf.errors.OutOfRangeError, tf.errors.CancelledError):
      if not self._stop.is_set():
        self._error = RuntimeError('The unroll queue was closed unexpectedly.')
    except Exception as e:  # pylint: disable=broad-except
      self._error = e
    finally:
      self._stop.set()

  def _update(self):
    """Dequeue, train, publish, record: one update, its stages timed."""
    config, timer = self.config, self.timer
    with timer.stage('queue_wait') as wait:
      # "Queue full": the update's fresh unrolls were there before it asked.
      ready = self.queue.size() >= config.num_fresh_per_update
      batch = self.batches.next(int(self.learner.num_updates.numpy()))
    timer.record_update(ready, batch.dequeued, batch.dropped)
    with timer.stage('train_step'):
      # One shared queue and one dequeue feed every replica its share of
      # the batch (runtime/replicas.py).
      stats = self.learner.train_step(batch.element, batch.versions)
      finite = bool(stats.finite)  # Waits for the step to finish.
    if not finite:
      raise NonFiniteLossError(
          f'Non-finite loss or gradient at update '
          f'{int(stats.num_updates)} ({int(stats.num_env_frames)} frames): '
          f'loss={float(stats.total_loss)}, '
          f'grad_norm={float(stats.grad_norm)}. The update was not '
          'applied; stopping with the last good checkpoint intact.')
    updates = int(stats.num_updates)
    with timer.stage('publish'):
      self.params.publish(updates)
    frames = int(stats.num_env_frames)
    info = batch.fresh.env_outputs.info  # Replayed ones ran before.
    episodes = run_log.finished_episodes(
        batch.fresh.level_name.numpy(), info.episode_done.numpy(),
        info.episode_return.numpy(), info.episode_step.numpy())
    self.log.record_episodes(episodes, frames)
    if self.pbt is not None:
      self.pbt.after_update(frames, episodes)
    scalars = {k: float(v) for k, v in stats._asdict().items()
               if k not in ('finite', 'num_env_frames', 'num_updates')}
    scalars['dequeue_wait_secs'] = wait.secs  # The learner's idle time.
    self.log.maybe_write(frames, updates, scalars, self.queue.size(),
                         extra_scalars={**self.suite.training_scores(
                             config, self.log.mean_returns()),
                                        **batch.scalars})

  # -- Main thread ------------------------------------------------------------

  def run(self) -> int:
    signalled = []

    def on_signal(signum, unused_frame):
      signalled.append(signum)
      self._stop.set()

    previous = {s: signal.signal(s, on_signal)
                for s in (signal.SIGINT, signal.SIGTERM)}
    worker = threading.Thread(target=self._train_loop, name='train',
                              daemon=True)
    worker.start()
    try:
      while not self._stop.wait(0.2):
        pass
      if signalled:
        logging.info('Learner got signal %d: stopping.', signalled[0])
      # Wake the worker if it is blocked in dequeue, and every actor blocked
      # in enqueue (they exit on CancelledError).
      self.queue.close(cancel_pending_enqueues=True)
      worker.join(timeout=8.0)
      if worker.is_alive():
        logging.warning('The train step did not finish in 8 s; saving the '
                        'state as of the last completed update.')
      if isinstance(self._error, NonFiniteLossError):
        logging.error('%s', self._error)
        return EXIT_NON_FINITE
      final = self.save('final')
      self.log.maybe_write(self.frames, int(self.learner.num_updates.numpy()),
                           {}, 0, force=True,
                           extra_scalars=self.suite.training_scores(
                               self.config, self.log.mean_returns()))
      if self._error is not None:
        logging.error('Learner failed: %r', self._error)
        raise self._error
      if final is None:
        logging.error('The final checkpoint could not be written; a resume '
                      'starts from %s.', self.manager.latest_checkpoint)
        return watchdog.EXIT_SAVE_FAILED
      logging.info('Learner finished at %d frames.', self.frames)
      return EXIT_OK
    finally:
      for s, handler in previous.items():
        signal.signal(s, handler)
      self.log.close()


def run(config: config_lib.Config) -> int:
  try:
    process = LearnerProcess(config)
  except (config_lib.ConfigError, checkpoints.CheckpointError,
          ports.PortInUseError) as e:
    logging.error('%s', e)  # One line, no traceback (docs/faults.md).
    return EXIT_REFUSED_CONFIG
  return process.run()
