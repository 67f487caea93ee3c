"""The population member's hook in the learner's train loop (Appendix F).

`create(config, process)` returns a `Member` when the run's logdir is a
member of a population root (population.py), else None. The learner
process calls `after_update(frames, episodes)` after every update with the
episodes that ended in its batch.

A member is *ready* once its own frame count has passed the burn-in and it
has finished `ready_episodes` further episodes (over all its levels) since
it was last ready. Then, in this order (docs/impala.md §4.3):
  1. fitness: the human-normalised score (fitness.py) of each level's mean
     return over the episodes since the last ready step, so returns from
     before a copy never count towards the next fitness (docs/pbt.md). A
     level with no episode in that window holds the step back until it has
     one;
  2. publish: save a checkpoint into <member>/pbt_checkpoints/ and replace
     pbt_status.json with (frames, fitness, that checkpoint, the current
     hyperparameters);
  3. exploit: pick one other member uniformly at random; if its published
     fitness is more than `threshold` points higher, copy the agent's
     parameters, the RMSProp slots and the hyperparameters from the
     checkpoint it published. The member keeps its own frame and update
     counters, so the learning-rate decay continues from its own frames. A
     peer with no status or no readable checkpoint is skipped (logged);
  4. explore: whether or not it copied, perturb each evolved hyperparameter
     (hyperparameters.perturb), then save a regular checkpoint.
Every step is a line of the member's pbt_log.jsonl.
"""

import collections
import os
import random
from typing import Dict, Iterable, List, Optional, Tuple

from absl import logging
import tensorflow as tf

from scalable_agent_tf2 import learner as learner_lib
from scalable_agent_tf2.pbt import fitness as fitness_lib
from scalable_agent_tf2.pbt import hyperparameters as hp_lib
from scalable_agent_tf2.pbt import population

PBT_CHECKPOINT_DIR = 'pbt_checkpoints'


class ExploitError(RuntimeError):
  """A peer's checkpoint cannot be copied (the member state is unchanged)."""


def create(config, process) -> Optional['Member']:
  """The hook for a member's learner process, or None for other runs."""
  found = population.member_of(config.logdir)
  if found is None:
    return None
  root, index, settings = found
  return Member(config, process, root, index, settings)


def copy_from_checkpoint(learner, path: str) -> None:
  """Copies parameters, RMSProp slots and hyperparameters from `path`.

  All or nothing: on any failure the learner's values are put back.

  Raises:
    ExploitError: the checkpoint is missing, unreadable or incomplete.
  """
  try:
    if not learner_lib.has_hyperparameters(path):
      raise ExploitError(f'{path} holds no hyperparameters.')
  except ExploitError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise ExploitError(f'{path} cannot be read: '
                       f'{str(e).splitlines()[0][:200]}') from None
  variables = (list(learner.agent.variables) + learner.optimizer.ms
               + learner.optimizer.mom
               + [getattr(learner.hyperparameters, n)
                  for n in learner.hyperparameters.NAMES])
  before = [v.numpy() for v in variables]
  source = tf.train.Checkpoint(
      agent=learner.agent, optimizer=learner.optimizer,
      **{learner_lib.HYPERPARAMETERS_KEY: learner.hyperparameters})
  try:
    source.restore(path).expect_partial().assert_existing_objects_matched()
  except Exception as e:  # pylint: disable=broad-except
    for variable, value in zip(variables, before):
      variable.assign(value)
    raise ExploitError(f'{path} cannot be restored: '
                       f'{str(e).splitlines()[0][:200]}') from None


