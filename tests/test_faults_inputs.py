"""Bad inputs (docs/faults.md): each is refused with one line naming what is
wrong, or recovered from, and nothing is lost."""

import glob
import json
import os
import socket
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import checkpoints
from scalable_agent_tf2.runtime import ports
from scalable_agent_tf2.runtime import preflight
from scalable_agent_tf2.runtime import watchdog

from runtime_helpers import TINY_PONG_FLAGS, run_experiment


def _config(logdir, **kw):
  return Config(logdir=str(logdir), env='atari', level_name='Pong',
                torso='shallow', **kw).resolve()


def _write_config(logdir, text):
  os.makedirs(logdir, exist_ok=True)
  with open(run_dir.config_path(str(logdir)), 'w') as f:
    f.write(text)


# -- config.json and the logdir ------------------------------------------------


def test_empty_or_partial_config_json_is_refused_naming_the_keys(tmp_path):
  path = run_dir.config_path(str(tmp_path))
  _write_config(tmp_path, '{}')
  with pytest.raises(config_lib.ConfigError) as e:
    preflight.check_run_dir(_config(tmp_path))
  assert path in str(e.value) and "'torso'" in str(e.value)
  assert "'env'" in str(e.value) and 'holds 0 key(s)' in str(e.value)
  full = _config(tmp_path).to_dict()
  del full['unroll_length']
  _write_config(tmp_path, json.dumps(full))
  with pytest.raises(config_lib.ConfigError, match=r"lacks the settings "
                     r"\['unroll_length'\]"):
    preflight.check_run_dir(_config(tmp_path))


def test_truncated_config_json_is_refused_naming_the_file(tmp_path):
  text = json.dumps(_config(tmp_path).to_dict())
  _write_config(tmp_path, text[:len(text) // 2])
  with pytest.raises(config_lib.ConfigError) as e:
    preflight.check_run_dir(_config(tmp_path))
  assert run_dir.config_path(str(tmp_path)) in str(e.value)
  assert 'not valid JSON' in str(e.value)
  # The run-directory reader (used by --mode=test) says the same.
  with pytest.raises(config_lib.ConfigError, match='not valid JSON'):
    run_dir.read_config(str(tmp_path))


def test_a_complete_compatible_config_passes_and_a_different_one_is_refused(
    tmp_path):
  _config(tmp_path).save(str(tmp_path))
  preflight.check_run_dir(_config(tmp_path, batch_size=8))  # Not identity.
  with pytest.raises(config_lib.ConfigError,
                     match="torso: checkpoint 'shallow' vs now 'deep'"):
    preflight.check_run_dir(Config(logdir=str(tmp_path), env='atari',
                                   level_name='Pong', torso='deep').resolve())


def test_logdir_that_is_a_file_is_refused(tmp_path):
  path = tmp_path / 'a_file'
  path.write_text('x')
  with pytest.raises(config_lib.ConfigError, match='is not a directory'):
    preflight.check_run_dir(_config(path))


def _one_line_refusal(result, text):
  assert text in result.stderr, result.stderr[-3000:]
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]


@pytest.mark.timeout(300)
def test_entry_points_refuse_bad_logdirs_in_one_line(tmp_path):
  a_file = tmp_path / 'a_file'
  a_file.write_text('x')
  result = run_experiment(str(a_file), *TINY_PONG_FLAGS, timeout=120)
  assert result.returncode == watchdog.EXIT_REFUSED_CONFIG
  _one_line_refusal(result, 'exists and is not a directory')
  truncated = tmp_path / 'truncated'
  _write_config(truncated, '{"env": "atari", "torso": "sha')
  for mode in ('train', 'test'):
    result = run_experiment(str(truncated), *TINY_PONG_FLAGS,
                            f'--mode={mode}', timeout=120)
    assert result.returncode != 0
    _one_line_refusal(result, f'{truncated}/config.json is not valid JSON')


def _learner_flags(port):
  return [*TINY_PONG_FLAGS, '--job_name=learner',
          f'--learner_address=localhost:{port}']


@pytest.mark.timeout(300)
def test_learner_refuses_a_different_configuration_in_one_line(tmp_path):
  logdir = tmp_path / 'run'
  _config(logdir).save(str(logdir))
  before = open(run_dir.config_path(str(logdir))).read()
  flags = [f for f in _learner_flags(ports.free_port())
           if not f.startswith('--torso')]
  result = run_experiment(str(logdir), *flags, '--torso=deep', timeout=200)
  assert result.returncode == watchdog.EXIT_REFUSED_CONFIG
  _one_line_refusal(result, "different configuration")
  assert "torso: checkpoint 'shallow' vs now 'deep'" in result.stderr
  assert open(run_dir.config_path(str(logdir))).read() == before


@pytest.mark.timeout(300)
def test_failed_restore_writes_no_config_json(tmp_path):
  logdir = str(tmp_path / 'run')
  directory = run_dir.checkpoint_dir(logdir)
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(v=tf.Variable(1.0)), directory, max_to_keep=3)
  path = manager.save()
  for name in glob.glob(path + '.*'):
    with open(name, 'wb') as f:
      f.write(b'garbage')
  result = run_experiment(logdir, *_learner_flags(ports.free_port()),
                          timeout=200)
  assert result.returncode == watchdog.EXIT_REFUSED_CONFIG
  _one_line_refusal(result, 'could be restored')
  assert not os.path.exists(run_dir.config_path(logdir))


