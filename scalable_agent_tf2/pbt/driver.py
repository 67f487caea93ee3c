"""The population driver: M members as ordinary runs under one root.

`run_population(spec)` (and `python -m scalable_agent_tf2.pbt train`):
  * writes <root>/population.json once, with every member's initial
    hyperparameters sampled from Table D.1 (hyperparameters.py) and seed
    `seed + i`; a rerun reads it back, so members keep their draws, and
    each member's experiment resumes from its own checkpoint (rerun =
    continue);
  * runs member i as `python -m scalable_agent_tf2.experiment
    --logdir=<root>/member_<i> --seed=... --learning_rate=... ...` plus the
    extra flags, through a small supervisor (`member` subcommand) that
    restarts the experiment from its checkpoint when it dies, at most
    `max_restarts` times in a row;
  * at most `parallel` members at a time (`scalable_agent_tf2.jobs`: one
    log per member, Ctrl-C / SIGTERM stops every member, whose learner then
    writes a final checkpoint);
  * `members` limits this driver to some members, so that machines sharing
    the root each run a part of the population with the same command;
  * draws the population's PNG at the end (plot.py).
"""

import contextlib
import dataclasses
import os
import random
import shlex
import sys
import time
from typing import Dict, List, Sequence

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import jobs
from scalable_agent_tf2.pbt import hyperparameters as hp_lib
from scalable_agent_tf2.pbt import population
from scalable_agent_tf2.runtime import processes

LOCK_FILE = '.pbt_driver.lock'
# Set per member by the driver; --extra may not.
RESERVED = {
    'logdir': 'member i trains in <root>/member_<i>',
    'seed': 'member i gets --seed=<driver --seed> + i',
    'mode': 'the population driver trains', 'job_name': 'members are local',
    'env': 'use the driver\'s --env', 'level_name': 'use --level_name',
    'total_environment_frames': 'use the driver\'s frame budget',
}


# The driver options an --extra token --pbt_<option>=value may set.
EXTRA_OPTIONS = ('burn_in_frames', 'ready_episodes', 'threshold',
                 'hyperparameters', 'fitness_cap', 'max_restarts', 'members')


@dataclasses.dataclass
class Spec:
  """What to train: see the `train` subcommand's help (__main__.py)."""
  root: str
  population: int
  env: str
  level_name: str
  total_environment_frames: int
  extra: str = ''
  parallel: int = 1
  seed: int = 1
  burn_in_frames: int = population.PAPER_BURN_IN_FRAMES
  ready_episodes: int = population.PAPER_READY_EPISODES
  threshold: float = population.PAPER_THRESHOLD
  hyperparameters: str = 'auto'
  fitness_cap: float = 0.0
  max_restarts: int = 3
  members: str = ''
  dry_run: bool = False
  echo: bool = True


def _reserved(spec: Spec) -> Dict[str, str]:
  names = spec_evolved_names(spec, None)
  return dict(RESERVED, **{n: 'PBT samples and evolves it' for n in names})


def spec_evolved_names(spec: Spec, base) -> Sequence[str]:
  if spec.hyperparameters != 'auto':
    return hp_lib.check_names([n for n in spec.hyperparameters.split(',')
                               if n])
  clip = 0.0 if base is None else base.grad_norm_clip
  return hp_lib.default_evolved(clip)


def extra_values(extra: Sequence[str]) -> Dict[str, object]:
  """Config field -> typed value of checked --extra tokens (parse_extra)."""
  values = {}
  for token in extra:
    name, has_value, text = token.lstrip('-').partition('=')
    if not has_value:  # A bare boolean: --flag or --noflag.
      is_field = name in {f.name for f in dataclasses.fields(
          config_lib.Config)}
      values[name if is_field else name[2:]] = is_field
      continue
    kind = config_lib.field_type(name)
    values[name] = (text.lower() in ('true', '1') if kind is bool
                    else kind(text))
  return values


def base_config(spec: Spec, extra: Sequence[str]) -> config_lib.Config:
  """The members' resolved Config before sampling (validated)."""
  values = dict(extra_values(extra), env=spec.env,
                level_name=spec.level_name,
                total_environment_frames=spec.total_environment_frames)
  return config_lib.Config(**values).resolve().validate()


