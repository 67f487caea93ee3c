"""A member's hyperparameters: initial sampling and the explore step.

Sampling (docs/impala.md §4.2, Table D.1): entropy cost log-uniform in
[5e-5, 1e-2], learning rate log-uniform in [5e-6, 5e-3], RMSProp epsilon
one of {1e-1, 1e-3, 1e-5, 1e-7}. The gradient-norm clip has no Table D.1
range: a member starts from its preset's value (Atari: 40, Table G.1) and
only the explore step changes it (our reading of docs/impala.md §4.3).

Explore (Appendix F, docs/impala.md §4.3): each evolved hyperparameter, with
probability 0.33, is multiplied by 1.2 or divided by 1.2 (even odds).
"""

import math
import random
from typing import Dict, Mapping, Sequence, Tuple

# The learner's run-time hyperparameters (learner.Hyperparameters.NAMES).
NAMES = ('learning_rate', 'entropy_cost', 'epsilon', 'grad_norm_clip')
LOG_UNIFORM = {'entropy_cost': (5e-5, 1e-2), 'learning_rate': (5e-6, 5e-3)}
EPSILONS = (1e-1, 1e-3, 1e-5, 1e-7)
# What the paper's populations adapted (Appendix F); the clip only where the
# members clip gradients at all (Atari).
DEFAULT_EVOLVED = ('learning_rate', 'entropy_cost', 'epsilon')


def check_names(names: Sequence[str]) -> Tuple[str, ...]:
  """`names` as a tuple; ValueError naming an unknown one."""
  unknown = [n for n in names if n not in NAMES]
  if unknown or not names:
    raise ValueError(f'Hyperparameters to evolve must be a non-empty subset '
                     f'of {NAMES}, got {list(names)}.')
  return tuple(names)


def default_evolved(grad_norm_clip: float) -> Tuple[str, ...]:
  """The three of Table D.1, plus the clip when the runs clip (> 0)."""
  return DEFAULT_EVOLVED + (('grad_norm_clip',) if grad_norm_clip > 0 else ())


def sample(rng: random.Random, names: Sequence[str],
           base: Mapping[str, float]) -> Dict[str, float]:
  """One member's initial values: Table D.1 draws for the sampled names.

  Args:
    rng: the driver's seeded generator.
    names: the evolved hyperparameters.
    base: every hyperparameter's value in the members' configuration (used
      for the names that are not evolved or have no Table D.1 range).

  Returns:
    name -> value, for every name in NAMES.
  """
  values = {name: float(base[name]) for name in NAMES}
  for name in names:
    if name in LOG_UNIFORM:
      low, high = LOG_UNIFORM[name]
      values[name] = math.exp(rng.uniform(math.log(low), math.log(high)))
    elif name == 'epsilon':
      values[name] = rng.choice(EPSILONS)
  return values


def perturb(rng: random.Random, values: Mapping[str, float],
            names: Sequence[str], probability: float = 0.33,
            factor: float = 1.2) -> Tuple[Dict[str, float], Dict[str, str]]:
  """The explore step: each of `names` changes with `probability`.

  Args:
    rng: a seeded generator (two draws per name, in the order of `names`).
    values: current name -> value.
    names: the evolved hyperparameters.
    probability: of changing each one (Appendix F: 0.33).
    factor: the change is `value * factor` or `value / factor` (1.2).

  Returns:
    (new name -> value for every key of `values`, name -> '*1.2' or '/1.2'
    for the names that changed).
  """
  new, changes = dict(values), {}
  for name in names:
    change = rng.random() < probability
    up = rng.random() < 0.5
    if not change:
      continue
    new[name] = values[name] * factor if up else values[name] / factor
    changes[name] = f'*{factor}' if up else f'/{factor}'
  return new, changes
