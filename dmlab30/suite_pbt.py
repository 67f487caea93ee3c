"""`python -m dmlab30.suite train --pbt=M`: the DMLab-30 agent with PBT.

The population of Table 3's "IMPALA, deep, PBT" row (Appendix F,
docs/impala.md §4.3): M members under --logdir (the population root,
`<logdir>/member_<i>/`), each the released README's DMLab-30 run with its own
Table D.1 draw of entropy cost, learning rate and RMSProp epsilon, evolved
by the paper's exploit/explore. The fitness is the mean CAPPED
human-normalised training score (each level capped at 100, docs/impala.md
§5.5). --extra goes to every member; --pbt_<option>=... tokens in it set
the population driver's options (docs/pbt.md).
"""

import shlex

from dmlab30 import suite_checks
from dmlab30 import suite_flags
from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2.pbt import driver
from scalable_agent_tf2.pbt import fitness
from scalable_agent_tf2.pbt import population

# The capped score of docs/impala.md §5.5.
FITNESS_CAP = fitness.HUMAN_CAP


def train(args, say) -> int:
  """Runs the population; `say` prints. Returns the exit status.

  Raises:
    suite_flags.SuiteError: bad input.
    suite_checks.DeepMindLabUnavailable: no DeepMind Lab.
  """
  try:
    return _train(args, say)
  except (config_lib.ConfigError, population.PopulationError) as e:
    raise suite_flags.SuiteError(str(e)) from None


def _train(args, say) -> int:
  spec = driver.split_pbt_flags(driver.Spec(
      root=args.logdir, population=args.pbt, env='dmlab',
      level_name='dmlab30', total_environment_frames=1,
      extra=args.extra, parallel=args.parallel, fitness_cap=FITNESS_CAP,
      dry_run=args.dry_run))
  tokens = suite_flags.split_extra(spec.extra, 'train')
  flags = suite_flags.experiment_flags('train', args.logdir, tokens)
  config = suite_flags.resolve_config(flags)
  if suite_checks.check_deepmind_lab():
    say('WARNING: the TEST DOUBLE of DeepMind Lab '
        f'({suite_checks.ALLOW_TEST_DOUBLE_ENV}=1): NOT DeepMind Lab results.')
  say(f'DMLab-30 PBT: {args.pbt} members under {args.logdir}, '
      f'{config.total_environment_frames} frames each.')
  # The budget (from --extra or the README run's 1e10) is the driver's.
  member_extra = [t for t in shlex.split(suite_flags.as_flag_string(tokens))
                  if not t.startswith('--total_environment_frames=')]
  return driver.run_population(driver.Spec(**{
      **spec.__dict__, 'extra': shlex.join(member_extra),
      'total_environment_frames': config.total_environment_frames}))
