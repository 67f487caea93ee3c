"""The unroll an actor builds and the learner dequeues: specs and buffers.

One queue element is `(ActorOutput, policy_version)`:
  ActorOutput(level_name [], agent_state (nest, [...] per unroll),
              env_outputs StepOutput [T+1, ...], agent_outputs [T+1, ...])
  policy_version: int64 [], the parameter version the actor acted with.

Step 0 of an unroll repeats the last step of the previous one and
`agent_state` is the state before step 0 (docs/impala.md §3): the learner re-runs
the network from there over all T + 1 steps.
"""

from typing import List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from scalable_agent_tf2.structures import (ActorOutput, AgentOutput,
                                           StepOutput, StepOutputInfo)


def step_output_spec(frame_shape: Sequence[int]) -> StepOutput:
  """TensorSpecs of one environment step (no leading dims)."""
  return StepOutput(
      reward=tf.TensorSpec([], tf.float32),
      info=StepOutputInfo(episode_return=tf.TensorSpec([], tf.float32),
                          episode_step=tf.TensorSpec([], tf.int32),
                          episode_done=tf.TensorSpec([], tf.bool)),
      done=tf.TensorSpec([], tf.bool),
      observation=(tf.TensorSpec(list(frame_shape), tf.uint8),
                   tf.TensorSpec([], tf.string)))


def agent_output_spec(num_actions: int) -> AgentOutput:
  return AgentOutput(action=tf.TensorSpec([], tf.int32),
                     policy_logits=tf.TensorSpec([num_actions], tf.float32),
                     baseline=tf.TensorSpec([], tf.float32))


def with_leading(spec, dims):
  """`spec` (a nest of TensorSpecs) with `dims` prepended to every shape."""
  return tf.nest.map_structure(
      lambda s: tf.TensorSpec(list(dims) + s.shape.as_list(), s.dtype), spec)


def queue_element_spec(frame_shape, num_actions: int, unroll_length: int,
                       agent) -> Tuple[ActorOutput, tf.TensorSpec]:
  """Spec of one queue element; `agent` supplies the recurrent state shape."""
  state = agent.initial_state(1)
  state_spec = tf.nest.map_structure(
      lambda t: tf.TensorSpec(t.shape[1:], t.dtype), state)
  steps = unroll_length + 1
  actor_output = ActorOutput(
      level_name=tf.TensorSpec([], tf.string),
      agent_state=state_spec,
      env_outputs=with_leading(step_output_spec(frame_shape), [steps]),
      agent_outputs=with_leading(agent_output_spec(num_actions), [steps]))
  return actor_output, tf.TensorSpec([], tf.int64)


def zeros_like_spec(spec, leading: Sequence[int] = ()):
  """A numpy structure of zeros (b'' for strings) matching a spec nest."""
  def zeros(s):
    shape = list(leading) + s.shape.as_list()
    if s.dtype == tf.string:
      return np.full(shape, b'', dtype=object)
    return np.zeros(shape, s.dtype.as_numpy_dtype)
  return tf.nest.map_structure(zeros, spec)


def stack_env_outputs(outputs: List[StepOutput]) -> StepOutput:
  """K per-environment StepOutputs -> one StepOutput with leading [K]."""
  return StepOutput(
      reward=np.array([o.reward for o in outputs], np.float32),
      info=StepOutputInfo(
          episode_return=np.array([o.info.episode_return for o in outputs],
                                  np.float32),
          episode_step=np.array([o.info.episode_step for o in outputs],
                                np.int32),
          episode_done=np.array([o.info.episode_done for o in outputs],
                                bool)),
      done=np.array([o.done for o in outputs], bool),
      observation=(np.stack([o.observation[0] for o in outputs]),
                   np.array([o.observation[1] for o in outputs], dtype=object)))


def stack_time(steps):
  """List over time of [K, ...] structures -> [K, T, ...] (batch-major).

  The queue holds batch-major elements; stacking on axis 1 makes env k's
  unroll the k-th element of an `enqueue_many`.
  """
  return tf.nest.map_structure(lambda *xs: np.stack(xs, axis=1), *steps)
