"""A training run's agent, for the diagnostics that read a run's checkpoint
(`bench.torso_health`, `bench.clip_budget`): its config, a built agent, the
checkpoint's weights and its RMSProp `ms` slots."""

from typing import List, Optional, Tuple

import numpy as np


def feedforward_atari_run(logdir: str, tool: str) -> Tuple[object, str]:
  """(resolved Config, latest checkpoint path) of the run in `logdir`.

  Raises:
    SystemExit: no config.json, not a feed-forward Atari run, or no
      checkpoint (named for `tool`).
  """
  from scalable_agent_tf2 import config as config_lib  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import run_dir  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import checkpoints  # pylint: disable=g-import-not-at-top
  saved = run_dir.read_config(logdir)
  if not saved:
    raise SystemExit(f'{logdir} has no {run_dir.CONFIG_FILE}: not a run.')
  if saved.get('env') != 'atari' or saved.get('use_lstm'):
    raise SystemExit(f'{tool} reads feed-forward Atari runs only.')
  path = checkpoints.latest_checkpoint(logdir)
  if not path:
    raise SystemExit(f'{logdir} has no checkpoint.')
  known = set(config_lib.Config.__dataclass_fields__)
  return config_lib.Config(**{k: v for k, v in saved.items() if k in known}
                           ).resolve(), path


def fresh_agent(config, seed: int):
  """The agent of `config` with its variables created, TF seeded with
  `seed` (a fresh initialisation)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import suites  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import actor as actor_lib  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import unrolls  # pylint: disable=g-import-not-at-top
  suite = suites.get(config.env)
  tf.random.set_seed(seed)
  agent = actor_lib.build_agent(config, suite.num_actions(config))
  # One step on zeros creates the variables (Sonnet builds on first call).
  zeros = unrolls.zeros_like_spec(
      unrolls.step_output_spec(suite.frame_shape(config)), leading=[1])
  agent.step(tf.nest.map_structure(tf.convert_to_tensor, zeros),
             tf.zeros([1], tf.int32), ())
  return agent


def restore(agent, path: str) -> None:
  """Loads the checkpoint's agent weights into `agent`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.train.Checkpoint(agent=agent).restore(path).expect_partial()


def rmsprop_ms(agent, path: Optional[str]) -> List[np.ndarray]:
  """The checkpoint's RMSProp `ms` slot per trainable variable of `agent`
  (ones, TF1's start, without a checkpoint or for a slot it lacks).

  Raises:
    SystemExit: a slot whose shape is not its variable's (the slots follow
      the order of `agent.trainable_variables`).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  variables = agent.trainable_variables
  ms = [np.ones(v.shape) for v in variables]
  if not path:
    return ms
  reader = tf.train.load_checkpoint(path)
  for i, v in enumerate(variables):
    key = f'optimizer/ms/{i}/.ATTRIBUTES/VARIABLE_VALUE'
    if reader.has_tensor(key):
      ms[i] = reader.get_tensor(key)
      if ms[i].shape != tuple(v.shape):
        raise SystemExit(f'{path}: RMSProp slot {i} has shape '
                         f'{ms[i].shape}, {v.name} {tuple(v.shape)}.')
  return ms
