"""The actor process's entry: an in-process actor, or an actor host.

`--env_processes=false` runs `actor.Actor` (environments stepped in the
process); `true` runs `actor_host.ActorHost` (environment worker processes,
docs/actor_hosts.md). Both share the learner connection and the exit codes
of runtime/actor.py.
"""

from absl import logging

from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import actor as actor_lib
from scalable_agent_tf2.runtime import actor_host
from scalable_agent_tf2.runtime import devices
from scalable_agent_tf2.runtime import transport


def run(config: Config) -> int:
  """Runs actor task `config.task`; returns the process's exit code."""
  devices.limit_actor_gpus(config.actor_gpus)  # Before TF starts (devices).
  actor_class = actor_host.ActorHost if config.env_processes else (
      actor_lib.Actor)
  try:
    actor = actor_class(config)
  except actor_lib.LearnerUnreachableError as e:
    logging.error('%s', e)
    return actor_lib.EXIT_LEARNER_UNREACHABLE
  try:
    return actor.run()
  except transport.ParameterMismatchError as e:
    logging.error('Actor %d: %s', config.task, e)
    return actor_lib.EXIT_MISMATCH
  finally:
    actor.close()
