r"""DMLab-30 suite driver: train the multi-task agent, then test it (Table 3).

  python -m dmlab30.suite train --logdir=DIR [--extra="--num_actors=6 ..."]
  python -m dmlab30.suite eval  --logdir=DIR [--episodes=500] [--extra=...]

(`make train-dmlab30` / `make eval-dmlab30` call exactly these.)

train  runs the released README's DMLab-30 experiment (docs/impala.md §4, paper
       §5.3): `python -m scalable_agent_tf2.experiment --env=dmlab
       --level_name=dmlab30 --logdir=DIR`, whose Config fills in the run's
       hyperparameters (150 actors, batch 32, unroll 100, entropy cost
       0.0033391318945337044, learning rate 0.00031866995608948655,
       soft-asymmetric reward clipping, 1e10 frames). Every experiment flag can
       be overridden through --extra. Actors are assigned the 30 train levels
       round robin: environment g (actor i's k-th environment is
       g = i * envs_per_actor + k) plays level g % 30.
eval   runs `--mode=test` on the 30 TEST levels (the two `*_train` levels are
       replaced by their held-out `*_test` variants, paper §5.3.1) with
       --episodes episodes per level (paper: 500), then writes the suite table
       next to the paper's Table 3 and Table B.1: <logdir>/table3.md,
       <logdir>/table3.csv and <logdir>/table3_levels.csv.

Both print the effective configuration first. Both need DeepMind Lab (the
`deepmind_lab` module, built from source with Bazel) and stop at once, before
any process starts, when it is missing. The project's test double of DeepMind
Lab (tests/fakes/deepmind_lab) is refused too, unless the environment variable
SCALABLE_AGENT_TF2_ALLOW_DMLAB_TEST_DOUBLE=1 is set (only the tests set it).
A cluster learner (`--extra="--job_name=learner ..."`) creates no environment
and is allowed without DeepMind Lab.
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from dmlab30 import environment as dmlab_environment
from dmlab30.levels import LEVEL_MAPPING

# Setting this to '1' lets the driver run on the project's test double of
# DeepMind Lab (results are then NOT DeepMind Lab results). Tests only.
ALLOW_TEST_DOUBLE_ENV = 'SCALABLE_AGENT_TF2_ALLOW_DMLAB_TEST_DOUBLE'

# Exit codes of the driver itself (otherwise it exits with the experiment's).
EXIT_USAGE = 2
EXIT_NO_DEEPMIND_LAB = 3

# The paper's test protocol: 500 episodes per level (§5.3.1).
PAPER_TEST_EPISODES = 500

EXPERIMENT_MODULE = 'scalable_agent_tf2.experiment'

# Flags the driver sets itself; --extra may not change them.
_DRIVER_FLAGS = {
    'train': ('env', 'level_name', 'logdir', 'mode'),
    'eval': ('env', 'level_name', 'logdir', 'mode', 'test_num_episodes'),
}

_NUM_LEVELS = len(LEVEL_MAPPING)

# Local runs with more actor processes than this many per core are warned
# about (the README's 150 actors were spread over many machines).
_ACTORS_PER_CORE_WARNING = 4


class SuiteError(ValueError):
  """Bad driver input; the message names the problem and the fix."""


class DeepMindLabUnavailable(RuntimeError):
  """DeepMind Lab cannot be used here; the message says how to install it."""


# --- DeepMind Lab -------------------------------------------------------------


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


# --- Command lines ------------------------------------------------------------


def split_extra(extra: str, command: str) -> List[str]:
  """Splits --extra into experiment flags, rejecting the driver's own flags.

  Args:
    extra: shell-quoted flags, e.g. '--num_actors=6 --envs_per_actor=5'.
    command: 'train' or 'eval'.

  Returns:
    list of str tokens for the experiment's command line.

  Raises:
    SuiteError: a token that is not a flag, or a flag the driver sets.
  """
  try:
    tokens = shlex.split(extra or '')
  except ValueError as e:
    raise SuiteError(f'--extra={extra!r} is not valid shell quoting: {e}.'
                     ) from None
  owned = _DRIVER_FLAGS[command]
  expects_value = False
  for token in tokens:
    if expects_value:  # The value of a preceding `--flag value`.
      expects_value = False
      continue
    if not token.startswith('-'):
      raise SuiteError(
          f'--extra: {token!r} is not a flag; pass experiment flags such as '
          '"--num_actors=6 --envs_per_actor=5".')
    name, has_value, _ = token.lstrip('-').partition('=')
    if name in owned:
      hint = {'logdir': f'use `{command} --logdir=...` (make: DMLAB_LOGDIR)',
              'test_num_episodes': 'use `eval --episodes=N` (make: '
                                   'DMLAB_EPISODES)'}.get(
                                       name, f'the {command} command sets it')
      raise SuiteError(f'--extra may not set --{name}: {hint}.')
    # `--flag value` form: absl takes the next token as the value of a
    # non-boolean flag; skip it so it is not mistaken for a stray argument.
    expects_value = not has_value and _is_non_boolean_flag(name)
  return tokens


def _is_non_boolean_flag(name: str) -> bool:
  from scalable_agent_tf2 import experiment  # pylint: disable=g-import-not-at-top
  try:
    flag = experiment.FLAGS[name]
  except KeyError:
    return False  # Unknown flags are reported by the flag parser.
  return not flag.boolean


def experiment_flags(command: str, logdir: str, extra: Sequence[str],
                     episodes: Optional[int] = None) -> List[str]:
  """The experiment's flags for `command` (the driver's flags first)."""
  flags = ['--env=dmlab', '--level_name=dmlab30', f'--logdir={logdir}']
  if command == 'eval':
    flags += ['--mode=test', f'--test_num_episodes={episodes}']
    if not _has_flag(extra, 'num_actors'):
      # The DMLab-30 default of 150 actors would start 150 TensorFlow test
      # workers; one per core keeps every core busy and no more.
      flags.append(f'--num_actors={max(1, os.cpu_count() or 1)}')
  else:
    flags.append('--mode=train')
  return flags + list(extra)


def _has_flag(tokens: Sequence[str], name: str) -> bool:
  return any(t.lstrip('-').partition('=')[0] == name for t in tokens
             if t.startswith('-'))


def given_flag_names(flags: Sequence[str]) -> List[str]:
  """Names of the flags that appear in `flags` (booleans: without 'no')."""
  from scalable_agent_tf2 import experiment  # pylint: disable=g-import-not-at-top
  names = []
  for token in flags:
    if not token.startswith('-'):
      continue
    name = token.lstrip('-').partition('=')[0]
    if name not in experiment.FLAGS and name.startswith('no'):
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
  from scalable_agent_tf2 import config as config_lib  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import experiment  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import suites  # pylint: disable=g-import-not-at-top
  experiment.FLAGS.unparse_flags()
  try:
    experiment.FLAGS([EXPERIMENT_MODULE] + list(flags))
    config = experiment.config_from_flags()
    suites.check_levels(config)
  except absl_flags.Error as e:
    raise SuiteError(f'Invalid experiment flag: {e}') from None
  except config_lib.ConfigError as e:
    raise SuiteError(f'Invalid flags: {e}') from None
  return config


# --- Checks of the configuration ----------------------------------------------


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


def check_train_config(config) -> List[str]:
  """Rejects a run that cannot train the whole suite; returns warnings.

  Raises:
    SuiteError: fewer environments than levels (some levels would never be
      played and the DMLab-30 training score would never be computed).
  """
  warnings = []
  total = config.num_actors * config.envs_per_actor
  if total < _NUM_LEVELS:
    raise SuiteError(
        f'--num_actors={config.num_actors} x --envs_per_actor='
        f'{config.envs_per_actor} gives {total} environments, but DMLab-30 '
        f'has {_NUM_LEVELS} levels (environment g plays level g % '
        f'{_NUM_LEVELS}): {_NUM_LEVELS - total} levels would never be '
        'trained. Use at least 30 environments, e.g. '
        '--num_actors=6 --envs_per_actor=5.')
  if total % _NUM_LEVELS:
    warnings.append(
        f'{total} environments over {_NUM_LEVELS} levels: the first '
        f'{total % _NUM_LEVELS} levels get one environment more than the '
        'others (use a multiple of 30 for an even split).')
  cores = os.cpu_count() or 1
  if (not config.job_name and
      config.num_actors > _ACTORS_PER_CORE_WARNING * cores):
    warnings.append(
        f'{config.num_actors} actor processes on this machine with {cores} '
        'cores (the README\'s 150 actors ran on many machines). On one '
        'machine prefer fewer processes with several environments each, '
        'e.g. --extra="--num_actors=6 --envs_per_actor=5".')
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
  path = os.path.join(logdir, 'config.json')
  if not os.path.isfile(path):
    raise SuiteError(
        f'No training run in {logdir!r} ({path} is missing). Train first '
        '(make train-dmlab30) or point --logdir (make: DMLAB_LOGDIR) at a '
        'DMLab-30 training run.')
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, ValueError) as e:
    raise SuiteError(f'Cannot read {path}: {e}') from None
  if saved.get('env') != 'dmlab' or saved.get('level_name') != 'dmlab30':
    raise SuiteError(
        f'{logdir!r} holds a run of --env={saved.get("env")} '
        f'--level_name={saved.get("level_name")}, not the DMLab-30 '
        'multi-task run (--env=dmlab --level_name=dmlab30) this suite '
        'evaluates.')
  return saved


def format_config(config, given: Sequence[str]) -> str:
  """The effective configuration, one field per line; `*` = set by a flag."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  given = set(given)
  fields = dataclasses.fields(config)
  width = max(len(f.name) for f in fields)
  lines = []
  for f in fields:
    mark = ' *' if f.name in given else ''
    lines.append(f'  {f.name:<{width}}  {getattr(config, f.name)!r}{mark}')
  return '\n'.join(lines)


