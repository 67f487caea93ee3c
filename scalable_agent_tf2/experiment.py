r"""The entry point: train or test an IMPALA agent, locally or on a cluster.

One machine (the default; starts the learner and --num_actors actor processes,
joined through TensorFlow's distributed runtime on localhost):

  python -m scalable_agent_tf2.experiment --env=atari --level_name=Pong \
      --logdir=/tmp/pong

Several machines (same flags; the learner's address must be reachable):

  learner$ python -m scalable_agent_tf2.experiment --job_name=learner \
      --learner_address=HOST:8001 --env=atari --level_name=Pong ...
  actor i$ python -m scalable_agent_tf2.experiment --job_name=actor --task=i \
      --learner_address=HOST:8001 --actor_address=THIS_HOST:8002 ...

Test mode (loads the latest checkpoint, writes <logdir>/test_results.json):

  python -m scalable_agent_tf2.experiment --mode=test --logdir=/tmp/pong \
      --env=atari --level_name=Pong --test_num_episodes=200

Flags left unset take the value of --preset: `paper` is the paper's table for
--env (docs/impala.md §4); `small`, the Atari default, changes four values so that
a few CPU cores see Pong learn (see `scalable_agent_tf2/config.py`). This module imports TensorFlow only in the
processes that need it: the local launcher only supervises.
"""

import dataclasses
import logging as std_logging
import os
import sys

from absl import app
from absl import flags
from absl import logging

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import suites

FLAGS = flags.FLAGS

flags.DEFINE_string('logdir', '/tmp/agent', 'TensorFlow log directory.')
flags.DEFINE_enum('mode', 'train', config_lib.MODES, 'Training or test mode.')
flags.DEFINE_integer('test_num_episodes', 10,
                     'Episodes per level in test mode (paper: 200 Atari, '
                     '500 DMLab-30).')
flags.DEFINE_enum('env', 'atari', config_lib.ENVS, 'Environment suite.')
flags.DEFINE_string('level_name', None,
                    'Atari game (e.g. Pong) or DMLab level; `atari57` / '
                    '`dmlab30` for the multi-task suites.')
flags.DEFINE_enum('preset', None, config_lib.PRESETS,
                  'Defaults for the hyperparameters not given as flags: '
                  '"paper" (Table G.1 / D.3) or "small" (Atari only: shallow '
                  'torso, batch 4, 8 envs per actor, RMSProp epsilon 1e-5, '
                  'so that a few CPU cores see Pong learn). Default: small '
                  'for Atari, paper for DMLab.')
flags.DEFINE_enum('job_name', '', config_lib.JOB_NAMES,
                  'Empty: run everything on this machine. learner|actor: '
                  'one process of a cluster.')
flags.DEFINE_integer('task', 0, 'Actor task id (picks its level and seed).')
flags.DEFINE_integer('num_actors', None,
                     'Actor processes (default: one per core, at least 2; '
                     '150 for dmlab30).')
flags.DEFINE_integer('envs_per_actor', None,
                     'Environments each actor steps with one batched '
                     'inference (default 4 Atari, 1 DMLab).')
flags.DEFINE_string('learner_address', '',
                    'host:port of the learner (cluster runs).')
flags.DEFINE_string('actor_address', '',
                    'host:port the learner can reach this actor at (cluster '
                    'runs across machines; default: a free localhost port).')
flags.DEFINE_integer('batch_size', None, 'Unrolls per learner batch.')
flags.DEFINE_integer('unroll_length', None, 'Unroll length (T).')
flags.DEFINE_integer('num_action_repeats', None, 'Frames per agent step.')
flags.DEFINE_integer('total_environment_frames', None,
                     'Frames to train for (LR decays to 0 over them).')
flags.DEFINE_integer('seed', 1, 'Random seed.')
flags.DEFINE_float('entropy_cost', None, 'Entropy cost/multiplier.')
flags.DEFINE_float('baseline_cost', None, 'Baseline cost/multiplier.')
flags.DEFINE_float('discounting', None, 'Discounting factor.')
flags.DEFINE_enum('reward_clipping', None, config_lib.REWARD_CLIPPING,
                  'Reward clipping in the loss.')
flags.DEFINE_enum('correction', 'vtrace', config_lib.CORRECTIONS,
                  'Off-policy correction (paper Table 2).')
flags.DEFINE_enum('torso', None, config_lib.TORSOS,
                  'Network: shallow (2 conv) or deep (ResNet, 15 conv).')
