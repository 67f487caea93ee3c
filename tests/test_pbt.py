"""Population-based training (Appendix F): explore, exploit, the member's
schedule and its skips, the root's files. No processes: a real Learner in
this process and a hand-written population root."""

import math
import os
import random
import sys

import numpy as np
import pytest
import tensorflow as tf

from scalable_agent_tf2 import learner as learner_lib
from scalable_agent_tf2 import networks
from scalable_agent_tf2 import suites
from scalable_agent_tf2.config import Config
from scalable_agent_tf2.pbt import driver
from scalable_agent_tf2.pbt import hyperparameters as hp_lib
from scalable_agent_tf2.pbt import member as member_lib
from scalable_agent_tf2.pbt import population
from scalable_agent_tf2.runtime import checkpoints

import test_learner

A = test_learner.A


def make_learner(seed, **kwargs):
  config = test_learner.make_config(**kwargs)
  tf.random.set_seed(seed)
  learner = learner_lib.Learner(networks.ImpalaAgent(A, torso='deep',
                                                     use_lstm=True), config)
  batch = test_learner.random_batch(seed=seed)
  learner.initialize(learner_lib.batch_major_to_time_major(batch))
  learner.train_step(batch, np.zeros([test_learner.B], np.int64))
  return learner


class FakeProcess:
  """What member.Member uses of the learner process."""

  def __init__(self, learner, logdir, mean_return):
    self.learner = learner
    self.checkpoint = checkpoints.make_checkpoint(
        learner, tf.random.Generator.from_seed(1))
    learner_lib.attach_to_checkpoint(self.checkpoint, learner, None)
    self.manager = checkpoints.make_manager(self.checkpoint, logdir)
    self.mean_return = mean_return
    self.saves = []

  @property
  def frames(self):
    return int(self.learner.num_env_frames.numpy())

  def episodes(self, n, episode_return=None):
    """`n` finished Pong episodes as the learner reports them."""
    if episode_return is None:
      episode_return = self.mean_return
    return [('Pong', episode_return, 1000)] * n

  def save(self, reason):
    self.saves.append(self.manager.save())


def values(variables):
  return [v.numpy().copy() for v in variables]


def state_of(learner):
  return (list(learner.agent.variables), learner.optimizer.ms,
          learner.optimizer.mom)


# -- Explore ---------------------------------------------------------------------


def test_perturb_is_exactly_times_or_over_1_2_with_probability_0_33():
  rng = random.Random(7)
  names = ('learning_rate', 'entropy_cost', 'epsilon')
  start = {'learning_rate': 3e-4, 'entropy_cost': 0.01, 'epsilon': 1e-5,
           'grad_norm_clip': 40.0}
  draws, changed, up = 6000, 0, 0
  for _ in range(draws):
    new, changes = hp_lib.perturb(rng, start, names)
    assert new['grad_norm_clip'] == 40.0  # Not evolved here.
    for name in names:
      if name not in changes:
        assert new[name] == start[name]
        continue
      changed += 1
      assert new[name] in (start[name] * 1.2, start[name] / 1.2)
      up += new[name] == start[name] * 1.2
      assert changes[name] == ('*1.2' if new[name] == start[name] * 1.2
                               else '/1.2')
  n = draws * len(names)
  # Binomial(n, 0.33): within 4 standard deviations.
  assert abs(changed - 0.33 * n) < 4 * math.sqrt(n * 0.33 * 0.67)
  assert abs(up - 0.5 * changed) < 4 * math.sqrt(changed * 0.25)


def test_perturb_is_reproducible_from_its_seed():
  start = {'learning_rate': 1e-3, 'entropy_cost': 0.01, 'epsilon': 0.1}
  names = tuple(start)
  first = [hp_lib.perturb(random.Random(3), start, names) for _ in range(2)]
  assert first[0] == first[1]


