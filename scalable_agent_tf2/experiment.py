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

Every flag is a `Config` field (scalable_agent_tf2/config.py), defined here
from the field's type, default and help. Flags left unset take the value of
--preset from the suite of --env: `paper` is the paper's table
(docs/impala.md §4); `small`, the Atari default, changes four values so
that a few CPU cores see Pong learn (atari57/plugin.py). --help lists each
flag's default per suite and preset. This module imports TensorFlow only in
the processes that need it: the local launcher only supervises.
"""

import dataclasses
import logging as std_logging
import os
import sys

from absl import app
from absl import flags
from absl import logging

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import config_checks
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2 import suites
from scalable_agent_tf2.runtime import tf_config

FLAGS = flags.FLAGS


def preset_default_help(name: str) -> str:
  """What the suites' presets give field `name`, for its help text.

  E.g. ' Default (--env/--preset): atari small 4, paper 32; dmlab 32.' A
  suite's multi-task level is named when it sets a different value.
  Empty when no suite sets the field.
  """
  parts = []
  for env in suites.names():
    suite = suites.get(env)
    if name == 'preset':
      parts.append(f'{env} {suite.default_preset}')
      continue
    by_preset = {p: suite.defaults(None, p).get(name) for p in suite.presets}
    multi = suite.defaults(suite.multi_task_level,
                           suite.default_preset).get(name)
    values = set(map(repr, by_preset.values()))
    texts = []
    if len(values) == 1 and values != {'None'}:
      texts.append(f'{env} {_show(next(iter(by_preset.values())))}')
    elif len(values) > 1:
      texts.append(f'{env} ' + ', '.join(f'{p} {_show(v)}'
                                         for p, v in by_preset.items()))
    if (name != 'level_name' and multi is not None and
        multi != by_preset[suite.default_preset]):
      texts.append(f'{suite.multi_task_level} {_show(multi)}')
    parts += texts
  label = '--env' if name == 'preset' else '--env/--preset'
  return f' Default ({label}): {"; ".join(parts)}.' if parts else ''


def _show(value) -> str:
  """A value as help text; 200000000 as 2e8 (exact round numbers only)."""
  if isinstance(value, int) and not isinstance(value, bool) and value >= 1e6:
    short = f'{value:.0e}'.replace('e+0', 'e').replace('e+', 'e')
    if float(short) == value:
      return short
  return str(value)


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
  """Defines one absl flag per Config field: its type, default and help."""
  for field in dataclasses.fields(config_lib.Config):
    help_text = field.metadata['help']
    if field.default is None:
      help_text += preset_default_help(field.name)
    choices = config_lib.field_choices(field)
    kind = config_lib.field_type(field.name)
    if choices is not None:
      flags.DEFINE_enum(field.name, field.default, choices, help_text,
                        flag_values=flag_values)
    else:
      define = {str: flags.DEFINE_string, int: flags.DEFINE_integer,
                float: flags.DEFINE_float, bool: flags.DEFINE_boolean}[kind]
      define(field.name, field.default, help_text, flag_values=flag_values)


define_flags()


def config_from_flags(flag_values: flags.FlagValues = FLAGS,
                      environ=os.environ) -> config_lib.Config:
  """The resolved, validated Config of parsed `flag_values`.

  Raises:
    config_lib.ConfigError: bad flags or a bad TF_CONFIG in `environ`.
  """
  given = lambda name: flag_values[name].present
  values = {f.name: flag_values[f.name].value
            for f in dataclasses.fields(config_lib.Config)}
  if environ.get(tf_config.ENV_VAR):
    # The role from TF_CONFIG (runtime/tf_config.py); given flags win.
    for name, value in tf_config.flag_values(
        environ[tf_config.ENV_VAR]).items():
      if not given(name):
        values[name] = value
  if values['mode'] == 'test':
    # Test the network that was trained: settings that shape the network
    # come from the run's config.json unless given on the command line.
    saved = run_dir.read_config(values['logdir'])
    for name in config_checks.IDENTITY_FIELDS:
      if name in saved and not given(name):
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
  except config_lib.ConfigError as e:
    sys.exit(f'Invalid flags: {e}')
  if config.mode == 'test':
    from scalable_agent_tf2 import evaluation  # pylint: disable=g-import-not-at-top
    sys.exit(evaluation.run(config))
  if config.job_name == 'learner':
    from scalable_agent_tf2.runtime import learner_process  # pylint: disable=g-import-not-at-top
    sys.exit(learner_process.run(config))
  if config.job_name == 'actor':
    from scalable_agent_tf2.runtime import acting  # pylint: disable=g-import-not-at-top
    sys.exit(acting.run(config))
  from scalable_agent_tf2.runtime import launcher  # pylint: disable=g-import-not-at-top
  logging.info('Local run: %s on %s, %d actors x %d envs, logdir %s.',
               config.env, config.level_name, config.num_actors,
               config.envs_per_actor, config.logdir)
  logging.info(
      'Preset %s: torso %s%s, batch %d x unroll %d, lr %g, RMSProp epsilon '
      '%g, entropy cost %g, %d frames.%s', config.preset, config.torso,
      _torso_origin(config), config.batch_size, config.unroll_length, config.learning_rate,
      config.epsilon, config.entropy_cost, config.total_environment_frames,
      ' (The small-machine preset; --preset=paper for Table G.1.)'
      if config.preset == 'small' else '')
  sys.exit(launcher.run(config))


def _torso_origin(config) -> str:
  """' (--torso; the preset's is X)' when a flag overrode the preset."""
  preset_torso = suites.get(config.env).defaults(
      config.level_name, config.preset).get('torso')
  if preset_torso in (None, config.torso):
    return ''
  return f' (--torso; preset {config.preset} has {preset_torso})'


def console_main() -> None:
  """`impala-train` (pyproject.toml): the entry point, flags as for -m."""
  app.run(main)


def console_test_main() -> None:
  """`impala-test`: the entry point with --mode=test (a later --mode wins)."""
  sys.argv[1:1] = ['--mode=test']
  app.run(main)


if __name__ == '__main__':
  app.run(main)
