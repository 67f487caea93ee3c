"""Single-machine runs: one learner and `num_actors` actor OS processes.

The launcher starts every process with the SAME entry point and flags a user
would type on a cluster (`--job_name=learner` / `--job_name=actor --task=i`),
so a local run exercises exactly the multi-machine code path, joined through
TensorFlow's distributed runtime on localhost (docs/impala.md §8). It imports
no TensorFlow itself: it only supervises.

  * The whole run lives in a private network namespace when the OS allows it
    (TF servers listen on all interfaces without authentication).
  * An actor that dies is restarted with exponential backoff; after
    `--max_actor_restarts` restarts in total the run stops with an error.
    The learner keeps training meanwhile. An actor that makes no progress
    for `--actor_stall_secs` (e.g. SIGSTOPped) is killed and restarted the
    same way (runtime/watchdog.py).
  * A learner that exits without being asked to stop is restarted from its
    latest checkpoint (at most `--max_learner_restarts` times, with
    backoff); the actors reconnect by themselves. Not after a non-finite
    loss or a refused configuration (runtime/watchdog.py).
  * SIGINT/SIGTERM: the learner is asked to stop (it writes a final
    checkpoint), actors are terminated; anything still alive after 9 s is
    killed. Children die with the launcher (`runtime.processes`: the kernel
    sends them SIGTERM), so no orphan survives even a SIGKILL of the
    launcher.

Exit status: the learner's (128 + n if a signal n killed it; its last one
when it is not restarted any more), 128 + n after a stop signal n,
EXIT_TOO_MANY_RESTARTS when the actors kept dying, watchdog.EXIT_REFUSED_CONFIG
when the logdir is refused before anything starts.
"""

import dataclasses
import os
import signal
import time
from typing import List, Optional

from absl import logging

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import devices
from scalable_agent_tf2.runtime import netns
from scalable_agent_tf2.runtime import ports
from scalable_agent_tf2.runtime import preflight
from scalable_agent_tf2.runtime import processes
from scalable_agent_tf2.runtime import watchdog

EXIT_TOO_MANY_RESTARTS = 6
STOP_GRACE_SECS = 9.0
# Restart backoff of an actor: 0.5 s, 1 s, 2 s, ... at most 30 s.
_FIRST_BACKOFF_SECS = 0.5
_MAX_BACKOFF_SECS = 30.0
_POLL_SECS = 0.2


@dataclasses.dataclass
class _Actor:
  """An actor process and its restart bookkeeping."""
  child: processes.Child
  restarts: int = 0
  restart_at: Optional[float] = None
  finished: bool = False  # Exited 0: the learner closed the queue.


@dataclasses.dataclass
class _Learner:
  """The learner process and its restart bookkeeping."""
  child: processes.Child
  restarts: int = 0
  restart_at: Optional[float] = None
  restarted_at: Optional[float] = None  # When the launcher last started it.

  def coming_back(self, now: float) -> bool:
    """Dead and due for a restart, or restarted not long ago: actors may
    find no server for a while, and that is the restart's doing."""
    if self.restart_at is not None:
      return True
    return (self.restarted_at is not None and
            now - self.restarted_at < watchdog.LEARNER_RESTART_GRACE_SECS)


def _child_env():
  env = dict(os.environ)
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  # A local run's children get their roles by flag; a TF_CONFIG meant for
  # this process (runtime/tf_config.py) must not give them another.
  env.pop('TF_CONFIG', None)
  return env