def test_sampling_follows_table_d1():
  rng = random.Random(0)
  base = {'learning_rate': 6e-4, 'entropy_cost': 0.01, 'epsilon': 0.01,
          'grad_norm_clip': 40.0}
  draws = [hp_lib.sample(rng, hp_lib.default_evolved(40.0), base)
           for _ in range(2000)]
  lrs = np.log([d['learning_rate'] for d in draws])
  assert lrs.min() >= math.log(5e-6) and lrs.max() <= math.log(5e-3)
  # Log-uniform: the log's mean is the middle of the log range.
  assert abs(lrs.mean() - (math.log(5e-6) + math.log(5e-3)) / 2) < 0.15
  entropies = [d['entropy_cost'] for d in draws]
  assert 5e-5 <= min(entropies) and max(entropies) <= 1e-2
  assert {d['epsilon'] for d in draws} == {1e-1, 1e-3, 1e-5, 1e-7}
  assert {d['grad_norm_clip'] for d in draws} == {40.0}
  assert hp_lib.default_evolved(0.0) == ('learning_rate', 'entropy_cost',
                                         'epsilon')


# -- Exploit ---------------------------------------------------------------------


def test_exploit_copies_parameters_slots_and_hyperparameters_bitwise(
    tmp_path):
  peer = make_learner(1, learning_rate=0.002, entropy_cost=0.05)
  peer.hyperparameters.assign({'epsilon': 0.125})
  peer_process = FakeProcess(peer, str(tmp_path / 'peer'), 0.0)
  peer_process.save('test')
  path = peer_process.saves[-1]
  mine = make_learner(2)
  frames, updates = int(mine.num_env_frames), int(mine.num_updates)
  for a, b in zip(values(mine.agent.trainable_variables),
                  values(peer.agent.trainable_variables)):
    assert not np.array_equal(a, b)
  member_lib.copy_from_checkpoint(mine, path)
  for group_mine, group_peer in zip(state_of(mine), state_of(peer)):
    assert len(group_mine) == len(group_peer) > 0
    for a, b in zip(group_mine, group_peer):
      np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert mine.hyperparameters.values() == peer.hyperparameters.values()
  # Its own counters stay: the LR decay continues from its own frames.
  assert (int(mine.num_env_frames), int(mine.num_updates)) == (frames,
                                                               updates)


def test_exploit_of_an_unreadable_checkpoint_changes_nothing(tmp_path):
  mine = make_learner(2)
  before = [values(group) for group in state_of(mine)]
  hyperparameters = mine.hyperparameters.values()
  bad = tmp_path / 'ckpt-1'
  (tmp_path / 'ckpt-1.index').write_bytes(b'not a checkpoint')
  for path in (str(tmp_path / 'missing'), str(bad)):
    with pytest.raises(member_lib.ExploitError):
      member_lib.copy_from_checkpoint(mine, path)
  for group, saved in zip(state_of(mine), before):
    for v, b in zip(group, saved):
      np.testing.assert_array_equal(v.numpy(), b)
  assert mine.hyperparameters.values() == hyperparameters


# -- The member's schedule -----------------------------------------------------


def make_root(tmp_path, **kwargs):
  root = str(tmp_path / 'population')
  settings = dict(population=2, burn_in_frames=1000, ready_episodes=3,
                  threshold=5.0)
  settings.update(kwargs)
  population.write_settings(root, population.Settings(**settings))
  return root


def make_member(root, mean_return=-21.0, **kwargs):
  logdir = population.member_logdir(root, 0)
  os.makedirs(logdir, exist_ok=True)
  learner = make_learner(2, logdir=logdir, **kwargs)
  process = FakeProcess(learner, logdir, mean_return)
  config = learner._config  # pylint: disable=protected-access
  return member_lib.create(config, process), process


