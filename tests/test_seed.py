"""--seed decides the initial weights (docs/determinism.md).

The e2e test starts real learner processes (`--job_name=learner`, the same
start-up path a run takes: config, agent, learner, checkpoint 'initial')
and compares their first checkpoints, ckpt-0, variable by variable.
"""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import ports

from runtime_helpers import REPO, child_env, wait_for

# Enters a private network namespace when the OS allows it (the learner's
# TF server then listens on loopback only), then becomes the learner.
_LEARNER = textwrap.dedent('''
    import os, sys
    from scalable_agent_tf2.runtime import netns
    try:
      netns.enter_private_network()
    except OSError:
      pass
    os.execv(sys.executable, [sys.executable, '-m',
                              'scalable_agent_tf2.experiment', *sys.argv[1:]])
''')

_FLAGS = ('--job_name=learner', '--env=atari', '--level_name=Pong',
          '--torso=shallow', '--batch_size=4', '--unroll_length=5',
          '--num_actors=1', '--checkpoint_secs=600')


def _start_learner(logdir, seed):
  address = f'localhost:{ports.free_port()}'
  log = open(os.path.join(os.path.dirname(logdir),
                          f'{os.path.basename(logdir)}.log'), 'w')
  return subprocess.Popen(
      [sys.executable, '-c', _LEARNER, *_FLAGS, f'--logdir={logdir}',
       f'--seed={seed}', f'--learner_address={address}'],
      cwd=REPO, env=child_env(), stdout=log, stderr=subprocess.STDOUT)


def _initial_checkpoints(tmp_path, seeds, timeout=180):
  """Runs one learner per seed until it saved ckpt-0; returns their paths."""
  logdirs = [str(tmp_path / f'run_{i}') for i in range(len(seeds))]
  procs = [_start_learner(d, s) for d, s in zip(logdirs, seeds)]
  paths = [os.path.join(run_dir.checkpoint_dir(d), 'ckpt-0') for d in logdirs]
  try:
    for proc, path in zip(procs, paths):
      ready = wait_for(lambda: os.path.exists(path + '.index') or
                       proc.poll() is not None, timeout)
      assert ready and proc.poll() is None, (
          f'the learner did not save {path}; see its log next to it')
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # It saves a final checkpoint.
    for proc in procs:
      try:
        proc.wait(timeout=60)
      except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
  return paths


def _variables(path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  reader = tf.train.load_checkpoint(path)
  return {key: reader.get_tensor(key)
          for key in reader.get_variable_to_shape_map()}


@pytest.mark.e2e
@pytest.mark.timeout(400)
def test_the_same_seed_gives_the_same_initial_checkpoint(tmp_path):
  same_1, same_2, other = _initial_checkpoints(tmp_path, seeds=(3, 3, 4))
  first, second, third = (_variables(p) for p in (same_1, same_2, other))
  agent_keys = [k for k in first if k.startswith('agent/')]
  assert len(agent_keys) >= 4  # The torso, policy and baseline weights.
  assert sorted(first) == sorted(second) == sorted(third)
  for key, value in first.items():
    assert np.array_equal(value, second[key]), key
  # Another seed: other weights (and another learner RNG state).
  differing = [k for k in agent_keys
               if not np.array_equal(first[k], third[k])]
  weights = [k for k in agent_keys if first[k].dtype.kind == 'f' and
             first[k].ndim >= 2]
  assert weights and set(weights) <= set(differing)


def test_each_actor_task_gets_its_own_tensorflow_seed():
  from scalable_agent_tf2.runtime import actor  # pylint: disable=g-import-not-at-top
  seeds = {actor.actor_tf_seed(Config(seed=s, task=t))
           for s in (1, 2) for t in (0, 1, actor.ACTOR_SEED_STRIDE - 1)}
  assert len(seeds) == 6
  assert actor.actor_tf_seed(Config(seed=2, task=5)) == (
      2 * actor.ACTOR_SEED_STRIDE + 5)
