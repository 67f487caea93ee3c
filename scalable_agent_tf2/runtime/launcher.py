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
    The learner keeps training meanwhile.
  * SIGINT/SIGTERM: the learner is asked to stop (it writes a final
    checkpoint), actors are terminated; anything still alive after 9 s is
    killed. Children die with the launcher (`runtime.processes`: the kernel
    sends them SIGTERM), so no orphan survives even a SIGKILL of the
    launcher.

Exit status: the learner's (128 + n if a signal n killed it), 128 + n after
a stop signal n, EXIT_TOO_MANY_RESTARTS when the actors kept dying.
"""

import dataclasses
import os
import time
from typing import List, Optional

from absl import logging

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import netns
from scalable_agent_tf2.runtime import ports
from scalable_agent_tf2.runtime import processes

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


def _child_env():
  env = dict(os.environ)
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  return env


class Launcher:
  """Starts and supervises the learner and the actors of a local run."""

  def __init__(self, config: Config):
    self.config = config
    self._signals: List[int] = []
    self._total_restarts = 0

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
            log_path=run_dir.actor_log_path(self.config.logdir, i), env=env))
        for i in range(self.config.num_actors)]
    return learner, actors

  def run(self) -> int:
    config = self.config
    self._setup_network()
    os.makedirs(run_dir.logs_dir(config.logdir), exist_ok=True)
    address = f'localhost:{ports.free_port()}'
    learner, actors = self._children(address)
    everyone = [learner] + [a.child for a in actors]
    logging.info('Starting the learner at %s and %d actor processes '
                 '(%d environments each); actor logs in %s.', address,
                 config.num_actors, config.envs_per_actor,
                 run_dir.logs_dir(config.logdir))
    with processes.on_signals(self._signals.append):
      try:
        for child in everyone:
          child.start()
        while True:
          if self._signals:
            logging.info('Launcher got signal %d: stopping the run.',
                         self._signals[0])
            self._stop(everyone)
            return 128 + self._signals[0]
          code = learner.poll()
          if code is not None:
            if code != 0:
              logging.error('The learner exited with %s.',
                            processes.describe_exit(code))
            self._stop(everyone)
            return processes.exit_status(code)
          if not self._supervise(actors):
            self._stop(everyone)
            return EXIT_TOO_MANY_RESTARTS
          time.sleep(_POLL_SECS)
      finally:
        processes.kill_all(everyone)

  def _supervise(self, actors: List[_Actor]) -> bool:
    """Restarts dead actors when due; False once too many restarts."""
    now = time.time()
    for actor in actors:
      if actor.finished:
        continue
      if actor.restart_at is not None:
        if now >= actor.restart_at:
          logging.info('Restarting %s (restart %d).', actor.child.name,
                       actor.restarts)
          actor.child.start()
          actor.restart_at = None
        continue
      code = actor.child.poll()
      if code is None:
        continue
      if code == 0:
        actor.finished = True
        continue
      if not self._schedule_restart(actor, code, now):
        return False
    return True

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


def run(config: Config) -> int:
  return Launcher(config).run()
