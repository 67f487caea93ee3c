"""Checkpoints of the learner's full training state, with safe restore.

A checkpoint holds the agent's parameters, the optimiser's slots (RMSProp `ms`
and `mom`), the environment-frame and update counters, the learning-rate
variable and the learner's RNG state: everything needed to resume exactly
(the LR schedule is a function of the frame counter, so it continues).

Restore never loses training state silently: a checkpoint that cannot be read
is reported and the next older one is tried; if none can be read the run stops
with an error instead of starting from scratch over a logdir that has state.
"""

from typing import Optional

from absl import logging
import tensorflow as tf

from scalable_agent_tf2 import run_dir


class CheckpointError(RuntimeError):
  """No readable checkpoint in a logdir that has checkpoints."""


def make_checkpoint(learner, rng: tf.random.Generator) -> tf.train.Checkpoint:
  return tf.train.Checkpoint(
      agent=learner.agent, optimizer=learner.optimizer,
      num_env_frames=learner.num_env_frames, num_updates=learner.num_updates,
      learning_rate=learner.learning_rate, rng=rng)


def make_manager(checkpoint: tf.train.Checkpoint, logdir: str,
                 max_to_keep: int = 3) -> tf.train.CheckpointManager:
  return tf.train.CheckpointManager(
      checkpoint, run_dir.checkpoint_dir(logdir), max_to_keep=max_to_keep)


def restore_latest(checkpoint: tf.train.Checkpoint,
                   manager: tf.train.CheckpointManager) -> Optional[str]:
  """Restores the newest readable checkpoint. Returns its path or None.

  Raises:
    CheckpointError: checkpoints exist but none could be restored.
  """
  candidates = list(reversed(manager.checkpoints))
  if not candidates:
    return None
  errors = []
  for path in candidates:
    try:
      checkpoint.restore(path).assert_existing_objects_matched()
      if path != candidates[0]:
        logging.warning('Restored the older checkpoint %s because newer ones '
                        'could not be read.', path)
      return path
    # TF's reader raises OpError, ValueError, AssertionError, and even
    # IndexError for a truncated data file: any failure means unreadable.
    except Exception as e:  # pylint: disable=broad-except
      logging.error('Checkpoint %s cannot be restored: %s', path,
                    str(e).splitlines()[0][:300])
      errors.append(f'{path}: {type(e).__name__}')
  raise CheckpointError(
      'No checkpoint in %s could be restored (%s). The logdir holds training '
      'state that this run would otherwise overwrite: move the damaged files '
      'away or use a new --logdir.' % (manager.directory, '; '.join(errors)))


def latest_checkpoint(logdir: str) -> Optional[str]:
  """Path of the newest checkpoint a learner wrote into `logdir`, or None."""
  return tf.train.latest_checkpoint(run_dir.checkpoint_dir(logdir))


def checkpoint_frames(path: str) -> int:
  """The `num_env_frames` counter stored in the checkpoint at `path`.

  Raises:
    CheckpointError: the checkpoint cannot be read, or it holds no frame
      counter (not a checkpoint of this project's learner).
  """
  try:
    reader = tf.train.load_checkpoint(path)
    for key in reader.get_variable_to_shape_map():
      if key.startswith('num_env_frames/'):
        return int(reader.get_tensor(key))
  except Exception as e:  # pylint: disable=broad-except
    raise CheckpointError('Cannot read checkpoint %s: %s' % (
        path, str(e).splitlines()[0][:200])) from None
  raise CheckpointError('Checkpoint %s has no num_env_frames counter: not a '
                        'checkpoint of this project\'s learner.' % path)