# --- Running the experiment ---------------------------------------------------


def run_child(argv: List[str]) -> int:
  """Runs `argv`, forwarding SIGINT/SIGTERM; returns a shell exit status.

  The experiment stops cleanly on either signal (the learner writes a final
  checkpoint). A Ctrl-C in a terminal reaches it directly as well (same
  process group); the launcher treats the repeated signal as one stop.
  """
  child = subprocess.Popen(argv)

  def forward(signum, unused_frame):
    if child.poll() is None:
      child.send_signal(signum)

  previous = {s: signal.signal(s, forward)
              for s in (signal.SIGINT, signal.SIGTERM)}
  try:
    code = child.wait()
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
  return code if code >= 0 else 128 - code


def _say(text: str = '') -> None:
  print(text, flush=True)


def _warn(text: str) -> None:
  print(f'WARNING: {text}', file=sys.stderr, flush=True)


def write_tables(logdir: str, name: str, test_double: bool) -> Tuple[str, str]:
  """Writes <logdir>/table3.md and its CSVs; returns (markdown, md path)."""
  from scalable_agent_tf2.paper import tables  # pylint: disable=g-import-not-at-top
  result = tables.table3([(name, logdir)])
  if test_double:
    for table in result:
      table.notes.insert(0, 'Produced with the TEST DOUBLE of DeepMind Lab '
                         '(tests/fakes/deepmind_lab): these are NOT DeepMind '
                         'Lab results.')
  markdown = tables.render_markdown(result)
  path = os.path.join(logdir, 'table3.md')
  with open(path, 'w', encoding='utf-8') as f:
    f.write(markdown)
  for table in result:
    with open(os.path.join(logdir, table.name + '.csv'), 'w',
              encoding='utf-8', newline='') as f:
      f.write(tables.render_csv(table))
  return markdown, path


