"""`python -m atari57.suite eval`: test every trained run, then Table 4.

Each trained game (or the multi-task run) is tested with `--mode=test`
(paper Appendix G protocol, docs/impala.md §6); then the suite table beside
the paper's Table 4 is written through `scalable_agent_tf2.paper.tables`.
"""

import os
import shlex
import sys
import tempfile
from typing import List, NamedTuple

import atari57
from atari57 import suite_commands as commands
from atari57 import suite_state as state
from atari57.suite_commands import SuiteError
from scalable_agent_tf2 import jobs
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.runtime import processes

EVAL_LOG = 'suite_eval.log'
TABLE_MARKDOWN = 'table4.md'
EXIT_FAILED = 1

_log = commands.log
_human = commands.human


class EvalRun(NamedTuple):
  name: str  # The game, or 'multitask'.
  level: str
  logdir: str
  levels: List[str]  # The games its test_results.json must hold.


def eval_runs(args) -> List[EvalRun]:
  if args.multitask:
    return [EvalRun(commands.MULTITASK_DIR, commands.MULTITASK_LEVEL,
                    commands.multitask_logdir(args.root), list(atari57.GAMES))]
  return [EvalRun(game, game, commands.game_logdir(args.root, game), [game])
          for game in commands.parse_games(args.games)]


# --- The table ----------------------------------------------------------------


def _run_label(logdirs, kind: str) -> str:
  torsos = sorted({str(state.saved_config(d).get('torso', '?'))
                   for d in logdirs})
  return 'Ours, %s, %s' % ('/'.join(torsos) or '?', kind)


def suite_tables(root: str, num_bootstrap: int = 2000, seed: int = 0):
  """Table 4 (summary + per game) of the results under `root`.

  Experts: every <root>/<Game>/test_results.json; multi-task:
  <root>/multitask/test_results.json. Either may be absent (not both).

  Returns:
    (tables, missing): the `tables.Table`s, and the games without results
    of each run present, keyed 'experts' / 'multitask'.

  Raises:
    SuiteError: no test results at all under root.
  """
  # pylint: disable=g-import-not-at-top
  from atari57 import table4 as table4_lib
  from scalable_agent_tf2.paper import tables
  expert_dirs = {g: commands.game_logdir(root, g) for g in atari57.GAMES
                 if os.path.exists(run_dir.test_results_path(
                     commands.game_logdir(root, g)))}
  multitask = commands.multitask_logdir(root)
  has_multitask = os.path.exists(run_dir.test_results_path(multitask))
  if not expert_dirs and not has_multitask:
    raise SuiteError('No %s under %s: nothing to tabulate.' % (
        run_dir.TEST_RESULTS_FILE, root))
  runs, kinds, sources, missing = [], [], {}, {}
  with tempfile.TemporaryDirectory(prefix='atari57_suite_') as view:
    if expert_dirs:
      # Table 4 reads every <Game>/ dir with results under a root; a view of
      # only the selected games' dirs keeps games outside --games (and the
      # multitask/ run, tabulated on its own) out.
      for game, logdir in expert_dirs.items():
        os.symlink(os.path.abspath(logdir), os.path.join(view, game))
      runs.append((_run_label(expert_dirs.values(), 'experts'), view))
      kinds.append('experts')
      sources['ours: ' + view] = 'ours: ' + root
    if has_multitask:
      runs.append((_run_label([multitask], 'multi-task'), multitask))
      kinds.append('multitask')
    for (_, logdir), kind in zip(runs, kinds):
      have = table4_lib.load_atari_run(logdir)['returns']
      missing[kind] = [g for g in atari57.GAMES if g not in have]
    result = tables.table4(runs, strict=False, num_bootstrap=num_bootstrap,
                           seed=seed)
  summary = result[0]
  source = summary.columns.index('Source')
  for row in summary.rows:
    row[source] = sources.get(row[source], row[source])
  return result, missing


def write_suite_table(root: str, result) -> List[str]:
  """Writes <root>/table4.md and one CSV per table; returns the paths."""
  from scalable_agent_tf2.paper import tables  # pylint: disable=g-import-not-at-top
  return run_dir.write_markdown_and_csv(
      os.path.join(root, TABLE_MARKDOWN), tables.render_markdown(result),
      {os.path.join(root, table.name + '.csv'): tables.render_csv(table)
       for table in result})


# --- Testing ------------------------------------------------------------------


def _progress(logdir: str, frames: int) -> str:
  budget = state.saved_config(logdir).get('total_environment_frames')
  return 'checkpoint at %s frames%s' % (_human(frames), (
      ' of %s: training unfinished' % _human(budget)
      if budget and frames < budget else ''))


