"""Batched inference over any subset of a host's actors, and their unrolls.

`BatchedPolicy` runs the agent's step on whichever actors an actor host
found ready (paper Table 1 "dyn. batch"): one traced function for every
batch size B (a `[None]` batch dimension), rows gathered from and scattered
back to per-actor numpy state, so an actor's LSTM state is only ever its own
(docs/actor_hosts.md).

`ActorStream` is one actor's bookkeeping (an actor = one environment stream
with its own agent state): its last StepOutput and AgentOutput, its state,
and the unroll being built, with today's time alignment (docs/impala.md §3):
T + 1 steps, step 0 repeats the last step of the previous unroll,
`agent_state` is the state before step 0, and step t + 1 pairs the env
output after action a_t with the agent output that chose a_t.
"""

from typing import List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from scalable_agent_tf2.runtime import unrolls
from scalable_agent_tf2.structures import ActorOutput, AgentOutput

# ActorStream.status values.
READY = 'ready'  # Its observation waits for inference.
STEPPING = 'stepping'  # Its environment is computing the next step.
WAITING = 'waiting'  # Done for this round (unroll complete or sitting out).
RESTARTING = 'restarting'  # Its worker is being restarted.


def state_rows(state, batch_size: int) -> List:
  """A batched state nest [B, ...] -> B per-actor nests of numpy rows."""
  arrays = tf.nest.map_structure(np.asarray, state)
  return [tf.nest.map_structure(lambda a, i=i: a[i], arrays)
          for i in range(batch_size)]


def stack_rows(rows: Sequence):
  """Per-actor nests -> one nest with a leading [B] (np.stack)."""
  return tf.nest.map_structure(lambda *xs: np.stack(xs), *rows)


class BatchedPolicy:
  """The agent's step for any batch of actors.

  Args:
    agent: networks.ImpalaAgent (its variables are the host's copy).
    frame_shape: (H, W, C).
  """

  def __init__(self, agent, frame_shape: Sequence[int]):
    self._agent = agent
    env_spec = unrolls.with_leading(unrolls.step_output_spec(frame_shape),
                                    [None])
    state_spec = tf.nest.map_structure(
        lambda t: tf.TensorSpec([None] + list(t.shape[1:]), t.dtype),
        agent.initial_state(1))
    self._step = tf.function(agent.step, input_signature=(
        env_spec, tf.TensorSpec([None], tf.int32), state_spec))

  def initial_state_row(self):
    """The zero state of one actor (a nest of numpy arrays, no batch dim)."""
    return state_rows(self._agent.initial_state(1), 1)[0]

  def __call__(self, env_outputs: Sequence, prev_actions: Sequence[int],
               states: Sequence) -> Tuple[List[AgentOutput], List]:
    """One step for B actors.

    Args:
      env_outputs: B StepOutputs (numpy scalars, frame [H, W, C]).
      prev_actions: B ints, the actions that produced them.
      states: B state rows (nests of numpy arrays without a batch dim).

    Returns:
      (B AgentOutputs of numpy rows: action int32 [], policy_logits float32
      [A], baseline float32 []; B new state rows).
    """
    batch = len(env_outputs)
    env_output = unrolls.stack_env_outputs(list(env_outputs))
    agent_output, state = self._step(
        env_output, np.asarray(prev_actions, np.int32), stack_rows(states))
    action, logits, baseline = (t.numpy() for t in agent_output)
    outputs = [AgentOutput(action[i], logits[i], baseline[i])
               for i in range(batch)]
    return outputs, state_rows(state, batch)


class ActorStream:
  """One actor of a host: its environment stream, state and unroll."""

  def __init__(self, index: int, level_name: str, unroll_length: int,
               zero_agent_output: AgentOutput, zero_state):
    self.index = index
    self.level_name = level_name
    self._unroll_length = unroll_length
    self._zero_agent_output = zero_agent_output
    self._zero_state = zero_state
    self.status = RESTARTING
    self.env_output = self.agent_output = self.state = None
    self._pending = None
    self.first_state = None
    self.env_steps: List = []
    self.agent_steps: List = []
    self.complete = False

  def reset(self, initial_output) -> None:
    """A new environment (start or restart): as a fresh actor; it joins the
    next round."""
    self.env_output = initial_output
    self.agent_output = self._zero_agent_output
    self.state = self._zero_state
    self.env_steps, self.agent_steps = [], []
    self.complete = False
    self.status = WAITING

  @property
  def steps_in_unroll(self) -> int:
    """Steps acted in the current unroll (0 before its first action)."""
    return max(0, len(self.env_steps) - 1)

  def begin_unroll(self) -> None:
    self.first_state = self.state
    self.env_steps = [self.env_output]
    self.agent_steps = [self.agent_output]
    self.complete = False
    self.status = READY

  def acted(self, agent_output: AgentOutput, state) -> int:
    """Inference done: keeps the output until the env step returns."""
    self._pending = agent_output
    self.state = state
    self.status = STEPPING
    return int(agent_output.action)

  def stepped(self, env_output) -> None:
    """The env step of the pending action returned `env_output`."""
    self.env_output = env_output
    self.agent_output = self._pending
    self.env_steps.append(env_output)
    self.agent_steps.append(self._pending)
    if len(self.env_steps) == self._unroll_length + 1:
      self.complete = True
      self.status = WAITING
    else:
      self.status = READY

  def discard(self) -> None:
    """Drops the unroll being built (its worker died)."""
    self.env_steps, self.agent_steps = [], []
    self.complete = False
    self.status = RESTARTING

  def unroll(self) -> ActorOutput:
    """The completed unroll: time-major [T + 1, ...] fields."""
    if not self.complete:
      raise RuntimeError(f'Actor {self.index}: unroll is not complete.')
    return ActorOutput(
        level_name=self.level_name.encode(), agent_state=self.first_state,
        env_outputs=unrolls.stack_env_outputs(self.env_steps),
        agent_outputs=stack_rows(self.agent_steps))


def batch_of_unrolls(unroll_list: Sequence[ActorOutput]) -> ActorOutput:
  """N unrolls -> the batch-major queue structure [N, T + 1, ...]."""
  element = stack_rows([u._replace(level_name=b'') for u in unroll_list])
  return element._replace(level_name=np.array(
      [u.level_name for u in unroll_list], dtype=object))
