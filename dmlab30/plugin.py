"""DMLab(-30) as a suite of the core: `SUITE`, found by `scalable_agent_tf2.suites`.

Holds everything the core needs to know about DeepMind Lab: the released
code's defaults (Table D.3, docs/impala.md §4) and the DMLab-30 README run,
the level lists (train levels for training, held-out test levels for
--mode=test, paper §5.3.1), the action set and frame shape, the environment
factory and the running training scores. Importing it is cheap: DeepMind
Lab loads with the first environment, the Table 3 code with the first
`paper_table('table3')`.
"""

import importlib
from typing import Any, Dict, List, Mapping, Optional, Tuple

from dmlab30 import environment
from dmlab30 import levels
from dmlab30 import scoring
from scalable_agent_tf2.config import ConfigError

# The released code's flag defaults / Table D.3 (docs/impala.md §4): the
# `paper` preset, for a single DMLab level.
PAPER_DEFAULTS: Dict[str, Any] = dict(
    level_name='explore_goal_locations_small', unroll_length=100,
    batch_size=32, num_action_repeats=4,
    total_environment_frames=int(1e9), entropy_cost=0.00025,
    baseline_cost=0.5, discounting=0.99, reward_clipping='abs_one',
    learning_rate=0.00048, decay=0.99, momentum=0.0, epsilon=0.1,
    grad_norm_clip=0.0, torso='deep', use_lstm=True, use_instruction=True,
    envs_per_actor=1,
    # No replay (the paper's Table 2 replay runs: 10000 unrolls, half).
    replay_capacity=0, replay_proportion=0.5)

MULTI_TASK_LEVEL = 'dmlab30'

# The released README's DMLab-30 command line (docs/impala.md §4), on top of
# PAPER_DEFAULTS for --level_name=dmlab30.
DMLAB30_OVERRIDES: Dict[str, Any] = dict(
    entropy_cost=0.0033391318945337044,
    learning_rate=0.00031866995608948655,
    reward_clipping='soft_asymmetric',
    total_environment_frames=int(1e10),
    num_actors=150)


class DmLabSuite:
  """DeepMind Lab levels and the DMLab-30 multi-task suite (paper §5.3.1)."""

  name = 'dmlab'
  multi_task_level = MULTI_TASK_LEVEL
  presets: Tuple[str, ...] = ('paper',)
  default_preset = 'paper'
  paper_tables: Tuple[str, ...] = ('table3',)

  def defaults(self, level_name: Optional[str], preset: str) -> Dict[str, Any]:
    if preset == 'small':
      raise ConfigError('--preset=small is defined for Atari only; DMLab '
                        'runs use --preset=paper (the default).')
    if preset not in self.presets:
      raise ConfigError(f'--preset must be one of {self.presets} for '
                        f'--env=dmlab, got {preset!r}.')
    values = dict(PAPER_DEFAULTS)
    if level_name is not None:
      values['level_name'] = level_name
    if values['level_name'] == MULTI_TASK_LEVEL:
      values.update(DMLAB30_OVERRIDES)
    return values

  def _is_multi_task(self, config) -> bool:
    return config.level_name == MULTI_TASK_LEVEL

  def check_level(self, config) -> None:
    # Any DeepMind Lab level may be trained on; only an empty name is
    # certainly wrong (another suite's pseudo level is refused by the core).
    if not config.level_name:
      raise ConfigError(f'--level_name={config.level_name!r} is not a DMLab '
                        'level.')

  def train_levels(self, config) -> List[str]:
    if self._is_multi_task(config):
      return list(levels.LEVEL_MAPPING.keys())
    return [config.level_name]

  def test_levels(self, config) -> List[str]:
    if self._is_multi_task(config):
      return list(levels.LEVEL_MAPPING.values())
    return self.train_levels(config)

  def num_actions(self, config) -> int:
    del config  # The released code's 9 actions on every level.
    return len(environment.ACTION_SET)

  def frame_shape(self, config) -> Tuple[int, int, int]:
    return (config.height, config.width, 3)

  def make_environment(self, config, level_name: str, seed: int,
                       is_test: bool = False):
    return environment.make_environment(
        level_name, seed=seed, is_test=is_test, width=config.width,
        height=config.height, num_action_repeats=config.num_action_repeats,
        dataset_path=config.dataset_path)

  def training_scores(self, config,
                      mean_returns: Mapping[str, float]) -> Dict[str, float]:
    """Capped and uncapped human-normalised training score (paper §5.3.1)
    once every level has finished an episode."""
    if (not self._is_multi_task(config) or
        len(mean_returns) < len(levels.LEVEL_MAPPING)):
      return {}
    level_returns = {k: [v] for k, v in mean_returns.items()}
    return {
        'dmlab30/training_score_capped':
            scoring.compute_human_normalized_score(level_returns, 100),
        'dmlab30/training_score_uncapped':
            scoring.compute_human_normalized_score(level_returns, None)}

  def canonical_level(self, name: str) -> str:
    return scoring.to_test_level_name(name)

  def human_normalized_score(self, level: str, mean_return: float) -> float:
    test_name = scoring.to_test_level_name(level)
    return scoring.per_level_human_normalized_scores(
        {test_name: [mean_return]})[test_name]

  def paper_table(self, name: str):
    if name not in self.paper_tables:
      raise ValueError(f'The DMLab suite has no paper table {name!r}; it has '
                       f'{self.paper_tables}.')
    return importlib.import_module('dmlab30.table3').table3


SUITE = DmLabSuite()
