"""`python -m atari57.suite train --multitask=1 --pbt=M`: multi-task with PBT.

The paper's Atari multi-task agent was trained with a population of 24
that adapted the gradient-clipping threshold, the entropy cost, the
learning rate and RMSProp's epsilon (Appendix F, docs/impala.md §4.3). Here:
M members under <root>/multitask_pbt/ (`member_<i>/`), each the multi-task
run of the driver (--level_name=atari57, frames_per_game x 57 frames, the
--torso and --extra of the driver) with its own Table D.1 draw; the fitness
is Table G.1's: the mean over the 57 games of each game's human-normalised
training score capped at 100, so a game far above human cannot outweigh the
rest (docs/impala.md §4.3). --pbt_<option>=... tokens in --extra set the
population driver's options (docs/pbt.md).
"""

import os
import shlex

from atari57 import suite_commands as commands
from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2.pbt import driver
from scalable_agent_tf2.pbt import fitness
from scalable_agent_tf2.pbt import population

PBT_DIR = 'multitask_pbt'
# Table G.1's fitness: mean capped human-normalised score.
FITNESS_CAP = fitness.HUMAN_CAP


def population_root(root: str) -> str:
  return os.path.join(root, PBT_DIR)


def train(args) -> int:
  """Runs the population. Returns the exit status.

  Raises:
    commands.SuiteError: bad input (PBT without --multitask=1, bad --extra).
  """
  if not args.multitask:
    raise commands.SuiteError('--pbt needs --multitask=1 (the paper\'s PBT '
                              'population is the multi-task agent); for one '
                              'game use `make train-pbt`.')
  spec = driver.split_pbt_flags(driver.Spec(
      root=population_root(args.root), population=args.pbt, env='atari',
      level_name=commands.MULTITASK_LEVEL,
      total_environment_frames=commands.multitask_budget(
          args.frames_per_game),
      extra=args.extra, parallel=args.parallel, fitness_cap=FITNESS_CAP,
      dry_run=args.dry_run,
      echo=not args.quiet))
  extra = commands.parse_extra(spec.extra)
  if commands.extra_flag_value(extra, 'torso') is None:
    extra.append(f'--torso={args.torso}')
  try:
    return driver.run_population(driver.Spec(**{
        **spec.__dict__, 'extra': shlex.join(extra)}))
  except (config_lib.ConfigError, population.PopulationError) as e:
    raise commands.SuiteError(str(e)) from None
