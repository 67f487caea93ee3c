"""A cluster process's role from TF_CONFIG (runtime/tf_config.py)."""

import json

from absl import flags
import pytest

from scalable_agent_tf2 import experiment
from scalable_agent_tf2.config import ConfigError
from scalable_agent_tf2.runtime import tf_config

CLUSTER = {'learner': ['10.0.0.1:8001'],
           'actor': ['10.0.0.2:8002', '10.0.0.3:8002', '10.0.0.3:8003']}


def _spec(kind, index=0, cluster=None):
  return json.dumps({'cluster': cluster or CLUSTER,
                     'task': {'type': kind, 'index': index}})


def test_an_actor_gets_its_task_addresses_and_the_actor_count():
  assert tf_config.flag_values(_spec('actor', 2)) == dict(
      job_name='actor', task=2, learner_address='10.0.0.1:8001',
      actor_address='10.0.0.3:8003', num_actors=3)


def test_the_learner_gets_its_address():
  assert tf_config.flag_values(_spec('learner')) == dict(
      job_name='learner', learner_address='10.0.0.1:8001', num_actors=3)


@pytest.mark.parametrize('text, message', [
    ('{not json', 'not valid JSON'),
    (json.dumps({'task': {'type': 'actor'}}), 'needs a "cluster"'),
    (_spec('actor', 3), 'task.index 3 is not among the 3 actor'),
    (_spec('ps'), "task.type must be one of"),
    (_spec('learner', cluster={'learner': ['a:1', 'b:2']}), 'exactly one'),
    (_spec('learner', cluster={'learner': ['a:1'], 'worker': ['b:2']}),
     "unknown jobs ['worker']"),
    (_spec('learner', cluster={'learner': ['nohost']}), 'host:port'),
])
def test_a_bad_tf_config_is_refused_naming_it(text, message):
  with pytest.raises(ConfigError, match='TF_CONFIG: ') as e:
    tf_config.flag_values(text)
  assert message in str(e.value)


def _config(argv, environ):
  values = flags.FlagValues()
  experiment.define_flags(values)
  values(['experiment', '--env=atari', '--level_name=Pong', *argv])
  return experiment.config_from_flags(values, environ)


def test_the_entry_point_takes_the_role_from_tf_config_and_flags_win():
  environ = {'TF_CONFIG': _spec('actor', 1)}
  config = _config([], environ)
  assert (config.job_name, config.task, config.num_actors) == ('actor', 1, 3)
  assert config.actor_address == '10.0.0.3:8002'
  config = _config(['--task=0', '--actor_address=10.0.0.9:9000'], environ)
  assert (config.task, config.actor_address) == (0, '10.0.0.9:9000')
  assert _config([], {}).job_name == ''  # No TF_CONFIG: a local run.
