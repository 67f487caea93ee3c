"""Experience replay in the learner (paper §5.2.2, docs/replay.md).

The paper's replay variant keeps a buffer of 10,000 unrolls, samples it
uniformly, evicts first-in first-out, and takes half of every learner batch
from it. Here, with `--replay_capacity=C > 0` and `--replay_proportion=p`,
each update:

  1. dequeues F = batch_size * (1 - p) fresh unrolls from the queue,
  2. inserts them into the buffer (the oldest unrolls are overwritten once
     it holds C),
  3. draws R = batch_size * p unrolls uniformly, with replacement, from the
     buffer's current content (which includes the F just inserted),
  4. trains on the [F fresh; R replayed] batch of batch_size unrolls.

Only the fresh unrolls count as new environment frames
(`Config.frames_per_update`) and only their finished episodes are recorded.
A replayed unroll keeps the parameter version it was acted with, so its
policy lag is the number of updates since then.

The buffer lives in the learner's memory as one preallocated numpy array per
leaf of the queue element, [C, ...] (observations stored as the actors sent
them). Its size is checked against the memory available before the run
starts. It is not checkpointed: a resumed run starts with an empty buffer
and refills it.

With `--max_policy_lag=K > 0` (off by default; the paper has no such limit)
the fresh unrolls acted with parameters more than K updates older than the
learner's are dropped right after the dequeue, and dequeued again until the
update has all its fresh unrolls; replayed unrolls are old by design and are
never dropped. A dropped unroll counts no frames and records no episodes
(docs/metrics.md).
"""

import dataclasses
import os
from typing import Any, Dict, Optional, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from scalable_agent_tf2.config import ConfigError

# Part of the available memory the buffer may take: the learner's own
# tensors, the queue and the actors on the same machine need the rest.
MEMORY_FRACTION = 0.8
# Estimated bytes of one stored string (a Python bytes object and its
# reference in an object array): level names and instructions.
STRING_BYTES = 64
_MEMINFO = '/proc/meminfo'
_CGROUP_ROOT = '/sys/fs/cgroup'
# cgroup limits above this mean "no limit" (v1 reports ~2**63).
_NO_LIMIT = 1 << 60


class ReplayMemoryError(ConfigError):
  """The buffer asked for by --replay_capacity cannot fit in memory."""


# -- Memory --------------------------------------------------------------------


def _read_int(path: str) -> Optional[int]:
  try:
    with open(path) as f:
      text = f.read().strip()
  except OSError:
    return None
  return int(text) if text.isdigit() else None


def _meminfo_available(path: str) -> Optional[int]:
  """MemAvailable of /proc/meminfo in bytes (None if absent)."""
  try:
    with open(path) as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    return None
  return None


def _cgroup_headroom(root: str) -> Optional[int]:
  """Limit minus usage of our memory cgroup (v2, else v1); None: no limit."""
  for limit_file, usage_file in (('memory.max', 'memory.current'),
                                 ('memory/memory.limit_in_bytes',
                                  'memory/memory.usage_in_bytes')):
    limit = _read_int(os.path.join(root, limit_file))
    if limit is None or limit >= _NO_LIMIT:
      continue
    usage = _read_int(os.path.join(root, usage_file)) or 0
    return max(0, limit - usage)
  return None


def available_memory(meminfo: Optional[str] = None,
                     cgroup_root: Optional[str] = None) -> Tuple[int, str]:
  """(bytes available to this process, where the number comes from).

  The smaller of MemAvailable and the memory cgroup's limit minus its usage
  (default files: /proc/meminfo and /sys/fs/cgroup).

  Raises:
    ReplayMemoryError: neither can be read (the check cannot be made).
  """
  meminfo = meminfo or _MEMINFO
  cgroup_root = cgroup_root or _CGROUP_ROOT
  candidates = []
  system = _meminfo_available(meminfo)
  if system is not None:
    candidates.append((system, f'MemAvailable of {meminfo}'))
  cgroup = _cgroup_headroom(cgroup_root)
  if cgroup is not None:
    candidates.append((cgroup, f'the memory cgroup limit under {cgroup_root}'))
  if not candidates:
    raise ReplayMemoryError(
        f'Cannot tell the memory available ({meminfo} and {cgroup_root} '
        'unreadable), so --replay_capacity cannot be checked.')
  return min(candidates)


