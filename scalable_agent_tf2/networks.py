"""The IMPALA agent network in Sonnet 2 (paper Figure 3, docs/impala.md §2, §3).

    frame ------> torso (shallow | deep) -> [256] --.
    reward -----> clip(r, -1, 1) ---------> [1] ----+-> concat -> core -> heads
    prev_action -> one_hot(num_actions) ---> [A] ----|
    instruction -> InstructionEncoder -----> [64] --'  (use_instruction only)

  * core: LSTM(256) with `LSTMBlockCell` semantics (`lstm.BlockLSTM`), its
    state reset to zeros before every step whose `done` is True (`done[t]`
    means observation t starts a new episode, docs/impala.md §3). With
    `use_lstm=False` (the paper's feed-forward Atari nets, Appendix G) there is
    no core: our reading is that the same concatenation -- torso output,
    clipped reward and one-hot previous action -- goes straight to the heads,
    and the agent state is the empty tuple `()`.
  * heads: Linear(num_actions) -> `policy_logits`; Linear(1) -> `baseline`
    (squeezed). The action is always sampled from the policy
    (`tf.random.categorical`), also in test mode (docs/impala.md §2).

Time alignment (structures.py, docs/impala.md §3): the action paired with
`env_output[t]` is the PREVIOUS action, the one that produced it.

`step` is for acting on `[B, ...]` inputs; `unroll` is for learning on
`[T, B, ...]` inputs. As the released code, `unroll` runs the torso (and
instruction encoder) once over all T * B frames and only the recurrent core
step by step (a `tf.scan`, so it traces once per input signature); the core's
input matmul is also done for all T * B steps at once.
"""

from typing import Any, Tuple

import sonnet as snt
import tensorflow as tf

from scalable_agent_tf2 import structures
from scalable_agent_tf2.instruction import InstructionEncoder
from scalable_agent_tf2.lstm import BlockLSTM, LSTMState
from scalable_agent_tf2.torsos import make_torso

# Re-exported for the runtime's convenience.
AgentOutput = structures.AgentOutput

CORE_SIZE = 256

__all__ = ['AgentOutput', 'ImpalaAgent', 'LSTMState']


def _check_leading_dims(name: str, tensor: tf.Tensor, leading: tf.TensorShape,
                        rank: int):
  """Raises ValueError unless `tensor` has rank `rank` and leading `leading`."""
  if tensor.shape.rank != rank:
    raise ValueError(
        f'{name} must have rank {rank} (leading dims {leading.rank}), got '
        f'shape {tensor.shape}.')
  if not tensor.shape[:leading.rank].is_compatible_with(leading):
    raise ValueError(
        f'{name} has leading dims {tensor.shape[:leading.rank]}, expected '
        f'{leading} like the actions.')