def _prepare(args) -> Tuple[List[str], object, bool]:
  """Flags, resolved config and test-double status; raises on bad input."""
  extra = split_extra(args.extra, args.command)
  if args.command == 'eval' and args.episodes < 1:
    raise SuiteError(f'--episodes must be >= 1, got {args.episodes}.')
  flags = experiment_flags(args.command, args.logdir, extra,
                           getattr(args, 'episodes', None))
  config = resolve_config(flags)
  # A cluster learner runs no environment: it needs no DeepMind Lab.
  needs_lab = not (args.command == 'train' and config.job_name == 'learner')
  test_double = check_deepmind_lab() if needs_lab else False
  if args.command == 'eval':
    check_eval_logdir(args.logdir)
  return flags, config, test_double


def train(args) -> int:
  flags, config, test_double = _prepare(args)
  warnings = check_train_config(config)
  coverage = level_coverage(config.num_actors, config.envs_per_actor)
  _say('DMLab-30 training: effective configuration (the released README\'s '
       'run unless overridden; * = set by a flag):')
  _say(format_config(config, given_flag_names(flags)))
  _say(f'Levels: {_NUM_LEVELS} train levels over {config.num_actors} actors '
       f'x {config.envs_per_actor} environments; environments per level: '
       f'{min(coverage.values())}-{max(coverage.values())}.')
  if config.job_name == 'learner':
    _say('Cluster learner: no environments here (DeepMind Lab not needed).')
  for text in warnings:
    _warn(text)
  code = _run_experiment(flags, test_double, args.dry_run)
  if args.dry_run:
    return 0
  if code == 0 and not config.job_name:
    _say(f'Training finished. Test it on the 30 test levels with: make '
         f'eval-dmlab30 DMLAB_LOGDIR={shlex.quote(args.logdir)}')
  return code


