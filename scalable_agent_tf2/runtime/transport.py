"""The learner-hosted FIFOQueue of unrolls and the published parameters.

Both live in the learner process and are reached from actor processes through
TensorFlow's distributed runtime (docs/impala.md §8): resources created
with `tf.raw_ops` under the learner's device with a fixed `shared_name` are the
SAME resource in every process connected to the cluster. Traps avoided here:

  * `tf.queue.FIFOQueue(shared_name=...)` does not share across processes in
    TF2 (eager swaps the shared name for a unique id), and wrapping a shared
    handle in `tf.queue.QueueBase` destroys the queue for everyone when the
    wrapper is garbage-collected. So: raw ops only, handles kept as tensors.
  * Remote ops with no outputs are fire-and-forget. Every enqueue is a
    `tf.function` that RETURNS the queue size, so the call blocks while the
    queue is full: that is the backpressure on actors.
"""

import json
from typing import Sequence

import tensorflow as tf

LEARNER_JOB = 'learner'
LEARNER_TASK = '/job:learner/replica:0/task:0'
LEARNER_CPU = LEARNER_TASK + '/device:CPU:0'


def cluster_spec(learner_address: str, actor_address: str = ''):
  jobs = {LEARNER_JOB: [learner_address]}
  if actor_address:
    jobs['actor'] = [actor_address]
  return tf.train.ClusterSpec(jobs)


def connect_learner(learner_address: str) -> None:
  """Starts the learner's server (it listens on the address's port)."""
  tf.config.experimental_connect_to_cluster(
      cluster_spec(learner_address), job_name=LEARNER_JOB, task_index=0)


def connect_actor(learner_address: str, actor_address: str) -> None:
  """Joins the cluster as `actor:0` with a reachable address of its own.

  Every actor process is task 0 of its own `actor` job: TF only defines the
  auto-added job's task 0, and across machines the learner must be able to
  reach the actor's address to pull the inputs of multi-device functions.
  Returns at once; the first remote op waits for the learner's server.
  """
  tf.config.experimental_connect_to_cluster(
      cluster_spec(learner_address, actor_address), job_name='actor',
      task_index=0)


def _flat_specs(structure):
  specs = tf.nest.flatten(structure)
  for spec in specs:
    if not isinstance(spec, tf.TensorSpec) or not spec.shape.is_fully_defined():
      raise ValueError(f'Queue components need fully defined TensorSpecs, '
                       f'got {spec!r}.')
  return specs


class UnrollQueue:
  """A FIFOQueue of unroll structures hosted on the learner.

  Args:
    structure: nest of tf.TensorSpec for ONE element (no batch dim).
    capacity: maximum number of elements held.
    name: shared name; every process using the same name, dtypes, shapes and
      capacity gets the same queue.
  """

  def __init__(self, structure, capacity: int, name: str = 'unrolls'):
    self._structure = structure
    specs = _flat_specs(structure)
    self._types = [s.dtype for s in specs]
    shapes = [s.shape.as_proto() for s in specs]
    with tf.device(LEARNER_CPU):
      self.handle = tf.raw_ops.FIFOQueueV2(
          component_types=self._types, shapes=shapes, capacity=capacity,
          shared_name=name, name=name)
    batched = [tf.TensorSpec([None] + s.shape.as_list(), s.dtype)
               for s in specs]
    self._enqueue_many = tf.function(self._enqueue_many_impl,
                                     input_signature=batched)
    self._dequeue_many = tf.function(
        self._dequeue_many_impl,
        input_signature=[tf.TensorSpec([], tf.int32)])

  @property
  def structure(self):
    return self._structure

  def _enqueue_many_impl(self, *components):
    with tf.device(LEARNER_CPU):
      tf.raw_ops.QueueEnqueueManyV2(handle=self.handle,
                                    components=list(components))
      # Returning a value makes the caller wait for the enqueue to complete
      # (backpressure) and surfaces errors at the call.
      return tf.raw_ops.QueueSizeV2(handle=self.handle)

  def _dequeue_many_impl(self, n):
    with tf.device(LEARNER_CPU):
      return tf.raw_ops.QueueDequeueManyV2(
          handle=self.handle, n=n, component_types=self._types)

  def enqueue_many(self, batch) -> int:
    """Enqueues a structure whose tensors have a leading [N] dim; blocks."""
    flat = tf.nest.flatten(batch)
    return int(self._enqueue_many(*flat))

  def dequeue_many(self, n: int):
    """Dequeues n elements as the structure with a leading [n] dim; blocks.

    Raises tf.errors.OutOfRangeError / CancelledError once the queue is
    closed and fewer than n elements remain.
    """
    flat = self._dequeue_many(tf.constant(n, tf.int32))
    return tf.nest.pack_sequence_as(self._structure, list(flat))

  def size(self) -> int:
    with tf.device(LEARNER_CPU):
      return int(tf.raw_ops.QueueSizeV2(handle=self.handle))

  def close(self, cancel_pending_enqueues: bool = True) -> None:
    """Wakes blocked dequeues (OutOfRange) and enqueues (Cancelled)."""
    with tf.device(LEARNER_CPU):
      tf.raw_ops.QueueCloseV2(handle=self.handle,
                              cancel_pending_enqueues=cancel_pending_enqueues)