@pytest.mark.timeout(300)
def test_port_in_use_is_named_and_nothing_is_written(tmp_path):
  with socket.socket() as busy:
    busy.bind(('', 0))
    busy.listen()
    port = busy.getsockname()[1]
    with pytest.raises(ports.PortInUseError, match=f'Port {port} '):
      ports.check_listen_port_free(f'localhost:{port}')
    logdir = str(tmp_path / 'run')
    result = run_experiment(logdir, *_learner_flags(port), timeout=200)
  assert result.returncode == watchdog.EXIT_REFUSED_CONFIG
  _one_line_refusal(result, f'Port {port} of --learner_address=localhost:'
                    f'{port} is already in use')
  assert not os.path.exists(run_dir.config_path(logdir))
  ports.check_listen_port_free(f'localhost:{port}')  # Free again.


# -- Damaged checkpoints -------------------------------------------------------


def _checkpoint(value):
  v = tf.Variable(np.full([1000], value, np.float32))
  return v, tf.train.Checkpoint(v=v)


def test_damaged_newest_checkpoint_is_set_aside_and_never_kept(tmp_path):
  logdir = str(tmp_path)
  v, ckpt = _checkpoint(1.0)
  manager = checkpoints.make_manager(ckpt, logdir)
  for k in (1, 2, 3):
    v.assign(np.full([1000], float(k), np.float32))
    manager.save(checkpoint_number=k)
  newest = manager.latest_checkpoint
  for name in glob.glob(newest + '.data-*'):
    with open(name, 'r+b') as f:
      f.truncate(100)  # A truncated data file, as after a crash.
  v2, ckpt2 = _checkpoint(0.0)
  manager2, restored = checkpoints.restore_and_repair(ckpt2, logdir)
  assert restored.endswith('ckpt-2') and float(v2.numpy()[0]) == 2.0
  assert [os.path.basename(p) for p in manager2.checkpoints] == \
      ['ckpt-1', 'ckpt-2']
  assert glob.glob(newest + '.corrupt.data-*')
  assert glob.glob(newest + '.corrupt.index')
  assert not glob.glob(newest + '.index')
  # New saves prune the oldest readable one only once three newer exist.
  manager2.save(checkpoint_number=4)
  assert [os.path.basename(p) for p in manager2.checkpoints] == \
      ['ckpt-1', 'ckpt-2', 'ckpt-4']
  # A fresh manager (a later resume) sees the same list.
  assert checkpoints.make_manager(ckpt2, logdir).checkpoints == \
      manager2.checkpoints


