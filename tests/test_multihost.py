"""Several machines for real: the learner and two actors in network
namespaces of their own, started with the README's several-machines commands.

Topology (everything lives inside the test's namespaces; nothing is added to
the host's network): the learner's namespace holds a bridge with 192.0.2.1;
a veth pair joins it to each actor's namespace (192.0.2.2, 192.0.2.3) and to
an outsider's (192.0.2.10). Addresses are TEST-NET-1 (RFC 5737: reserved for
documentation, never routed). The README's nftables rule, given inside the
learner's namespace, lets only the actors' /30 reach the learner port.

Needs root, `ip` (iproute2) and network namespaces; `nft` for the firewall
check. Skips with the reason elsewhere. Torn down at the end, also on failure.
"""

import os
import shutil
import signal
import subprocess
import sys
import uuid

import pytest

from runtime_helpers import (REPO, TINY_PONG_FLAGS, checkpoint_values,
                             child_env, frames_of, latest_checkpoint, wait_for)

pytestmark = pytest.mark.e2e

LEARNER_IP, OUTSIDER_IP = '192.0.2.1', '192.0.2.10'
ACTOR_IPS = ('192.0.2.2', '192.0.2.3')
ACTORS_NET = '192.0.2.0/30'  # .1 (learner), .2 and .3 (actors).
LEARNER_PORT, ACTOR_PORT = 8001, 8002
FRAMES_PER_UPDATE = 4 * 10 * 4
BUDGET = 40 * FRAMES_PER_UPDATE
# An unroll (11 frames of 84x84 bytes and more) is ~80 KB: an actor that
# enqueued at least a few unrolls sent far more than its parameter pulls.
MIN_ACTOR_TX_BYTES = 1_000_000


def _skip_reason():
  if not sys.platform.startswith('linux'):
    return 'network namespaces are Linux only'
  if os.geteuid() != 0:
    return 'needs root to create network namespaces'
  if shutil.which('ip') is None:
    return 'needs `ip` (iproute2)'
  if shutil.which('nft') is None:  # Before any training, not after it.
    return 'needs `nft` for the firewall check (apt-get install nftables)'
  probe = f'imp-probe-{uuid.uuid4().hex[:6]}'
  result = subprocess.run(['ip', 'netns', 'add', probe], capture_output=True,
                          text=True)
  if result.returncode != 0:
    return f'cannot create a network namespace: {result.stderr.strip()}'
  subprocess.run(['ip', 'netns', 'del', probe], capture_output=True)
  return None


def _ip(*args, check=True):
  return subprocess.run(['ip', *args], capture_output=True, text=True,
                        check=check, timeout=30)


class Topology:
  """Four namespaces (learner, actor 0, actor 1, outsider) on one bridge."""

  def __init__(self):
    tag = uuid.uuid4().hex[:6]
    self.learner = f'imp-{tag}-l'
    self.actors = [f'imp-{tag}-a', f'imp-{tag}-b']
    self.outsider = f'imp-{tag}-x'
    self.created = []

  def build(self):
    for ns in [self.learner, *self.actors, self.outsider]:
      _ip('netns', 'add', ns)
      self.created.append(ns)
      _ip('-n', ns, 'link', 'set', 'lo', 'up')
    _ip('-n', self.learner, 'link', 'add', 'br0', 'type', 'bridge')
    _ip('-n', self.learner, 'addr', 'add', f'{LEARNER_IP}/24', 'dev', 'br0')
    _ip('-n', self.learner, 'link', 'set', 'br0', 'up')
    peers = list(zip(self.actors, ACTOR_IPS)) + [(self.outsider,
                                                  OUTSIDER_IP)]
    for k, (ns, address) in enumerate(peers):
      # Both ends are created inside namespaces: the host never sees them.
      _ip('-n', self.learner, 'link', 'add', f'port{k}', 'type', 'veth',
          'peer', 'name', 'eth0', 'netns', ns)
      _ip('-n', self.learner, 'link', 'set', f'port{k}', 'master', 'br0')
      _ip('-n', self.learner, 'link', 'set', f'port{k}', 'up')
      _ip('-n', ns, 'addr', 'add', f'{address}/24', 'dev', 'eth0')
      _ip('-n', ns, 'link', 'set', 'eth0', 'up')

  def firewall(self):
    """The README's rule, inside the learner's namespace (False: no nft)."""
    if shutil.which('nft') is None:
      return False
    for rule in (
        'add table inet filter',
        'add chain inet filter input { type filter hook input priority 0 ; }',
        f'add rule inet filter input tcp dport {LEARNER_PORT} '
        f'ip saddr != {ACTORS_NET} drop'):
      subprocess.run(['ip', 'netns', 'exec', self.learner, 'nft', *
                      rule.split()], check=True, capture_output=True,
                     timeout=30)
    return True

  def tx_bytes(self, ns):
    out = _ip('-n', ns, '-s', 'link', 'show', 'eth0').stdout.splitlines()
    tx = next(i for i, line in enumerate(out) if line.strip().startswith('TX'))
    return int(out[tx + 1].split()[0])

  def teardown(self):
    for ns in self.created:  # Deleting a namespace deletes its links.
      _ip('netns', 'del', ns, check=False)