class _Plan:
  """The eval jobs, and what happened to the runs that get none."""

  def __init__(self, args, extra):
    self._args, self._extra = args, extra
    self.jobs, self.untrained, self.failed, self.outcomes = [], [], [], {}
    self._logdirs = {}

  def add(self, where: str, run: EvalRun) -> None:
    args = self._args
    try:
      frames = state.checkpoint_frames(run.logdir)
    except SuiteError as e:
      _log('%s: FAILED: %s' % (where, e))
      self.failed.append(run.name)
      self.outcomes[run.name] = 'FAILED (%s)' % e
      return
    if frames is None:
      _log('%s: no checkpoint in %s, not trained: skipped.' % (where,
                                                               run.logdir))
      self.untrained.append(run.name)
      return
    progress = _progress(run.logdir, frames)
    if not args.force and state.results_up_to_date(
        run.logdir, args.episodes, run.levels, frames):
      _log('%s: %s already has >= %d episodes per game for this checkpoint '
           '(%s): skipped (--force re-evaluates).' % (
               where, run_dir.TEST_RESULTS_FILE, args.episodes, progress))
      self.outcomes[run.name] = 'up to date'
      return
    argv = commands.eval_command(run.level, run.logdir, args.episodes,
                                 self._extra)
    log_path = os.path.join(run.logdir, EVAL_LOG)
    if args.dry_run:
      _log('%s: would run: %s' % (where, shlex.join(argv)))
      return
    self._logdirs[run.name] = run.logdir
    self.jobs.append(jobs.Job(
        run.name, argv, log_path, '%s: testing %d episodes per game, %s, in '
        '%s (output also in %s).' % (where, args.episodes, progress,
                                     run.logdir, log_path)))

  def on_exit(self, job, code, interrupted):
    results = run_dir.test_results_path(self._logdirs[job.name])
    if code == 0 and os.path.exists(results):
      self.outcomes[job.name] = 'evaluated'
      _log('%s: wrote %s.' % (job.name, results))
    elif interrupted:
      _log('%s: stopped by the interrupt.' % job.name)
    else:
      reason = processes.describe_exit(code)
      self.failed.append(job.name)
      self.outcomes[job.name] = 'FAILED (%s; see %s)' % (reason, job.log_path)
      _log('%s: FAILED (%s); output in %s. Going on.' % (job.name, reason,
                                                         job.log_path))


def _table_status(args, plan: _Plan) -> int:
  """Writes and prints Table 4; the exit status of `eval`."""
  try:
    result, missing = suite_tables(args.root)
  except SuiteError as e:
    _log('No table: %s' % e)
    return EXIT_FAILED
  paths = write_suite_table(args.root, result)
  from scalable_agent_tf2.paper import tables  # pylint: disable=g-import-not-at-top
  sys.stdout.write(tables.render_markdown(result))
  sys.stdout.flush()
  _log('Wrote %s.' % ', '.join(paths))
  status = 0
  if plan.failed:
    _log('%d evaluation(s) failed: %s.' % (len(plan.failed),
                                           ', '.join(plan.failed)))
    status = EXIT_FAILED
  # --strict judges the run this command evaluates (both may be tabulated).
  kind = commands.MULTITASK_DIR if args.multitask else 'experts'
  absent = missing.get(kind, list(atari57.GAMES))
  if args.strict and absent:
    _log('--strict: the %s miss %d of %d games: %s.' % (
        'multi-task run' if args.multitask else 'experts', len(absent),
        len(atari57.GAMES), ', '.join(absent)))
    status = EXIT_FAILED
  return status


def evaluate(args) -> int:
  """`eval`: test every trained game (or the multi-task run), then Table 4."""
  runs = eval_runs(args)
  extra = commands.parse_extra(args.extra)
  commands.check_multitask_games(args)
  plan = _Plan(args, extra)
  for k, run in enumerate(runs, 1):
    plan.add('[%d/%d] %s' % (k, len(runs), run.name), run)
  if args.dry_run:
    return 0
  codes = jobs.run_jobs(plan.jobs, 1, echo=not args.quiet,
                        on_exit=plan.on_exit, log=_log)
  interrupted = jobs.interrupted_exit(codes)
  if interrupted is not None:
    _log('Interrupted; rerun the same command to evaluate the rest.')
    return interrupted
  if plan.untrained:
    _log('%d not trained (no checkpoint, so no results; the table shows them '
         'as missing): %s.' % (len(plan.untrained), ', '.join(plan.untrained)))
  return _table_status(args, plan)