def unroll_nbytes(element_spec) -> int:
  """Bytes one stored queue element (unroll + policy version) takes."""
  total = 0
  for spec in tf.nest.flatten(element_spec):
    count = int(np.prod(spec.shape.as_list(), dtype=np.int64))
    if spec.dtype == tf.string:
      total += count * STRING_BYTES
    else:
      total += count * spec.dtype.size
  return total


def _gb(n: float) -> str:
  return f'{n / 1e9:.2f} GB'


def check_fits(capacity: int, bytes_per_unroll: int, available: int,
               source: str) -> int:
  """Returns the buffer's bytes; raises ReplayMemoryError if they don't fit.

  The buffer may take MEMORY_FRACTION of `available`.
  """
  needed = capacity * bytes_per_unroll
  allowed = int(available * MEMORY_FRACTION)
  if needed > allowed:
    fits = allowed // bytes_per_unroll
    raise ReplayMemoryError(
        f'--replay_capacity={capacity} needs {_gb(needed)} ({capacity} '
        f'unrolls x {bytes_per_unroll / 1e6:.2f} MB), but only '
        f'{_gb(available)} are available ({source}) and the buffer may take '
        f'{MEMORY_FRACTION:.0%} of it: use --replay_capacity={fits} or less, '
        'or a machine with more memory.')
  return needed


# -- The buffer ----------------------------------------------------------------


class ReplayBuffer:
  """A FIFO ring of unrolls with uniform sampling (with replacement).

  Elements are nests matching `element_spec` (each leaf [n, ...] when
  inserted or sampled n at a time). Sampling returns copies: what was
  inserted, bit for bit.
  """

  def __init__(self, element_spec, capacity: int, seed: int):
    if capacity < 1:
      raise ValueError(f'capacity must be >= 1, got {capacity}.')
    self._structure = element_spec
    self._storage = []
    for spec in tf.nest.flatten(element_spec):
      shape = [capacity] + spec.shape.as_list()
      if spec.dtype == tf.string:
        self._storage.append(np.full(shape, b'', dtype=object))
      else:  # np.zeros: pages are touched as the buffer fills.
        self._storage.append(np.zeros(shape, spec.dtype.as_numpy_dtype))
    self.capacity = capacity
    self.bytes_per_unroll = unroll_nbytes(element_spec)
    self._next = 0  # Where the next unroll goes (the oldest once full).
    self._size = 0
    self._rng = np.random.default_rng(seed)

  def __len__(self) -> int:
    return self._size

  @property
  def nbytes(self) -> int:
    return self.capacity * self.bytes_per_unroll

  def insert(self, batch) -> np.ndarray:
    """Appends the n unrolls of `batch` (leaves [n, ...]); returns slots."""
    leaves = [np.asarray(x) for x in tf.nest.flatten(batch)]
    n = leaves[0].shape[0]
    if n > self.capacity:
      raise ValueError(f'Cannot insert {n} unrolls into a buffer of '
                       f'{self.capacity}.')
    slots = (self._next + np.arange(n)) % self.capacity
    for store, leaf in zip(self._storage, leaves):
      store[slots] = leaf
    self._next = int((self._next + n) % self.capacity)
    self._size = min(self.capacity, self._size + n)
    return slots

  def sample_slots(self, n: int) -> np.ndarray:
    """n slot indices drawn independently and uniformly from the content."""
    if self._size == 0:
      raise ValueError('Cannot sample from an empty replay buffer.')
    return self._rng.integers(0, self._size, size=n)

  def gather(self, slots: np.ndarray):
    """The unrolls at `slots` as a nest with leaves [len(slots), ...]."""
    return tf.nest.pack_sequence_as(
        self._structure, [store[slots] for store in self._storage])

  def sample(self, n: int):
    return self.gather(self.sample_slots(n))


# -- The learner's batches -----------------------------------------------------


@dataclasses.dataclass
class Batch:
  """What one update trains on.

  Attributes:
    element: ActorOutput with leaves [batch_size, ...] (fresh rows first).
    versions: int64 [batch_size], the parameter version of each unroll.
    fresh: ActorOutput of the fresh rows only (for episode records).
    scalars: summaries of the replay (empty without replay).
    dequeued: fresh unrolls dequeued for it (dropped ones included).
    dropped: fresh unrolls dropped by --max_policy_lag.
  """
  element: Any
  versions: Any
  fresh: Any
  scalars: Dict[str, float]
  dequeued: int = 0
  dropped: int = 0


