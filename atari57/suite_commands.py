"""The Atari-57 driver's input and command lines (`python -m atari57.suite`).

Game lists, --extra (through `scalable_agent_tf2.config.parse_extra`, the one
parser of experiment flags), and the experiment command line of each run the
driver starts (`config.experiment_command`). TF-free.
"""

import argparse
import math
import os
import re
import time
from typing import List, Optional, Sequence

import atari57
from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2.config import experiment_command
from scalable_agent_tf2.config import extra_flag_value  # Re-exported.

# The multi-task pseudo level (paper §5.3.2, Appendix G) and its directory.
MULTITASK_LEVEL = 'atari57'
MULTITASK_DIR = 'multitask'
# Flags of the experiment that the driver sets itself (layout and budget).
RESERVED_FLAGS = {
    'env': 'the suite is Atari',
    'level_name': 'use --games (or --multitask=1)',
    'logdir': 'the suite puts each game in <root>/<Game>; use --root',
    'mode': 'use the train / eval commands',
    'job_name': 'the suite starts local runs',
    'task': 'the suite starts local runs',
    'total_environment_frames': 'use --frames_per_game (the driver needs the '
                                'budget to tell finished games)',
    'test_num_episodes': 'use --episodes',
}


class SuiteError(ValueError):
  """Bad driver input (unknown game, bad --extra, ...)."""


def log(message: str) -> None:
  print('[atari57.suite %s] %s' % (time.strftime('%H:%M:%S'), message),
        flush=True)


def human(n: Optional[float]) -> str:
  """A frame count for people: 200000000 -> '200M'; None -> '-'."""
  if n is None:
    return '-'
  for unit, scale in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
    if abs(n) >= scale:
      return '%g%s' % (round(n / scale, 2), unit)
  return str(int(n))


# --- Parsing ------------------------------------------------------------------


def parse_games(text: Optional[str]) -> List[str]:
  """The games named in `text` (space/comma separated), canonical spelling.

  Empty (or only separators) means all 57 games, in atari57.GAMES order;
  otherwise the user's order is kept and duplicates are dropped.

  Raises:
    SuiteError: unknown names (the message lists them and the valid names).
  """
  names = [n for n in re.split(r'[\s,]+', text or '') if n]
  if not names:
    return list(atari57.GAMES)
  games, unknown = [], []
  for name in names:
    try:
      game = atari57.canonical_game_name(name)
    except ValueError:
      unknown.append(name)
      continue
    if game not in games:
      games.append(game)
  if unknown:
    raise SuiteError('Unknown Atari-57 game(s): %s. Valid names: %s.' % (
        ', '.join(repr(n) for n in unknown), ', '.join(atari57.GAMES)))
  return games


def parse_extra(text: Optional[str]) -> List[str]:
  """Splits --extra into flags for the experiment, refusing reserved ones.

  Raises:
    SuiteError: a token that is not a flag, an unknown flag, or a flag the
      driver sets itself (RESERVED_FLAGS).
  """
  try:
    return config_lib.parse_extra(text, reserved=RESERVED_FLAGS)
  except config_lib.ConfigError as e:
    raise SuiteError(str(e)) from None


def parse_bool(text: str) -> bool:
  value = str(text).strip().lower()
  if value in ('1', 'true', 'yes', 'on'):
    return True
  if value in ('0', 'false', 'no', 'off', ''):
    return False
  raise argparse.ArgumentTypeError('expected 0 or 1, got %r' % text)


def positive_int(text: str) -> int:
  """An integer >= 1; '2e8' is accepted for 200000000."""
  try:
    value = int(text)
  except ValueError:
    try:
      number = float(text)
    except ValueError:
      number = float('nan')
    value = (int(number) if math.isfinite(number) and number == int(number)
             else 0)
  if value < 1:
    raise argparse.ArgumentTypeError('expected an integer >= 1, got %r' % text)
  return value


def check_multitask_games(args) -> None:
  """--multitask=1 takes all 57 games: refuse a subset."""
  if args.multitask and args.games.strip():
    games = parse_games(args.games)
    if sorted(games) != sorted(atari57.GAMES):
      raise SuiteError('--multitask=1 trains and tests one agent on all 57 '
                       'games; leave --games empty (got %s).'
                       % ', '.join(games))


# --- Command lines ------------------------------------------------------------


def game_logdir(root: str, game: str) -> str:
  return os.path.join(root, game)


def multitask_logdir(root: str) -> str:
  return os.path.join(root, MULTITASK_DIR)


def multitask_budget(frames_per_game: int) -> int:
  """Total frames of the multi-task run: the experts' budget per game."""
  return frames_per_game * len(atari57.GAMES)


def train_command(level: str, logdir: str, frames: int, torso: str,
                  extra: Sequence[str] = (),
                  num_actors: Optional[int] = None) -> List[str]:
  """argv of one training run (an expert, or level 'atari57' = multi-task).

  `extra` comes last; a --torso there replaces the driver's `torso`.
  """
  flags = ['--env=atari', '--level_name=%s' % level, '--logdir=%s' % logdir,
           '--total_environment_frames=%d' % frames]
  if extra_flag_value(extra, 'torso') is None:
    flags.append('--torso=%s' % torso)
  # The suite reproduces the paper: Table G.1, not the small-machine preset.
  if extra_flag_value(extra, 'preset') is None:
    flags.append('--preset=paper')
  if num_actors is not None:
    flags.append('--num_actors=%d' % num_actors)
  return experiment_command(flags + list(extra))


def eval_command(level: str, logdir: str, episodes: int,
                 extra: Sequence[str] = ()) -> List[str]:
  """argv of one --mode=test run (level 'atari57' tests all 57 games)."""
  # The network's shape (torso, ...) comes from the run's config.json.
  return experiment_command([
      '--mode=test', '--env=atari', '--level_name=%s' % level,
      '--logdir=%s' % logdir, '--test_num_episodes=%d' % episodes
  ] + list(extra))


def actors_per_run(parallel: int, extra: Sequence[str],
                   cpu_count: Optional[int] = None) -> Optional[int]:
  """--num_actors for each of `parallel` simultaneous runs, or None.

  None (leave the experiment's default of one actor per core) when one run at
  a time, or when the user set --num_actors in --extra. Otherwise the cores
  are shared: max(2, cores // parallel) (2 = the experiment's minimum).
  """
  if parallel <= 1 or extra_flag_value(extra, 'num_actors') is not None:
    return None
  cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
  return max(2, cores // parallel)
