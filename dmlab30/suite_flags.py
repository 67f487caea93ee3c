"""The DMLab-30 driver's experiment flags: --extra, and the resolved Config.

--extra is checked by `scalable_agent_tf2.config.parse_extra` (the one parser
of experiment flags); on top of it this driver keeps accepting absl's
`--name value` form for a non-boolean flag, as its users type it.
"""

import dataclasses
import os
import shlex
from typing import Dict, List, Optional, Sequence

from scalable_agent_tf2 import config as config_lib

# Flags the driver sets itself; --extra may not change them.
_DRIVER_FLAGS = {
    'train': ('env', 'level_name', 'logdir', 'mode'),
    'eval': ('env', 'level_name', 'logdir', 'mode', 'test_num_episodes'),
}


class SuiteError(ValueError):
  """Bad driver input; the message names the problem and the fix."""


def _reserved(command: str) -> Dict[str, str]:
  """Flag name -> what to use instead, for the flags `command` sets."""
  hints = {'logdir': f'use `{command} --logdir=...` (make: DMLAB_LOGDIR)',
           'test_num_episodes': 'use `eval --episodes=N` (make: '
                                'DMLAB_EPISODES)'}
  return {name: hints.get(name, f'the {command} command sets it')
          for name in _DRIVER_FLAGS[command]}


def _is_field(name: str) -> bool:
  try:
    config_lib.field_type(name)
  except config_lib.ConfigError:
    return False
  return True


def _takes_value(token: str) -> bool:
  """`--name` (no '=') of a non-boolean flag: absl reads the next token."""
  name, has_value, _ = token.lstrip('-').partition('=')
  return (token.startswith('-') and not has_value and _is_field(name) and
          config_lib.field_type(name) is not bool)


def _joined(tokens: Sequence[str]) -> List[str]:
  """`--name value` pairs written as `--name=value` (for the check only)."""
  joined, pending = [], None
  for token in tokens:
    if pending is not None:
      joined.append(f'{pending}={token}')
      pending = None
    elif _takes_value(token):
      pending = token
    else:
      joined.append(token)
  return joined + ([pending] if pending is not None else [])


def split_extra(extra: str, command: str) -> List[str]:
  """Splits --extra into experiment flags, rejecting the driver's own flags.

  Args:
    extra: shell-quoted flags, e.g. '--num_actors=6 --envs_per_actor 5'.
    command: 'train' or 'eval'.

  Returns:
    list of str tokens for the experiment's command line, as given.

  Raises:
    SuiteError: bad quoting, a token that is not a flag, an unknown flag, or
      a flag the driver sets.
  """
  try:
    tokens = shlex.split(extra or '')
  except ValueError as e:
    raise SuiteError(f'--extra={extra!r} is not valid shell quoting: {e}.'
                     ) from None
  try:
    config_lib.parse_extra(shlex.join(_joined(tokens)),
                           reserved=_reserved(command))
  except config_lib.ConfigError as e:
    raise SuiteError(str(e)) from None
  return tokens


def as_flag_string(tokens: Sequence[str]) -> str:
  """--extra tokens as one `--name=value ...` string (config.parse_extra)."""
  return shlex.join(_joined(tokens))


def experiment_flags(command: str, logdir: str, extra: Sequence[str],
                     episodes: Optional[int] = None) -> List[str]:
  """The experiment's flags for `command` (the driver's flags first)."""
  flags = ['--env=dmlab', '--level_name=dmlab30', f'--logdir={logdir}']
  if command == 'eval':
    flags += ['--mode=test', f'--test_num_episodes={episodes}']
    if config_lib.extra_flag_value(extra, 'num_actors') is None:
      # The DMLab-30 default of 150 actors would start 150 TensorFlow test
      # workers; one per core keeps every core busy and no more.
      flags.append(f'--num_actors={max(1, os.cpu_count() or 1)}')
  else:
    flags.append('--mode=train')
  return flags + list(extra)


def given_flag_names(flags: Sequence[str]) -> List[str]:
  """Names of the flags that appear in `flags` (booleans: without 'no')."""
  names = []
  for token in flags:
    if not token.startswith('-'):
      continue
    name = token.lstrip('-').partition('=')[0]
    if not _is_field(name) and name.startswith('no'):
      name = name[2:]
    names.append(name)
  return names


def resolve_config(flags: Sequence[str]):
  """The Config the experiment will run with, resolved and validated here.

  Parses `flags` exactly as `scalable_agent_tf2.experiment` does (same absl
  flag definitions, same `config_from_flags`), so a bad flag fails before
  any process starts. Note: this parses the process-global absl FLAGS.

  Raises:
    SuiteError: unknown flag, bad value or invalid combination.
  """
  from absl import flags as absl_flags  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import experiment  # pylint: disable=g-import-not-at-top
  experiment.FLAGS.unparse_flags()
  try:
    experiment.FLAGS([config_lib.EXPERIMENT_MODULE] + list(flags))
    return experiment.config_from_flags()
  except absl_flags.Error as e:
    raise SuiteError(f'Invalid experiment flag: {e}') from None
  except config_lib.ConfigError as e:
    raise SuiteError(f'Invalid flags: {e}') from None


def format_config(config, given: Sequence[str]) -> str:
  """The effective configuration, one field per line; `*` = set by a flag."""
  given = set(given)
  fields = dataclasses.fields(config)
  width = max(len(f.name) for f in fields)
  return '\n'.join(
      f'  {f.name:<{width}}  {getattr(config, f.name)!r}'
      f'{" *" if f.name in given else ""}' for f in fields)