def publish_peer(root, fitness, checkpoint=None):
  logdir = population.member_logdir(root, 1)
  os.makedirs(logdir, exist_ok=True)
  if checkpoint is None:
    peer = make_learner(1, learning_rate=0.004)
    process = FakeProcess(peer, logdir, 0.0)
    process.save('peer')
    checkpoint = os.path.relpath(process.saves[-1], root)
  else:
    peer = None
  population.publish_status(logdir, dict(member=1, frames=10, fitness=fitness,
                                         checkpoint=checkpoint))
  return peer


def events(root, index=0):
  return [r['event'] for r in population.read_log(
      population.member_logdir(root, index))]


def own_fitness():
  return suites.get('atari').human_normalized_score('Pong', -21.0)


def test_only_a_member_logdir_gets_the_hook(tmp_path):
  root = make_root(tmp_path)
  assert population.member_of(str(tmp_path)) is None
  assert population.member_of(os.path.join(root, 'member_2')) is None
  assert population.member_of(os.path.join(root, 'member_1'))[1] == 1
  assert member_lib.create(Config(logdir=str(tmp_path / 'run')), None) is None


def test_no_exploit_before_the_burn_in(tmp_path):
  root = make_root(tmp_path, burn_in_frames=10**9)
  publish_peer(root, fitness=own_fitness() + 50)
  member, process = make_member(root)
  before = values(process.learner.agent.variables)
  member.after_update(process.frames, process.episodes(100))
  assert events(root) == ['start']
  assert population.read_status(population.member_logdir(root, 0)) is None
  for a, b in zip(before, values(process.learner.agent.variables)):
    np.testing.assert_array_equal(a, b)


def test_ready_every_n_episodes_after_the_burn_in(tmp_path):
  root = make_root(tmp_path, burn_in_frames=0, ready_episodes=3,
                   threshold=1000.0)
  publish_peer(root, fitness=own_fitness())
  member, process = make_member(root)
  for _ in range(2):
    member.after_update(process.frames, process.episodes(1))
  assert 'ready' not in events(root)
  member.after_update(process.frames, process.episodes(1))
  assert events(root).count('ready') == 1
  status = population.read_status(population.member_logdir(root, 0))
  assert status['fitness'] == pytest.approx(own_fitness())
  assert os.path.exists(os.path.join(root, status['checkpoint']) + '.index')


def test_fitness_counts_only_the_episodes_since_the_last_step(tmp_path):
  # A scripted log: 3 episodes at +21, a step, then 3 at -21. The second
  # fitness is Pong's score at -21, not at the mean of all six (0).
  root = make_root(tmp_path, burn_in_frames=0, ready_episodes=3,
                   threshold=1000.0)
  publish_peer(root, fitness=0.0)
  member, process = make_member(root)
  member.after_update(process.frames, process.episodes(3, 21.0))
  member.after_update(process.frames, process.episodes(2, -21.0))
  member.after_update(process.frames, process.episodes(1, -21.0))
  ready = [r for r in population.read_log(population.member_logdir(root, 0))
           if r['event'] == 'ready']
  score = suites.get('atari').human_normalized_score
  assert [r['fitness'] for r in ready] == [
      pytest.approx(score('Pong', 21.0)), pytest.approx(score('Pong', -21.0))]


def test_a_level_without_episodes_in_the_window_holds_the_step(tmp_path):
  root = make_root(tmp_path, burn_in_frames=0, ready_episodes=2)
  member, process = make_member(root, level_name='atari57')
  member.after_update(process.frames, process.episodes(5))
  assert 'ready' not in events(root)  # 56 games have no episode yet.


@pytest.mark.parametrize('margin,copies', [(4.0, False), (5.0, False),
                                           (6.0, True)])
