"""The Slurm recipe (examples/slurm/) renders commands the entry point accepts.

A fake allocation (SLURM_* variables and an `scontrol` stand-in on PATH)
drives examples/slurm/task.sh with DRY_RUN=1; each printed command is parsed
by the entry point's own flags and resolved into a validated Config, so a
flag the recipe writes and the launcher does not accept fails here.
"""

import os
import shlex
import stat
import subprocess

from absl import flags
import pytest

from runtime_helpers import REPO
from scalable_agent_tf2 import experiment

TASK_SH = os.path.join(REPO, 'examples', 'slurm', 'task.sh')
NODES = ('node-a', 'node-b', 'node-c')


def _render(tmp_path, procid, localid, node, ntasks=4, extra_env=None):
  fake_bin = tmp_path / 'bin'
  fake_bin.mkdir(exist_ok=True)
  scontrol = fake_bin / 'scontrol'
  scontrol.write_text('#!/bin/sh\nprintf "%s\\n" ' + ' '.join(NODES) + '\n')
  scontrol.chmod(scontrol.stat().st_mode | stat.S_IEXEC)
  env = dict(os.environ, PATH=f'{fake_bin}{os.pathsep}{os.environ["PATH"]}',
             DRY_RUN='1', SLURM_PROCID=str(procid), SLURM_NTASKS=str(ntasks),
             SLURM_LOCALID=str(localid), SLURM_JOB_NODELIST='node-[a-c]',
             SLURMD_NODENAME=node, SLURM_CPUS_PER_TASK='6',
             IMPALA_FLAGS=f'--env=atari --level_name=Pong '
                          f'--logdir={tmp_path}/run')
  env.update(extra_env or {})
  result = subprocess.run(['bash', TASK_SH], env=env, capture_output=True,
                          text=True, timeout=60)
  return result


def _config(argv):
  assert argv[1:3] == ['-m', 'scalable_agent_tf2.experiment'], argv
  values = flags.FlagValues()
  experiment.define_flags(values)
  values(['experiment', *argv[3:]])
  return experiment.config_from_flags(values, {})


@pytest.mark.parametrize('procid, localid, node, role, task, address', [
    (0, 0, 'node-a', 'learner', 0, ''),
    (1, 1, 'node-a', 'actor', 0, 'node-a:8003'),
    (3, 1, 'node-b', 'actor', 2, 'node-b:8003'),
])
def test_every_rank_renders_a_command_the_entry_point_accepts(
    tmp_path, procid, localid, node, role, task, address):
  result = _render(tmp_path, procid, localid, node)
  assert result.returncode == 0, result.stderr
  config = _config(shlex.split(result.stdout))
  assert config.job_name == role
  assert config.learner_address == 'node-a:8001'  # The first node.
  assert config.num_actors == 3
  if role == 'actor':
    assert (config.task, config.actor_address) == (task, address)
    assert config.env_processes and config.envs_per_actor == 6


def test_one_task_is_refused(tmp_path):
  result = _render(tmp_path, 0, 0, 'node-a', ntasks=1)
  assert result.returncode == 2
  assert 'needs at least 2 tasks' in result.stderr


# --- Kubernetes (examples/k8s/impala.yaml) --------------------------------------

K8S_YAML = os.path.join(REPO, 'examples', 'k8s', 'impala.yaml')


def _k8s_containers():
  import yaml  # pylint: disable=g-import-not-at-top
  with open(K8S_YAML) as f:
    docs = list(yaml.safe_load_all(f))
  by_kind = {(d['kind'], d['metadata']['name']): d for d in docs}
  learner = by_kind[('Pod', 'impala-learner')]['spec']['containers'][0]
  actors = by_kind[('StatefulSet', 'impala-actor')]
  return by_kind, learner, actors


def _k8s_render(container, hostname):
  env = {e['name']: e['value'] for e in container['env']}
  env.update(PATH=os.environ['PATH'], HOSTNAME=hostname, DRY_RUN='1')
  result = subprocess.run([*container['command'], *container['args']],
                          env=env, capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr
  return result.stdout.split()


def test_the_k8s_recipe_renders_commands_the_entry_point_accepts():
  by_kind, learner, actors = _k8s_containers()
  replicas = actors['spec']['replicas']
  actor = actors['spec']['template']['spec']['containers'][0]
  config = _config(_k8s_render(learner, 'impala-learner'))
  assert config.job_name == 'learner'
  assert config.num_actors == replicas  # NUM_ACTORS matches the replicas.
  service = by_kind[('Service', 'impala-learner')]['spec']['ports'][0]['port']
  assert config.learner_address == f'impala-learner:{service}'
  config = _config(_k8s_render(actor, 'impala-actor-3'))
  assert (config.job_name, config.task) == ('actor', 3)
  assert config.actor_address == 'impala-actor-3.impala-actor:8002'
  assert config.num_actors == replicas and config.env_processes
  # The headless Service gives that DNS name.
  assert by_kind[('Service', 'impala-actor')]['spec']['clusterIP'] == 'None'
  assert actors['spec']['serviceName'] == 'impala-actor'
