"""Atari-57 as a suite of the core: `SUITE`, found by `scalable_agent_tf2.suites`.

Holds everything the core needs to know about Atari: the paper's
hyperparameters (Table G.1, docs/impala.md §4) and the `small` preset, the
level lists, the action set and frame shape, the environment factory and the
running training scores. Importing it is cheap (numpy only): ale-py and
gymnasium load with the first environment, the Table 4 code with the first
`paper_table('table4')`.
"""

import importlib
from typing import Any, Dict, List, Mapping, Optional, Tuple

from atari57 import games
from atari57 import scoring
from scalable_agent_tf2.config import ConfigError

# Table G.1 (docs/impala.md §4): the `paper` preset.
PAPER_DEFAULTS: Dict[str, Any] = dict(
    level_name='Pong', unroll_length=20, batch_size=32,
    num_action_repeats=4, total_environment_frames=int(2e8),
    entropy_cost=0.01, baseline_cost=0.5, discounting=0.99,
    reward_clipping='abs_one', learning_rate=0.0006, decay=0.99,
    momentum=0.0, epsilon=0.01, grad_norm_clip=40.0, torso='deep',
    use_lstm=False, use_instruction=False, envs_per_actor=4,
    # No replay (the paper's Table 2 replay runs: 10000 unrolls, half).
    replay_capacity=0, replay_proportion=0.5)

# `--preset=small`: what differs from Table G.1, and why (README, "Pong on 2
# cores"; the numbers are in bench/results/pong_search/).
#   * torso shallow: the deep ResNet is ~4x slower per frame on a CPU.
#   * batch_size 4: 8x the updates per frame of batch 32. At 10M Pong frames
#     batch 4 stood at -6.5, batch 32 at -17.4 (clip 40) and -18.4 (clip
#     320, never binding); the return ranked with how far the torso moved
#     (one step times the number of updates). The released loss is summed
#     over the batch, so at batch 32 the baseline term takes the clip budget
#     (global norm 281 at initialisation, factor 0.19; batch 4: 39, 0.85),
#     but lifting the clip did not help batch 32 at this budget.
#   * envs_per_actor 8: 16 streams on 2 cores keep the batch decorrelated.
#   * epsilon 1e-5 (a Table D.1 sweep value): at batch 4, Pong stood at -6.5
#     after 10M frames with it and at -16.3 with 0.01. RMSProp's `ms` starts
#     at ones, so epsilon changes nothing at first; once `ms` decays, one
#     weight's step differs by at most sqrt(0.01 / 1e-5) = 31.6x.
#   * The cost: every search run left 10-15 of 16 first-layer channels dead
#     (3 in a fresh initialisation), this preset the most; no run reached +18
#     within 10M frames.
SMALL_OVERRIDES: Dict[str, Any] = dict(
    torso='shallow', batch_size=4, envs_per_actor=8, epsilon=1e-5)

# `--preset=replay` (`make train`): `small` plus reuse of each unroll through
# the paper's own replay (§5.2.2), with V-trace correcting the replayed
# unrolls' lag, and a learning rate annealed over 10M frames (docs/impala.md
# §4.5; the runs are in bench/results/pong_replay/):
#   * batch_size 8, 3/4 of it replayed from a FIFO buffer of 64 unrolls:
#     each fresh unroll is trained on about 4 times (2 fresh + 6 replayed per
#     update, the learner the bottleneck on 2 cores);
#   * grad_norm_clip 80: the summed loss's gradient norm grows about with the
#     batch (39 at batch 4, 281 at batch 32 at initialisation, docs/impala.md
#     §4.4), so 80 leaves batch 8 about the clip factor 40 left batch 4;
#   * total_environment_frames 10M: the rate decays to 0 by 10M frames, which
#     took Pong from a plateau near +15 (200M schedule) to +18.
REPLAY_OVERRIDES: Dict[str, Any] = dict(
    SMALL_OVERRIDES, batch_size=8, replay_capacity=64, replay_proportion=0.75,
    grad_norm_clip=80.0, total_environment_frames=int(1e7))

