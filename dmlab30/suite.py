r"""DMLab-30 suite driver: train the multi-task agent, then test it (Table 3).

  python -m dmlab30.suite train --logdir=DIR [--extra="--num_actors=6 ..."]
      [--pbt=M --parallel=N]   (a PBT population under DIR: dmlab30/suite_pbt)
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

Modules: suite_flags (--extra, the resolved Config), suite_checks (DeepMind
Lab, level coverage, the eval logdir). The experiment runs in the driver's
process group through `scalable_agent_tf2.jobs.run_foreground` (SIGINT and
SIGTERM forwarded; it dies with the driver).
"""

import argparse
import os
import shlex
import sys
from typing import List, Optional, Sequence, Tuple

# The driver's public names, from the modules that define them.
# pylint: disable=unused-import
from dmlab30.suite_checks import ALLOW_TEST_DOUBLE_ENV
from dmlab30.suite_checks import NUM_LEVELS
from dmlab30.suite_checks import DeepMindLabUnavailable
from dmlab30.suite_checks import check_deepmind_lab
from dmlab30.suite_checks import check_eval_logdir
from dmlab30.suite_checks import check_train_config
from dmlab30.suite_checks import level_coverage
from dmlab30.suite_checks import test_double_allowed
from dmlab30.suite_flags import SuiteError
from dmlab30.suite_flags import experiment_flags
from dmlab30.suite_flags import format_config
from dmlab30.suite_flags import given_flag_names
from dmlab30.suite_flags import resolve_config
from dmlab30.suite_flags import split_extra
# pylint: enable=unused-import
from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import jobs
from scalable_agent_tf2 import run_dir

# Exit codes of the driver itself (otherwise it exits with the experiment's).
EXIT_USAGE = 2
EXIT_NO_DEEPMIND_LAB = 3

# The paper's test protocol: 500 episodes per level (§5.3.1).
PAPER_TEST_EPISODES = 500
TABLE_MARKDOWN = 'table3.md'


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
  path = run_dir.write_markdown_and_csv(
      os.path.join(logdir, TABLE_MARKDOWN), markdown,
      {os.path.join(logdir, table.name + '.csv'): tables.render_csv(table)
       for table in result})[0]
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


def _run_experiment(flags, test_double: bool, dry_run: bool):
  """Prints the command and runs it (unless dry_run). Returns its exit code."""
  if test_double:
    _warn('Running on the TEST DOUBLE of DeepMind Lab '
          f'({ALLOW_TEST_DOUBLE_ENV}=1): NOT DeepMind Lab results.')
  argv = config_lib.experiment_command(flags)
  _say('Command: ' + shlex.join(argv))
  return None if dry_run else jobs.run_foreground(argv)


def train(args) -> int:
  if args.pbt:
    from dmlab30 import suite_pbt  # pylint: disable=g-import-not-at-top
    return suite_pbt.train(args, _say)
  flags, config, test_double = _prepare(args)
  warnings = check_train_config(config)
  coverage = level_coverage(config.num_actors, config.envs_per_actor)
  _say('DMLab-30 training: effective configuration (the released README\'s '
       'run unless overridden; * = set by a flag):')
  _say(format_config(config, given_flag_names(flags)))
  _say(f'Levels: {NUM_LEVELS} train levels over {config.num_actors} actors '
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


def evaluate(args) -> int:
  flags, config, test_double = _prepare(args)
  _say('DMLab-30 test: effective configuration (network settings from the '
       'run\'s config.json; * = set by a flag):')
  _say(format_config(config, given_flag_names(flags)))
  _say(f'Test levels: {NUM_LEVELS} (held-out *_test variants of the two '
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
    if command == 'train':  # Population-based training (dmlab30/suite_pbt).
      p.add_argument('--pbt', type=int, default=0,
                     help='Population size M (paper: 24); 0 = one run. '
                     '--logdir is then the population root.')
      p.add_argument('--parallel', type=int, default=1,
                     help='With --pbt: members running at once.')
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
