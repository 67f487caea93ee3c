"""Convolutional torsos of the IMPALA agent (paper Figure 3, docs/impala.md §2).

A torso maps a batch of uint8 frames `[N, H, W, C]` to a `[N, 256]` feature
vector. Two are provided:

  * `ShallowTorso`: the paper's 2-layer network ("1.2M parameters"); it is not
    in the released code, so its padding (VALID) is the one that reproduces the
    paper's parameter count (docs/impala.md §2).
  * `DeepTorso`: the paper's 15-layer ResNet, as in the released code.

Initialisation is Sonnet 2's default for `snt.Conv2D` / `snt.Linear`, which is
exactly the released code's (Sonnet 1 default): weights truncated normal (cut
at 2 standard deviations, not rescaled) with stddev 1/sqrt(fan_in), zero
biases (docs/impala.md §2).
"""

from typing import Sequence

import sonnet as snt
import tensorflow as tf

# Width of the torso output fed to the core (paper Figure 3).
TORSO_OUTPUT_SIZE = 256


def frames_to_float(frame: tf.Tensor) -> tf.Tensor:
  """Checks a uint8 frame batch and scales it to [0, 1].

  Args:
    frame: uint8 `[N, H, W, C]`.

  Returns:
    float32 `[N, H, W, C]` with values in [0, 1].

  Raises:
    ValueError: if `frame` is not a rank-4 uint8 tensor.
  """
  frame = tf.convert_to_tensor(frame)
  if frame.dtype != tf.uint8:
    raise ValueError(
        f'Torso expects uint8 frames, got dtype {frame.dtype.name}.')
  if frame.shape.rank != 4:
    raise ValueError(
        f'Torso expects frames of shape [N, H, W, C], got shape {frame.shape}.')
  if None in frame.shape[1:]:
    raise ValueError(
        f'Torso needs static frame height, width and channels (the size of the '
        f'fully connected layer depends on them), got shape {frame.shape}.')
  return tf.cast(frame, tf.float32) / 255.


def _flatten(x: tf.Tensor) -> tf.Tensor:
  """`[N, ...]` -> `[N, prod(...)]`, keeping a dynamic batch dimension."""
  return tf.reshape(x, [tf.shape(x)[0], x.shape[1:].num_elements()])


class ShallowTorso(snt.Module):
  """Conv 8x8/4 16ch -> Conv 4x4/2 32ch (VALID, ReLU) -> Linear 256 -> ReLU."""

  # Smallest input side that leaves at least a 1x1 map after both VALID convs:
  # (s - 8) // 4 + 1 >= 4.
  MIN_FRAME_SIDE = 20

  def __init__(self, name: str = 'shallow_torso'):
    super().__init__(name=name)
    self.conv_1 = snt.Conv2D(16, 8, stride=4, padding='VALID', name='conv_1')
    self.conv_2 = snt.Conv2D(32, 4, stride=2, padding='VALID', name='conv_2')
    self.linear = snt.Linear(TORSO_OUTPUT_SIZE, name='torso_linear')

  def __call__(self, frame: tf.Tensor) -> tf.Tensor:
    """Applies the torso.

    Args:
      frame: uint8 `[N, H, W, C]`, H and W at least `MIN_FRAME_SIDE`.

    Returns:
      float32 `[N, 256]`.
    """
    x = frames_to_float(frame)
    height, width = x.shape[1], x.shape[2]
    if min(height, width) < self.MIN_FRAME_SIDE:
      raise ValueError(
          f'ShallowTorso needs frames of at least {self.MIN_FRAME_SIDE}x'
          f'{self.MIN_FRAME_SIDE} (two VALID convolutions), got {height}x'
          f'{width}.')
    x = tf.nn.relu(self.conv_1(x))
    x = tf.nn.relu(self.conv_2(x))
    return tf.nn.relu(self.linear(_flatten(x)))


class ResidualBlock(snt.Module):
  """`x + Conv3x3(ReLU(Conv3x3(ReLU(x))))` with SAME padding, stride 1."""

  def __init__(self, num_channels: int, name: str = 'residual_block'):
    super().__init__(name=name)
    self.conv_1 = snt.Conv2D(num_channels, 3, stride=1, padding='SAME',
                             name='conv_1')
    self.conv_2 = snt.Conv2D(num_channels, 3, stride=1, padding='SAME',
                             name='conv_2')

  def __call__(self, x: tf.Tensor) -> tf.Tensor:
    """`[N, H, W, num_channels]` -> same shape."""
    residual = self.conv_1(tf.nn.relu(x))
    residual = self.conv_2(tf.nn.relu(residual))
    return x + residual


class DeepTorso(snt.Module):
  """The paper's ResNet torso (Figure 3, right; the released code's `_torso`).

  Per section with `c` channels: Conv 3x3/1 SAME -> MaxPool 3x3/2 SAME -> two
  `ResidualBlock`s. Sections have (16, 32, 32) channels. Then ReLU, flatten,
  Linear 256, ReLU. Note there is no ReLU between a section's conv and its
  pooling; the residual blocks start with a ReLU instead (released code).
  """

  def __init__(self,
               channels: Sequence[int] = (16, 32, 32),
               num_blocks: int = 2,
               name: str = 'deep_torso'):
    super().__init__(name=name)
    self.sections = []
    for i, num_channels in enumerate(channels):
      conv = snt.Conv2D(num_channels, 3, stride=1, padding='SAME',
                        name=f'section_{i}_conv')
      blocks = [ResidualBlock(num_channels, name=f'section_{i}_residual_{j}')
                for j in range(num_blocks)]
      self.sections.append((conv, blocks))
    self.linear = snt.Linear(TORSO_OUTPUT_SIZE, name='torso_linear')

  def __call__(self, frame: tf.Tensor) -> tf.Tensor:
    """Applies the torso.

    Args:
      frame: uint8 `[N, H, W, C]` (any H, W >= 1).

    Returns:
      float32 `[N, 256]`.
    """
    x = frames_to_float(frame)
    for conv, blocks in self.sections:
      x = conv(x)
      x = tf.nn.max_pool2d(x, ksize=3, strides=2, padding='SAME')
      for block in blocks:
        x = block(x)
    x = tf.nn.relu(x)
    return tf.nn.relu(self.linear(_flatten(x)))


TORSOS = {'shallow': ShallowTorso, 'deep': DeepTorso}


def make_torso(kind: str) -> snt.Module:
  """Returns a new torso: `kind` is 'shallow' or 'deep'."""
  if kind not in TORSOS:
    raise ValueError(
        f'Unknown torso {kind!r}; expected one of {sorted(TORSOS)}.')
  return TORSOS[kind]()
