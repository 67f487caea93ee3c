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
output after action a_t with the agent output that chose a_t. Each unroll
is acted with one parameter slot (`ParameterSlots`), fixed from its first
step to its last, as the paper's actor fixes its policy for a trajectory
(paper §3).
"""

from typing import List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from scalable_agent_tf2.runtime import unrolls
from scalable_agent_tf2.structures import ActorOutput, AgentOutput

# ActorStream.status values.
READY = 'ready'  # Its observation waits for inference.
STEPPING = 'stepping'  # Its environment is computing the next step.
# Between unrolls: a complete unroll not yet handed on (the outbox is full),
# or a fresh environment that has not begun its first unroll.
WAITING = 'waiting'
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
    self._inputs = (env_spec, tf.TensorSpec([None], tf.int32), state_spec)
    self._outputs = None  # The step's output structure, set by the trace.
    # A concrete function of flat tensors: a structured tf.function call
    # spends about as long matching its arguments to the signature as the
    # shallow network takes at batch 8 (docs/actor_hosts.md), on every step.
    self._step = None

  def _flat_step(self, *flat):
    outputs = self._agent.step(*tf.nest.pack_sequence_as(self._inputs,
                                                         list(flat)))
    self._outputs = outputs
    return tf.nest.flatten(outputs)

  def _trace(self):
    self._step = tf.function(
        self._flat_step,
        input_signature=tf.nest.flatten(self._inputs)).get_concrete_function()

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
    if self._step is None:
      self._trace()
    batch = len(env_outputs)
    inputs = (unrolls.stack_env_outputs(list(env_outputs)),
              np.asarray(prev_actions, np.int32), stack_rows(states))
    flat = self._step(*[tf.convert_to_tensor(x)
                        for x in tf.nest.flatten(inputs)])
    agent_output, state = tf.nest.pack_sequence_as(self._outputs, flat)
    action, logits, baseline = (t.numpy() for t in agent_output)
    outputs = [AgentOutput(action[i], logits[i], baseline[i])
               for i in range(batch)]
    return outputs, state_rows(state, batch)


class ActorStream:
  """One actor of a host: its environment stream, state and unroll.

  Attributes:
    slot, version: the parameter slot and version the current unroll is
      acted with (None between unrolls).
  """

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
    self.slot = self.version = None

  def reset(self, initial_output) -> None:
    """A new environment (start or restart): as a fresh actor, WAITING to
    begin its first unroll."""
    self.env_output = initial_output
    self.agent_output = self._zero_agent_output
    self.state = self._zero_state
    self._clear_unroll(WAITING)

  def _clear_unroll(self, status: str) -> None:
    """Forgets the unroll being built and its parameter slot."""
    self.env_steps, self.agent_steps = [], []
    self.complete = False
    self.slot = self.version = None
    self.status = status

  @property
  def steps_in_unroll(self) -> int:
    """Steps acted in the current unroll (0 before its first action)."""
    return max(0, len(self.env_steps) - 1)

  def begin_unroll(self, slot: int, version: int) -> None:
    """Starts the next unroll from the current step, acted with `slot`."""
    self.first_state = self.state
    self.env_steps = [self.env_output]
    self.agent_steps = [self.agent_output]
    self.complete = False
    self.slot, self.version = slot, version
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

  def abandon_unroll(self) -> None:
    """Drops the unroll being built but keeps the stream's place in its
    episode (the learner was lost; not while a step is in flight)."""
    if self.status == STEPPING:
      raise RuntimeError(f'Actor {self.index}: a step is in flight.')
    if self.status != RESTARTING:
      self._clear_unroll(WAITING)

  def discard(self) -> None:
    """Drops the unroll being built (its worker died)."""
    self._clear_unroll(RESTARTING)

  def unroll(self) -> ActorOutput:
    """The completed unroll: time-major [T + 1, ...] fields."""
    if not self.complete:
      raise RuntimeError(f'Actor {self.index}: unroll is not complete.')
    return ActorOutput(
        level_name=self.level_name.encode(), agent_state=self.first_state,
        env_outputs=unrolls.stack_env_outputs(self.env_steps),
        agent_outputs=stack_rows(self.agent_steps))


class ParameterSlots:
  """Which local parameter copy new unrolls use, and who still uses each.

  A host keeps `count` copies of the agent's variables (slots). New unrolls
  take the current slot; a pull from the learner goes into a slot no unroll
  uses, which then becomes current. Unrolls begun earlier finish with the
  slot they began with, so every unroll is acted with one version (paper §3)
  while streams stay independent. The main thread calls everything except
  `free_slot`, which the pull thread may call: a non-current slot's users
  only ever decrease, so a slot it finds free stays free.
  """

  def __init__(self, count: int = 2):
    self.versions: List = [None] * count
    self.users = [0] * count
    self.current = 0

  @property
  def current_version(self):
    return self.versions[self.current]

  def acquire(self) -> Tuple[int, int]:
    """(slot, version) for an unroll that begins now."""
    self.users[self.current] += 1
    return self.current, self.versions[self.current]

  def release(self, slot) -> None:
    if slot is None:
      return
    if self.users[slot] <= 0:
      # A miscount would keep the slot from ever looking free (no pull).
      raise RuntimeError(f'Parameter slot {slot} released with no user.')
    self.users[slot] -= 1

  def free_slot(self):
    """A slot that no unroll uses and is not current (None if none)."""
    for slot, users in enumerate(self.users):
      if slot != self.current and users == 0:
        return slot
    return None

  def install(self, slot: int, version: int) -> None:
    """Slot `slot` now holds `version`; new unrolls use it."""
    self.versions[slot] = version
    self.current = slot

  def reset(self, version: int) -> None:
    """Slot 0 holds `version`; nothing in use (call only once every unroll
    has released its slot: HostCore.connected)."""
    self.versions = [version] + [None] * (len(self.versions) - 1)
    self.users = [0] * len(self.users)
    self.current = 0


def batch_of_unrolls(unroll_list: Sequence[ActorOutput]) -> ActorOutput:
  """N unrolls -> the batch-major queue structure [N, T + 1, ...]."""
  element = stack_rows([u._replace(level_name=b'') for u in unroll_list])
  return element._replace(level_name=np.array(
      [u.level_name for u in unroll_list], dtype=object))
