"""`python -m atari57.suite train`: the experts, or the multi-task agent.

Each game is one experiment subprocess (a local run with its own learner and
actors) run through `scalable_agent_tf2.jobs`; finished games are skipped,
the others resume from their checkpoints; one failing game stops no other
(paper §5.3.2 and Appendix G for the protocol, docs/impala.md §6).
"""

import contextlib
import os
import shlex
from typing import Dict, List, NamedTuple

from atari57 import suite_commands as commands
from atari57 import suite_state as state
from scalable_agent_tf2 import jobs
from scalable_agent_tf2.runtime import processes

TRAIN_LOG = 'suite_train.log'
LOCK_FILE = '.suite_train.lock'
EXIT_FAILED = 1

_log = commands.log
_human = commands.human


class TrainRun(NamedTuple):
  name: str  # The game, or 'multitask'.
  level: str
  logdir: str
  budget: int


def train_runs(args) -> List[TrainRun]:
  """What `train` covers: one run per selected game, or the multi-task one."""
  if args.multitask:
    return [TrainRun(commands.MULTITASK_DIR, commands.MULTITASK_LEVEL,
                     commands.multitask_logdir(args.root),
                     commands.multitask_budget(args.frames_per_game))]
  return [TrainRun(game, game, commands.game_logdir(args.root, game),
                   args.frames_per_game)
          for game in commands.parse_games(args.games)]


def _plan(args, runs, statuses, to_run, parallel, num_actors, torso) -> str:
  return ('Root %s: %d run(s): %d finished, %d to train%s, %d with problems; '
          'torso %s, %s frames per %s.' % (
              args.root, len(runs),
              sum(s.finished for s in statuses.values()), len(to_run),
              ' (%d at a time, %d actors each)' % (parallel, num_actors)
              if num_actors else '',
              sum(s.problem is not None for s in statuses.values()), torso,
              _human(runs[0].budget), 'run' if args.multitask else 'game'))


def _train_jobs(args, runs, statuses, extra, num_actors) -> List[jobs.Job]:
  """The jobs to start (logs what is skipped, or only shown by --dry_run)."""
  todo = []
  for k, run in enumerate(runs, 1):
    status = statuses[run.name]
    where = '[%d/%d] %s' % (k, len(runs), run.name)
    if status.finished:
      _log('%s: %s, skipped.' % (where, status.describe()))
      continue
    if status.problem:
      _log('%s: FAILED before start: %s.' % (where, status.problem))
      continue
    argv = commands.train_command(run.level, run.logdir, run.budget,
                                  args.torso, extra, num_actors)
    log_path = os.path.join(run.logdir, TRAIN_LOG)
    if args.dry_run:
      _log('%s: would run (%s): %s' % (where, status.describe(),
                                       shlex.join(argv)))
      continue
    todo.append(jobs.Job(run.name, argv, log_path, '%s: training, %s, in %s '
                         '(output also in %s).' % (where, status.describe(),
                                                   run.logdir, log_path)))
  return todo


class _Outcomes:
  """Judges each finished job by its checkpoint, not its exit code alone."""

  def __init__(self, runs, statuses, torso):
    self._runs = {run.name: run for run in runs}
    self.statuses, self._torso = statuses, torso
    self.outcomes: Dict[str, str] = {}

  def __call__(self, job, code, interrupted):
    run = self._runs[job.name]
    status = state.run_status(run.logdir, run.budget, self._torso)
    self.statuses[job.name] = status
    if code == 0 and status.finished:
      self.outcomes[job.name] = 'trained'
      _log('%s: done, %s.' % (job.name, status.describe()))
    elif interrupted:
      self.outcomes[job.name] = 'stopped by the interrupt (%s)' % (
          processes.describe_exit(code))
      _log('%s: stopped, checkpoint at %s of %s frames.' % (
          job.name, _human(status.frames), _human(run.budget)))
    else:
      reason = (processes.describe_exit(code) if code != 0 else
                'exit code 0 but the checkpoint is at %s of %s frames' % (
                    _human(status.frames), _human(run.budget)))
      self.outcomes[job.name] = 'FAILED (%s; see %s)' % (reason, job.log_path)
      _log('%s: FAILED: %s. Output: %s. Going on with the other games.'
           % (job.name, reason, job.log_path))

  def outcome(self, name: str) -> str:
    status = self.statuses[name]
    if name in self.outcomes:
      return self.outcomes[name]
    if status.problem:
      return 'FAILED (%s)' % status.problem
    if status.finished:
      return 'already finished, skipped'
    return 'not run (interrupted)'


def _summary(args, runs, outcomes: _Outcomes, codes) -> int:
  """Logs one line per run; returns the driver's exit status."""
  failed = []
  _log('Summary (%s):' % args.root)
  for run in runs:
    outcome = outcomes.outcome(run.name)
    if outcome.startswith('FAILED'):
      failed.append(run.name)
    _log('  %-16s %8s frames  %s' % (
        run.name, _human(outcomes.statuses[run.name].frames), outcome))
  interrupted = jobs.interrupted_exit(codes)
  if interrupted is not None:
    _log('Interrupted; rerun the same command to resume.')
    return interrupted
  if failed:
    _log('%d failed: %s.' % (len(failed), ', '.join(failed)))
    return EXIT_FAILED
  return 0


def train(args) -> int:
  """`train`: experts one by one (or --parallel), or the multi-task run."""
  if getattr(args, 'pbt', 0):  # Population-based training (suite_pbt).
    from atari57 import suite_pbt  # pylint: disable=g-import-not-at-top
    return suite_pbt.train(args)
  runs = train_runs(args)
  extra = commands.parse_extra(args.extra)
  commands.check_multitask_games(args)
  torso = commands.extra_flag_value(extra, 'torso') or args.torso
  lock = (contextlib.nullcontext() if args.dry_run else
          jobs.root_lock(args.root, LOCK_FILE, 'atari57.suite train'))
  with lock:
    statuses = {run.name: state.run_status(run.logdir, run.budget, torso)
                for run in runs}
    to_run = [run for run in runs if not statuses[run.name].finished and
              statuses[run.name].problem is None]
    parallel = max(1, min(args.parallel, len(to_run)))
    num_actors = commands.actors_per_run(parallel, extra)
    _log(_plan(args, runs, statuses, to_run, parallel, num_actors, torso))
    todo = _train_jobs(args, runs, statuses, extra, num_actors)
    if args.dry_run:
      return 0
    outcomes = _Outcomes(runs, statuses, torso)
    codes = jobs.run_jobs(todo, args.parallel, echo=not args.quiet,
                          on_exit=outcomes, log=_log)
  return _summary(args, runs, outcomes, codes)