class ImpalaAgent(snt.Module):
  """IMPALA actor-critic network: `step` for actors, `unroll` for the learner.

  Submodules (for inspection and parameter accounting):
    torso: `ShallowTorso` or `DeepTorso`.
    instruction_encoder: `InstructionEncoder` or None.
    core: `BlockLSTM(256)` or None.
    policy_head: Linear(num_actions); baseline_head: Linear(1).
  Variables are created on the first `step` / `unroll` call.
  """

  def __init__(self,
               num_actions: int,
               torso: str = 'deep',
               use_lstm: bool = True,
               use_instruction: bool = False,
               name: str = 'impala_agent'):
    """Builds the agent.

    Args:
      num_actions: size of the discrete action set.
      torso: 'deep' (the paper's ResNet) or 'shallow' (2 conv layers).
      use_lstm: LSTM(256) core (DMLab) or feed-forward (Atari, Appendix G).
      use_instruction: encode the observation's instruction (DMLab language
        levels). When False the instruction is ignored.
      name: module name.
    """
    super().__init__(name=name)
    if (isinstance(num_actions, bool) or not isinstance(num_actions, int) or
        num_actions < 1):
      raise ValueError(
          f'num_actions must be a positive int, got {num_actions!r}.')
    self.num_actions = num_actions
    self.use_lstm = bool(use_lstm)
    self.use_instruction = bool(use_instruction)
    with self.name_scope:
      self.torso = make_torso(torso)
      self.instruction_encoder = (
          InstructionEncoder() if self.use_instruction else None)
      self.core = BlockLSTM(CORE_SIZE, name='core_lstm') if use_lstm else None
      self.policy_head = snt.Linear(num_actions, name='policy_logits')
      self.baseline_head = snt.Linear(1, name='baseline')

  # ---------------------------------------------------------------- state

  def initial_state(self, batch_size) -> Any:
    """Zero agent state: `LSTMState(cell [B, 256], hidden [B, 256])`, or `()`.

    Args:
      batch_size: int or int32 scalar tensor B.
    """
    if not self.use_lstm:
      return ()
    return self.core.initial_state(batch_size)

  def _check_state(self, state, batch_size) -> Any:
    """Validates `state` for a static (or None) `batch_size`."""
    if not self.use_lstm:
      if tf.nest.flatten(state):
        raise ValueError(
            f'A feed-forward agent (use_lstm=False) takes the empty state (), '
            f'got {state!r:.200}.')
      return ()
    # A namedtuple with other fields (e.g. snt.LSTMState(hidden, cell)) would
    # be silently swapped; plain tuples/lists (cell, hidden) are accepted.
    if (not isinstance(state, (tuple, list)) or len(state) != 2 or
        getattr(state, '_fields', LSTMState._fields) != LSTMState._fields):
      raise ValueError(
          f'Agent state must be LSTMState(cell, hidden) (see initial_state), '
          f'got {state!r:.200}.')
    state = LSTMState(*(tf.convert_to_tensor(s, tf.float32) for s in state))
    for field, tensor in zip(state._fields, state):
      if not tensor.shape.is_compatible_with([batch_size, CORE_SIZE]):
        raise ValueError(
            f'Agent state {field} must be [B, {CORE_SIZE}] with B = '
            f'{batch_size} as the inputs, got shape {tensor.shape}.')
    return state

  # ---------------------------------------------------------------- pieces

  def _check_inputs(self, prev_action, env_output, num_leading: int):
    """Validates inputs with `num_leading` batch dims ([B] or [T, B]).

    Returns:
      (prev_action int32, reward float32, done bool, frame, instruction), all
      with the same leading dims; instruction is None without encoder.
    """
    for field in ('reward', 'done', 'observation'):
      if not hasattr(env_output, field):
        raise ValueError(
            f'env_output must be a StepOutput, got {env_output!r}.')
    prev_action = tf.convert_to_tensor(prev_action)
    if not prev_action.dtype.is_integer:
      raise ValueError(
          f'Actions must be integers, got dtype {prev_action.dtype.name}.')
    if prev_action.shape.rank != num_leading:
      raise ValueError(
          f'Actions must have rank {num_leading}, got shape '
          f'{prev_action.shape}.')
    leading = prev_action.shape
    prev_action = tf.cast(prev_action, tf.int32)

    reward = tf.convert_to_tensor(env_output.reward)
    if not reward.dtype.is_floating and not reward.dtype.is_integer:
      raise ValueError(f'reward must be numeric, got {reward.dtype.name}.')
    _check_leading_dims('reward', reward, leading, num_leading)
    reward = tf.cast(reward, tf.float32)

    done = tf.convert_to_tensor(env_output.done)
    if done.dtype != tf.bool:
      raise ValueError(f'done must be bool, got dtype {done.dtype.name}.')
    _check_leading_dims('done', done, leading, num_leading)

    observation = env_output.observation
    if not isinstance(observation, (tuple, list)) or len(observation) != 2:
      raise ValueError(
          f'observation must be the pair (frame, instruction), got '
          f'{type(observation).__name__} {observation!r:.200}.')
    frame = tf.convert_to_tensor(observation[0])
    _check_leading_dims('frame', frame, leading, num_leading + 3)
    instruction = None
    if self.use_instruction:
      instruction = tf.convert_to_tensor(observation[1])
      if instruction.dtype != tf.string:
        raise ValueError(
            f'instruction must be a string tensor, got dtype '
            f'{instruction.dtype.name}.')
      _check_leading_dims('instruction', instruction, leading, num_leading)

    # One-hot silently maps out-of-range ids to zeros; refuse them instead.
    with tf.control_dependencies([
        tf.debugging.assert_non_negative(
            prev_action, message='prev_action must be >= 0'),
        tf.debugging.assert_less(
            prev_action, self.num_actions,
            message=f'prev_action must be < num_actions={self.num_actions}'),
    ]):
      prev_action = tf.identity(prev_action)
    return prev_action, reward, done, frame, instruction

  def _core_inputs(self, prev_action, reward, frame, instruction) -> tf.Tensor:
    """The core's input for N examples (N = B or T * B).

    Args:
      prev_action: int32 `[N]`.
      reward: float32 `[N]`, raw reward of the transition into this step.
      frame: uint8 `[N, H, W, C]`.
      instruction: string `[N]` or None.

    Returns:
      float32 `[N, 256 + 1 + num_actions (+ 64)]`, in the released code's order
      (torso, clipped reward, one-hot previous action, instruction).
    """
    parts = [
        self.torso(frame),
        tf.clip_by_value(reward, -1., 1.)[:, None],
        tf.one_hot(prev_action, self.num_actions, dtype=tf.float32),
    ]
    if self.instruction_encoder is not None:
      parts.append(self.instruction_encoder(instruction))
    return tf.concat(parts, axis=1)

  def _heads(self, core_output: tf.Tensor) -> AgentOutput:
    """`[N, D]` -> AgentOutput(action [N], policy_logits [N, A],
    baseline [N])."""
    policy_logits = self.policy_head(core_output)
    baseline = tf.squeeze(self.baseline_head(core_output), axis=-1)
    action = tf.random.categorical(policy_logits, 1, dtype=tf.int32)[:, 0]
    return AgentOutput(action=action, policy_logits=policy_logits,
                       baseline=baseline)

  @staticmethod
  def _reset_where_done(state: LSTMState, done: tf.Tensor) -> LSTMState:
    """Zeros the state rows whose `done` ([B] bool) is True."""
    return tf.nest.map_structure(
        lambda s: tf.where(done[:, None], tf.zeros_like(s), s), state)

  # ---------------------------------------------------------------- API

  def step(self, env_output: structures.StepOutput, prev_action: tf.Tensor,
           state: Any) -> Tuple[AgentOutput, Any]:
    """One acting step for a batch of B environments.

    Args:
      env_output: StepOutput with leading `[B]`: reward float32 `[B]`, done
        bool `[B]`, observation (frame uint8 `[B, H, W, C]`, instruction
        string `[B]`); `info` is not used (any nest).
      prev_action: int32 `[B]`, the action that produced `env_output`.
      state: agent state before this step (`initial_state(B)` or the state
        returned by the previous `step`); reset here where `done` is True.

    Returns:
      (AgentOutput(action int32 [B] sampled, policy_logits float32 [B, A],
      baseline float32 [B]), new_state).
    """
    prev_action, reward, done, frame, instruction = self._check_inputs(
        prev_action, env_output, num_leading=1)
    state = self._check_state(state, prev_action.shape[0])
    core_input = self._core_inputs(prev_action, reward, frame, instruction)
    if not self.use_lstm:
      return self._heads(core_input), ()
    state = self._reset_where_done(state, done)
    core_output, state = self.core(core_input, state)
    return self._heads(core_output), state

  def unroll(self, actions: tf.Tensor, env_outputs: structures.StepOutput,
             state: Any) -> Tuple[AgentOutput, Any]:
    """Runs the agent over T steps of B sequences (the learner's pass).

    Args:
      actions: int32 `[T, B]`; `actions[t]` is the previous action paired with
        `env_outputs[t]` (for a learner batch: `agent_outputs.action`).
      env_outputs: StepOutput with leading `[T, B]` (see `step`).
      state: agent state before step 0, `[B, ...]` (or `()`).

    Returns:
      (AgentOutput with fields `[T, B]`, `[T, B, A]`, `[T, B]`, final_state),
      the same values as T successive `step` calls.
    """
    actions, reward, done, frame, instruction = self._check_inputs(
        actions, env_outputs, num_leading=2)
    state = self._check_state(state, actions.shape[1])
    if actions.shape[0] == 0:
      raise ValueError('unroll needs at least one time step, got T = 0.')
    shape = tf.shape(actions)
    num_steps, batch_size = shape[0], shape[1]

    def merge(t):  # [T, B, ...] -> [T * B, ...]
      return tf.reshape(t, tf.concat([[-1], tf.shape(t)[2:]], 0))

    def split(t):  # [T * B, ...] -> [T, B, ...]
      return tf.reshape(t, tf.concat([[num_steps, batch_size],
                                      tf.shape(t)[1:]], 0))

    # Torso and instruction encoder on all T * B frames in one batch.
    core_input = self._core_inputs(
        merge(actions), merge(reward), merge(frame),
        None if instruction is None else merge(instruction))
    if self.use_lstm:
      projected = split(self.core.input_projection(core_input))

      def core_step(prev_state, inputs):
        projected_t, done_t = inputs
        prev_state = self._reset_where_done(prev_state, done_t)
        _, new_state = self.core.recurrent_step(projected_t, prev_state)
        return new_state

      states = tf.scan(core_step, (projected, done), initializer=state)
      core_output = merge(states.hidden)
      final_state = tf.nest.map_structure(lambda s: s[-1], states)
    else:
      core_output = core_input
      final_state = ()
    outputs = tf.nest.map_structure(split, self._heads(core_output))
    return outputs, final_state
