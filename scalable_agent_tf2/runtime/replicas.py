"""Devices and the distribution strategy of N synchronous learner replicas.

`--num_learners=N` trains one set of parameters on N devices of the learner
host (paper §3.1: "one or more GPU learners"; Table 3's 8-learner agent):
TensorFlow's MirroredStrategy, in Sonnet's replica-local flavour
(`snt.distribute.Replicator`, a MirroredStrategy whose variables each replica
updates itself), holds one copy of every variable per device. Each update
gives every replica batch_size / N unrolls of the one dequeued batch, sums
the gradients across replicas (the losses are sums, so the sum is the
one-learner gradient, docs/impala.md §3) and applies the same RMSProp step on
every copy (`learner.Learner`).

Devices: the first N GPUs when TensorFlow sees at least N; with no GPU (how
it is tested here) the host CPU is split into N logical CPU devices, which
must happen before TensorFlow initialises its devices, i.e. before the
learner joins the cluster.

All-reduce: NCCL between GPUs. Between CPU devices, TF's collective ops fail
inside a cluster context (the collective executor knows only
'/job:localhost' device names, not the learner task's), so CPU replicas
reduce through one device (`ReductionToOneDevice`), which uses plain copies
and adds.
"""

from typing import List, Optional

from absl import logging
import sonnet as snt
import tensorflow as tf


class ReplicaError(ValueError):
  """N learner replicas cannot be placed on this host."""


def configure_devices(num_learners: int, preference: str = 'auto') -> List[str]:
  """Chooses (and if needed creates) the devices of N learner replicas.

  Call before TensorFlow initialises its devices (before any op and before
  `experimental_connect_to_cluster`).

  Args:
    num_learners: N >= 1.
    preference: --learner_device: 'auto' (GPUs when at least N are visible,
      else N logical CPU devices), 'gpu' (error without N GPUs) or 'cpu'.

  Returns:
    N device names local to this process, e.g. ['/device:GPU:0', ...].

  Raises:
    ReplicaError: 'gpu' without N visible GPUs.
  """
  gpus = tf.config.list_physical_devices('GPU')
  if preference in ('auto', 'gpu') and len(gpus) >= num_learners:
    return [f'/device:GPU:{i}' for i in range(num_learners)]
  if preference == 'gpu':
    raise ReplicaError(
        f'--num_learners={num_learners} --learner_device=gpu, but TensorFlow '
        f'sees {len(gpus)} GPU(s).')
  if gpus and preference == 'auto':
    logging.warning('%d GPU(s) for --num_learners=%d: the replicas run on '
                    'logical CPU devices instead.', len(gpus), num_learners)
  if num_learners > 1:
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_learners)
  return [f'/device:CPU:{i}' for i in range(num_learners)]


def make_strategy(devices: List[str], job_prefix: str = ''
                  ) -> Optional[tf.distribute.Strategy]:
  """The strategy over `devices`; None for a single device (no replication).

  Args:
    devices: from `configure_devices`.
    job_prefix: e.g. '/job:learner/replica:0/task:0' inside a TF cluster,
      where local device names carry the task.
  """
  if len(devices) == 1:
    return None
  full_names = [job_prefix + d for d in devices]
  if all('GPU' in d for d in devices):
    cross_device_ops = tf.distribute.NcclAllReduce()
  else:
    cross_device_ops = tf.distribute.ReductionToOneDevice()
  return snt.distribute.Replicator(full_names,
                                   cross_device_ops=cross_device_ops)


def replica_devices(strategy: Optional[tf.distribute.Strategy],
                    default: str) -> List[str]:
  """The device of each replica (for the log)."""
  if strategy is None:
    return [default]
  return list(strategy.extended.worker_devices)
