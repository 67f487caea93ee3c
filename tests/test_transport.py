"""The shared queue and published parameters across two real processes.

A learner process hosts both and publishes parameters; an actor process (the
test's subprocess) pulls them into its own variables and enqueues. This is the
mechanism every unroll and every parameter refresh goes through.
"""

import subprocess
import sys
import textwrap

import pytest

from runtime_helpers import REPO, child_env

pytestmark = pytest.mark.e2e

_LEARNER = textwrap.dedent('''
    import sys, time
    import numpy as np, tensorflow as tf
    from scalable_agent_tf2.runtime import transport
    transport.connect_learner(sys.argv[1])
    a = tf.Variable(tf.zeros([3, 2]), name='w')
    b = tf.Variable(tf.zeros([4]), name='b')
    params = transport.PublishedParameters([a, b])
    spec = (tf.TensorSpec([2], tf.float32), tf.TensorSpec([], tf.string))
    queue = transport.UnrollQueue(spec, capacity=2)
    a.assign(np.arange(6, dtype=np.float32).reshape(3, 2))
    b.assign([10., 20., 30., 40.])
    params.publish(7)
    x, s = queue.dequeue_many(2)
    print('DEQUEUED', x.numpy().tolist(), [v.decode() for v in s.numpy()],
          flush=True)
    a.assign(a * 2)
    params.publish(8)
    queue.dequeue_many(1)
    queue.close()
    print('DONE', flush=True)
''')

_ACTOR = textwrap.dedent('''
    import sys, time
    import numpy as np, tensorflow as tf
    from scalable_agent_tf2.runtime import ports, transport
    address = sys.argv[1]
    while not ports.server_reachable(address):
      time.sleep(0.2)
    transport.connect_actor(address, 'localhost:%d' % ports.free_port())
    a = tf.Variable(tf.ones([3, 2]), name='w')
    b = tf.Variable(tf.ones([4]), name='b')
    params = transport.PublishedParameters([a, b])
    spec = (tf.TensorSpec([2], tf.float32), tf.TensorSpec([], tf.string))
    queue = transport.UnrollQueue(spec, capacity=2)
    while True:
      try:
        version = params.pull()
        break
      except tf.errors.FailedPreconditionError:
        time.sleep(0.2)
    print('PULLED', version, a.numpy().ravel().tolist(), b.numpy().tolist(),
          flush=True)
    queue.enqueue_many((np.array([[1., 2.], [3., 4.]], np.float32),
                        np.array([b'Pong', b'Breakout'], dtype=object)))
    while params.pull() != 8:
      time.sleep(0.1)
    print('PULLED', 8, a.numpy().ravel().tolist(), flush=True)
    queue.enqueue_many((np.zeros([1, 2], np.float32),
                        np.array([b'x'], dtype=object)))
    try:
      while True:
        queue.enqueue_many((np.zeros([1, 2], np.float32),
                            np.array([b'x'], dtype=object)))
    except (tf.errors.CancelledError, tf.errors.OutOfRangeError) as e:
      print('CLOSED', type(e).__name__, flush=True)
''')

_MISMATCH = textwrap.dedent('''
    import sys, time
    import tensorflow as tf
    from scalable_agent_tf2.runtime import ports, transport
    address = sys.argv[1]
    while not ports.server_reachable(address):
      time.sleep(0.2)
    transport.connect_actor(address, 'localhost:%d' % ports.free_port())
    a = tf.Variable(tf.ones([5, 2]), name='w')  # Not the learner's shape.
    b = tf.Variable(tf.ones([4]), name='b')
    params = transport.PublishedParameters([a, b])
    try:
      params.pull()
    except transport.ParameterMismatchError as e:
      print('MISMATCH', e, flush=True)
''')


def _run_pair(actor_code, timeout=300):
  from scalable_agent_tf2.runtime import ports  # pylint: disable=g-import-not-at-top
  address = f'localhost:{ports.free_port()}'
  env = child_env()
  learner = subprocess.Popen([sys.executable, '-c', _LEARNER, address],
                             cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
  try:
    result = subprocess.run([sys.executable, '-c', actor_code, address],
                            cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=timeout)
  finally:
    if learner.poll() is None:
      learner.kill()
    learner_out, _ = learner.communicate(timeout=30)
  return result, learner_out


@pytest.mark.timeout(360)
def test_actor_pulls_published_parameters_and_enqueues_to_the_learner():
  result, learner_out = _run_pair(_ACTOR)
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.splitlines()
  # The actor's own variables now hold the learner's values, with version.
  assert lines[0] == ('PULLED 7 [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] '
                      '[10.0, 20.0, 30.0, 40.0]')
  assert lines[1] == 'PULLED 8 [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]'
  # Closing the queue on the learner wakes the actor blocked in enqueue.
  assert lines[2].startswith('CLOSED')
  assert ("DEQUEUED [[1.0, 2.0], [3.0, 4.0]] ['Pong', 'Breakout']"
          in learner_out)


@pytest.mark.timeout(360)
def test_actor_with_a_different_network_is_refused():
  result, _ = _run_pair(_MISMATCH)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.startswith('MISMATCH')
  assert '--torso' in result.stdout
