"""Tests for the IMPALA networks (torsos, instruction encoder, LSTM, agent)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from scalable_agent_tf2 import networks
from scalable_agent_tf2.instruction import InstructionEncoder
from scalable_agent_tf2.instruction import instruction_to_buckets
from scalable_agent_tf2.lstm import BlockLSTM, LSTMState
from scalable_agent_tf2.structures import StepOutput, StepOutputInfo

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Small frames where the test is not about parameter counts.
TINY_FRAME = (8, 8, 3)
SENTENCES = [b'pick the red balloon', b'go to the door', b'',
             b'find the key that opens the blue door']


def make_env_outputs(rng, lead_shape, frame_shape=TINY_FRAME, done=None,
                     instructions=None):
  """Random StepOutput with leading dims `lead_shape` ([B] or [T, B])."""
  lead_shape = tuple(lead_shape)
  if done is None:
    done = np.zeros(lead_shape, bool)
  if instructions is None:
    instructions = rng.choice(np.array(SENTENCES, dtype=object),
                              size=lead_shape)
  info = StepOutputInfo(
      episode_return=np.zeros(lead_shape, np.float32),
      episode_step=np.zeros(lead_shape, np.int32),
      episode_done=np.zeros(lead_shape, bool))
  frame = rng.integers(0, 256, size=lead_shape + tuple(frame_shape),
                       dtype=np.uint8)
  return StepOutput(
      # Beyond [-1, 1] on purpose: the agent clips.
      reward=rng.uniform(-3, 3, size=lead_shape).astype(np.float32),
      info=info,
      done=np.asarray(done, bool),
      observation=(frame, np.asarray(instructions, dtype=object)))


def index(env_outputs, t):
  """Step t of a [T, B, ...] StepOutput (info dropped: any nest is allowed)."""
  return StepOutput(
      reward=env_outputs.reward[t], info=(), done=env_outputs.done[t],
      observation=tuple(o[t] for o in env_outputs.observation))


def time_slice(env_outputs, start):
  return StepOutput(
      reward=env_outputs.reward[start:], info=(),
      done=env_outputs.done[start:],
      observation=tuple(o[start:] for o in env_outputs.observation))


def num_params(variables):
  return sum(int(np.prod(v.shape)) for v in variables)


def build(agent, frame_shape, batch_size=1):
  """Creates the agent's variables with one `step`."""
  rng = np.random.default_rng(0)
  agent.step(make_env_outputs(rng, [batch_size], frame_shape),
             np.zeros([batch_size], np.int32),
             agent.initial_state(batch_size))
  return agent


def randomize_state(agent, batch_size, rng):
  state = agent.initial_state(batch_size)
  return tf.nest.map_structure(
      lambda s: tf.constant(rng.normal(size=s.shape), tf.float32), state)


# ----------------------------------------------------------- parameter counts


@pytest.mark.parametrize('torso,expected', [('deep', 1_628_010),
                                            ('shallow', 1_230_426)])
def test_dmlab_parameter_counts_match_paper(torso, expected):
  agent = build(networks.ImpalaAgent(9, torso=torso, use_lstm=True,
                                     use_instruction=True), (72, 96, 3))
  assert num_params(agent.trainable_variables) == expected


def test_deep_parameter_breakdown():
  agent = build(networks.ImpalaAgent(9, torso='deep', use_lstm=True,
                                     use_instruction=True), (72, 96, 3))
  torso_linear = agent.torso.linear.trainable_variables
  convs = [v for v in agent.torso.trainable_variables
           if all(v is not w for w in torso_linear)]
  assert num_params(convs) == 97_600
  assert sum(len(v.shape) == 4 for v in convs) == 15  # "15 conv layers"
  assert num_params(torso_linear) == 884_992
  assert num_params(agent.instruction_encoder.trainable_variables) == 41_760
  assert num_params(agent.core.trainable_variables) == 601_088
  heads = (agent.policy_head.trainable_variables +
           agent.baseline_head.trainable_variables)
  assert num_params(heads) == 2_570


@pytest.mark.parametrize('torso,expected', [('shallow', 681_388),
                                            ('deep', 1_094_476)])
