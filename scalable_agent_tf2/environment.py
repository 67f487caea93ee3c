"""The contract between environment suites and the runtime.

A suite (`atari57`, `dmlab30`) supplies environments that follow `Environment`:
plain Python/numpy objects that live in the actor process that owns them. The
runtime never looks inside; it calls `initial()` once and then `step(action)`
forever. Environments reset themselves at episode end (the released code's
`FlowEnvironment` behaviour), so an actor's stream of `StepOutput`s is
continuous across episodes.
"""

import abc
import time
from typing import Optional, Tuple

import numpy as np

from scalable_agent_tf2.structures import StepOutput, StepOutputInfo


class Environment(abc.ABC):
  """One environment instance, stepped by an actor.

  Attributes (set by subclasses before use):
    level_name: str, the level or game this instance plays (used for per-level
      summaries and scoring).
    num_actions: int, size of the discrete action set the agent sees.
    frame_shape: tuple (H, W, C) of the uint8 frame.
  """

  level_name: str
  num_actions: int
  frame_shape: Tuple[int, int, int]

  @abc.abstractmethod
  def initial(self) -> StepOutput:
    """Resets and returns the first StepOutput.

    reward 0.0, info (0.0, 0, False), done True (the first observation starts
    an episode), observation (frame uint8 [H, W, C], instruction bytes).
    """

  @abc.abstractmethod
  def step(self, action: int) -> StepOutput:
    """Applies `action` (with the suite's action repeat) and returns the result.

    On the end of a learning episode the returned `done` is True, `reward` is
    the last reward of the old episode, and `observation` is already the first
    observation of the next episode (the environment reset itself; on an Atari
    life loss it just continues the game).
    """

  def close(self) -> None:
    """Releases the emulator/engine. Safe to call twice."""

  def rgb_frame(self) -> Optional[np.ndarray]:
    """The current screen in full colour before any preprocessing, uint8
    [H, W, 3] (test-mode videos), or None if this environment has none."""
    return None


class EpisodeTracker:
  """Running return/length of the real episode, shared by all suites.

  `update(reward, episode_done)` returns the StepOutputInfo for a step and
  resets the counters after a finished episode, so the info on the
  `episode_done` step carries the finished episode's totals.
  """

  def __init__(self):
    self.episode_return = 0.0
    self.episode_step = 0

  def reset(self) -> StepOutputInfo:
    self.episode_return = 0.0
    self.episode_step = 0
    return StepOutputInfo(np.float32(0.0), np.int32(0), False)

  def update(self, reward: float, episode_done: bool) -> StepOutputInfo:
    self.episode_return += float(reward)
    self.episode_step += 1
    info = StepOutputInfo(np.float32(self.episode_return),
                          np.int32(self.episode_step), bool(episode_done))
    if episode_done:
      self.episode_return = 0.0
      self.episode_step = 0
    return info


class SlowRestarts(Environment):
  """An environment whose episode ends sometimes take long (Table 1's
  second task: variable-length episodes with slow restarts, as DMLab's
  level restarts are; docs/actor_hosts.md, "Slow restarts").

  At the end of each learning episode (a `done` step), with probability
  `fraction` drawn from a generator seeded by `seed`, sleeps `delay_secs`
  before returning, as a slow reset would. Everything else is `env`'s.
  """

  def __init__(self, env: Environment, delay_secs: float, fraction: float,
               seed: int):
    self._env = env
    self._delay = float(delay_secs)
    self._fraction = float(fraction)
    self._rng = np.random.default_rng(seed)
    self.level_name = env.level_name
    self.num_actions = env.num_actions
    self.frame_shape = env.frame_shape
    self.slow_restarts = 0

  def initial(self) -> StepOutput:
    return self._env.initial()

  def step(self, action: int) -> StepOutput:
    output = self._env.step(action)
    if output.done and self._rng.random() < self._fraction:
      self.slow_restarts += 1
      time.sleep(self._delay)
    return output

  def close(self) -> None:
    self._env.close()

  def rgb_frame(self) -> Optional[np.ndarray]:
    return self._env.rgb_frame()


def with_slow_restarts(env: Environment, config, seed: int) -> Environment:
  """`env` wrapped in SlowRestarts when --env_reset_delay_ms is set."""
  if not config.env_reset_delay_ms:
    return env
  return SlowRestarts(env, config.env_reset_delay_ms / 1000.0,
                      config.env_reset_delay_fraction, seed)
