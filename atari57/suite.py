r"""The Atari-57 suite driver: train the 57 experts (or one multi-task agent),
evaluate them, and write the suite table beside the paper's Table 4.

  python -m atari57.suite train --root=logs/atari57 [--games="Pong Breakout"]
      [--frames_per_game=200000000] [--torso=deep] [--parallel=1]
      [--multitask=0] [--pbt=0] [--extra="--num_actors=8"] [--dry_run]
      [--quiet]
  python -m atari57.suite eval --root=logs/atari57 [--episodes=200]
      [--games=...] [--multitask=0] [--extra=...] [--strict] [--force]
      [--dry_run] [--quiet]

(`make train-atari57` / `make eval-atari57` call exactly these.)

Layout under --root:
  <root>/<Game>/        one expert per game: a normal experiment logdir
                        (checkpoints/, config.json, progress.jsonl, ...) plus
                        suite_train.log / suite_eval.log, the output of the
                        subprocesses this driver started.
  <root>/multitask/     --multitask=1: one agent on all 57 games (actors take
                        the games round robin, full action set of 18; paper
                        §5.3.2, Appendix G).
  <root>/table4.md      the suite table (eval), with table4.csv and
                        table4_games.csv.

Train. Every game is one `python -m scalable_agent_tf2.experiment --env=atari
--level_name=<Game> --logdir=<root>/<Game> --torso=... \
--total_environment_frames=<frames_per_game> <extra>` subprocess (a local run:
its own learner and actors). Games run one after another, or --parallel=N at a
time; with N > 1 and no --num_actors in --extra each run gets
max(2, cores // N) actors so that N runs do not oversubscribe the machine.

  * Finished = the latest checkpoint's `num_env_frames` >= the budget, read
    with `tf.train.load_checkpoint` (the checkpoint is what evaluation and a
    resume use, so it is the ground truth; an exit status of 0 alone is not:
    a run stopped by a signal also exits cleanly). A rerun skips finished
    games and starts the others; the experiment resumes from the logdir's
    checkpoint by itself, so a bigger --frames_per_game continues training
    from where the checkpoint is (the LR schedule follows the new budget).
  * A game that fails (non-zero exit, or exit 0 short of the budget) is
    reported and the suite goes on; the driver exits with status 1 at the
    end, listing the failed games.
  * --multitask=1: one run with --level_name=atari57 in <root>/multitask/ and
    a budget of frames_per_game x 57 frames: the same 200M frames per game as
    the experts (our reading of the paper, whose Atari scores are all "after
    200M frames" per game). --multitask=1 --pbt=M trains the paper's PBT
    variant instead: a population of M such runs under <root>/multitask_pbt/
    (atari57/suite_pbt.py, docs/pbt.md).
  * One training driver per root at a time (a lock file), so two drivers
    never train the same logdir.

Modules: suite_commands (input, command lines), suite_state (checkpoints and
results of a run), suite_train, suite_eval; runs are started by
`scalable_agent_tf2.jobs`.

Eval. For every selected game with a checkpoint: `python -m
scalable_agent_tf2.experiment --mode=test --logdir=<root>/<Game> --env=atari
--level_name=<Game> --test_num_episodes=<episodes> <extra>` (multi-task:
`--level_name=atari57`, which tests all 57 games from one checkpoint). Games
without a checkpoint are reported and skipped; a game whose
test_results.json already holds >= episodes for its latest checkpoint is not
re-evaluated (--force does). Then the table: `scalable_agent_tf2.paper.tables.
table4` over every <Game>/test_results.json under the root (the experts) and
<root>/multitask/test_results.json, printed and written to <root>/table4.md;
missing games show as missing, or fail the command with --strict.

--extra is passed through to every experiment subprocess (after the driver's
own flags; a --torso there replaces --torso). Flags that define the suite's
layout or budget (--env, --level_name, --logdir, --mode, --job_name, --task,
--total_environment_frames, --test_num_episodes) are refused there, and so
are flags the experiment does not define: use the driver's options.

Ctrl-C / SIGTERM: the running run(s) get SIGTERM (a training run's learner
writes a final checkpoint), no further game starts, the exit status is
128 + signal; rerunning the same command resumes. If the driver is killed
outright its runs get SIGTERM too (`scalable_agent_tf2.runtime.processes`).

Exit status: 0 all good; 1 failed games or evaluations (listed at the end),
or --strict with missing games; 2 bad input (unknown game, bad --extra).
"""

