"""Checkpoints of the learner's full training state, with safe restore.

A checkpoint holds the agent's parameters, the optimiser's slots (RMSProp `ms`
and `mom`), the environment-frame and update counters, the learning-rate
variable and the learner's RNG state: everything needed to resume exactly
(the LR schedule is a function of the frame counter, so it continues).

Restore never loses training state silently: a checkpoint that cannot be read
is reported and the next older one is tried; if none can be read the run stops
with an error instead of starting from scratch over a logdir that has state.
The unreadable newer ones are then moved aside (`ckpt-N.corrupt.*`) and
dropped from the checkpoint list, so that they never count among the kept
checkpoints and push the readable one out (docs/faults.md).

Saving survives a full or read-only disk (`Saver`): the learner keeps
training, the failure is logged in one line, the partial files of the failed
save are removed and the save is retried with backoff. A failed save never
deletes anything else: TensorFlow prunes old checkpoints only after a new one
was written completely.
"""

import glob
import os
import shutil
import time
from typing import List, Optional, Tuple

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
  path, _ = _restore_newest_readable(checkpoint, manager)
  return path


def _restore_newest_readable(checkpoint, manager) -> Tuple[Optional[str],
                                                           List[str]]:
  """(path restored or None, the newer paths that could not be read)."""
  candidates = list(reversed(manager.checkpoints))
  if not candidates:
    return None, []
  errors = []
  for index, path in enumerate(candidates):
    try:
      checkpoint.restore(path).assert_existing_objects_matched()
      if path != candidates[0]:
        logging.warning('Restored the older checkpoint %s because newer ones '
                        'could not be read.', path)
      return path, candidates[:index]
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


def log_resume(logdir: str, path: str, frames: int, updates: int) -> None:
  """Logs a resume and the frames it rolled back.

  The rollback is measured against the newest progress line of the run
  (written every --progress_secs): those frames were trained, then lost with
  the process that trained them (e.g. a learner killed between checkpoints).
  """
  logging.info('Resumed from %s at %d frames, %d updates.', path, frames,
               updates)
  try:
    last = run_dir.last_progress_frames(logdir)
  except (OSError, ValueError) as e:
    logging.warning('Cannot tell the frames rolled back: %s', e)
    return
  if last > frames:
    logging.warning('Rolled back %d frames: the last progress line was at %d '
                    'frames, the checkpoint restored holds %d.',
                    last - frames, last, frames)
  else:
    logging.info('Rolled back 0 frames (the last progress line was at %d).',
                 last)


# -- Damaged checkpoints -------------------------------------------------------

CORRUPT_TAG = '.corrupt'


def restore_and_repair(checkpoint: tf.train.Checkpoint, logdir: str
                       ) -> Tuple[tf.train.CheckpointManager, Optional[str]]:
  """Restores the newest readable checkpoint; sets unreadable newer ones aside.

  Returns:
    (the manager to save with, the path restored or None on a fresh run).
  Raises:
    CheckpointError: checkpoints exist but none could be restored.
  """
  manager = make_manager(checkpoint, logdir)
  path, damaged = _restore_newest_readable(checkpoint, manager)
  if not damaged:
    return manager, path
  for bad in damaged:
    moved = set_aside(bad)
    logging.warning('Moved the unreadable checkpoint %s aside (%s); it no '
                    'longer counts among the kept checkpoints.', bad,
                    ', '.join(os.path.basename(m) for m in moved))
  # The checkpoint list without them (with its timestamps: a manager keeps
  # only listed checkpoints newer than last_preserved_timestamp).
  state = tf.train.get_checkpoint_state(manager.directory)
  kept = [(p, t) for p, t in zip(state.all_model_checkpoint_paths,
                                 state.all_model_checkpoint_timestamps)
          if os.path.abspath(p) not in {os.path.abspath(d) for d in damaged}]
  tf.compat.v1.train.update_checkpoint_state(
      manager.directory, model_checkpoint_path=path,
      all_model_checkpoint_paths=[p for p, _ in kept],
      all_model_checkpoint_timestamps=[t for _, t in kept],
      last_preserved_timestamp=state.last_preserved_timestamp)
  return make_manager(checkpoint, logdir), path


def set_aside(path: str) -> List[str]:
  """Renames the files of checkpoint `path` to `<path>.corrupt[-k].*`."""
  tag = CORRUPT_TAG
  k = 1
  while glob.glob(glob.escape(path + tag) + '.*'):
    k += 1
    tag = f'{CORRUPT_TAG}-{k}'
  moved = []
  for name in _checkpoint_files(path):
    target = path + tag + name[len(path):]
    os.replace(name, target)
    moved.append(target)
  return moved


def _checkpoint_files(path: str) -> List[str]:
  """The index and data files of checkpoint `path` (e.g. .../ckpt-7)."""
  stem = glob.escape(path)
  return sorted(glob.glob(stem + '.index') + glob.glob(stem + '.data-*'))


# -- Saving that survives a full or read-only disk -----------------------------

# Retries after a failed save: 5 s, 10 s, 20 s, ... at most the save period.
_FIRST_RETRY_SECS = 5.0


class Saver:
  """Periodic saves through `manager`; failures warn, clean up and retry."""

  def __init__(self, manager: tf.train.CheckpointManager, period_secs: float):
    self.manager = manager
    self.period_secs = period_secs
    self.failures = 0
    self._next = time.time() + period_secs

  def due(self) -> bool:
    """Whether a periodic save (or the retry of a failed one) is due."""
    return time.time() >= self._next

  def save(self, number) -> Optional[str]:
    """Saves checkpoint `number`; returns its path, None if it failed."""
    number = int(number.numpy()) if hasattr(number, 'numpy') else int(number)
    try:
      path = self.manager.save(checkpoint_number=number)
    except (tf.errors.OpError, OSError) as e:
      self.failures += 1
      removed = remove_partial_save(self.manager, number)
      retry = min(self.period_secs,
                  _FIRST_RETRY_SECS * 2 ** (self.failures - 1))
      self._next = time.time() + retry
      logging.warning(
          'Checkpoint %d could not be written (%s: %s)%s; training goes on, '
          'retrying in %.0f s (failure %d in a row). Kept: %s.', number,
          type(e).__name__, str(e).splitlines()[0][:200],
          f'; removed its partial files {removed}' if removed else '',
          retry, self.failures, self.manager.latest_checkpoint or 'none yet')
      return None
    self.failures = 0
    self._next = time.time() + self.period_secs
    return path


def remove_partial_save(manager: tf.train.CheckpointManager,
                        number: int) -> List[str]:
  """Deletes what a failed save of `number` left: its `_temp` directory and,
  unless checkpoint `number` is a kept one, its index/data files."""
  prefix = os.path.join(manager.directory, f'ckpt-{number}')
  removed = []
  for temp in glob.glob(glob.escape(prefix) + '_temp*'):
    shutil.rmtree(temp, ignore_errors=True) if os.path.isdir(temp) else \
        _unlink(temp)
    removed.append(os.path.basename(temp))
  if prefix not in manager.checkpoints:
    for name in _checkpoint_files(prefix):
      _unlink(name)
      removed.append(os.path.basename(name))
  return removed


def _unlink(path: str) -> None:
  try:
    os.remove(path)
  except OSError:
    pass