def make_settings(spec: Spec, base: config_lib.Config) -> population.Settings:
  """Fresh settings: every member's Table D.1 draws (seeded by spec.seed)."""
  names = tuple(spec_evolved_names(spec, base))
  rng = random.Random(spec.seed)
  defaults = {n: float(getattr(base, n)) for n in hp_lib.NAMES}
  members = [dict(member=i, seed=spec.seed + i,
                  hyperparameters=hp_lib.sample(rng, names, defaults))
             for i in range(spec.population)]
  return population.Settings(
      population=spec.population, burn_in_frames=spec.burn_in_frames,
      ready_episodes=spec.ready_episodes, threshold=spec.threshold,
      hyperparameters=names, fitness_cap=spec.fitness_cap, seed=spec.seed,
      members=members).check()


def settings_for(spec: Spec, base: config_lib.Config) -> population.Settings:
  """The root's settings: read back (members kept) or made and written."""
  saved = population.read_settings(spec.root)
  if saved is None:
    settings = make_settings(spec, base)
  else:
    if saved.population != spec.population:
      raise population.PopulationError(
          f'{spec.root} holds a population of {saved.population}, not '
          f'{spec.population}; use the same size or a new root')
    # The schedule settings follow the command; the draws stay.
    settings = dataclasses.replace(
        saved, burn_in_frames=spec.burn_in_frames,
        ready_episodes=spec.ready_episodes, threshold=spec.threshold,
        fitness_cap=spec.fitness_cap).check()
  if not spec.dry_run:
    population.write_settings(spec.root, settings)
  return settings


def member_command(spec: Spec, settings: population.Settings, index: int,
                   extra: Sequence[str]) -> List[str]:
  """The supervised experiment command of member `index`."""
  member = settings.members[index]
  flags = config_lib.to_flags(dict(
      env=spec.env, level_name=spec.level_name,
      logdir=population.member_logdir(os.path.abspath(spec.root), index),
      total_environment_frames=spec.total_environment_frames,
      seed=member['seed'], **member['hyperparameters']))
  return [sys.executable, '-m', 'scalable_agent_tf2.pbt', 'member',
          f'--max_restarts={spec.max_restarts}', '--',
          *config_lib.experiment_command([*flags, *extra])]


def selected_members(spec: Spec) -> List[int]:
  if not spec.members.strip():
    return list(range(spec.population))
  chosen = sorted({int(i) for i in spec.members.replace(',', ' ').split()})
  if not chosen or chosen[0] < 0 or chosen[-1] >= spec.population:
    raise population.PopulationError(
        f'--members={spec.members!r}: members are 0..{spec.population - 1}')
  return chosen


def split_pbt_flags(spec: Spec) -> Spec:
  """Moves --pbt_* tokens of spec.extra into the spec's own fields.

  `make train-pbt EXTRA="--pbt_burn_in_frames=0 --num_actors=2"` passes one
  string: the --pbt_* flags are the driver's, the rest go to every member.
  """
  kept, changes = [], {}
  for token in shlex.split(spec.extra or ''):
    name, _, text = token.lstrip('-').partition('=')
    field = name[len('pbt_'):]
    if not name.startswith('pbt_'):
      kept.append(token)
      continue
    if field not in EXTRA_OPTIONS:
      raise population.PopulationError(
          f'unknown PBT flag --{name} in --extra; the --pbt_* options are '
          + ', '.join('--pbt_' + o for o in EXTRA_OPTIONS))
    kind = type(getattr(spec, field))
    changes[field] = kind(text)
  return dataclasses.replace(spec, extra=shlex.join(kept), **changes)


