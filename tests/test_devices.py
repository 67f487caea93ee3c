"""Which GPUs each process may use (runtime/devices.py, docs/devices.md).

No GPU here: the tests check what each child process is allowed to see (its
environment), the flags, and that the GPU check says plainly that it has
nothing to check on a machine without one.
"""

import os
import subprocess
import sys

import pytest

from runtime_helpers import REPO
from scalable_agent_tf2.config import Config, ConfigError
from scalable_agent_tf2.runtime import devices
from scalable_agent_tf2.runtime import launcher as launcher_lib

sys.path.insert(0, os.path.join(REPO, 'scripts'))
import gpu_check  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.mark.parametrize('text, expected', [
    ('', []), ('all', None), ('0', [0]), ('0,2', [0, 2]), (' 1 ', [1])])
def test_actor_gpus_values(text, expected):
  assert devices.parse_actor_gpus(text) == expected


@pytest.mark.parametrize('text', ['gpu', '-1', '0,0', '1,', 'ALL'])
def test_bad_actor_gpus_are_refused_at_start_up(text):
  with pytest.raises(ConfigError, match='--actor_gpus must be'):
    Config(env='atari', level_name='Pong', actor_gpus=text).resolve(
        ).validate()


@pytest.mark.parametrize('parent, actor_gpus, expected', [
    (None, '', '-1'),            # The default: no GPU at all.
    ('2,3', '', '-1'),
    (None, 'all', None),         # Untouched.
    ('2,3', 'all', '2,3'),
    (None, '0,1', '0,1'),
    ('2,3', '1', '3'),           # Indices among the launcher's own GPUs.
])
def test_actor_environment_limits_cuda_visible_devices(parent, actor_gpus,
                                                       expected):
  environ = {'PATH': '/bin'}
  if parent is not None:
    environ['CUDA_VISIBLE_DEVICES'] = parent
  env = devices.actor_environment(environ, actor_gpus)
  assert env.get('CUDA_VISIBLE_DEVICES') == expected
  assert env['PATH'] == '/bin'


def test_the_launcher_hides_gpus_from_actors_only(tmp_path, monkeypatch):
  monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '0,1')
  # A TF_CONFIG meant for the launcher never reaches its children.
  monkeypatch.setenv('TF_CONFIG', '{"cluster": {}}')
  config = Config(env='atari', level_name='Pong', num_actors=2,
                  logdir=str(tmp_path)).resolve().validate()
  learner, actors = launcher_lib.Launcher(config)._children('localhost:1')
  # pylint: disable=protected-access
  assert learner._env['CUDA_VISIBLE_DEVICES'] == '0,1'
  assert [a.child._env['CUDA_VISIBLE_DEVICES'] for a in actors] == ['-1'] * 2
  assert all('TF_CONFIG' not in c._env
             for c in [learner] + [a.child for a in actors])


def test_without_a_gpu_the_limits_change_nothing(monkeypatch):
  # As TensorFlow reports a machine without a GPU (on any machine): both
  # calls are no-ops that leave TensorFlow's devices alone.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  real = tf.config.list_physical_devices
  monkeypatch.setattr(tf.config, 'list_physical_devices',
                      lambda kind=None: [] if kind == 'GPU' else real(kind))
  monkeypatch.setattr(tf.config, 'set_visible_devices', None)  # Not called.
  assert devices.limit_actor_gpus('') == []
  assert devices.limit_actor_gpus('all') == []
  assert devices.configure_learner_gpus(True) == []


def test_gpu_check_says_there_is_nothing_to_check_without_a_gpu():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if tf.config.list_physical_devices('GPU'):
    pytest.skip('TensorFlow sees a GPU here: `make gpu-check` is the check.')
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, 'scripts', 'gpu_check.py')],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == gpu_check.EXIT_NO_GPU, result.stderr[-2000:]
  assert 'TensorFlow sees no GPU' in result.stdout


def test_gpu_check_update_time_and_roles(tmp_path):
  progress = [{'time': 10.0 * i, 'updates': 5 * i} for i in range(6)]
  # Second half: lines 3..5, 20 s for 10 updates.
  assert gpu_check.update_time(progress) == pytest.approx(2.0)
  assert gpu_check.update_time(progress[:1]) is None
  assert gpu_check.role_of(os.getpid()) is None  # pytest is neither.
