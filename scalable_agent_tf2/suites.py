"""Maps `--env` to a suite: its environments, level lists and action sets.

The runtime asks only four questions of a suite, through these functions:
which levels a run plays, how many actions and what frame shape the agent
sees (the learner needs both before any environment exists), and how to build
the environment an actor owns. The suites themselves (`atari57`, `dmlab30`)
are imported lazily so that a DMLab run never imports ALE and vice versa.
"""

from typing import List, Tuple

from scalable_agent_tf2.config import Config, ConfigError, MULTI_TASK_LEVELS


def train_levels(config: Config) -> List[str]:
  """The levels actors are assigned round robin (one for a single-level run).

  Raises:
    ConfigError: for an unknown game or level (with the valid names).
  """
  if config.env == 'atari':
    import atari57  # pylint: disable=g-import-not-at-top
    if config.is_multi_task:
      return list(atari57.GAMES)
    try:
      return [atari57.canonical_game_name(config.level_name)]
    except ValueError as e:
      raise ConfigError(str(e)) from e
  import dmlab30  # pylint: disable=g-import-not-at-top
  if config.is_multi_task:
    return list(dmlab30.LEVEL_MAPPING.keys())
  return [config.level_name]


def test_levels(config: Config) -> List[str]:
  """Levels evaluated by --mode=test (DMLab-30 uses the held-out test names)."""
  if config.env == 'dmlab' and config.is_multi_task:
    import dmlab30  # pylint: disable=g-import-not-at-top
    return list(dmlab30.LEVEL_MAPPING.values())
  return train_levels(config)


def full_action_space(config: Config) -> bool:
  # Experts use each game's minimal action set; the multi-task agent needs one
  # action set for all games, the full 18 (paper Appendix G).
  return config.env == 'atari' and config.is_multi_task


def num_actions(config: Config) -> int:
  if config.env == 'atari':
    import atari57  # pylint: disable=g-import-not-at-top
    return atari57.num_actions(train_levels(config)[0],
                               full_action_space=full_action_space(config))
  import dmlab30  # pylint: disable=g-import-not-at-top
  return len(dmlab30.ACTION_SET)


def frame_shape(config: Config) -> Tuple[int, int, int]:
  if config.env == 'atari':
    return (84, 84, 4)
  return (config.height, config.width, 3)


def env_seed(config: Config, env_index: int) -> int:
  """Environment i gets seed i + 1 (docs/impala.md §5), shifted per --seed."""
  return env_index + 1 + 100_000 * (config.seed - 1)


def level_for_env(config: Config, env_index: int, is_test: bool = False) -> str:
  levels = test_levels(config) if is_test else train_levels(config)
  return levels[env_index % len(levels)]


def make_environment(config: Config, level_name: str, seed: int,
                     is_test: bool = False):
  """Builds one environment (in the calling process)."""
  if config.env == 'atari':
    import atari57  # pylint: disable=g-import-not-at-top
    return atari57.make_environment(
        level_name, seed=seed, is_test=is_test,
        full_action_space=full_action_space(config),
        num_action_repeats=config.num_action_repeats)
  import dmlab30  # pylint: disable=g-import-not-at-top
  return dmlab30.make_environment(
      level_name, seed=seed, is_test=is_test, width=config.width,
      height=config.height, num_action_repeats=config.num_action_repeats,
      dataset_path=config.dataset_path)


def check_levels(config: Config) -> None:
  """Fails fast on unknown level names (before any process starts)."""
  levels = train_levels(config)
  if config.env == 'dmlab' and not config.is_multi_task:
    name = levels[0]
    if not name or name in MULTI_TASK_LEVELS.values():
      raise ConfigError(f'--level_name={name!r} is not a DMLab level.')


def suite_scores(config: Config, mean_returns) -> dict:
  """Running suite scores for summaries during multi-task training.

  DMLab-30 (paper §5.3.1): once every level has finished an episode, the
  capped and uncapped human-normalised training score. Atari-57: the median
  human-normalised score once every game has one.

  Args:
    mean_returns: dict level name -> recent mean episode return.
  """
  if not config.is_multi_task:
    return {}
  if config.env == 'dmlab':
    import dmlab30  # pylint: disable=g-import-not-at-top
    if len(mean_returns) < len(dmlab30.LEVEL_MAPPING):
      return {}
    level_returns = {k: [v] for k, v in mean_returns.items()}
    return {
        'dmlab30/training_score_capped':
            dmlab30.compute_human_normalized_score(level_returns, 100),
        'dmlab30/training_score_uncapped':
            dmlab30.compute_human_normalized_score(level_returns, None)}
  import atari57  # pylint: disable=g-import-not-at-top
  if len(mean_returns) < len(atari57.GAMES):
    return {}
  scores = atari57.aggregate_scores(mean_returns, num_bootstrap=1)
  return {'atari57/training_median_hns': scores['median'],
          'atari57/training_mean_hns': scores['mean']}