def test_exploit_only_when_the_peer_is_more_than_5_points_better(
    tmp_path, margin, copies):
  root = make_root(tmp_path, burn_in_frames=0, ready_episodes=1)
  peer = publish_peer(root, fitness=own_fitness() + margin)
  member, process = make_member(root)
  before = values(process.learner.agent.variables)
  member.after_update(process.frames, process.episodes(1))
  log = population.read_log(population.member_logdir(root, 0))
  assert ('exploit' in [r['event'] for r in log]) == copies
  after = values(process.learner.agent.variables)
  if copies:
    for a, b in zip(after, values(peer.agent.variables)):
      np.testing.assert_array_equal(a, b)
    exploit = [r for r in log if r['event'] == 'exploit'][0]
    assert exploit['peer'] == 1 and exploit['peer_frames'] == 10
  else:
    for a, b in zip(before, after):
      np.testing.assert_array_equal(a, b)
  # Explore runs either way; every change is logged with its factor.
  for record in log:
    if record['event'] == 'perturb':
      for name, change in record['changes'].items():
        factor = 1.2 if change == '*1.2' else 1 / 1.2
        assert record['hyperparameters'][name] == pytest.approx(
            record['before'][name] * factor, rel=1e-6)


@pytest.mark.parametrize('checkpoint', ['member_1/checkpoints/ckpt-404',
                                        None])
def test_a_peer_without_readable_checkpoint_is_skipped_and_logged(
    tmp_path, checkpoint):
  root = make_root(tmp_path, burn_in_frames=0, ready_episodes=1)
  if checkpoint is None:  # No status at all.
    os.makedirs(population.member_logdir(root, 1))
  else:
    publish_peer(root, fitness=own_fitness() + 50, checkpoint=checkpoint)
  member, process = make_member(root)
  before = values(process.learner.agent.variables)
  member.after_update(process.frames, process.episodes(1))
  log = population.read_log(population.member_logdir(root, 0))
  skips = [r for r in log if r['event'] == 'skip']
  assert len(skips) == 1 and skips[0]['peer'] == 1 and skips[0]['reason']
  for a, b in zip(before, values(process.learner.agent.variables)):
    np.testing.assert_array_equal(a, b)


# -- The driver's input -----------------------------------------------------------


def test_driver_splits_pbt_flags_and_keeps_member_draws(tmp_path):
  spec = driver.Spec(root=str(tmp_path / 'root'), population=3, env='atari',
                     level_name='Pong', total_environment_frames=10_000,
                     extra='--num_actors=2 --pbt_burn_in_frames=0 '
                     '--pbt_threshold=0.5')
  spec = driver.split_pbt_flags(spec)
  assert (spec.burn_in_frames, spec.threshold) == (0, 0.5)
  assert spec.extra == '--num_actors=2'
  base = driver.base_config(spec, ['--num_actors=2'])
  first = driver.settings_for(spec, base)
  again = driver.settings_for(spec, base)
  assert first.members == again.members and len(first.members) == 3
  assert len({m['hyperparameters']['learning_rate']
              for m in first.members}) == 3
  assert [m['seed'] for m in first.members] == [1, 2, 3]
  command = driver.member_command(spec, first, 1, ['--num_actors=2'])
  assert f'--logdir={os.path.join(spec.root, "member_1")}' in command
  with pytest.raises(population.PopulationError):
    driver.settings_for(driver.Spec(**{**spec.__dict__, 'population': 4}),
                        base)
  with pytest.raises(ValueError, match='learning_rate'):
    driver.run_population(driver.Spec(**{
        **spec.__dict__, 'extra': '--learning_rate=0.1', 'dry_run': True}))


def test_member_supervisor_restarts_a_dying_experiment(tmp_path, capfd):
  counter = tmp_path / 'starts'
  # Dies (exit 3) on its first two starts, then finishes.
  script = (f'import sys, pathlib; p = pathlib.Path({str(counter)!r}); '
            'n = int(p.read_text()) if p.exists() else 0; '
            'p.write_text(str(n + 1)); sys.exit(3 if n < 2 else 0)')
  assert driver.run_member([sys.executable, '-c', script], 3) == 0
  assert counter.read_text() == '3'
  assert 'restart 2/3 from its checkpoint' in capfd.readouterr().out
  counter.unlink()
  assert driver.run_member([sys.executable, '-c', script], 1) == 3
  assert counter.read_text() == '2'
