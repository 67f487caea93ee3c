"""Single-machine runs: one learner and `num_actors` actor OS processes.

The launcher starts every process with the SAME entry point and flags a user
would type on a cluster (`--job_name=learner` / `--job_name=actor --task=i`),
so a local run exercises exactly the multi-machine code path, joined through
TensorFlow's distributed runtime on localhost. It imports no TensorFlow
itself: it only supervises.

  * The whole run lives in a private network namespace when the OS allows it
    (TF servers listen on all interfaces without authentication).
  * An actor that dies is restarted with exponential backoff; after
    `--max_actor_restarts` restarts in total the run stops with an error.
    The learner keeps training meanwhile.
  * SIGINT/SIGTERM: the learner is asked to stop (it writes a final
    checkpoint), actors are terminated; anything still alive after 9 s is
    killed. Children die with the launcher (PR_SET_PDEATHSIG), so no orphan
    process survives even a SIGKILL of the launcher.
"""

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from typing import List, Optional

from absl import logging

from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import netns
from scalable_agent_tf2.runtime import ports

EXIT_TOO_MANY_RESTARTS = 6
_PR_SET_PDEATHSIG = 1
STOP_GRACE_SECS = 9.0


def config_to_flags(config: Config, **overrides) -> List[str]:
  """The command-line flags that reproduce `config` (plus overrides)."""
  values = dict(config.to_dict(), **overrides)
  flags = []
  for name, value in sorted(values.items()):
    if isinstance(value, bool):
      value = 'true' if value else 'false'
    elif isinstance(value, float):
      value = repr(value)
    flags.append(f'--{name}={value}')
  return flags


def _die_with_parent():
  # Runs in the child between fork and exec.
  libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
  libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _Child:
  """One supervised process."""

  def __init__(self, name: str, argv: List[str], log_path: Optional[str]):
    self.name = name
    self.argv = argv
    self.log_path = log_path
    self.proc: Optional[subprocess.Popen] = None
    self.restarts = 0
    self.restart_at: Optional[float] = None
    self.finished = False

  def start(self):
    env = dict(os.environ)
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    out = None
    if self.log_path:
      out = open(self.log_path, 'ab')
    self.proc = subprocess.Popen(
        self.argv, stdout=out, stderr=subprocess.STDOUT if out else None,
        env=env, preexec_fn=_die_with_parent, start_new_session=True)
    if out:
      out.close()
    self.restart_at = None

  def poll(self) -> Optional[int]:
    return None if self.proc is None else self.proc.poll()

  def signal(self, signum):
    if self.proc is not None and self.proc.poll() is None:
      try:
        self.proc.send_signal(signum)
      except ProcessLookupError:
        pass


def _describe_exit(code: int) -> str:
  if code < 0:
    try:
      return f'signal {signal.Signals(-code).name}'
    except ValueError:
      return f'signal {-code}'
  return f'exit code {code}'


class Launcher:
  """Starts and supervises the learner and the actors of a local run."""

  def __init__(self, config: Config):
    self.config = config
    self._signals: List[int] = []

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

  def _entry(self) -> List[str]:
    return [sys.executable, '-m', 'scalable_agent_tf2.experiment']

  def run(self) -> int:
    config = self.config
    self._setup_network()
    os.makedirs(os.path.join(config.logdir, 'logs'), exist_ok=True)
    address = f'localhost:{ports.free_port()}'
    learner = _Child('learner', self._entry() + config_to_flags(
        config, job_name='learner', learner_address=address, netns='off'),
                     log_path=None)
    actors = [
        _Child(f'actor {i}', self._entry() + config_to_flags(
            config, job_name='actor', task=i, learner_address=address,
            netns='off'),
               log_path=os.path.join(config.logdir, 'logs', f'actor_{i}.log'))
        for i in range(config.num_actors)]
    for s in (signal.SIGINT, signal.SIGTERM):
      signal.signal(s, lambda signum, _: self._signals.append(signum))
    logging.info('Starting the learner at %s and %d actor processes '
                 '(%d environments each); actor logs in %s.', address,
                 config.num_actors, config.envs_per_actor,
                 os.path.join(config.logdir, 'logs'))
    learner.start()
    for a in actors:
      a.start()
    total_restarts = 0
    try:
      while True:
        if self._signals:
          logging.info('Launcher got signal %d: stopping the run.',
                       self._signals[0])
          self._stop(learner, actors)
          return 128 + self._signals[0]
        code = learner.poll()
        if code is not None:
          if code != 0:
            logging.error('The learner exited with %s.', _describe_exit(code))
          self._stop(learner, actors)
          return code if code >= 0 else 128 - code
        now = time.time()
        for a in actors:
          if a.finished:
            continue
          if a.restart_at is not None:
            if now >= a.restart_at:
              logging.info('Restarting %s (restart %d).', a.name, a.restarts)
              a.start()
            continue
          code = a.poll()
          if code is None:
            continue
          if code == 0:
            a.finished = True  # The learner closed the queue.
            continue
          total_restarts += 1
          a.restarts += 1
          if total_restarts > config.max_actor_restarts:
            logging.error(
                '%s exited with %s; %d actor restarts exceed '
                '--max_actor_restarts=%d: stopping the run.', a.name,
                _describe_exit(code), total_restarts,
                config.max_actor_restarts)
            self._stop(learner, actors)
            return EXIT_TOO_MANY_RESTARTS
          backoff = min(30.0, 0.5 * 2 ** (a.restarts - 1))
          a.restart_at = now + backoff
          logging.warning('%s died (%s); restarting in %.1f s (%d/%d '
                          'restarts). See %s.', a.name, _describe_exit(code),
                          backoff, total_restarts, config.max_actor_restarts,
                          a.log_path)
        time.sleep(0.2)
    finally:
      for a in [learner] + actors:
        a.signal(signal.SIGKILL)

  def _stop(self, learner: _Child, actors: List[_Child]) -> None:
    """Learner: SIGTERM (final checkpoint). Actors: SIGTERM. Then SIGKILL."""
    learner.signal(signal.SIGTERM)
    for a in actors:
      a.signal(signal.SIGTERM)
    deadline = time.time() + STOP_GRACE_SECS
    for child in [learner] + actors:
      if child.proc is None:
        continue
      try:
        child.proc.wait(timeout=max(0.0, deadline - time.time()))
      except subprocess.TimeoutExpired:
        logging.warning('%s did not stop in time; killing it.', child.name)
        child.signal(signal.SIGKILL)
        child.proc.wait()


def run(config: Config) -> int:
  return Launcher(config).run()
