"""The files of a population root, and their readers (TF-free).

  <root>/population.json          the population's settings, written once
                                  by the driver (`Settings`), and the
                                  initial hyperparameters of every member.
  <root>/member_<i>/              member i: an ordinary run directory
                                  (run_dir.py), plus:
      pbt_status.json             what the member last published: frames,
                                  fitness, checkpoint path, hyperparameters
                                  (replaced atomically: write, then rename).
      pbt_log.jsonl               one line per PBT event of the member
                                  (ready, exploit, skip, perturb).
      pbt_member.log              the output of the member's processes.

A run is a member exactly when its logdir is `<root>/member_<i>` with
`<root>/population.json` present and i < its population size: then the
learner runs the exploit/explore hook (member.py). Readers never see a
half-written status (write_json_atomic); a torn last line of a log being
appended is dropped by run_dir.read_jsonl.
"""

import dataclasses
import json
import os
import re
import time
from typing import Any, Dict, List, Optional, Tuple

from scalable_agent_tf2 import run_dir

POPULATION_FILE = 'population.json'
STATUS_FILE = 'pbt_status.json'
LOG_FILE = 'pbt_log.jsonl'
MEMBER_LOG_FILE = 'pbt_member.log'
_MEMBER_DIR = re.compile(r'^member_(\d+)$')

# Appendix F: 20M-frame burn-in, every 5,000 episodes, 5 points (absolute,
# human-normalised), perturbation probability 0.33, factor 1.2.
PAPER_BURN_IN_FRAMES = 20_000_000
PAPER_READY_EPISODES = 5000
PAPER_THRESHOLD = 5.0
PERTURB_PROBABILITY = 0.33
PERTURB_FACTOR = 1.2


class PopulationError(ValueError):
  """A population root that cannot be used (bad or missing settings)."""


@dataclasses.dataclass
class Settings:
  """A population's settings (population.json).

  Attributes:
    population: number of members M (>= 2).
    burn_in_frames: a member's own frames before its first exploit/explore.
    ready_episodes: episodes (over all levels) between two exploit/explore
      steps of a member.
    threshold: how many human-normalised points better a peer must be
      (Appendix F: 5). A negative value copies from a peer up to that many
      points WORSE as well: no use for training, it only makes every ready
      step exploit (how the end-to-end test exercises the copy).
    hyperparameters: the names evolved (Learner.Hyperparameters.NAMES).
    fitness_cap: cap of each level's human-normalised score in the fitness
      (100 for DMLab-30, paper §5.3.1; 0 = uncapped).
    seed: seed of the driver's sampling; member i's explore draws use
      seed * 1000 + i (and its restarts continue from the frame count).
    members: per member, the initial hyperparameters and seed.
  """
  population: int
  burn_in_frames: int = PAPER_BURN_IN_FRAMES
  ready_episodes: int = PAPER_READY_EPISODES
  threshold: float = PAPER_THRESHOLD
  hyperparameters: Tuple[str, ...] = ('learning_rate', 'entropy_cost',
                                      'epsilon')
  fitness_cap: float = 0.0
  seed: int = 1
  members: List[Dict[str, Any]] = dataclasses.field(default_factory=list)

  def check(self) -> 'Settings':
    _require(self.population >= 2, 'a population needs at least 2 members, '
             f'got {self.population}')
    _require(self.burn_in_frames >= 0, '--pbt_burn_in_frames must be >= 0')
    _require(self.ready_episodes >= 1, '--pbt_ready_episodes must be >= 1')
    _require(self.fitness_cap >= 0, '--pbt_fitness_cap must be >= 0')
    _require(bool(self.hyperparameters), 'no hyperparameter to evolve')
    _require(len(self.members) in (0, self.population),
             f'{len(self.members)} member entries for a population of '
             f'{self.population}')
    return self


def _require(condition: bool, message: str) -> None:
  if not condition:
    raise PopulationError(message + '.')


def member_logdir(root: str, index: int) -> str:
  return os.path.join(root, f'member_{index}')


def population_path(root: str) -> str:
  return os.path.join(root, POPULATION_FILE)


def status_path(logdir: str) -> str:
  return os.path.join(logdir, STATUS_FILE)


def log_path(logdir: str) -> str:
  return os.path.join(logdir, LOG_FILE)


def member_log_path(logdir: str) -> str:
  return os.path.join(logdir, MEMBER_LOG_FILE)


def write_settings(root: str, settings: Settings) -> None:
  os.makedirs(root, exist_ok=True)
  value = dataclasses.asdict(settings.check())
  value['hyperparameters'] = list(settings.hyperparameters)
  run_dir.write_json_atomic(population_path(root), value)


def read_settings(root: str) -> Optional[Settings]:
  """The root's settings, or None when it has no population.json.

  Raises:
    PopulationError: a population.json that is not a valid Settings.
  """
  value = run_dir.read_json_if_exists(population_path(root))
  if value is None:
    return None
  try:
    value['hyperparameters'] = tuple(value['hyperparameters'])
    return Settings(**value).check()
  except (TypeError, KeyError) as e:
    raise PopulationError(f'{population_path(root)} is not a population '
                          f'file: {e}') from None


def member_of(logdir: str) -> Optional[Tuple[str, int, Settings]]:
  """(root, index, settings) if `logdir` is a member's run directory."""
  logdir = os.path.abspath(logdir)
  match = _MEMBER_DIR.match(os.path.basename(logdir))
  if not match:
    return None
  root = os.path.dirname(logdir)
  settings = read_settings(root)
  index = int(match.group(1))
  if settings is None or index >= settings.population:
    return None
  return root, index, settings


def publish_status(logdir: str, status: Dict[str, Any]) -> None:
  """Replaces the member's pbt_status.json (readers see old or new)."""
  run_dir.write_json_atomic(status_path(logdir), dict(status,
                                                       time=time.time()))


def read_status(logdir: str) -> Optional[Dict[str, Any]]:
  """A member's last published status, or None if none is readable."""
  try:
    return run_dir.read_json_if_exists(status_path(logdir))
  except (OSError, ValueError):
    return None


def append_log(logdir: str, record: Dict[str, Any]) -> None:
  """Appends one event line to the member's pbt_log.jsonl."""
  with open(log_path(logdir), 'a') as f:
    f.write(json.dumps(dict(record, time=time.time()), sort_keys=True) + '\n')


def read_log(logdir: str) -> List[Dict[str, Any]]:
  return run_dir.read_jsonl(log_path(logdir))
