"""Which GPUs each process of a run may use (docs/devices.md).

TensorFlow maps every visible GPU into a process and, by default, reserves
almost all of its memory there at start-up. An actor process that sees the
learner's GPU therefore takes the memory the learner needs, and the first
GPU run ends out of memory. So:

  * actor processes (and `--mode=test` workers) see no GPU unless
    `--actor_gpus` names some: `''` (the default) none, `all` every visible
    one, or a comma-separated list of indices such as `0,1`. The launcher
    sets CUDA_VISIBLE_DEVICES in their environment (CUDA never starts), and
    each process also restricts TensorFlow's visible devices itself, so an
    actor started by hand on a cluster machine is safe too;
  * the learner allocates GPU memory as it needs it
    (`--gpu_memory_growth`, default on), leaving room for other processes;
  * environment workers never import TensorFlow (runtime/env_worker.py).

Everything here is a no-op where TensorFlow sees no GPU (how it is tested).
"""

from typing import Dict, List, Mapping, Optional

from absl import logging

# The actor_gpus value that leaves a process every visible GPU.
ALL = 'all'
# CUDA_VISIBLE_DEVICES value for "no GPU" (an invalid index hides them all).
NO_CUDA_DEVICES = '-1'


def parse_actor_gpus(text: str) -> Optional[List[int]]:
  """--actor_gpus -> GPU indices ([] none), or None for every GPU.

  Raises:
    ValueError: not '', 'all' or a comma-separated list of indices >= 0.
  """
  text = text.strip()
  if text == ALL:
    return None
  if not text:
    return []
  try:
    indices = [int(part) for part in text.split(',')]
  except ValueError:
    indices = [-1]
  if any(i < 0 for i in indices) or len(set(indices)) != len(indices):
    raise ValueError(f'--actor_gpus must be empty (no GPU), {ALL!r} or GPU '
                     f'indices such as 0,1; got {text!r}.')
  return indices


def actor_environment(environ: Mapping[str, str],
                      actor_gpus: str) -> Dict[str, str]:
  """The environment of an actor child process: CUDA_VISIBLE_DEVICES limited
  to --actor_gpus (indices among the GPUs the launcher itself sees)."""
  env = dict(environ)
  indices = parse_actor_gpus(actor_gpus)
  if indices is None:
    return env
  if not indices:
    env['CUDA_VISIBLE_DEVICES'] = NO_CUDA_DEVICES
    return env
  visible = environ.get('CUDA_VISIBLE_DEVICES')
  if visible:  # Indices are relative to what the launcher sees.
    physical = [d.strip() for d in visible.split(',')]
    env['CUDA_VISIBLE_DEVICES'] = ','.join(
        physical[i] for i in indices if i < len(physical))
  else:
    env['CUDA_VISIBLE_DEVICES'] = ','.join(str(i) for i in indices)
  return env


def limit_actor_gpus(actor_gpus: str) -> List[str]:
  """Restricts this process's TensorFlow to --actor_gpus, with memory growth.

  Call before TensorFlow initialises its devices. Returns the names of the
  GPUs left visible.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  indices = parse_actor_gpus(actor_gpus)
  gpus = tf.config.list_physical_devices('GPU')
  keep = gpus if indices is None else [
      gpu for i, gpu in enumerate(gpus) if i in indices]
  if gpus:
    tf.config.set_visible_devices(keep, 'GPU')
    for gpu in keep:
      tf.config.experimental.set_memory_growth(gpu, True)
    logging.info('Actor GPUs: %s of %d visible (--actor_gpus=%r).',
                 [g.name for g in keep] or 'none', len(gpus), actor_gpus)
  return [gpu.name for gpu in keep]


def configure_learner_gpus(memory_growth: bool) -> List[str]:
  """Memory growth on every GPU the learner sees, when asked. Call before
  TensorFlow initialises its devices; returns the GPU names."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  gpus = tf.config.list_physical_devices('GPU')
  for gpu in gpus:
    tf.config.experimental.set_memory_growth(gpu, memory_growth)
  if gpus:
    logging.info('Learner GPUs: %s (memory growth %s).',
                 [g.name for g in gpus], 'on' if memory_growth else 'off')
  return [gpu.name for gpu in gpus]