def _run_experiment(flags, test_double: bool, dry_run: bool):
  """Prints the command and runs it (unless dry_run). Returns its exit code."""
  if test_double:
    _warn('Running on the TEST DOUBLE of DeepMind Lab '
          f'({ALLOW_TEST_DOUBLE_ENV}=1): NOT DeepMind Lab results.')
  argv = [sys.executable, '-m', EXPERIMENT_MODULE] + flags
  _say('Command: ' + ' '.join(shlex.quote(a) for a in argv))
  return None if dry_run else run_child(argv)


def evaluate(args) -> int:
  flags, config, test_double = _prepare(args)
  _say('DMLab-30 test: effective configuration (network settings from the '
       'run\'s config.json; * = set by a flag):')
  _say(format_config(config, given_flag_names(flags)))
  _say(f'Test levels: {_NUM_LEVELS} (held-out *_test variants of the two '
       f'*_train levels), {args.episodes} episode(s) each.')
  if args.episodes < PAPER_TEST_EPISODES:
    _warn(f'--episodes={args.episodes} is fewer than the paper\'s '
          f'{PAPER_TEST_EPISODES} per level (§5.3.1).')
  code = _run_experiment(flags, test_double, args.dry_run)
  if args.dry_run:
    return 0
  if code != 0:
    _warn(f'The test run failed (exit status {code}); no table written.')
    return code
  markdown, path = write_tables(args.logdir, args.name, test_double)
  _say()
  _say(markdown)
  _say(f'Wrote {path} and the CSVs beside it.')
  return 0


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m dmlab30.suite',
      description='Train IMPALA on DMLab-30 (the released README run) and '
      'test it on the 30 test levels next to the paper\'s Table 3.')
  sub = parser.add_subparsers(dest='command', required=True)
  for command, text in (('train', 'Multi-task training on the 30 levels.'),
                        ('eval', 'Test the latest checkpoint; write Table '
                         '3.')):
    p = sub.add_parser(command, help=text, description=text)
    p.add_argument('--logdir', required=True,
                   help='Run directory (checkpoints, logs, results).')
    p.add_argument('--extra', default='',
                   help='Further flags of scalable_agent_tf2.experiment, '
                   'shell-quoted, e.g. "--num_actors=6 --envs_per_actor=5".')
    p.add_argument('--dry_run', '--dry-run', action='store_true',
                   help='Check and print the configuration; start nothing.')
    if command == 'eval':
      p.add_argument('--episodes', type=int, default=PAPER_TEST_EPISODES,
                     help='Test episodes per level (paper: 500).')
      p.add_argument('--name', default='ours',
                     help='Label of this run in the table.')
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  if not args.logdir:
    print('error: --logdir must not be empty.', file=sys.stderr)
    return EXIT_USAGE
  try:
    return train(args) if args.command == 'train' else evaluate(args)
  except DeepMindLabUnavailable as e:
    print(f'error: DeepMind Lab is required for `{args.command}`: {e}',
          file=sys.stderr)
    return EXIT_NO_DEEPMIND_LAB
  except SuiteError as e:
    print(f'error: {e}', file=sys.stderr)
    return EXIT_USAGE


if __name__ == '__main__':
  sys.exit(main())
