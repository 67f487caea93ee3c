"""An LSTM with the released code's `tf.contrib.rnn.LSTMBlockCell` semantics.

Why not `snt.LSTM`: Sonnet 2's LSTM adds `forget_bias` to the forget-gate bias
*variable at initialisation*, while `LSTMBlockCell` keeps a zero-initialised
bias variable and adds the constant forget bias (1.0) to the forget-gate
pre-activation *at run time*. The two compute the same function at
initialisation and get the same gradients, but their stored parameters differ
by 1.0 (which matters for porting weights, weight decay or any parameter-space
operation), and Sonnet's also uses another gate order, separate input/hidden
matrices and another initialiser. This module reproduces `LSTMBlockCell`
(no peepholes, no cell clipping) exactly:

    [i, j, f, o] = [x, h_prev] @ kernel + bias        (gate order i, cs, f, o)
    c = sigmoid(f + forget_bias) * c_prev + sigmoid(i) * tanh(j)
    h = sigmoid(o) * tanh(c)

Parameters, with the same layout as `LSTMBlockCell` so weights port 1:1:
  kernel: `[input_size + hidden_size, 4 * hidden_size]`, rows are the input
    features followed by the previous hidden state, columns the gates in the
    order (i, cs, f, o) -- Sonnet 2's order would be (i, f, g, o).
    Initialised Glorot-uniform over the whole kernel (fan_in = input_size +
    hidden_size, fan_out = 4 * hidden_size), the default initialiser that
    `LSTMBlockCell` got in the released code.
  bias: `[4 * hidden_size]`, zeros.
The state is `LSTMState(cell, hidden)`, the order of `LSTMStateTuple(c, h)`.

For unrolls, `input_projection` applies the input half of the kernel to all
time steps in one matmul and `recurrent_step` does only the `h @ kernel_h` part
per step; `__call__` composes both for a single step.
"""

import collections

import sonnet as snt
import tensorflow as tf

# Same field order as the released code's `LSTMStateTuple(c, h)`.
LSTMState = collections.namedtuple('LSTMState', 'cell hidden')


class BlockLSTM(snt.Module):
  """LSTM core matching `LSTMBlockCell(hidden_size, forget_bias=1.0)`."""

  def __init__(self, hidden_size: int, forget_bias: float = 1.0,
               name: str = 'lstm'):
    super().__init__(name=name)
    if hidden_size <= 0:
      raise ValueError(f'hidden_size must be positive, got {hidden_size}.')
    self.hidden_size = hidden_size
    self.forget_bias = forget_bias

  @snt.once
  def _initialize(self, input_size: int):
    # Glorot uniform over the concatenated [x, h] kernel, as LSTMBlockCell.
    init = snt.initializers.VarianceScaling(
        scale=1.0, mode='fan_avg', distribution='uniform')
    self.kernel = tf.Variable(
        init([input_size + self.hidden_size, 4 * self.hidden_size],
             tf.float32), name='kernel')
    self.bias = tf.Variable(tf.zeros([4 * self.hidden_size]), name='bias')
    self.input_size = input_size

  def initial_state(self, batch_size) -> LSTMState:
    """Zero state: `LSTMState(cell [B, H], hidden [B, H])`."""
    zeros = tf.zeros([batch_size, self.hidden_size], tf.float32)
    return LSTMState(cell=zeros, hidden=zeros)

  def input_projection(self, inputs: tf.Tensor) -> tf.Tensor:
    """`x @ kernel_x + bias` for any number of steps at once.

    Args:
      inputs: float32 `[N, input_size]` (N may be T * B).

    Returns:
      float32 `[N, 4 * hidden_size]` gate pre-activations without the recurrent
      part.
    """
    if inputs.shape.rank != 2 or inputs.shape[-1] is None:
      raise ValueError(
          f'BlockLSTM inputs must be [N, input_size] with a static input_size, '
          f'got shape {inputs.shape}.')
    self._initialize(int(inputs.shape[-1]))
    if inputs.shape[-1] != self.input_size:
      raise ValueError(
          f'BlockLSTM was built for input size {self.input_size}, got inputs '
          f'of shape {inputs.shape}.')
    return tf.matmul(inputs, self.kernel[:self.input_size]) + self.bias

  def recurrent_step(self, projected_inputs: tf.Tensor,
                     prev_state: LSTMState):
    """One step given `input_projection` of this step's input.

    Args:
      projected_inputs: float32 `[B, 4 * hidden_size]`.
      prev_state: `LSTMState` of `[B, hidden_size]` tensors.

    Returns:
      `(hidden [B, hidden_size], LSTMState)`.
    """
    gates = projected_inputs + tf.matmul(
        prev_state.hidden, self.kernel[self.input_size:])
    i, j, f, o = tf.split(gates, 4, axis=-1)
    cell = (tf.sigmoid(f + self.forget_bias) * prev_state.cell +
            tf.sigmoid(i) * tf.tanh(j))
    hidden = tf.sigmoid(o) * tf.tanh(cell)
    return hidden, LSTMState(cell=cell, hidden=hidden)

  def __call__(self, inputs: tf.Tensor, prev_state: LSTMState):
    """One step: `[B, input_size]` -> `(hidden [B, H], LSTMState)`."""
    return self.recurrent_step(self.input_projection(inputs), prev_state)