def test_atari_feed_forward_parameter_counts(torso, expected):
  # 84x84x4 stacked frames, 18 actions, no LSTM, no instruction.
  agent = build(networks.ImpalaAgent(18, torso=torso, use_lstm=False),
                (84, 84, 4))
  assert num_params(agent.trainable_variables) == expected


# ------------------------------------------------------------- step / unroll


@pytest.mark.parametrize('use_lstm,use_instruction,torso,frame_shape', [
    (True, True, 'deep', TINY_FRAME),
    (True, False, 'shallow', (20, 24, 3)),
    (False, False, 'deep', TINY_FRAME),
])
@pytest.mark.parametrize('with_done', [False, True])
def test_unroll_equals_successive_steps(use_lstm, use_instruction, torso,
                                        frame_shape, with_done):
  rng = np.random.default_rng(1)
  num_steps, batch_size = 5, 3
  done = np.zeros([num_steps, batch_size], bool)
  if with_done:
    done[2, 0] = done[3, 2] = True
  agent = networks.ImpalaAgent(4, torso=torso, use_lstm=use_lstm,
                               use_instruction=use_instruction)
  env_outputs = make_env_outputs(rng, [num_steps, batch_size], frame_shape,
                                 done=done)
  actions = rng.integers(0, 4, size=[num_steps, batch_size]).astype(np.int32)
  state = (randomize_state(agent, batch_size, rng) if use_lstm else ())

  step_state = state
  logits, baselines = [], []
  for t in range(num_steps):
    out, step_state = agent.step(index(env_outputs, t), actions[t], step_state)
    logits.append(out.policy_logits)
    baselines.append(out.baseline)
  unrolled, final_state = agent.unroll(actions, env_outputs, state)

  assert unrolled.policy_logits.shape == (num_steps, batch_size, 4)
  assert unrolled.baseline.shape == (num_steps, batch_size)
  assert unrolled.action.shape == (num_steps, batch_size)
  assert unrolled.action.dtype == tf.int32
  np.testing.assert_allclose(unrolled.policy_logits, np.stack(logits),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(unrolled.baseline, np.stack(baselines),
                             rtol=1e-5, atol=1e-5)
  tf.nest.map_structure(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
      tuple(final_state), tuple(step_state))


def test_done_resets_state_to_initial():
  rng = np.random.default_rng(2)
  num_steps, batch_size, k = 6, 2, 3
  agent = networks.ImpalaAgent(5, torso='deep', use_instruction=True)
  done = np.zeros([num_steps, batch_size], bool)
  done[k] = True
  env_outputs = make_env_outputs(rng, [num_steps, batch_size], done=done)
  actions = rng.integers(0, 5, size=[num_steps, batch_size]).astype(np.int32)
  state = randomize_state(agent, batch_size, rng)

  full, _ = agent.unroll(actions, env_outputs, state)
  fresh, _ = agent.unroll(actions[k:], time_slice(env_outputs, k),
                          agent.initial_state(batch_size))
  np.testing.assert_allclose(full.policy_logits[k:], fresh.policy_logits,
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(full.baseline[k:], fresh.baseline,
                             rtol=1e-5, atol=1e-5)

  # Without the reset the carried state does change the outputs (so the
  # comparison above is not vacuous).
  no_reset = env_outputs._replace(done=np.zeros_like(done))
  carried, _ = agent.unroll(actions, no_reset, state)
  assert not np.allclose(carried.policy_logits[k:], fresh.policy_logits,
                         atol=1e-4)


def test_step_resets_state_where_done():
  rng = np.random.default_rng(3)
  agent = networks.ImpalaAgent(3, torso='deep')
  env_output = make_env_outputs(rng, [2], done=[True, False])
  prev_action = np.array([0, 1], np.int32)
  state = randomize_state(agent, 2, rng)
  out, _ = agent.step(env_output, prev_action, state)
  out_fresh, _ = agent.step(env_output, prev_action, agent.initial_state(2))
  np.testing.assert_allclose(out.policy_logits[0], out_fresh.policy_logits[0],
                             rtol=1e-6, atol=1e-6)
  assert not np.allclose(out.policy_logits[1], out_fresh.policy_logits[1],
                         atol=1e-4)


def test_feed_forward_agent_has_empty_state():
  rng = np.random.default_rng(4)
  agent = networks.ImpalaAgent(6, torso='shallow', use_lstm=False)
  assert agent.initial_state(3) == ()
  env_outputs = make_env_outputs(rng, [2, 3], (20, 20, 4))
  out, state = agent.unroll(np.zeros([2, 3], np.int32), env_outputs, ())
  assert state == ()
  assert out.policy_logits.shape == (2, 3, 6)
  _, state = agent.step(index(env_outputs, 0), np.zeros([3], np.int32), ())
  assert state == ()


def test_reward_is_clipped_to_plus_minus_one():
  rng = np.random.default_rng(5)
  agent = networks.ImpalaAgent(3, torso='deep')
  env_output = make_env_outputs(rng, [1])
  state = agent.initial_state(1)
  prev_action = np.zeros([1], np.int32)

  def logits(reward):
    out, _ = agent.step(
        env_output._replace(reward=np.array([reward], np.float32)),
        prev_action, state)
    return out.policy_logits.numpy()

  np.testing.assert_allclose(logits(7.0), logits(1.0), rtol=1e-6)
  np.testing.assert_allclose(logits(-7.0), logits(-1.0), rtol=1e-6)
  assert not np.allclose(logits(0.5), logits(1.0), atol=1e-6)


def test_actions_are_sampled_from_policy_logits():
  rng = np.random.default_rng(6)
  agent = build(networks.ImpalaAgent(4, torso='deep'), TINY_FRAME)
  env_output = make_env_outputs(rng, [256])
  state = agent.initial_state(256)
  prev_action = np.zeros([256], np.int32)

  # Uniform policy: samples, not an argmax, so several actions come up.
  agent.policy_head.w.assign(tf.zeros_like(agent.policy_head.w))
  out, _ = agent.step(env_output, prev_action, state)
  assert out.action.dtype == tf.int32 and out.action.shape == (256,)
  assert set(np.unique(out.action)) == {0, 1, 2, 3}

  # A policy concentrated on action 2 always samples it.
  agent.policy_head.b.assign([0., 0., 50., 0.])
  out, _ = agent.step(env_output, prev_action, state)
  assert np.all(out.action.numpy() == 2)


# ------------------------------------------------------- instruction encoder


def test_empty_instruction_encodes_to_zeros():
  encoder = InstructionEncoder()
  out = encoder(tf.constant([b'', b'go to the door', b'   ']))
  assert out.shape == (3, 64)
  np.testing.assert_array_equal(out[0], np.zeros(64))
  np.testing.assert_array_equal(out[2], np.zeros(64))  # only separators
  assert np.any(out[1] != 0)
  # A batch of only empty instructions works too.
  np.testing.assert_array_equal(encoder(tf.constant([b'', b''])),
                                np.zeros((2, 64)))


def test_instruction_padding_does_not_change_encoding():
  encoder = InstructionEncoder()
  alone = encoder(tf.constant([b'go to the door']))
  padded = encoder(tf.constant(
      [b'go to the door', b'find the key that opens the blue door']))
  np.testing.assert_allclose(padded[0], alone[0], rtol=1e-6, atol=1e-6)
  # Different sentences encode differently.
  assert not np.allclose(padded[0], padded[1], atol=1e-4)


def test_instruction_split_drops_empty_words():
  # As TF1's tf.string_split (skip_empty=True) in the released code.
  encoder = InstructionEncoder()
  out = encoder(tf.constant([b'go to  the door ', b'go to the door']))
  np.testing.assert_allclose(out[0], out[1], rtol=1e-6, atol=1e-6)


def test_instruction_buckets_are_stable_across_processes():
  sentence = 'pick the red  balloon'
  buckets, lengths = instruction_to_buckets(tf.constant([sentence.encode()]))
  here = buckets.numpy()[0, :lengths.numpy()[0]].tolist()
  script = (
      'import tensorflow as tf\n'
      'from scalable_agent_tf2.instruction import instruction_to_buckets\n'
      f'b, l = instruction_to_buckets(tf.constant([{sentence.encode()!r}]))\n'
      'print("BUCKETS", b.numpy()[0, :l.numpy()[0]].tolist())\n')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2',
             PYTHONPATH=os.pathsep.join(
                 [REPO_ROOT, os.environ.get('PYTHONPATH', '')]))
  result = subprocess.run([sys.executable, '-c', script], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=120, check=True)
  line = [l for l in result.stdout.splitlines() if l.startswith('BUCKETS')]
  assert line, result.stdout + result.stderr
  assert line[0] == f'BUCKETS {here}'
  # FarmHash Fingerprint64 is stable across TF versions too: checkpoints of
  # the embedding stay valid. Values computed once with TF 2.21.
  assert here == [763, 354, 910, 352]


# ------------------------------------------------------------------- LSTM


def test_block_lstm_matches_lstm_block_cell_equations():
  rng = np.random.default_rng(7)
  lstm = BlockLSTM(3)
  x = rng.normal(size=[2, 4]).astype(np.float32)
  state = LSTMState(cell=rng.normal(size=[2, 3]).astype(np.float32),
                    hidden=rng.normal(size=[2, 3]).astype(np.float32))
  hidden, new_state = lstm(tf.constant(x), state)
  lstm.bias.assign(rng.normal(size=[12]).astype(np.float32))
  hidden, new_state = lstm(tf.constant(x), state)

  # LSTMBlockCell: [i, cs, f, o] = [x, h] W + b; forget bias 1.0 at run time.
  sigmoid = lambda z: 1 / (1 + np.exp(-z))
  gates = np.concatenate([x, state.hidden], 1) @ lstm.kernel.numpy()
  gates += lstm.bias.numpy()
  i, j, f, o = np.split(gates, 4, axis=1)
  cell = sigmoid(f + 1.0) * state.cell + sigmoid(i) * np.tanh(j)
  np.testing.assert_allclose(new_state.cell, cell, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(hidden, sigmoid(o) * np.tanh(cell), rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_array_equal(hidden, new_state.hidden)


def test_block_lstm_initialisation():
  lstm = BlockLSTM(64)
  lstm(tf.zeros([1, 100]), lstm.initial_state(1))
  # Forget bias is added at run time, the variable starts at zero.
  np.testing.assert_array_equal(lstm.bias, np.zeros(256))
  # Glorot uniform over the [x, h] kernel: bound sqrt(6 / (164 + 256)).
  kernel = lstm.kernel.numpy()
  assert kernel.shape == (164, 256)
  bound = np.sqrt(6 / (164 + 256))
  assert np.abs(kernel).max() <= bound
  assert kernel.std() == pytest.approx(bound / np.sqrt(3), rel=0.05)


# ----------------------------------------------------------- initialisation


def test_conv_and_linear_initialisation():
  agent = build(networks.ImpalaAgent(9, torso='deep', use_instruction=True),
                (72, 96, 3))
  # The std of a normal truncated at 2 stddevs (not rescaled) is ~0.8796x.
  truncation_factor = 0.8796
  conv = agent.torso.sections[1][1][0].conv_1  # 3x3x32x32
  linear = agent.torso.linear  # 3456 x 256
  for module, fan_in in [(conv, 3 * 3 * 32), (linear, 3456)]:
    w = module.w.numpy()
    stddev = 1 / np.sqrt(fan_in)
    assert w.std() == pytest.approx(truncation_factor * stddev, rel=0.05)
    assert np.abs(w).max() <= 2 * stddev + 1e-7
    np.testing.assert_array_equal(module.b, np.zeros(module.b.shape))
  for head in (agent.policy_head, agent.baseline_head):
    np.testing.assert_array_equal(head.b, np.zeros(head.b.shape))
  # Embedding: normal(0, 1), the released code's (Sonnet 1) default.
  embeddings = agent.instruction_encoder.embed.embeddings.numpy()
  assert embeddings.std() == pytest.approx(1.0, rel=0.05)


# -------------------------------------------------------- tracing, gradients


def test_step_and_unroll_trace_once():
  rng = np.random.default_rng(8)
  num_steps, batch_size = 4, 2
  agent = build(networks.ImpalaAgent(3, torso='deep', use_instruction=True),
                TINY_FRAME, batch_size)
  traces = {'step': 0, 'unroll': 0}

  @tf.function
  def step(env_output, prev_action, state):
    traces['step'] += 1
    return agent.step(env_output, prev_action, state)

  @tf.function
  def unroll(actions, env_outputs, state):
    traces['unroll'] += 1
    return agent.unroll(actions, env_outputs, state)

  state = agent.initial_state(batch_size)
  prev_action = tf.zeros([batch_size], tf.int32)
  for _ in range(3):
    env_output = make_env_outputs(rng, [batch_size],
                                  done=rng.random(batch_size) < 0.5)
    out, state = step(env_output, prev_action, state)
    prev_action = out.action
    done = rng.random([num_steps, batch_size]) < 0.3
    env_outputs = make_env_outputs(rng, [num_steps, batch_size], done=done)
    actions = tf.constant(rng.integers(0, 3, [num_steps, batch_size]),
                          tf.int32)
    unroll(actions, env_outputs, agent.initial_state(batch_size))
  assert traces == {'step': 1, 'unroll': 1}


def test_gradients_reach_every_variable():
  rng = np.random.default_rng(9)
  num_steps, batch_size = 3, 2
  agent = networks.ImpalaAgent(4, torso='deep', use_lstm=True,
                               use_instruction=True)
  done = np.zeros([num_steps, batch_size], bool)
  done[1, 1] = True
  instructions = np.full([num_steps, batch_size], b'go to the red door',
                         dtype=object)
  env_outputs = make_env_outputs(rng, [num_steps, batch_size], done=done,
                                 instructions=instructions)
  actions = rng.integers(0, 4, [num_steps, batch_size]).astype(np.int32)
  build(agent, TINY_FRAME)
  with tf.GradientTape() as tape:
    out, _ = agent.unroll(actions, env_outputs, agent.initial_state(batch_size))
    loss = (tf.reduce_sum(tf.nn.log_softmax(out.policy_logits)[..., 0]) +
            tf.reduce_sum(tf.square(out.baseline)))
  variables = agent.trainable_variables
  grads = tape.gradient(loss, variables)
  for v, g in zip(variables, grads):
    assert g is not None, v.name
    assert np.any(tf.convert_to_tensor(g).numpy() != 0), v.name


# ---------------------------------------------------------------- bad input


def test_bad_constructor_arguments():
  with pytest.raises(ValueError, match='torso'):
    networks.ImpalaAgent(4, torso='resnet')
  with pytest.raises(ValueError, match='num_actions'):
    networks.ImpalaAgent(0)


def test_bad_inputs_raise_clear_errors():
  rng = np.random.default_rng(10)
  agent = networks.ImpalaAgent(4, torso='deep', use_instruction=True)
  env_output = make_env_outputs(rng, [2])
  prev_action = np.zeros([2], np.int32)
  state = agent.initial_state(2)
  frame, instruction = env_output.observation

  with pytest.raises(ValueError, match='uint8'):
    agent.step(env_output._replace(
        observation=(frame.astype(np.float32), instruction)),
               prev_action, state)
  with pytest.raises(ValueError, match='done must be bool'):
    agent.step(env_output._replace(done=np.zeros([2], np.int32)),
               prev_action, state)
  with pytest.raises(ValueError, match='Actions must have rank 1'):
    agent.step(env_output, np.zeros([1, 2], np.int32), state)
  with pytest.raises(ValueError, match='Actions must be integers'):
    agent.step(env_output, np.zeros([2], np.float32), state)
  with pytest.raises(ValueError, match='instruction must be a string'):
    agent.step(env_output._replace(
        observation=(frame, np.zeros([2], np.int32))), prev_action, state)
  with pytest.raises(ValueError, match='leading dims'):
    agent.step(env_output._replace(reward=np.zeros([3], np.float32)),
               prev_action, state)
  with pytest.raises(ValueError, match='Agent state'):
    agent.step(env_output, prev_action, ())
  with pytest.raises(ValueError, match='Agent state'):
    agent.step(env_output, prev_action, agent.initial_state(3))
  with pytest.raises(ValueError, match='rank 2'):
    agent.unroll(prev_action, env_output, state)
  with pytest.raises(tf.errors.InvalidArgumentError, match='num_actions'):
    agent.step(env_output, np.array([0, 4], np.int32), state)

  feed_forward = networks.ImpalaAgent(4, torso='deep', use_lstm=False)
  with pytest.raises(ValueError, match='empty state'):
    feed_forward.step(env_output, prev_action, state)
  shallow = networks.ImpalaAgent(4, torso='shallow', use_lstm=False)
  with pytest.raises(ValueError, match='at least 20x20'):
    shallow.step(env_output, prev_action, ())

