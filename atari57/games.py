"""The Atari-57 suite's data: game names and the random/human reference scores.

Names are spelled as ale-py spells its game classes (CamelCase, e.g. 'Pong',
'MontezumaRevenge'); `canonical_game_name` also accepts the snake_case ROM ids
('bank_heist'), lower case and gymnasium ids ('ALE/BankHeist-v5').

The random and human scores are the DQN-era table used by the IMPALA paper's
human-normalised scores (docs/impala.md §6; the same numbers as dqn_zoo's
atari_data). Human-normalised score = 100 * (score - random) / (human - random).

Two random-score tables:
  RANDOM_SCORES: the table as published (VideoPinball random = 16256.9). The
    paper's published MEDIANS (Table 4: 191.8 / 93.2 / 59.7) come out exactly
    with it.
  PAPER_RANDOM_SCORES: the same with VideoPinball's random score taken as 0.0.
    The paper's published MEANS (957.6 / 466.4 / 176.9) are only approached
    with this variant (docs/impala.md §7): Table C.1 gives 957.3 / 466.1 / 176.6,
    while RANDOM_SCORES gives 1592.5 / 707.4 / 179.4. So it is what
    regenerates the paper's mean column. On Table C.1 both tables give the
    same medians.

Also here: MINIMAL_ACTION_SET_SIZES and `num_actions`, so that sizing a policy
head needs no emulator.
"""

import re
from typing import Dict, Tuple

# (game, random score, human score), in docs/impala.md §6 order (alphabetical).
_SCORE_TABLE = (
    ('Alien', 227.8, 7127.7),
    ('Amidar', 5.8, 1719.5),
    ('Assault', 222.4, 742.0),
    ('Asterix', 210.0, 8503.3),
    ('Asteroids', 719.1, 47388.7),
    ('Atlantis', 12850.0, 29028.1),
    ('BankHeist', 14.2, 753.1),
    ('BattleZone', 2360.0, 37187.5),
    ('BeamRider', 363.9, 16926.5),
    ('Berzerk', 123.7, 2630.4),
    ('Bowling', 23.1, 160.7),
    ('Boxing', 0.1, 12.1),
    ('Breakout', 1.7, 30.5),
    ('Centipede', 2090.9, 12017.0),
    ('ChopperCommand', 811.0, 7387.8),
    ('CrazyClimber', 10780.5, 35829.4),
    ('Defender', 2874.5, 18688.9),
    ('DemonAttack', 152.1, 1971.0),
    ('DoubleDunk', -18.6, -16.4),
    ('Enduro', 0.0, 860.5),
    ('FishingDerby', -91.7, -38.7),
    ('Freeway', 0.0, 29.6),
    ('Frostbite', 65.2, 4334.7),
    ('Gopher', 257.6, 2412.5),
    ('Gravitar', 173.0, 3351.4),
    ('Hero', 1027.0, 30826.4),
    ('IceHockey', -11.2, 0.9),
    ('Jamesbond', 29.0, 302.8),
    ('Kangaroo', 52.0, 3035.0),
    ('Krull', 1598.0, 2665.5),
    ('KungFuMaster', 258.5, 22736.3),
    ('MontezumaRevenge', 0.0, 4753.3),
    ('MsPacman', 307.3, 6951.6),
    ('NameThisGame', 2292.3, 8049.0),
    ('Phoenix', 761.4, 7242.6),
    ('Pitfall', -229.4, 6463.7),
    ('Pong', -20.7, 14.6),
    ('PrivateEye', 24.9, 69571.3),
    ('Qbert', 163.9, 13455.0),
    ('Riverraid', 1338.5, 17118.0),
    ('RoadRunner', 11.5, 7845.0),
    ('Robotank', 2.2, 11.9),
    ('Seaquest', 68.4, 42054.7),
    ('Skiing', -17098.1, -4336.9),
    ('Solaris', 1236.3, 12326.7),
    ('SpaceInvaders', 148.0, 1668.7),
    ('StarGunner', 664.0, 10250.0),
    ('Surround', -10.0, 6.5),
    ('Tennis', -23.8, -8.3),
    ('TimePilot', 3568.0, 5229.2),
    ('Tutankham', 11.4, 167.6),
    ('UpNDown', 533.4, 11693.2),
    ('Venture', 0.0, 1187.5),
    ('VideoPinball', 16256.9, 17667.9),
    ('WizardOfWor', 563.5, 4756.5),
    ('YarsRevenge', 3092.9, 54576.9),
    ('Zaxxon', 32.5, 9173.3),
)

# The 57 games of the paper (Appendix G), as ale-py spells them.
GAMES: Tuple[str, ...] = tuple(row[0] for row in _SCORE_TABLE)

RANDOM_SCORES: Dict[str, float] = {g: r for g, r, _ in _SCORE_TABLE}
HUMAN_SCORES: Dict[str, float] = {g: h for g, _, h in _SCORE_TABLE}

