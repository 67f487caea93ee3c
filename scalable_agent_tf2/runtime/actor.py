"""An actor process: steps its own environments and enqueues unrolls.

Each actor owns `envs_per_actor` real environments and a local copy of the
agent. Before every unroll it pulls the learner's latest parameters; it then
runs `unroll_length` batched inference steps (one forward pass for all its
environments) and enqueues one unroll per environment into the learner-hosted
queue, blocking while the queue is full (paper §3: actors are decoupled from
the learner, which corrects for the resulting policy lag with V-trace).
"""

import time

from absl import logging
import numpy as np
import tensorflow as tf

from scalable_agent_tf2 import environment
from scalable_agent_tf2 import networks
from scalable_agent_tf2 import suites
from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import ports
from scalable_agent_tf2.runtime import transport
from scalable_agent_tf2.runtime import unrolls
from scalable_agent_tf2.runtime import watchdog
from scalable_agent_tf2.structures import ActorOutput, AgentOutput

# Exit codes the launcher understands.
EXIT_LEARNER_DONE = 0
EXIT_LEARNER_UNREACHABLE = watchdog.EXIT_LEARNER_UNREACHABLE
EXIT_MISMATCH = 4

# Actor task i seeds TensorFlow with seed * ACTOR_SEED_STRIDE + i: its action
# sampling is reproducible and differs between actors (docs/determinism.md).
ACTOR_SEED_STRIDE = 100_000


def actor_tf_seed(config: Config) -> int:
  """The TensorFlow seed of actor task `config.task`."""
  return config.seed * ACTOR_SEED_STRIDE + config.task


def build_agent(config: Config, num_actions: int) -> networks.ImpalaAgent:
  return networks.ImpalaAgent(num_actions, torso=config.torso,
                              use_lstm=config.use_lstm,
                              use_instruction=config.use_instruction)


class LearnerUnreachableError(RuntimeError):
  pass


class _Connection:
  """Handles to the learner's queue and parameters (recreated on reconnect)."""

  def __init__(self, config: Config, agent, element_spec):
    self.queue = transport.UnrollQueue(element_spec,
                                       config.effective_queue_capacity)
    self.params = transport.PublishedParameters(agent.trainable_variables)
    self.version = None  # Of the first pull (Actor._connect).


