"""Helpers for tests that run the real entry point in real processes."""

import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny Atari run: 1 learner + 2 actor processes, shallow net, small batches.
TINY_PONG_FLAGS = (
    '--env=atari', '--level_name=Pong', '--torso=shallow', '--num_actors=2',
    '--envs_per_actor=1', '--batch_size=4', '--unroll_length=10',
    '--progress_secs=1', '--summary_secs=1', '--checkpoint_secs=600',
    '--actor_reconnect_secs=30')


def experiment_command(logdir, *flags):
  return [sys.executable, '-m', 'scalable_agent_tf2.experiment',
          f'--logdir={logdir}', *flags]


def child_env(extra_pythonpath=None):
  env = dict(os.environ)
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  paths = [REPO] + ([extra_pythonpath] if extra_pythonpath else [])
  if env.get('PYTHONPATH'):
    paths.append(env['PYTHONPATH'])
  env['PYTHONPATH'] = os.pathsep.join(paths)
  return env


def run_experiment(logdir, *flags, timeout=600):  # Loaded CI machines.
  """Runs the entry point to completion; returns CompletedProcess."""
  return subprocess.run(experiment_command(logdir, *flags), cwd=REPO,
                        env=child_env(), capture_output=True, text=True,
                        timeout=timeout)


def start_experiment(logdir, *flags, log_path=None):
  out = open(log_path, 'w') if log_path else subprocess.DEVNULL
  return subprocess.Popen(experiment_command(logdir, *flags), cwd=REPO,
                          env=child_env(), stdout=out,
                          stderr=subprocess.STDOUT)


def processes_with(text):
  """PIDs whose command line contains `text` (e.g. a unique logdir)."""
  pids = []
  for name in os.listdir('/proc'):
    if not name.isdigit():
      continue
    try:
      with open(f'/proc/{name}/cmdline', 'rb') as f:
        cmdline = f.read().replace(b'\0', b' ').decode(errors='replace')
    except OSError:
      continue
    if text in cmdline and int(name) != os.getpid():
      pids.append(int(name))
  return pids


def wait_for(predicate, timeout, interval=0.2):
  deadline = time.time() + timeout
  while time.time() < deadline:
    value = predicate()
    if value:
      return value
    time.sleep(interval)
  return None


def read_jsonl(path):
  import json  # pylint: disable=g-import-not-at-top
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def checkpoint_values(path):
  """All tensors of a checkpoint, keyed by their checkpoint key."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  reader = tf.train.load_checkpoint(path)
  return {key: reader.get_tensor(key)
          for key in reader.get_variable_to_shape_map()
          if not key.startswith('_CHECKPOINTABLE_OBJECT_GRAPH')}


def latest_checkpoint(logdir):
  from scalable_agent_tf2.runtime import checkpoints  # pylint: disable=g-import-not-at-top
  return checkpoints.latest_checkpoint(logdir)


def frames_of(values):
  return int(next(v for k, v in values.items()
                  if k.startswith('num_env_frames/')))


def resolved_config(command):
  """The Config the entry point resolves from `command` (an
  `experiment_command` line), parsed by the entry point's own absl flags."""
  from absl import flags as absl_flags  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import config as config_lib  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import experiment  # pylint: disable=g-import-not-at-top
  assert command[:3] == [sys.executable, '-m', config_lib.EXPERIMENT_MODULE]
  values = absl_flags.FlagValues()
  experiment.define_flags(values)
  values(['experiment'] + command[3:])
  return config_lib.Config(**{name: values[name].value for name in
                              config_lib.Config().to_dict()}).resolve()
