"""A PBT population root as one row of Table 3 / Table 4 (docs/pbt.md).

The paper reports its PBT agents by the population's best member. Given a
population root (a directory with population.json) where a run directory is
expected, the tables use the member with the highest last published fitness
(its human-normalised training score, pbt_status.json) among the members
with test results, or among all members when none has any. A run named only
by its directory becomes the row "PBT".
"""

import os
from typing import List, Optional, Sequence, Tuple

from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.pbt import population

PBT_ROW = 'PBT'


def best_member(root: str) -> Optional[Tuple[int, float]]:
  """(index, fitness) of the population's best member; None without any
  published fitness (or when `root` is no population root)."""
  settings = population.read_settings(root)
  if settings is None:
    return None
  scored = []
  for index in range(settings.population):
    logdir = population.member_logdir(root, index)
    status = population.read_status(logdir)
    if status is None or status.get('fitness') is None:
      continue
    tested = os.path.exists(run_dir.test_results_path(logdir))
    scored.append((tested, float(status['fitness']), index))
  if not scored:
    return None
  tested, fitness, index = max(scored)
  del tested
  return index, fitness


def resolve_runs(runs: Sequence[Tuple[str, str]]
                 ) -> Tuple[List[Tuple[str, str]], List[str]]:
  """Replaces each population root in `runs` by its best member's logdir.

  Returns:
    (runs, notes): the (name, logdir) list and one note per population.

  Raises:
    ValueError: a population root without any published fitness.
  """
  resolved, notes = [], []
  for name, path in runs:
    if population.read_settings(path) is None:
      resolved.append((name, path))
      continue
    best = best_member(path)
    if best is None:
      raise ValueError(f'{path} is a PBT population with no published '
                       'fitness yet: no member to report.')
    index, fitness = best
    default_name = os.path.basename(os.path.normpath(path))
    row = PBT_ROW if name == default_name else name
    resolved.append((row, population.member_logdir(path, index)))
    notes.append(f'{row}: the best member of the PBT population {path}, '
                 f'member_{index} (last training fitness {fitness:.1f}, '
                 'human-normalised).')
  return resolved, notes