class Actor:
  """Runs the acting loop of actor task `config.task`."""

  def __init__(self, config: Config):
    self._config = config
    if config.actor_threads:  # Before TensorFlow's runtime starts.
      tf.config.threading.set_intra_op_parallelism_threads(
          config.actor_threads)
      tf.config.threading.set_inter_op_parallelism_threads(
          config.actor_threads)
    # Join the cluster BEFORE creating any variable: variables made earlier
    # live on '/job:localhost', a device that no longer exists once connected.
    # After connecting, even local ops wait for every server in the cluster,
    # so first make sure the learner is there (bounded wait).
    self._actor_address = (config.actor_address or
                           f'localhost:{ports.free_port()}')
    self._wait_for_learner()
    transport.connect_actor(config.learner_address, self._actor_address)
    k = config.envs_per_actor
    self._env_indices = [config.task * k + i for i in range(k)]
    suite = suites.get(config.env)
    self._num_actions = suite.num_actions(config)
    self._frame_shape = suite.frame_shape(config)
    tf.random.set_seed(actor_tf_seed(config))
    self.agent = build_agent(config, self._num_actions)
    self._element_spec = unrolls.queue_element_spec(
        self._frame_shape, self._num_actions, config.unroll_length, self.agent)
    self._levels = [suites.level_for_env(config, g)
                    for g in self._env_indices]
    self.steps = 0
    self._start_environments(suite)

  def _start_environments(self, suite) -> None:
    """Builds the environments in this process (--env_processes=false)."""
    config = self._config
    k = len(self._env_indices)
    self._step = tf.function(self.agent.step)
    self.envs = []
    for g, level in zip(self._env_indices, self._levels):
      seed = suites.env_seed(config, g)
      self.envs.append(environment.with_slow_restarts(
          suite.make_environment(config, level, seed=seed), config, seed))
    self._level_names = np.array([e.level_name.encode() for e in self.envs],
                                 dtype=object)
    # Carried across unrolls: the last step becomes the next unroll's step 0.
    self._env_output = unrolls.stack_env_outputs([e.initial()
                                                  for e in self.envs])
    self._agent_output = unrolls.zeros_like_spec(
        unrolls.agent_output_spec(self._num_actions), leading=[k])
    self._state = self.agent.initial_state(k)
    # Creates the agent's variables (Sonnet builds them on first call).
    self._act(self._env_output, self._agent_output.action, self._state)

  def _wait_for_learner(self):
    config = self._config
    deadline = time.time() + config.actor_reconnect_secs
    delay = 0.2
    while not ports.server_reachable(config.learner_address):
      if time.time() > deadline:
        raise LearnerUnreachableError(
            f'Actor {config.task}: the learner at {config.learner_address} is '
            f'unreachable (no server answered for '
            f'{config.actor_reconnect_secs:.0f} s); exiting. Check '
            '--learner_address and that the learner is running.')
      time.sleep(delay)
      delay = min(2 * delay, 2.0)

  def _act(self, env_output, prev_action, state):
    env_output = tf.nest.map_structure(tf.convert_to_tensor, env_output)
    agent_output, state = self._step(env_output,
                                     tf.convert_to_tensor(prev_action), state)
    return tf.nest.map_structure(lambda t: t.numpy(), agent_output), state

  def unroll(self):
    """Acts for unroll_length steps; returns the batch-major queue element."""
    first_state = tf.nest.map_structure(lambda t: np.asarray(t), self._state)
    env_steps = [self._env_output]
    agent_steps = [self._agent_output]
    for _ in range(self._config.unroll_length):
      agent_output, self._state = self._act(
          self._env_output, self._agent_output.action, self._state)
      self._env_output = unrolls.stack_env_outputs(
          [env.step(int(a)) for env, a in zip(self.envs, agent_output.action)])
      self._agent_output = AgentOutput(*agent_output)
      env_steps.append(self._env_output)
      agent_steps.append(self._agent_output)
    self.steps += self._config.unroll_length * len(self.envs)
    return ActorOutput(level_name=self._level_names,
                       agent_state=first_state,
                       env_outputs=unrolls.stack_time(env_steps),
                       agent_outputs=unrolls.stack_time(agent_steps))

  def close(self):
    for env in self.envs:
      env.close()

  def run(self) -> int:
    """Acts until the learner closes the queue. Returns a process exit code."""
    config = self._config
    connection = self._connect()
    if connection is None:
      return EXIT_LEARNER_UNREACHABLE
    last_log, last_steps = time.time(), 0
    while True:
      try:
        version = connection.params.pull()
        element = self.unroll()
        if element is not None:  # None: an actor host had no complete one.
          versions = np.full([len(element.level_name)], version, np.int64)
          connection.queue.enqueue_many((element, versions))
      except (tf.errors.CancelledError, tf.errors.OutOfRangeError):
        logging.info('Actor %d: the learner closed the queue; exiting.',
                     config.task)
        return EXIT_LEARNER_DONE
      except transport.ParameterMismatchError as e:
        logging.error('Actor %d: %s', config.task, e)
        return EXIT_MISMATCH
      except (tf.errors.UnavailableError, tf.errors.AbortedError,
              tf.errors.NotFoundError, tf.errors.FailedPreconditionError,
              tf.errors.InternalError) as e:
        logging.warning('Actor %d lost the learner (%s); reconnecting for up '
                        'to %.0f s.', config.task, type(e).__name__,
                        config.actor_reconnect_secs)
        connection = self._connect(reconnect=True)
        if connection is None:
          return EXIT_LEARNER_UNREACHABLE
        continue
      now = time.time()
      if now - last_log >= 60:
        logging.info('Actor %d: %.0f env steps/s, %d steps total.',
                     config.task, (self.steps - last_steps) / (now - last_log),
                     self.steps)
        last_log, last_steps = now, self.steps

  def _connect(self, reconnect: bool = False):
    """Creates the handles and waits for the first published parameters.

    Retries for --actor_reconnect_secs: the learner may still be starting
    (nothing published yet) or restarting (unreachable). After a lost
    connection the actor joins the cluster again, as the same `actor:0`
    device so that its variables stay valid.
    """
    config = self._config
    deadline = time.time() + config.actor_reconnect_secs
    delay = 0.2
    last_error = None
    while time.time() <= deadline:
      if not ports.server_reachable(config.learner_address):
        last_error = ConnectionRefusedError(
            f'no server at {config.learner_address}')
        reconnect = True
        time.sleep(delay)
        delay = min(2 * delay, 2.0)
        continue
      try:
        if reconnect:
          transport.connect_actor(config.learner_address, self._actor_address)
          reconnect = False
        connection = _Connection(config, self.agent, self._element_spec)
        connection.version = connection.params.pull()
        logging.info('Actor %d connected to the learner at %s (levels %s).',
                     config.task, config.learner_address,
                     sorted(set(self._levels)))
        return connection
      except transport.ParameterMismatchError:
        raise
      except tf.errors.FailedPreconditionError as e:
        last_error = e  # Parameters not published yet: just wait.
      except tf.errors.OpError as e:
        last_error = e
        reconnect = True
      time.sleep(delay)
      delay = min(2 * delay, 2.0)
    logging.error(
        'Actor %d: the learner at %s is unreachable or has published no '
        'parameters for %.0f s; exiting. Last error: %s: %s', config.task,
        config.learner_address, config.actor_reconnect_secs,
        type(last_error).__name__, str(last_error).splitlines()[0][:300])
    return None
