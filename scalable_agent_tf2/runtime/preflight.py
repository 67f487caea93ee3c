"""Checks of a run directory before anything is started or written (TF-free).

Both the local launcher (before it starts a process) and the learner (before
it writes anything) call `check_run_dir`, so a bad --logdir is refused with
one line naming the file, not deep inside a traceback (docs/faults.md):

  * --logdir that exists but is not a directory;
  * a config.json that is not valid JSON (truncated), not an object, or
    lacks any of the settings a resume is checked against (an empty `{}`
    would otherwise count as compatible with anything);
  * a config.json of a different configuration (config.IDENTITY_FIELDS).

The learner writes config.json only after its checkpoint restore succeeded
(runtime/learner_process.py), so a refused or failed resume never leaves a
config.json that contradicts the checkpoints.
"""

import os

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import config_checks
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.runtime import ports


def check_logdir_is_directory(logdir: str) -> None:
  if os.path.exists(logdir) and not os.path.isdir(logdir):
    raise config_lib.ConfigError(
        f'--logdir={logdir} exists and is not a directory; a run directory '
        'holds checkpoints, logs and config.json. Use a new --logdir.')


def read_saved_config(logdir: str) -> dict:
  """config.json of `logdir`, complete; {} when there is none.

  Raises:
    ConfigError: it is not valid JSON, not an object, or lacks settings.
  """
  path = run_dir.config_path(logdir)
  if not os.path.exists(path):
    return {}
  try:
    saved = run_dir.read_json(path)
  except (OSError, ValueError) as e:
    raise config_lib.ConfigError(
        f'Cannot read {path} ({e}); it records the configuration of the '
        'checkpoints in this logdir. Restore it (e.g. from a copy of the '
        'run) or use a new --logdir.') from None
  missing = [k for k in config_checks.IDENTITY_FIELDS if k not in saved]
  if missing:
    raise config_lib.ConfigError(
        f'{path} lacks the settings {missing} (it holds '
        f'{len(saved)} key(s)): this run cannot be checked against the '
        'checkpoints in this logdir. Restore the file or use a new --logdir.')
  return saved


def check_run_dir(config: config_lib.Config) -> None:
  """Refuses a --logdir this configuration must not run in.

  Raises:
    ConfigError: one line, naming the file and what is wrong.
  """
  check_logdir_is_directory(config.logdir)
  saved = read_saved_config(config.logdir)
  if saved:
    config_checks.check_resume_compatible(saved, config)


def prepare_learner(config: config_lib.Config) -> None:
  """The learner's checks before it writes anything; creates the logdir.

  Raises:
    ConfigError: see check_run_dir.
    ports.PortInUseError: --learner_address's port is taken.
  """
  check_run_dir(config)
  os.makedirs(config.logdir, exist_ok=True)
  ports.check_listen_port_free(config.learner_address)