import argparse
import sys
from typing import Optional, Sequence

# The driver's public names, from the modules that define them.
# pylint: disable=unused-import
from atari57.suite_commands import MULTITASK_DIR
from atari57.suite_commands import MULTITASK_LEVEL
from atari57.suite_commands import RESERVED_FLAGS
from atari57.suite_commands import SuiteError
from atari57.suite_commands import actors_per_run
from atari57.suite_commands import eval_command
from atari57.suite_commands import extra_flag_value
from atari57.suite_commands import game_logdir
from atari57.suite_commands import multitask_budget
from atari57.suite_commands import multitask_logdir
from atari57.suite_commands import parse_bool
from atari57.suite_commands import parse_extra
from atari57.suite_commands import parse_games
from atari57.suite_commands import positive_int
from atari57.suite_commands import train_command
from atari57.suite_eval import EVAL_LOG
from atari57.suite_eval import TABLE_MARKDOWN
from atari57.suite_eval import evaluate
from atari57.suite_eval import suite_tables
from atari57.suite_eval import write_suite_table
from atari57.suite_state import RunStatus
from atari57.suite_state import checkpoint_frames
from atari57.suite_state import results_up_to_date
from atari57.suite_state import run_status
from atari57.suite_train import EXIT_FAILED
from atari57.suite_train import LOCK_FILE
from atari57.suite_train import TRAIN_LOG
from atari57.suite_train import train
# pylint: enable=unused-import

EXIT_USAGE = 2


def positive_int_or_zero(text: str) -> int:
  return 0 if text.strip() == '0' else positive_int(text)


def _common_arguments(p: argparse.ArgumentParser) -> None:
  p.add_argument('--root', required=True,
                 help='Suite directory: <root>/<Game>/ per expert, '
                 '<root>/multitask/ for the multi-task run.')
  p.add_argument('--games', default='',
                 help='Games, space or comma separated (any spelling '
                 'atari57.canonical_game_name accepts); empty = all 57.')
  p.add_argument('--multitask', type=parse_bool, default=False,
                 help='1: one agent on all 57 games (--level_name=atari57) '
                 'in <root>/multitask/.')
  p.add_argument('--extra', default='',
                 help='More flags for every experiment run, e.g. '
                 '"--num_actors=2 --batch_size=4".')
  p.add_argument('--dry_run', action='store_true',
                 help='Print what would run (state of each game and the '
                 'command lines) without starting anything.')
  p.add_argument('--quiet', action='store_true',
                 help='Do not echo the runs\' output (it still goes to '
                 '<logdir>/%s / %s).' % (TRAIN_LOG, EVAL_LOG))


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m atari57.suite',
      description='Train / evaluate the Atari-57 suite (IMPALA experts or the '
      'multi-task agent) and write the suite table beside the paper\'s '
      'Table 4.')
  sub = parser.add_subparsers(dest='command', required=True)
  p = sub.add_parser('train', help='Train the experts or the multi-task agent '
                     '(resumable: finished games are skipped).')
  _common_arguments(p)
  p.add_argument('--frames_per_game', type=positive_int, default=int(2e8),
                 help='Frames per expert (paper: 200M); the multi-task run '
                 'gets this x 57.')
  p.add_argument('--torso', choices=('shallow', 'deep'), default='deep',
                 help='Network (paper Table 4: deep and shallow experts).')
  p.add_argument('--parallel', type=positive_int, default=1,
                 help='Games trained at once (each a local run with its own '
                 'learner and actors).')
  p.add_argument('--pbt', type=positive_int_or_zero, default=0,
                 help='With --multitask=1: a PBT population of this size in '
                 '<root>/multitask_pbt/ (paper: 24); 0 = one run.')
  p = sub.add_parser('eval', help='Test every trained game and write '
                     '<root>/%s.' % TABLE_MARKDOWN)
  _common_arguments(p)
  p.add_argument('--episodes', type=positive_int, default=200,
                 help='Test episodes per game (paper: 200).')
  p.add_argument('--strict', action='store_true',
                 help='Exit with status 1 if any of the 57 games has no '
                 'results.')
  p.add_argument('--force', action='store_true',
                 help='Re-evaluate games whose results are already up to '
                 'date.')
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  try:
    if args.command == 'train':
      return train(args)
    return evaluate(args)
  except SuiteError as e:
    print('error: %s' % e, file=sys.stderr)
    return EXIT_USAGE


if __name__ == '__main__':
  sys.exit(main())