class Launcher:
  """Starts and supervises the learner and the actors of a local run."""

  def __init__(self, config: Config):
    self.config = config
    self._signals: List[int] = []
    self._total_restarts = 0
    self._stalls = watchdog.StallWatch(config.actor_stall_secs)

  def _setup_network(self):
    if self.config.netns == 'off':
      logging.warning('--netns=off: the local TF cluster listens on all '
                      'interfaces without authentication.')
      return
    try:
      how = netns.enter_private_network()
      logging.info('Local cluster isolated in a private %s (only loopback).',
                   how)
    except (OSError, netns.NetnsUnavailable) as e:
      logging.warning(
          'Could not create a private network namespace (%s): the local TF '
          'cluster servers listen on ALL interfaces without authentication. '
          'Firewall the ports or run where user namespaces are allowed.', e)

  def _command(self, **overrides) -> List[str]:
    return config_lib.experiment_command(config_lib.to_flags(
        self.config, netns='off', **overrides))

  def _children(self, address: str):
    """The learner (output: ours) and the actors (output: their logs)."""
    env = _child_env()
    learner = processes.Child(
        'learner', self._command(job_name='learner', learner_address=address),
        env=env)
    actors = [
        _Actor(processes.Child(
            f'actor {i}', self._command(job_name='actor', task=i,
                                        learner_address=address),
            log_path=run_dir.actor_log_path(self.config.logdir, i),
            env=devices.actor_environment(env, self.config.actor_gpus)))
        for i in range(self.config.num_actors)]
    return learner, actors

  def run(self) -> int:
    config = self.config
    try:
      preflight.check_run_dir(config)  # One line, before any process.
    except config_lib.ConfigError as e:
      logging.error('%s', e)
      return watchdog.EXIT_REFUSED_CONFIG
    self._setup_network()
    os.makedirs(run_dir.logs_dir(config.logdir), exist_ok=True)
    address = f'localhost:{ports.free_port()}'
    learner_child, actors = self._children(address)
    learner = _Learner(learner_child)
    everyone = [learner_child] + [a.child for a in actors]
    logging.info('Starting the learner at %s and %d actor processes '
                 '(%d environments each); actor logs in %s.', address,
                 config.num_actors, config.envs_per_actor,
                 run_dir.logs_dir(config.logdir))
    with processes.on_signals(self._signals.append):
      try:
        now = time.time()
        for child in everyone:
          child.start()
          self._stalls.reset(child.name, now)
        while True:
          if self._signals:
            logging.info('Launcher got signal %d: stopping the run.',
                         self._signals[0])
            self._stop(everyone)
            return 128 + self._signals[0]
          status = self._supervise_learner(learner, actors)
          if status is not None:
            self._stop(everyone)
            return status
          if not self._supervise(actors, learner):
            self._stop(everyone)
            return EXIT_TOO_MANY_RESTARTS
          time.sleep(_POLL_SECS)
      finally:
        processes.kill_all(everyone)

  def _supervise_learner(self, learner: _Learner,
                         actors: List[_Actor]) -> Optional[int]:
    """Restarts a learner that died, when due; the run's exit status once
    the learner is done (finished, or not restarted any more), else None."""
    now = time.time()
    if learner.restart_at is not None:
      if now >= learner.restart_at:
        logging.warning('Restarting the learner from its latest checkpoint '
                        '(learner restart %d/%d).', learner.restarts,
                        self.config.max_learner_restarts)
        learner.child.start()
        learner.restart_at = None
        learner.restarted_at = now
        self._stalls.reset_all(now)  # Waiting for it is not a stall.
        for actor in actors:
          if actor.finished:  # The dead learner's closed queue ended it.
            actor.finished = False
            actor.child.start()
            self._stalls.reset(actor.child.name, now)
      return None
    code = learner.child.poll()
    if code is None:
      return None
    if code == 0:
      return 0
    frames = _last_progress_frames(self.config.logdir)
    refusal = watchdog.learner_restart_refusal(
        code, learner.restarts, self.config.max_learner_restarts)
    if refusal:
      logging.error('The learner exited with %s (last progress line at %s '
                    'frames); not restarted: %s. Stopping the run.',
                    processes.describe_exit(code), frames, refusal)
      return processes.exit_status(code)
    learner.restarts += 1
    backoff = watchdog.learner_backoff_secs(learner.restarts)
    learner.restart_at = now + backoff
    logging.error('The learner exited with %s without being asked to stop '
                  '(last progress line at %s frames); restarting it from its '
                  'latest checkpoint in %.0f s (learner restart %d/%d). The '
                  'actors reconnect by themselves.',
                  processes.describe_exit(code), frames, backoff,
                  learner.restarts, self.config.max_learner_restarts)
    return None

  def _supervise(self, actors: List[_Actor], learner: _Learner) -> bool:
    """Restarts dead actors when due; False once too many restarts."""
    now = time.time()
    learner_up = learner.child.running
    for actor in actors:
      if actor.finished:
        continue
      if actor.restart_at is not None:
        if now >= actor.restart_at:
          logging.info('Restarting %s (restart %d).', actor.child.name,
                       actor.restarts)
          actor.child.start()
          actor.restart_at = None
          self._stalls.reset(actor.child.name, now)
        continue
      code = actor.child.poll()
      if code is None:
        self._check_stall(actor, now, learner_up)
        continue
      if code == 0:
        actor.finished = True
        continue
      if (code == watchdog.EXIT_LEARNER_UNREACHABLE and
          learner.coming_back(now)):
        # Not the actor's fault: restarted at once and not counted against
        # --max_actor_restarts (docs/faults.md).
        logging.warning('%s gave up waiting for the restarting learner; '
                        'starting it again (not counted as a restart).',
                        actor.child.name)
        actor.restart_at = now
        continue
      if not self._schedule_restart(actor, code, now):
        return False
    return True

  def _check_stall(self, actor: _Actor, now: float, learner_up: bool) -> None:
    """Kills a stalled actor (the next poll restarts it)."""
    if not learner_up:
      self._stalls.reset(actor.child.name, now)
      return
    stalled = self._stalls.check(actor.child.name, actor.child.pid, now)
    if stalled:
      logging.warning('%s is stalled: %s. Killing it to restart it.',
                      actor.child.name, stalled)
      actor.child.signal(signal.SIGKILL)
      actor.child.wait(timeout=5.0)

  def _schedule_restart(self, actor: _Actor, code: int, now: float) -> bool:
    self._total_restarts += 1
    actor.restarts += 1
    limit = self.config.max_actor_restarts
    if self._total_restarts > limit:
      logging.error('%s exited with %s; %d actor restarts exceed '
                    '--max_actor_restarts=%d: stopping the run.',
                    actor.child.name, processes.describe_exit(code),
                    self._total_restarts, limit)
      return False
    backoff = min(_MAX_BACKOFF_SECS,
                  _FIRST_BACKOFF_SECS * 2 ** (actor.restarts - 1))
    actor.restart_at = now + backoff
    logging.warning('%s died (%s); restarting in %.1f s (%d/%d restarts). '
                    'See %s.', actor.child.name, processes.describe_exit(code),
                    backoff, self._total_restarts, limit,
                    actor.child.log_path)
    return True

  def _stop(self, children: List[processes.Child]) -> None:
    """SIGTERM to all (the learner writes a final checkpoint), then SIGKILL."""
    processes.stop(children, STOP_GRACE_SECS, log=logging.warning)


def _last_progress_frames(logdir: str) -> str:
  try:
    return str(run_dir.last_progress_frames(logdir))
  except (OSError, ValueError) as e:
    return f'? ({e})'


def run(config: Config) -> int:
  return Launcher(config).run()
