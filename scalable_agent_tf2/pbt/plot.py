"""The population's PNG: each hyperparameter and the fitness against frames.

One panel per evolved hyperparameter (log scale) and one for the fitness,
one line per member, from the members' pbt_log.jsonl (as the paper's
Appendix F figure shows the hyperparameters of a population over training).
Written to <root>/pbt.png.
"""

import os
from typing import Dict, List, Tuple

from scalable_agent_tf2.pbt import population

PLOT_FILE = 'pbt.png'


def member_series(root: str, index: int
                  ) -> Tuple[Dict[str, List[Tuple[int, float]]],
                             List[Tuple[int, float]]]:
  """(name -> [(frames, value)], [(frames, fitness)]) of one member."""
  values: Dict[str, List[Tuple[int, float]]] = {}
  fitness = []
  for record in population.read_log(population.member_logdir(root, index)):
    for name, value in record.get('hyperparameters', {}).items():
      values.setdefault(name, []).append((record['frames'], value))
    if record.get('event') == 'ready':
      fitness.append((record['frames'], record['fitness']))
  return values, fitness


def write_plot(root: str) -> str:
  """Draws <root>/pbt.png. Returns its path.

  Raises:
    ValueError: the root has no population.json.
  """
  settings = population.read_settings(root)
  if settings is None:
    raise ValueError(f'{root} is not a population root (no '
                     f'{population.POPULATION_FILE}).')
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  names = list(settings.hyperparameters)
  figure, axes = pyplot.subplots(len(names) + 1, 1, sharex=True,
                                 figsize=(8, 2.2 * (len(names) + 1)))
  for index in range(settings.population):
    values, fitness = member_series(root, index)
    for axis, name in zip(axes, names):
      points = values.get(name, [])
      if points:
        axis.step(*zip(*points), where='post', label=f'member {index}')
    if fitness:
      axes[-1].plot(*zip(*fitness), marker='.', label=f'member {index}')
  for axis, name in zip(axes, names):
    axis.set_yscale('log')
    axis.set_ylabel(name)
  axes[-1].set_ylabel('fitness (HNS)')
  axes[-1].set_xlabel('environment frames (own)')
  axes[0].legend(fontsize='small', ncol=4)
  axes[0].set_title(f'PBT population of {settings.population}: {root}')
  figure.tight_layout()
  path = os.path.join(root, PLOT_FILE)
  figure.savefig(path, dpi=80)
  pyplot.close(figure)
  return path
