"""A process's role in a cluster from TF_CONFIG, TensorFlow's own convention.

TF_CONFIG is the JSON that cluster managers (and TensorFlow's own
strategies) put in each process's environment:

  {"cluster": {"learner": ["10.0.0.1:8001"],
               "actor": ["10.0.0.2:8002", "10.0.0.3:8002"]},
   "task": {"type": "actor", "index": 1}}

`flag_values(text)` turns it into the flags a cluster process otherwise
needs by hand: --job_name, --task, --learner_address, --actor_address and
--num_actors. Flags given on the command line still win
(experiment.config_from_flags). Job names are ours (learner, actor); a
learner job with more than one address is refused, as one learner process
per run is what ships (docs/multiple_learners.md).
"""

import json
from typing import Any, Dict

from scalable_agent_tf2.config_fields import ConfigError

ENV_VAR = 'TF_CONFIG'
JOBS = ('learner', 'actor')


def _fail(message: str):
  raise ConfigError(f'{ENV_VAR}: {message}')


def _addresses(cluster: Dict[str, Any], job: str) -> list:
  addresses = cluster.get(job, [])
  if (not isinstance(addresses, list) or
      not all(isinstance(a, str) and ':' in a for a in addresses)):
    _fail(f'cluster.{job} must be a list of "host:port" strings, got '
          f'{addresses!r}.')
  return addresses


def flag_values(text: str) -> Dict[str, Any]:
  """The cluster flags TF_CONFIG implies.

  Raises:
    ConfigError: not JSON, no single learner address, an unknown task type
      or an index outside its job (the message starts with TF_CONFIG).
  """
  try:
    spec = json.loads(text)
  except ValueError as e:
    _fail(f'not valid JSON ({e}).')
  if not isinstance(spec, dict) or not isinstance(spec.get('cluster'), dict):
    _fail('needs a "cluster" object.')
  cluster = spec['cluster']
  unknown = sorted(set(cluster) - set(JOBS))
  if unknown:
    _fail(f'unknown jobs {unknown}; this project\'s jobs are {list(JOBS)}.')
  learners = _addresses(cluster, 'learner')
  actors = _addresses(cluster, 'actor')
  if len(learners) != 1:
    _fail(f'cluster.learner must hold exactly one address, got {learners}.')
  task = spec.get('task', {})
  kind, index = task.get('type'), task.get('index', 0)
  if kind not in JOBS:
    _fail(f'task.type must be one of {list(JOBS)}, got {kind!r}.')
  jobs = {'learner': learners, 'actor': actors}
  if not isinstance(index, int) or not 0 <= index < len(jobs[kind]):
    _fail(f'task.index {index!r} is not among the {len(jobs[kind])} '
          f'{kind} address(es).')
  values = dict(job_name=kind, learner_address=learners[0])
  if actors:
    values['num_actors'] = len(actors)
  if kind == 'actor':
    values.update(task=index, actor_address=actors[index])
  return values
