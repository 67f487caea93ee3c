"""Environment suites plug into the core through this module.

The core asks a suite everything it needs through one object found by --env:

    suite = suites.get(config.env)     # imports the registered module lazily
    suite.num_actions(config)

`REGISTRY` names each suite's module as a string; `get()` imports it with
importlib and returns its module-level `SUITE` object, which satisfies the
`Suite` protocol below. No module of the core imports a suite package, so a
DMLab run never imports ALE and vice versa, and adding a suite is one entry
here plus one plugin module. Importing a plugin is cheap (no TensorFlow, no
emulator): environments and paper tables load on first use.
"""

import importlib
from typing import (Any, Callable, Dict, List, Mapping, Optional, Protocol,
                    Sequence, Tuple, runtime_checkable)

from scalable_agent_tf2.config_fields import ConfigError

# --env value -> module defining `SUITE`.
REGISTRY: Dict[str, str] = {
    'atari': 'atari57.plugin',
    'dmlab': 'dmlab30.plugin',
}


@runtime_checkable
class Suite(Protocol):
  """What an environment suite provides to the generic core.

  `config` arguments are resolved `scalable_agent_tf2.config.Config`s.
  """

  # The --env value, e.g. 'atari'.
  name: str
  # The multi-task pseudo level (e.g. 'atari57', 'dmlab30'): actors are then
  # assigned the suite's levels round robin (paper §5.3, Appendix G).
  multi_task_level: str
  # Preset names this suite defines, the default first (docs/impala.md §4).
  presets: Tuple[str, ...]
  default_preset: str
  # Names `paper_table` accepts, e.g. ('table4',).
  paper_tables: Tuple[str, ...]

  def defaults(self, level_name: Optional[str], preset: str) -> Dict[str, Any]:
    """Config values for the fields left as None: the suite's paper table
    plus the preset's overrides and per-level ones (e.g. DMLab-30's README
    run). Includes 'level_name' (the default level when None is given).

    Raises:
      config.ConfigError: a preset the suite does not define.
    """

  def check_level(self, config) -> None:
    """Raises config.ConfigError for an unknown level (naming the valid
    ones) or a flag this suite has no use for (e.g. Atari instructions)."""

  def train_levels(self, config) -> List[str]:
    """Levels actors are assigned round robin (one for a single-level run)."""

  def test_levels(self, config) -> List[str]:
    """Levels --mode=test evaluates (DMLab-30: the held-out test names)."""

  def num_actions(self, config) -> int:
    """Size of the policy head's action set."""

  def frame_shape(self, config) -> Tuple[int, int, int]:
    """(H, W, C) of the uint8 frame the agent sees."""

  def make_environment(self, config, level_name: str, seed: int,
                       is_test: bool = False):
    """One `scalable_agent_tf2.environment.Environment`, in this process."""

  def training_scores(self, config,
                      mean_returns: Mapping[str, float]) -> Dict[str, float]:
    """Running suite scores for summaries (TensorBoard tag -> value); {} for
    a single-level run or before every level has a return."""

  def canonical_level(self, name: str) -> str:
    """The suite's canonical (scoring) name of a level; ValueError if
    unknown."""

  def human_normalized_score(self, level: str, mean_return: float) -> float:
    """100 * (mean_return - random) / (human - random) for one level."""

  def paper_table(self, name: str) -> Callable[..., List[Any]]:
    """The function building paper table `name` (one of `paper_tables`):
    callable(runs, strict=False, **kw) -> List[paper.tables.Table]."""


# The members every suite must have (tests check each plugin against it).
MEMBERS: Tuple[str, ...] = (
    'name', 'multi_task_level', 'presets', 'default_preset', 'paper_tables',
    'defaults', 'check_level', 'train_levels', 'test_levels', 'num_actions',
    'frame_shape', 'make_environment', 'training_scores', 'canonical_level',
    'human_normalized_score', 'paper_table')


def check_members(suite: Any, members: Sequence[str] = MEMBERS) -> List[str]:
  """The protocol members `suite` lacks ([] for a complete suite)."""
  return [m for m in members if not hasattr(suite, m)]


def names() -> Tuple[str, ...]:
  """The registered --env values (no suite is imported)."""
  return tuple(REGISTRY)


def get(env: str) -> Suite:
  """The suite registered for --env=`env` (its module imported on first use).

  Raises:
    config.ConfigError: `env` is not registered (the message lists the
      registered names), or its module has no valid `SUITE`.
  """
  if env not in REGISTRY:
    raise ConfigError(f'--env must be one of {names()}, got {env!r}.')
  module = importlib.import_module(REGISTRY[env])
  suite = getattr(module, 'SUITE', None)
  missing = check_members(suite)
  if missing or suite.name != env:
    raise ConfigError(
        f'{REGISTRY[env]}.SUITE is not a suite for --env={env} (missing '
        f'members: {missing}, name: {getattr(suite, "name", None)!r}).')
  return suite


def preset_names() -> Tuple[str, ...]:
  """Every preset some registered suite defines (imports every plugin)."""
  found: List[str] = []
  for env in names():
    found += [p for p in get(env).presets if p not in found]
  return tuple(found)


def env_seed(config, env_index: int) -> int:
  """Environment i gets seed i + 1 (docs/impala.md §5), shifted per --seed.

  Global environment index g = task * envs_per_actor + k for actor `task`'s
  k-th environment; --seed=s moves every environment by 100000 * (s - 1).
  """
  return env_index + 1 + 100_000 * (config.seed - 1)


def level_for_env(config, env_index: int) -> str:
  """The training level of global environment `env_index` (round robin)."""
  levels = get(config.env).train_levels(config)
  return levels[env_index % len(levels)]