def run_member(argv: Sequence[str], max_restarts: int) -> int:
  """The `member` subcommand: runs one experiment, restarting it on death.

  A stop signal is forwarded to the experiment (its learner writes a final
  checkpoint) and ends the loop; exit 0 ends it too. Any other exit is a
  death: the experiment starts again and resumes from its checkpoint, at
  most `max_restarts` times in a row without a clean finish.
  """
  for attempt in range(max_restarts + 1):
    child = processes.Child('experiment', argv, new_session=False)
    code, received = processes.run_in_foreground(child)
    if received:
      return processes.exit_status(code) if code else 128 + received[0]
    if code == 0:
      return 0
    if attempt < max_restarts:
      print(f'PBT member: the experiment {processes.describe_exit(code)}; '
            f'restart {attempt + 1}/{max_restarts} from its checkpoint.',
            flush=True)
      time.sleep(5.0)  # Let the dead run's processes finish exiting.
  print(f'PBT member: giving up after {max_restarts} restarts.', flush=True)
  return processes.exit_status(code)


def _jobs(spec, settings, extra, chosen) -> List[jobs.Job]:
  root = os.path.abspath(spec.root)
  return [jobs.Job(
      name=f'member_{i}',
      argv=member_command(spec, settings, i, extra),
      log_path=population.member_log_path(population.member_logdir(root, i)),
      label=f'[member {i + 1}/{spec.population}] '
            + ' '.join(f'{k}={v:.3g}' for k, v in sorted(
                settings.members[i]['hyperparameters'].items())))
          for i in chosen]


def run_population(spec: Spec) -> int:
  """Trains the population (see the module docstring). Exit status.

  Raises:
    config_lib.ConfigError, population.PopulationError: bad input.
  """
  spec = split_pbt_flags(spec)
  extra = config_lib.parse_extra(spec.extra, reserved=_reserved(spec))
  base = base_config(spec, extra)
  settings = settings_for(spec, base)
  chosen = selected_members(spec)
  todo = _jobs(spec, settings, extra, chosen)
  print(f'PBT: {spec.population} members in {spec.root} ({len(chosen)} '
        f'here, {spec.parallel} at a time), evolving '
        f'{", ".join(settings.hyperparameters)}; burn-in '
        f'{settings.burn_in_frames} frames, every {settings.ready_episodes} '
        f'episodes, threshold {settings.threshold}; fitness '
        f'{_fitness_words(settings.fitness_cap)}.', flush=True)
  if spec.dry_run:
    for job in todo:
      print(job.label + '\n  ' + shlex.join(job.argv))
    return 0
  with contextlib.ExitStack() as stack:
    for i in chosen:
      stack.enter_context(jobs.root_lock(
          population.member_logdir(spec.root, i), LOCK_FILE,
          'PBT driver'))
    codes = _run_rounds(todo, spec)
  _plot(spec.root)
  stopped = jobs.interrupted_exit(codes)
  if stopped is not None:
    return stopped
  failed = [name for name, code in codes.items() if code]
  if failed:
    print(f'PBT: members failed: {", ".join(failed)} (see their '
          f'{population.MEMBER_LOG_FILE}).', flush=True)
    return 1
  return 0


def _fitness_words(cap: float) -> str:
  if cap > 0:
    return f'mean human-normalised score, each level capped at {cap:g}'
  return 'mean human-normalised score, uncapped'


def _run_rounds(todo: List[jobs.Job], spec: Spec) -> Dict[str, object]:
  """run_jobs, then again for the members whose supervisor itself failed
  (e.g. was killed), at most spec.max_restarts more rounds."""
  codes: Dict[str, object] = {}
  for round_index in range(spec.max_restarts + 1):
    codes.update(jobs.run_jobs(todo, spec.parallel, echo=spec.echo))
    todo = [job for job in todo if codes[job.name]]
    if jobs.SIGNAL_KEY in codes or not todo:
      break
    if round_index < spec.max_restarts:
      print(f'PBT: starting {", ".join(j.name for j in todo)} again (they '
            'resume from their checkpoints).', flush=True)
  return codes


def _plot(root: str) -> None:
  from scalable_agent_tf2.pbt import plot  # pylint: disable=g-import-not-at-top
  try:
    print(f'PBT: plot {plot.write_plot(root)}', flush=True)
  except (OSError, ValueError) as e:
    print(f'PBT: no plot: {e}', flush=True)