# -- Saving on a full or read-only disk ----------------------------------------


class _FailingManager:
  """Fails like a full disk: leaves a `_temp` directory behind."""

  def __init__(self, directory, real):
    self.directory = directory
    self.real = real
    self.fail = True

  @property
  def checkpoints(self):
    return self.real.checkpoints

  @property
  def latest_checkpoint(self):
    return self.real.latest_checkpoint

  def save(self, checkpoint_number):
    if self.fail:
      os.makedirs(os.path.join(self.directory,
                               f'ckpt-{checkpoint_number}_temp'))
      raise tf.errors.ResourceExhaustedError(
          None, None, 'No space left on device [Op:SaveV2]')
    return self.real.save(checkpoint_number=checkpoint_number)


def test_failed_save_warns_cleans_up_and_retries_with_backoff(tmp_path,
                                                              caplog):
  v, ckpt = _checkpoint(1.0)
  real = checkpoints.make_manager(ckpt, str(tmp_path))
  good = real.save(checkpoint_number=1)
  manager = _FailingManager(real.directory, real)
  saver = checkpoints.Saver(manager, period_secs=600.0)
  with caplog.at_level('WARNING'):
    assert saver.save(2) is None
  assert 'could not be written (ResourceExhaustedError' in caplog.text
  assert 'retrying in 5 s' in caplog.text and 'ckpt-2_temp' in caplog.text
  assert not glob.glob(os.path.join(real.directory, '*_temp*'))
  assert not saver.due()
  saver._next = 0  # The backoff has passed.
  assert saver.due()
  assert saver.save(3) is None and saver.failures == 2
  assert 'retrying in 10 s' in caplog.text
  assert real.checkpoints == [good] and os.path.exists(good + '.index')
  manager.fail = False
  saver._next = 0
  assert saver.save(4).endswith('ckpt-4') and saver.failures == 0
  assert not saver.due(), 'back to the --checkpoint_secs period'


def _mount_tmpfs(path, size):
  if os.geteuid() != 0:
    pytest.skip('needs root to mount a small tmpfs')
  os.makedirs(path)
  result = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}',
                           'tmpfs', path], capture_output=True, text=True)
  if result.returncode != 0:
    pytest.skip(f'cannot mount a tmpfs here: {result.stderr.strip()}')


@pytest.mark.timeout(120)
def test_full_then_read_only_disk_keeps_the_last_good_checkpoint(tmp_path):
  logdir = str(tmp_path / 'small_disk')
  _mount_tmpfs(logdir, '3m')
  try:
    v = tf.Variable(np.zeros([200_000], np.float32))  # 800 KB a checkpoint.
    ckpt = tf.train.Checkpoint(v=v)
    saver = checkpoints.Saver(checkpoints.make_manager(ckpt, logdir), 600.0)
    good = saver.save(1)
    assert good
    filler = os.path.join(logdir, 'filler')
    with open(filler, 'wb') as f:  # Leaves less than one checkpoint free.
      f.write(b'\0' * (3 * 2**20 - 1_300_000))
    assert saver.save(2) is None, 'disk full'
    assert saver.manager.checkpoints == [good]
    assert os.path.exists(good + '.index')
    leftovers = [n for n in os.listdir(run_dir.checkpoint_dir(logdir))
                 if 'ckpt-2' in n]
    assert not leftovers, leftovers
    os.remove(filler)
    subprocess.run(['mount', '-o', 'remount,ro', logdir], check=True)
    assert saver.save(3) is None, 'read-only'
    assert saver.manager.checkpoints == [good]
    subprocess.run(['mount', '-o', 'remount,rw', logdir], check=True)
    assert saver.save(4).endswith('ckpt-4')
    restored = tf.train.Checkpoint(v=tf.Variable(np.ones([200_000],
                                                         np.float32)))
    restored.restore(good).assert_existing_objects_matched()
  finally:
    subprocess.run(['umount', logdir], capture_output=True)