def _start(ns, logdir, flags, log_path):
  out = open(log_path, 'w')
  return subprocess.Popen(
      ['ip', 'netns', 'exec', ns, sys.executable, '-m',
       'scalable_agent_tf2.experiment', f'--logdir={logdir}', *flags],
      cwd=REPO, env=child_env(), stdout=out, stderr=subprocess.STDOUT,
      start_new_session=True)


def _kill(proc):
  if proc.poll() is None:
    os.killpg(proc.pid, signal.SIGKILL)
  proc.wait(timeout=30)


def _reachable_from(ns, address, port):
  code = (f'import socket; socket.create_connection(("{address}", {port}), '
          'timeout=3).close()')
  return subprocess.run(['ip', 'netns', 'exec', ns, sys.executable, '-c',
                         code], capture_output=True, timeout=30
                        ).returncode == 0


@pytest.mark.timeout(900)
def test_learner_and_two_actors_on_three_hosts(tmp_path):
  reason = _skip_reason()
  if reason:
    pytest.skip(reason)
  topology = Topology()
  procs = []
  try:
    topology.build()
    firewalled = topology.firewall()
    logdir = str(tmp_path / 'run')
    common = [*TINY_PONG_FLAGS, f'--total_environment_frames={BUDGET}',
              f'--learner_address={LEARNER_IP}:{LEARNER_PORT}']
    learner = _start(topology.learner, logdir,
                     ['--job_name=learner', *common],
                     str(tmp_path / 'learner.log'))
    procs.append(learner)
    for task, (ns, address) in enumerate(zip(topology.actors, ACTOR_IPS)):
      procs.append(_start(
          ns, logdir, ['--job_name=actor', f'--task={task}', *common,
                       f'--actor_address={address}:{ACTOR_PORT}'],
          str(tmp_path / f'actor_{task}.log')))
    assert wait_for(lambda: _reachable_from(topology.actors[0], LEARNER_IP,
                                            LEARNER_PORT), 300), \
        'the learner is reachable from actor 0\'s host'
    if firewalled:
      assert not _reachable_from(topology.outsider, LEARNER_IP,
                                 LEARNER_PORT), \
          'the firewall keeps the outsider away from the learner port'
      assert _reachable_from(topology.actors[1], LEARNER_IP, LEARNER_PORT), \
          'while the actors\' hosts still reach it'
    assert learner.wait(timeout=600) == 0, open(tmp_path / 'learner.log'
                                                ).read()[-3000:]
    for task, proc in enumerate(procs[1:]):
      assert proc.wait(timeout=60) == 0, open(
          tmp_path / f'actor_{task}.log').read()[-3000:]
    logs = [open(tmp_path / f'actor_{k}.log').read() for k in (0, 1)]
    for task, log in enumerate(logs):
      assert (f'Actor {task} connected to the learner at '
              f'{LEARNER_IP}:{LEARNER_PORT}') in log, log[-2000:]
      assert 'the learner closed the queue' in log, log[-2000:]
    # Both contributed: each actor's host sent unrolls, not just requests.
    sent = [topology.tx_bytes(ns) for ns in topology.actors]
    assert min(sent) >= MIN_ACTOR_TX_BYTES, sent
    assert frames_of(checkpoint_values(latest_checkpoint(logdir))) == BUDGET
    if not firewalled:
      pytest.skip('trained across three hosts; no `nft` for the firewall '
                  'check (apt-get install nftables)')
  finally:
    for proc in procs:
      _kill(proc)
    topology.teardown()
  leftover = _ip('netns', 'list').stdout
  assert all(ns not in leftover for ns in topology.created)
