"""DRAFT of the Suite protocol (to be merged into suites.py by the helper that owns it).

The core asks a suite everything it needs through one object found by --env:

    suite = suites.get(config.env)        # imports the registered module lazily
    suite.num_actions(config)

Registry: `REGISTRY = {'atari': 'atari57.plugin', 'dmlab': 'dmlab30.plugin'}`
names each module as a string; `get()` imports it with importlib and returns
its module-level `SUITE` object. No module under scalable_agent_tf2/ imports
atari57 or dmlab30 (tests/test_layout.py walks the package with `ast`).
"""

from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple


class Suite(Protocol):
  """What an environment suite provides to the generic core."""

  # --env value, e.g. 'atari'.
  name: str
  # The multi-task pseudo level (e.g. 'atari57', 'dmlab30').
  multi_task_level: str
  # Preset names this suite defines (first = default), e.g. ('small', 'paper').
  presets: Tuple[str, ...]
  default_preset: str

  def defaults(self, level_name: Optional[str], preset: str) -> Dict[str, Any]:
    """Config values for the fields left as None: the suite's paper table
    (plus the preset's overrides and per-level ones, e.g. DMLab-30's README
    run). Includes 'level_name' (the default level when None is given).
    Raises config.ConfigError for a preset the suite does not define."""

  def check_level(self, config) -> None:
    """Raises config.ConfigError for an unknown level (with valid names)."""

  def train_levels(self, config) -> List[str]:
    """Levels actors are assigned round robin (one for a single-level run)."""

  def test_levels(self, config) -> List[str]:
    """Levels --mode=test evaluates (DMLab-30: the held-out test names)."""

  def num_actions(self, config) -> int: ...

  def frame_shape(self, config) -> Tuple[int, int, int]:
    """(H, W, C) of the uint8 frame the agent sees."""

  def make_environment(self, config, level_name: str, seed: int,
                       is_test: bool = False):
    """One `scalable_agent_tf2.environment.Environment`, in this process."""

  def training_scores(self, config,
                      mean_returns: Mapping[str, float]) -> Dict[str, float]:
    """Running suite scores for summaries (TensorBoard tag -> value); {} for
    a single-level run or before every level has a return."""

  # -- Scores, for the paper tables and PBT fitness -------------------------

  def canonical_level(self, name: str) -> str:
    """The suite's canonical (scoring) name of a level; ValueError if unknown."""

  def human_normalized_score(self, level: str, mean_return: float) -> float:
    """100 * (mean_return - random) / (human - random) for one level."""
