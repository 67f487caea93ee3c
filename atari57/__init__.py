"""The Atari-57 suite: games, human-normalised scoring and the environment.

Importing `atari57` is cheap (numpy only; `num_actions` is a table lookup):
the environment module, which imports ale-py and gymnasium, loads on first use
of `make_environment` or `AtariEnvironment`.
"""

import importlib

from atari57.games import FULL_ACTION_SET_SIZE
from atari57.games import GAMES
from atari57.games import HUMAN_SCORES
from atari57.games import MINIMAL_ACTION_SET_SIZES
from atari57.games import PAPER_RANDOM_SCORES
from atari57.games import RANDOM_SCORES
from atari57.games import canonical_game_name
from atari57.games import num_actions
from atari57.scoring import aggregate_scores
from atari57.scoring import human_normalized_score
from atari57.scoring import per_game_table

_LAZY_ENVIRONMENT_NAMES = ('AtariEnvironment', 'make_environment')

__all__ = [
    'FULL_ACTION_SET_SIZE', 'GAMES', 'HUMAN_SCORES',
    'MINIMAL_ACTION_SET_SIZES', 'PAPER_RANDOM_SCORES', 'RANDOM_SCORES',
    'aggregate_scores', 'canonical_game_name', 'human_normalized_score',
    'num_actions', 'per_game_table', *_LAZY_ENVIRONMENT_NAMES,
]


def __getattr__(name):
  # PEP 562 lazy attribute: defer ale-py/gymnasium until an env is needed.
  if name in _LAZY_ENVIRONMENT_NAMES:
    environment = importlib.import_module('atari57.environment')
    return getattr(environment, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
