"""DMLab-30: levels, human-normalised scoring and the DeepMind Lab adapter.

Keeps the released code's names (`LEVEL_MAPPING`, `HUMAN_SCORES`,
`RANDOM_SCORES`, `ALL_LEVELS`, `compute_human_normalized_score`) so users'
scripts port over. Importing this package is cheap: no TensorFlow, and
DeepMind Lab itself is only imported when an environment is created
(`make_environment`), inside the actor process that owns it.
"""

from dmlab30.environment import ACTION_SET
from dmlab30.environment import DmLabEnvironment
from dmlab30.environment import deepmind_lab_available
from dmlab30.environment import full_level_name
from dmlab30.environment import lab_config
from dmlab30.environment import make_environment
from dmlab30.levels import ALL_LEVELS
from dmlab30.levels import HUMAN_SCORES
from dmlab30.levels import LEVEL_MAPPING
from dmlab30.levels import LEVEL_PREFIX
from dmlab30.levels import RANDOM_SCORES
from dmlab30.scoring import compute_human_normalized_score
from dmlab30.scoring import per_level_human_normalized_scores
from dmlab30.scoring import to_test_level_name

__all__ = [
    'ACTION_SET',
    'ALL_LEVELS',
    'DmLabEnvironment',
    'HUMAN_SCORES',
    'LEVEL_MAPPING',
    'LEVEL_PREFIX',
    'RANDOM_SCORES',
    'compute_human_normalized_score',
    'deepmind_lab_available',
    'full_level_name',
    'lab_config',
    'make_environment',
    'per_level_human_normalized_scores',
    'to_test_level_name',
]