def _variable_signature(variables: Sequence[tf.Variable]) -> str:
  return json.dumps([[v.name, v.shape.as_list(), v.dtype.name]
                     for v in variables])


class ParameterMismatchError(RuntimeError):
  """An actor's network does not match the learner's."""


class PublishedParameters:
  """Shared-name copies of the learner's parameters that actors read.

  The learner trains ordinary `tf.Variable`s (possibly on a GPU) and, after
  each update, copies them into these learner-CPU variables with the update
  count as `version`. An actor pulls all of them into its local variables in
  one `tf.function` before each unroll.

  Args:
    variables: the process's own variables, in the same order in every
      process (Sonnet's `trainable_variables` order is deterministic).
  """

  def __init__(self, variables: Sequence[tf.Variable], prefix: str = 'params'):
    self._variables = list(variables)
    self._signature = _variable_signature(self._variables)
    with tf.device(LEARNER_CPU):
      self._handles = [
          tf.raw_ops.VarHandleOp(dtype=v.dtype, shape=v.shape,
                                 shared_name=f'{prefix}/{i}')
          for i, v in enumerate(self._variables)]
      self._version = tf.raw_ops.VarHandleOp(
          dtype=tf.int64, shape=[], shared_name=f'{prefix}/version')
      self._remote_signature = tf.raw_ops.VarHandleOp(
          dtype=tf.string, shape=[], shared_name=f'{prefix}/signature')
    self._publish = tf.function(self._publish_impl)
    self._pull = tf.function(self._pull_impl)
    self._read_version = tf.function(self._read_version_impl)
    self._checked = False

  def _publish_impl(self, version):
    with tf.device(LEARNER_CPU):
      for handle, v in zip(self._handles, self._variables):
        tf.raw_ops.AssignVariableOp(resource=handle, value=v.read_value())
      tf.raw_ops.AssignVariableOp(resource=self._version, value=version)
      return tf.raw_ops.ReadVariableOp(resource=self._version, dtype=tf.int64)

  def _pull_impl(self):
    values = []
    with tf.device(LEARNER_CPU):
      version = tf.raw_ops.ReadVariableOp(resource=self._version,
                                          dtype=tf.int64)
      for handle, v in zip(self._handles, self._variables):
        values.append(tf.raw_ops.ReadVariableOp(resource=handle,
                                                dtype=v.dtype))
    for v, value in zip(self._variables, values):
      v.assign(value)
    return version

  def _read_version_impl(self):
    with tf.device(LEARNER_CPU):
      return tf.raw_ops.ReadVariableOp(resource=self._version, dtype=tf.int64)

  def latest_version(self) -> int:
    """The learner's latest published version, without pulling parameters
    (one scalar read: how an actor host decides whether to pull)."""
    return int(self._read_version())

  def publish(self, version: int) -> None:
    """Learner: copies the current parameters out with their version."""
    if not self._checked:
      with tf.device(LEARNER_CPU):
        tf.raw_ops.AssignVariableOp(resource=self._remote_signature,
                                    value=tf.constant(self._signature))
      self._checked = True
    self._publish(tf.constant(version, tf.int64))

  def pull(self) -> int:
    """Actor: loads the latest published parameters; returns their version.

    Raises:
      tf.errors.FailedPreconditionError: nothing published yet (retry).
      ParameterMismatchError: the learner's network differs from ours.
    """
    if not self._checked:
      with tf.device(LEARNER_CPU):
        remote = tf.raw_ops.ReadVariableOp(resource=self._remote_signature,
                                           dtype=tf.string)
      if remote.numpy().decode() != self._signature:
        raise ParameterMismatchError(
            'The learner\'s network differs from this actor\'s (variable '
            'names/shapes). Start learner and actors with the same --env, '
            '--level_name, --torso, --use_lstm, --use_instruction and frame '
            'size flags.')
      self._checked = True
    return int(self._pull())
