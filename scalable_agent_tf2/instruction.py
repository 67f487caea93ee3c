"""Instruction encoder for DMLab language levels (docs/impala.md §2).

As in the released code's `Agent._instruction`: the instruction string is split
on single spaces (empty tokens from repeated spaces are dropped, like TF1's
`tf.string_split` with its default `skip_empty=True`), every word is hashed to
one of 1000 buckets with `tf.strings.to_hash_bucket_fast` (FarmHash
Fingerprint64, stable across processes and platforms; collisions are accepted
instead of keeping a vocabulary), embedded with Embed(1000, 20) and read by an
LSTM with 64 units. The encoding is the LSTM output at the LAST REAL word of
each instruction, so padding a shorter sentence to a batch's longest one does
not change it, and an empty instruction (b'', e.g. on levels without one)
encodes to zeros.

Initialisation: the embedding is normal(0, 1), the default of the Sonnet 1
`snt.Embed` the released code used (Sonnet 2's default, a truncated normal,
differs); the LSTM is `BlockLSTM` (Glorot-uniform kernel, zero bias, run-time
forget bias 1.0), as the released code's `LSTMBlockCell(64)`.
"""

import sonnet as snt
import tensorflow as tf

from scalable_agent_tf2.lstm import BlockLSTM

NUM_HASH_BUCKETS = 1000
EMBEDDING_SIZE = 20
INSTRUCTION_OUTPUT_SIZE = 64


def instruction_to_buckets(instruction: tf.Tensor):
  """Splits instructions into words and hashes each word to a bucket.

  Args:
    instruction: string `[N]`, one instruction per example (may be b'').

  Returns:
    buckets: int64 `[N, L]` bucket ids in [0, NUM_HASH_BUCKETS); positions at
      or past an example's length are padding (bucket 0) and must be masked.
      L is the longest instruction's word count, at least 1.
    lengths: int32 `[N]`, number of words in each instruction.

  Raises:
    ValueError: if `instruction` is not a rank-1 string tensor.
  """
  instruction = tf.convert_to_tensor(instruction)
  if instruction.dtype != tf.string or instruction.shape.rank != 1:
    raise ValueError(
        f'Instructions must be a string tensor of shape [N], got dtype '
        f'{instruction.dtype.name} and shape {instruction.shape}.')
  words = tf.strings.split(instruction, sep=' ')
  words = tf.ragged.boolean_mask(words, tf.strings.length(words) > 0)
  buckets = tf.ragged.map_flat_values(
      tf.strings.to_hash_bucket_fast, words, NUM_HASH_BUCKETS)
  lengths = tf.cast(buckets.row_lengths(), tf.int32)
  dense = buckets.to_tensor(default_value=0)
  # At least one column, so that a batch of empty instructions still has a
  # (fully masked) time step, as the released code's padding.
  missing = tf.maximum(1 - tf.shape(dense)[1], 0)
  dense = tf.pad(dense, [[0, 0], [0, missing]])
  return dense, lengths


class InstructionEncoder(snt.Module):
  """String `[N]` -> float32 `[N, 64]` instruction embedding."""

  def __init__(self, name: str = 'instruction_encoder'):
    super().__init__(name=name)
    self.embed = snt.Embed(
        NUM_HASH_BUCKETS, EMBEDDING_SIZE,
        initializer=snt.initializers.RandomNormal(stddev=1.0), name='embed')
    self.lstm = BlockLSTM(INSTRUCTION_OUTPUT_SIZE, name='language_lstm')

  def __call__(self, instruction: tf.Tensor) -> tf.Tensor:
    """Encodes instructions.

    Args:
      instruction: string `[N]`.

    Returns:
      float32 `[N, 64]`: the LSTM output after each instruction's last word,
      zeros for an empty instruction.
    """
    buckets, lengths = instruction_to_buckets(instruction)
    num_examples, max_length = tf.shape(buckets)[0], tf.shape(buckets)[1]
    embedded = self.embed(buckets)  # [N, L, EMBEDDING_SIZE]
    # Input half of the LSTM for all words in one matmul; [L, N, 4 * 64].
    projected = self.lstm.input_projection(
        tf.reshape(embedded, [-1, EMBEDDING_SIZE]))
    projected = tf.transpose(
        tf.reshape(projected, [num_examples, max_length, -1]), [1, 0, 2])
    is_word = tf.transpose(tf.sequence_mask(lengths, max_length))  # [L, N]

    def read_word(state, inputs):
      projected_word, word_mask = inputs
      _, new_state = self.lstm.recurrent_step(projected_word, state)
      # Past an example's last word its state is carried unchanged, so the
      # final state is the one after the last real word (zeros if none).
      return tf.nest.map_structure(
          lambda new, old: tf.where(word_mask[:, None], new, old),
          new_state, state)

    final_state = tf.foldl(
        read_word, (projected, is_word),
        initializer=self.lstm.initial_state(num_examples))
    return final_state.hidden
