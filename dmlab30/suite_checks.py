"""Checks the DMLab-30 driver makes before any process starts.

DeepMind Lab must be importable (and not the project's test double, unless
the tests opt in); a training run must cover all 30 levels (docs/impala.md
§5); an evaluation needs a DMLab-30 training run in its logdir.
"""

import os
from typing import Dict, List

from dmlab30 import environment as dmlab_environment
from dmlab30.levels import LEVEL_MAPPING
from dmlab30.suite_flags import SuiteError
from scalable_agent_tf2 import run_dir

# Setting this to '1' lets the driver run on the project's test double of
# DeepMind Lab (results are then NOT DeepMind Lab results). Tests only.
ALLOW_TEST_DOUBLE_ENV = 'SCALABLE_AGENT_TF2_ALLOW_DMLAB_TEST_DOUBLE'

NUM_LEVELS = len(LEVEL_MAPPING)

# Local runs with more actor processes than this many per core are warned
# about (the README's 150 actors were spread over many machines).
_ACTORS_PER_CORE_WARNING = 4


class DeepMindLabUnavailable(RuntimeError):
  """DeepMind Lab cannot be used here; the message says how to install it."""


def test_double_allowed(environ=None) -> bool:
  """True if the environment opts in to the test double (tests only)."""
  environ = os.environ if environ is None else environ
  return environ.get(ALLOW_TEST_DOUBLE_ENV, '') == '1'


def check_deepmind_lab(environ=None) -> bool:
  """Checks that `deepmind_lab` is importable and usable by this driver.

  The child processes (actors, test workers) import the same module: they
  inherit this process's environment and working directory.

  Args:
    environ: mapping to read ALLOW_TEST_DOUBLE_ENV from (default os.environ).

  Returns:
    True if the importable module is the project's test double (allowed by
    ALLOW_TEST_DOUBLE_ENV), False for the real DeepMind Lab.

  Raises:
    DeepMindLabUnavailable: the module is missing, or it is the test double
      without the opt-in. The message says how to build DeepMind Lab.
  """
  try:
    module = dmlab_environment.import_deepmind_lab()
  except ImportError as e:
    # Already the build instructions (dmlab30.environment); a broken build
    # (e.g. a missing shared library) shows its own error underneath.
    cause = e.__cause__
    detail = ('' if cause is None or isinstance(cause, ModuleNotFoundError)
              else f' (import error: {cause})')
    raise DeepMindLabUnavailable(f'{e}{detail}') from None
  if not getattr(module, '__test_double__', False):
    return False
  if test_double_allowed(environ):
    return True
  location = getattr(module, '__file__', None) or repr(module)
  raise DeepMindLabUnavailable(
      f'The importable `deepmind_lab` ({location}) is the project\'s TEST '
      'DOUBLE of DeepMind Lab, not DeepMind Lab: a run on it produces no '
      'DeepMind Lab results. Remove tests/fakes from PYTHONPATH. About the '
      'real module: ' +
      dmlab_environment._NOT_INSTALLED_MESSAGE +  # pylint: disable=protected-access
      f' (The project\'s own tests opt in with {ALLOW_TEST_DOUBLE_ENV}=1.)')


def level_coverage(num_actors: int, envs_per_actor: int) -> Dict[str, int]:
  """Train level -> number of environments playing it (docs/impala.md §5).

  Environment g = task * envs_per_actor + k plays level g % 30, as
  `suites.level_for_env` assigns them.
  """
  levels = list(LEVEL_MAPPING.keys())
  counts = {level: 0 for level in levels}
  for g in range(num_actors * envs_per_actor):
    counts[levels[g % len(levels)]] += 1
  return counts


def _coverage_warnings(config) -> List[str]:
  warnings = []
  total = config.num_actors * config.envs_per_actor
  if total % NUM_LEVELS:
    warnings.append(
        f'{total} environments over {NUM_LEVELS} levels: the first '
        f'{total % NUM_LEVELS} levels get one environment more than the '
        'others (use a multiple of 30 for an even split).')
  cores = os.cpu_count() or 1
  if (not config.job_name and
      config.num_actors > _ACTORS_PER_CORE_WARNING * cores):
    warnings.append(
        f'{config.num_actors} actor processes on this machine with {cores} '
        'cores (the README\'s 150 actors ran on many machines). On one '
        'machine prefer fewer processes with several environments each, '
        'e.g. --extra="--num_actors=6 --envs_per_actor=5".')
  return warnings


def check_train_config(config) -> List[str]:
  """Rejects a run that cannot train the whole suite; returns warnings.

  Raises:
    SuiteError: fewer environments than levels (some levels would never be
      played and the DMLab-30 training score would never be computed), or a
      --dataset_path that is not a directory.
  """
  total = config.num_actors * config.envs_per_actor
  if total < NUM_LEVELS:
    raise SuiteError(
        f'--num_actors={config.num_actors} x --envs_per_actor='
        f'{config.envs_per_actor} gives {total} environments, but DMLab-30 '
        f'has {NUM_LEVELS} levels (environment g plays level g % '
        f'{NUM_LEVELS}): {NUM_LEVELS - total} levels would never be '
        'trained. Use at least 30 environments, e.g. '
        '--num_actors=6 --envs_per_actor=5.')
  warnings = _coverage_warnings(config)
  if not config.dataset_path and config.job_name != 'learner':
    warnings.append(
        '--dataset_path is empty: DeepMind Lab\'s psychlab_* levels that show '
        'object photographs read the Brady et al. (2008) image set; unless '
        'its path was set when DeepMind Lab was built, pass '
        '--extra="--dataset_path=DIR" (see the README section "DeepMind '
        'Lab").')
  if config.dataset_path and not os.path.isdir(config.dataset_path):
    raise SuiteError(f'--dataset_path={config.dataset_path!r} is not a '
                     'directory on this machine.')
  return warnings


def check_eval_logdir(logdir: str) -> Dict[str, object]:
  """The training run's config.json, checked to be a DMLab-30 run.

  Raises:
    SuiteError: no training run in `logdir`, or one that is not DMLab-30.
  """
  path = run_dir.config_path(logdir)
  if not os.path.isfile(path):
    raise SuiteError(
        f'No training run in {logdir!r} ({path} is missing). Train first '
        '(make train-dmlab30) or point --logdir (make: DMLAB_LOGDIR) at a '
        'DMLab-30 training run.')
  try:
    saved = run_dir.read_json(path)
  except (OSError, ValueError) as e:
    raise SuiteError(f'Cannot read {path}: {e}') from None
  if saved.get('env') != 'dmlab' or saved.get('level_name') != 'dmlab30':
    raise SuiteError(
        f'{logdir!r} holds a run of --env={saved.get("env")} '
        f'--level_name={saved.get("level_name")}, not the DMLab-30 '
        'multi-task run (--env=dmlab --level_name=dmlab30) this suite '
        'evaluates.')
  return saved