_PRESETS: Dict[str, Dict[str, Any]] = {
    'small': SMALL_OVERRIDES, 'replay': REPLAY_OVERRIDES, 'paper': {}}

MULTI_TASK_LEVEL = 'atari57'


class AtariSuite:
  """The Atari-57 suite (paper §5.3.2 and Appendix G)."""

  name = 'atari'
  multi_task_level = MULTI_TASK_LEVEL
  # `small` is the default: one small machine sees Pong learn within hours
  # (+18 after 18.3M frames, docs/impala.md §4.4); the paper's runs pass
  # --preset=paper.
  presets: Tuple[str, ...] = ('small', 'replay', 'paper')
  default_preset = 'small'
  paper_tables: Tuple[str, ...] = ('table4',)

  def defaults(self, level_name: Optional[str], preset: str) -> Dict[str, Any]:
    if preset not in _PRESETS:
      raise ConfigError(f'--preset must be one of {self.presets} for '
                        f'--env=atari, got {preset!r}.')
    values = dict(PAPER_DEFAULTS, **_PRESETS[preset])
    if level_name is not None:
      values['level_name'] = level_name
    return values

  def _is_multi_task(self, config) -> bool:
    return config.level_name == MULTI_TASK_LEVEL

  def check_level(self, config) -> None:
    self.train_levels(config)
    if config.use_instruction:
      raise ConfigError('--use_instruction is for DMLab language levels; '
                        'Atari has no instructions.')
    if config.dataset_path:
      raise ConfigError('--dataset_path is a DMLab option.')

  def train_levels(self, config) -> List[str]:
    if self._is_multi_task(config):
      return list(games.GAMES)
    try:
      return [games.canonical_game_name(config.level_name)]
    except ValueError as e:
      raise ConfigError(str(e)) from e

  def test_levels(self, config) -> List[str]:
    return self.train_levels(config)

  def _full_action_space(self, config) -> bool:
    # Experts use each game's minimal action set; the multi-task agent needs
    # one action set for all games, the full 18 (paper Appendix G).
    return self._is_multi_task(config)

  def num_actions(self, config) -> int:
    return games.num_actions(self.train_levels(config)[0],
                             full_action_space=self._full_action_space(config))

  def frame_shape(self, config) -> Tuple[int, int, int]:
    del config  # Every game: 84x84, 4 stacked frames (Appendix G).
    return games.FRAME_SHAPE

  def make_environment(self, config, level_name: str, seed: int,
                       is_test: bool = False):
    # Test mode plays under the training protocol (the same 1-30 no-op
    # starts and 108K-frame cap, Appendix G): `is_test` changes nothing.
    del is_test
    environment = importlib.import_module('atari57.environment')
    return environment.make_environment(
        level_name, seed=seed,
        full_action_space=self._full_action_space(config),
        num_action_repeats=config.num_action_repeats)

  def training_scores(self, config,
                      mean_returns: Mapping[str, float]) -> Dict[str, float]:
    """Median and mean human-normalised score once every game has a return."""
    if not self._is_multi_task(config) or len(mean_returns) < len(games.GAMES):
      return {}
    scores = scoring.aggregate_scores(mean_returns, num_bootstrap=1)
    return {'atari57/training_median_hns': scores['median'],
            'atari57/training_mean_hns': scores['mean']}

  def canonical_level(self, name: str) -> str:
    return games.canonical_game_name(name)

  def human_normalized_score(self, level: str, mean_return: float) -> float:
    return scoring.human_normalized_score(level, mean_return)

  def paper_table(self, name: str):
    if name not in self.paper_tables:
      raise ValueError(f'The Atari suite has no paper table {name!r}; it has '
                       f'{self.paper_tables}.')
    return importlib.import_module('atari57.table4').table4


SUITE = AtariSuite()