# docs/impala.md §7: the paper's Table 4 means used VideoPinball random = 0.0.
PAPER_RANDOM_SCORES: Dict[str, float] = dict(RANDOM_SCORES, VideoPinball=0.0)


# Size of each game's minimal action set, as ale-py 0.12 reports it
# (ALEInterface.getMinimalActionSet(); index 0 is NOOP in every game). Kept
# here so that `num_actions` needs no emulator; AtariEnvironment checks the
# loaded ROM against it, and tests/test_atari_environment.py checks all 57.
MINIMAL_ACTION_SET_SIZES: Dict[str, int] = {
    'Alien': 18, 'Amidar': 10, 'Assault': 7, 'Asterix': 9, 'Asteroids': 14,
    'Atlantis': 4, 'BankHeist': 18, 'BattleZone': 18, 'BeamRider': 9,
    'Berzerk': 18, 'Bowling': 6, 'Boxing': 18, 'Breakout': 4, 'Centipede': 18,
    'ChopperCommand': 18, 'CrazyClimber': 9, 'Defender': 18, 'DemonAttack': 6,
    'DoubleDunk': 18, 'Enduro': 9, 'FishingDerby': 18, 'Freeway': 3,
    'Frostbite': 18, 'Gopher': 8, 'Gravitar': 18, 'Hero': 18, 'IceHockey': 18,
    'Jamesbond': 18, 'Kangaroo': 18, 'Krull': 18, 'KungFuMaster': 14,
    'MontezumaRevenge': 18, 'MsPacman': 9, 'NameThisGame': 6, 'Phoenix': 8,
    'Pitfall': 18, 'Pong': 6, 'PrivateEye': 18, 'Qbert': 6, 'Riverraid': 18,
    'RoadRunner': 18, 'Robotank': 18, 'Seaquest': 18, 'Skiing': 3,
    'Solaris': 18, 'SpaceInvaders': 6, 'StarGunner': 18, 'Surround': 5,
    'Tennis': 18, 'TimePilot': 10, 'Tutankham': 8, 'UpNDown': 6, 'Venture': 18,
    'VideoPinball': 9, 'WizardOfWor': 10, 'YarsRevenge': 18, 'Zaxxon': 18,
}


# Every Atari 2600 joystick action; the multi-task agent's action set.
FULL_ACTION_SET_SIZE = 18

# The frame the agent sees: FRAME_STACK grayscale FRAME_SIZE x FRAME_SIZE
# frames, channels last (Nature DQN preprocessing, paper Appendix G).
FRAME_SIZE = 84
FRAME_STACK = 4
FRAME_SHAPE: Tuple[int, int, int] = (FRAME_SIZE, FRAME_SIZE, FRAME_STACK)


def num_actions(level_name: str, full_action_space: bool = False) -> int:
  """Size of the action set of `level_name` (18 with `full_action_space`).

  Cheap: a table lookup, no emulator (AtariEnvironment checks each loaded ROM
  against the same table).

  Raises:
    ValueError: unknown game name (the message lists the valid ones).
  """
  game = canonical_game_name(level_name)
  if full_action_space:
    return FULL_ACTION_SET_SIZE
  return MINIMAL_ACTION_SET_SIZES[game]


def _squash(name: str) -> str:
  """Spelling-insensitive key: lower case without '_', '-' or spaces."""
  return re.sub(r'[\s_\-]', '', name).lower()


_BY_SQUASHED = {_squash(g): g for g in GAMES}


def canonical_game_name(name: str) -> str:
  """Returns the canonical (GAMES) spelling of an Atari-57 game name.

  Accepts 'Pong', 'pong', 'bank_heist', 'BankHeist', gymnasium ids such as
  'ALE/BankHeist-v5' or 'BankHeistNoFrameskip-v4'.

  Raises:
    ValueError: `name` is not one of the 57 games (the message lists them).
  """
  if not isinstance(name, str):
    raise ValueError(f'Atari game name must be a str, got {name!r}. '
                     f'Valid names: {", ".join(GAMES)}.')
  key = name.strip()
  if key.startswith('ALE/'):
    key = key[len('ALE/'):]
  key = re.sub(r'-v\d+$', '', key)
  key = re.sub(r'(NoFrameskip|Deterministic)$', '', key)
  game = _BY_SQUASHED.get(_squash(key))
  if game is None:
    raise ValueError(
        f'Unknown Atari-57 game {name!r}. Valid names: {", ".join(GAMES)}.')
  return game


def rom_id(game: str) -> str:
  """ale-py's ROM id (snake_case) of a game: 'BankHeist' -> 'bank_heist'."""
  game = canonical_game_name(game)
  # CamelCase -> snake_case: 'UpNDown' -> 'up_n_down', 'Hero' -> 'hero'.
  return re.sub(r'(?<!^)(?=[A-Z])', '_', game).lower()