def _numpy(structure):
  return tf.nest.map_structure(lambda t: np.asarray(t), structure)


def _concat(a, b):
  return tf.nest.map_structure(lambda x, y: np.concatenate([x, y], 0), a, b)


def _mean_lag(num_updates: int, versions) -> float:
  return float(np.mean(num_updates - np.asarray(versions, np.int64)))


def recent(num_updates: int, versions, max_policy_lag: int) -> np.ndarray:
  """bool [n]: acted at most `max_policy_lag` updates before `num_updates`.

  Args:
    num_updates: updates the learner has applied.
    versions: int [n], the parameter version of each unroll.
    max_policy_lag: K >= 1.
  """
  return num_updates - np.asarray(versions, np.int64) <= max_policy_lag


def _rows(structure, mask: np.ndarray):
  return tf.nest.map_structure(lambda x: x[mask], structure)


class BatchSource:
  """The learner's batches: straight from the queue, or fresh + replayed."""

  def __init__(self, config, queue, element_spec,
               memory: Optional[Tuple[int, str]] = None):
    """Raises ReplayMemoryError if the buffer cannot fit (`memory`:
    (bytes, source) to check against instead of `available_memory()`)."""
    self._queue = queue
    self._batch_size = config.batch_size
    self._fresh = config.num_fresh_per_update
    self._replayed = config.num_replayed_per_update
    self._max_policy_lag = config.max_policy_lag
    self.buffer = None
    if not self._replayed:
      return
    available, source = memory or available_memory()
    needed = check_fits(config.replay_capacity, unroll_nbytes(element_spec),
                        available, source)
    self.buffer = ReplayBuffer(element_spec, config.replay_capacity,
                               config.seed)
    logging.info(
        'Replay (paper §5.2.2): buffer of %d unrolls x %.2f MB = %s '
        '(%s available, %s; filled as it goes, not checkpointed); each batch '
        'of %d: %d fresh + %d sampled uniformly from the buffer.',
        config.replay_capacity, self.buffer.bytes_per_unroll / 1e6,
        _gb(needed), _gb(available), source, self._batch_size, self._fresh,
        self._replayed)

  def _dequeue_fresh(self, n: int, num_updates: int):
    """(numpy (element, versions) of n fresh unrolls, dequeued, dropped).

    With --max_policy_lag, dequeues again for every unroll it drops, so
    that the update always gets n.
    """
    if not self._max_policy_lag:
      return _numpy(self._queue.dequeue_many(n)), n, 0
    parts, kept, dequeued = [], 0, 0
    while kept < n:
      part = _numpy(self._queue.dequeue_many(n - kept))
      dequeued += n - kept
      keep = recent(num_updates, part[1], self._max_policy_lag)
      if keep.any():
        parts.append(_rows(part, keep))
        kept += int(keep.sum())
    fresh = parts[0] if len(parts) == 1 else tf.nest.map_structure(
        lambda *x: np.concatenate(x, 0), *parts)
    return fresh, dequeued, dequeued - n

  def next(self, num_updates: int) -> Batch:
    """The next batch; `num_updates` (applied so far) measures the lag."""
    tensors = lambda x: tf.nest.map_structure(tf.convert_to_tensor, x)
    if self.buffer is None and not self._max_policy_lag:
      element, versions = self._queue.dequeue_many(self._batch_size)
      return Batch(element, versions, element, {}, self._batch_size, 0)
    fresh, dequeued, dropped = self._dequeue_fresh(self._fresh, num_updates)
    if self.buffer is None:
      element = tensors(fresh[0])
      return Batch(element, tf.convert_to_tensor(fresh[1]), element, {},
                   dequeued, dropped)
    self.buffer.insert(fresh)
    replayed = self.buffer.sample(self._replayed)
    element, versions = _concat(fresh, replayed)
    scalars = {
        'replay_fill': len(self.buffer) / self.buffer.capacity,
        'policy_lag_fresh': _mean_lag(num_updates, fresh[1]),
        'policy_lag_replayed': _mean_lag(num_updates, replayed[1]),
    }
    return Batch(tensors(element), tf.convert_to_tensor(versions),
                 tensors(fresh[0]), scalars, dequeued, dropped)