class Member:
  """Exploit and explore for one member (see the module docstring)."""

  def __init__(self, config, process, root: str, index: int,
               settings: population.Settings):
    self.config, self.process = config, process
    self.root, self.index, self.settings = root, index, settings
    self.logdir = population.member_logdir(root, index)
    # Level -> returns of the episodes since the last ready step.
    self._returns: Dict[str, List[float]] = collections.defaultdict(list)
    self._episodes = 0
    self._manager = tf.train.CheckpointManager(
        process.checkpoint, os.path.join(self.logdir, PBT_CHECKPOINT_DIR),
        max_to_keep=2, checkpoint_name='pbt')
    self._log('start')

  @property
  def hyperparameters(self):
    return self.process.learner.hyperparameters

  def _log(self, event: str, **fields) -> None:
    population.append_log(self.logdir, dict(
        event=event, member=self.index, frames=self.process.frames,
        hyperparameters=self.hyperparameters.values(), **fields))

  def after_update(self, frames: int,
                   episodes: Iterable[Tuple[str, float, int]]) -> None:
    """Records episodes; runs the exploit/explore step when ready.

    Args:
      frames: the member's environment frames after the update.
      episodes: (level name, episode return, episode frames) of the
        episodes that ended in the update's fresh unrolls.
    """
    for level, episode_return, _ in episodes:
      self._returns[level].append(episode_return)
      self._episodes += 1
    if (frames < self.settings.burn_in_frames
        or self._episodes < self.settings.ready_episodes):
      return
    fitness = fitness_lib.fitness(self.config, self.window_mean_returns(),
                                  self.settings.fitness_cap)
    if fitness is None:
      return  # A level has no episode since the last step yet.
    self._returns.clear()
    self._episodes = 0
    self.step(frames, fitness)

  def window_mean_returns(self) -> Dict[str, float]:
    """Level -> mean return of its episodes since the last ready step."""
    return {level: sum(r) / len(r) for level, r in self._returns.items() if r}

  def step(self, frames: int, fitness: float) -> None:
    """Publish, exploit (maybe), explore, checkpoint."""
    path = self._manager.save(checkpoint_number=frames)
    population.publish_status(self.logdir, dict(
        member=self.index, frames=frames, fitness=fitness,
        checkpoint=os.path.relpath(path, self.root),
        hyperparameters=self.hyperparameters.values()))
    # One generator per ready step: reproducible, and the same after a
    # restart at the same frame count.
    rng = random.Random(f'{self.settings.seed}/{self.index}/{frames}')
    peer = rng.choice([i for i in range(self.settings.population)
                       if i != self.index])
    self.exploit(peer, fitness)
    self.explore(rng)
    self.process.save('pbt')

  def exploit(self, peer: int, fitness: float) -> bool:
    """Copies from `peer` if it is better by more than the threshold."""
    status = population.read_status(population.member_logdir(self.root, peer))
    peer_fitness = None if status is None else status.get('fitness')
    self._log('ready', fitness=fitness, peer=peer, peer_fitness=peer_fitness)
    if peer_fitness is None:
      self._log('skip', peer=peer, reason='the peer has published no '
                'fitness yet')
      return False
    if peer_fitness - fitness <= self.settings.threshold:
      return False
    path = os.path.join(self.root, status['checkpoint'])
    try:
      copy_from_checkpoint(self.process.learner, path)
    except ExploitError as e:
      logging.warning('PBT: skipping the exploit of member %d: %s', peer, e)
      self._log('skip', peer=peer, reason=str(e))
      return False
    logging.info('PBT: copied member %d (its fitness %.2f, ours %.2f, '
                 'threshold %g) from %s.', peer, peer_fitness, fitness,
                 self.settings.threshold, path)
    self._log('exploit', peer=peer, peer_fitness=peer_fitness,
              peer_frames=status.get('frames'), fitness=fitness,
              checkpoint=status['checkpoint'])
    return True

  def explore(self, rng: random.Random) -> None:
    before = self.hyperparameters.values()
    after, changes = hp_lib.perturb(
        rng, before, self.settings.hyperparameters,
        population.PERTURB_PROBABILITY, population.PERTURB_FACTOR)
    if changes:
      self.hyperparameters.assign(after)
      self._log('perturb', changes=changes, before=before)