flags.DEFINE_boolean('use_lstm', None, 'LSTM core (default: DMLab yes, '
                     'Atari no, paper Appendix G).')
flags.DEFINE_boolean('use_instruction', None,
                     'Instruction encoder (DMLab language levels).')
flags.DEFINE_float('learning_rate', None, 'Initial learning rate.')
flags.DEFINE_float('decay', None, 'RMSProp decay.')
flags.DEFINE_float('momentum', None, 'RMSProp momentum.')
flags.DEFINE_float('epsilon', None, 'RMSProp epsilon.')
flags.DEFINE_float('grad_norm_clip', None,
                   'Global gradient-norm clip (0 = none; Atari: 40).')
flags.DEFINE_integer('width', 96, 'DMLab frame width.')
flags.DEFINE_integer('height', 72, 'DMLab frame height.')
flags.DEFINE_string('dataset_path', '',
                    'Path to the DMLab language-level dataset.')
flags.DEFINE_integer('queue_capacity', 0,
                     'Unroll queue capacity (0 = 2 * batch_size).')
flags.DEFINE_float('checkpoint_secs', 600.0, 'Seconds between checkpoints.')
flags.DEFINE_float('summary_secs', 30.0, 'Seconds between summaries.')
flags.DEFINE_float('progress_secs', 10.0,
                   'Seconds between progress log lines.')
flags.DEFINE_integer('max_actor_restarts', 20,
                     'Actor restarts (in total) before a local run stops.')
flags.DEFINE_float('actor_reconnect_secs', 60.0,
                   'How long an actor retries an unreachable learner.')
flags.DEFINE_enum('netns', 'auto', ['auto', 'off'],
                  'Isolate a local run in a private network namespace.')
flags.DEFINE_enum('learner_device', 'auto', ['auto', 'cpu', 'gpu'],
                  'Where the train step runs (auto: GPU when visible).')
flags.DEFINE_enum('vtrace_device', 'cpu', ['cpu', 'learner'],
                  'Where V-trace runs (the paper: CPU).')


def config_from_flags() -> config_lib.Config:
  values = {f.name: FLAGS[f.name].value
            for f in dataclasses.fields(config_lib.Config)}
  if values['mode'] == 'test':
    # Test the network that was trained: settings that shape the network
    # come from the run's config.json unless given on the command line.
    saved = config_lib.load_saved(values['logdir'])
    for name in config_lib.IDENTITY_FIELDS + ('env',):
      if saved and name in saved and not FLAGS[name].present:
        values[name] = saved[name]
  return config_lib.Config(**values).resolve().validate()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  # TensorFlow's own INFO lines (e.g. the session config dumped on every
  # cluster connect) drown the progress log.
  std_logging.getLogger('tensorflow').setLevel(std_logging.WARNING)
  # Some TF modules log INFO through absl directly (e.g. the session config
  # on every cluster connect, checkpoint sharding timings).
  std_logging.getLogger('absl').addFilter(
      lambda record: record.levelno >= std_logging.WARNING or
      f'{os.sep}tensorflow{os.sep}' not in record.pathname)
  try:
    config = config_from_flags()
    suites.check_levels(config)
  except config_lib.ConfigError as e:
    sys.exit(f'Invalid flags: {e}')
  if config.mode == 'test':
    from scalable_agent_tf2 import evaluation  # pylint: disable=g-import-not-at-top
    sys.exit(evaluation.run(config))
  if config.job_name == 'learner':
    from scalable_agent_tf2.runtime import learner_process  # pylint: disable=g-import-not-at-top
    sys.exit(learner_process.run(config))
  if config.job_name == 'actor':
    from scalable_agent_tf2.runtime import actor  # pylint: disable=g-import-not-at-top
    sys.exit(actor.run(config))
  from scalable_agent_tf2.runtime import launcher  # pylint: disable=g-import-not-at-top
  logging.info('Local run: %s on %s, %d actors x %d envs, logdir %s.',
               config.env, config.level_name, config.num_actors,
               config.envs_per_actor, config.logdir)
  logging.info(
      'Preset %s: torso %s, batch %d x unroll %d, lr %g, RMSProp epsilon %g, '
      'entropy cost %g, %d frames.%s', config.preset, config.torso,
      config.batch_size, config.unroll_length, config.learning_rate,
      config.epsilon, config.entropy_cost, config.total_environment_frames,
      ' (The small-machine preset; --preset=paper for Table G.1.)'
      if config.preset == 'small' else '')
  sys.exit(launcher.run(config))


if __name__ == '__main__':
  app.run(main)
