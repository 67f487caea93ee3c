"""`--mode=test`: run the latest checkpoint's agent and record episode returns.

Writes `<logdir>/test_results.json`:
  {"env", "level_name", "frames" (the checkpoint's frame counter),
   "checkpoint", "test_num_episodes", "test_policy", "videos" (MP4 paths),
   "level_returns": {level: [episode returns]},
   "level_episode_steps": {level: [episode lengths in agent steps]}}

Protocol: actions are sampled from the policy, as in training (docs/impala.md
§2; `--test_policy=greedy` takes the most probable action instead);
environments are created with `is_test=True` (DMLab: held-out test levels and
the fixed mixer seed; Atari: the same 1-30 no-op starts and 108K-frame cap,
paper Appendix G). Each level's episodes are split over `--num_actors` worker
processes, each stepping `--envs_per_actor` environments with one batched
forward pass. Every environment plays a fixed number of whole episodes, so
short episodes are not over-represented.
"""

import concurrent.futures
import multiprocessing
import os
import time
from typing import Dict, List, Tuple

from absl import logging
import numpy as np

from scalable_agent_tf2 import run_dir
from scalable_agent_tf2 import suites
from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import devices

EXIT_NO_CHECKPOINT = 2


def _split(total: int, parts: int) -> List[int]:
  base, extra = divmod(total, parts)
  return [base + (1 if i < extra else 0) for i in range(parts)]


def _work_items(config: Config, levels: List[str]) -> List[Tuple[str, int, int]]:
  """(level, episodes, first env index) per worker process."""
  workers = min(config.num_actors, os.cpu_count() or 1)
  workers_per_level = max(1, workers // max(1, len(levels)))
  items = []
  for li, level in enumerate(levels):
    for w, n in enumerate(_split(config.test_num_episodes, workers_per_level)):
      if n:
        items.append((level, n, 1_000_000 + 1000 * li + 100 * w))
  return items


# Per worker process: the agent restored from a checkpoint, reused for every
# level the worker evaluates (building and tracing it again costs seconds).
_WORKER_AGENTS = {}


def _restored_agent(config: Config, checkpoint_path: str, num_envs: int):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import actor as actor_lib  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import unrolls  # pylint: disable=g-import-not-at-top
  key = (checkpoint_path, num_envs)
  if key not in _WORKER_AGENTS:
    agent = actor_lib.build_agent(config,
                                  suites.get(config.env).num_actions(config))
    step = tf.function(agent.step)

    def act(outputs, actions, state):
      batch = tf.nest.map_structure(tf.convert_to_tensor,
                                    unrolls.stack_env_outputs(outputs))
      return step(batch, tf.convert_to_tensor(actions), state)

    _WORKER_AGENTS[key] = [agent, act, False]
  return _WORKER_AGENTS[key]


def test_actions(agent_output, policy: str) -> np.ndarray:
  """int32 [B] actions: the sampled ones (policy 'sample', the paper's) or
  the most probable under policy_logits [B, A] ('greedy')."""
  if policy == 'greedy':
    return np.argmax(np.asarray(agent_output.policy_logits), axis=-1).astype(
        np.int32)
  return np.asarray(agent_output.action)


def evaluate_level(config: Config, checkpoint_path: str, level: str,
                   num_episodes: int, first_env_index: int, videos: int = 0
                   ) -> Tuple[str, List[float], List[int]]:
  """Plays `num_episodes` whole episodes of `level` (in this process);
  the first `videos` episodes of its first environment go to MP4 files."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  tf.random.set_seed(config.seed + first_env_index)
  num_envs = max(1, min(config.envs_per_actor, num_episodes))
  quota = _split(num_episodes, num_envs)
  suite = suites.get(config.env)
  envs = [suite.make_environment(
      config, level, seed=suites.env_seed(config, first_env_index + k),
      is_test=True) for k in range(num_envs)]
  cached = _restored_agent(config, checkpoint_path, num_envs)
  agent, act, restored = cached
  outputs = [env.initial() for env in envs]
  state = agent.initial_state(num_envs)
  if not restored:
    act(outputs, np.zeros([num_envs], np.int32), state)  # Makes variables.
    # Every variable of the agent must come from the checkpoint (the optimiser
    # and counters in it are not needed here).
    tf.train.Checkpoint(agent=agent).restore(
        checkpoint_path).assert_existing_objects_matched()
    cached[2] = True
  recorder = None
  if videos:
    from scalable_agent_tf2 import videos as videos_lib  # pylint: disable=g-import-not-at-top
    recorder = videos_lib.EpisodeRecorder(config.logdir, level, videos,
                                          config.num_action_repeats)
  try:
    returns, lengths = _play(config, envs, outputs, quota, act, state,
                             recorder)
  finally:
    if recorder is not None:
      recorder.close()
    for env in envs:
      env.close()
  return level, returns, lengths


def _play(config, envs, outputs, quota, act, state, recorder):
  """Steps every environment through its quota of whole episodes; returns
  (episode returns, episode lengths in agent steps)."""
  returns, lengths = [], []
  done_counts = [0] * len(envs)
  actions = np.zeros([len(envs)], np.int32)
  if recorder is not None:
    recorder.add(envs[0].rgb_frame())
  while any(d < q for d, q in zip(done_counts, quota)):
    agent_output, state = act(outputs, actions, state)
    actions = test_actions(agent_output, config.test_policy)
    for k, env in enumerate(envs):
      if done_counts[k] >= quota[k]:
        continue
      outputs[k] = env.step(int(actions[k]))
      episode_done = outputs[k].info.episode_done
      if episode_done:
        done_counts[k] += 1
        returns.append(float(outputs[k].info.episode_return))
        lengths.append(int(outputs[k].info.episode_step))
      if k == 0 and recorder is not None:
        if episode_done:
          recorder.end_episode()
        recorder.add(env.rgb_frame())  # After a done: the next episode's.
  return returns, lengths


def _videos(config: Config, levels: List[str], every=False) -> List[str]:
  """The levels' video files in --logdir: the first --test_video of each
  (whole episodes only), or with `every` all there are."""
  paths = []
  for level in levels:
    i = 0
    while every or i < config.test_video:
      path = run_dir.video_path(config.logdir, level, i)
      if not os.path.exists(path):
        break
      paths.append(path)
      i += 1
  return paths


def run(config: Config) -> int:
  """Evaluates the latest checkpoint in --logdir; returns an exit code."""
  # Test processes leave the GPUs alone unless --actor_gpus names some
  # (runtime/devices.py); this one only reads the checkpoint's counter.
  devices.limit_actor_gpus(config.actor_gpus)
  from scalable_agent_tf2.runtime import checkpoints  # pylint: disable=g-import-not-at-top
  path = checkpoints.latest_checkpoint(config.logdir)
  if not path:
    logging.error('--mode=test: no checkpoint in %s. Train first (or point '
                  '--logdir at a trained run).', config.logdir)
    return EXIT_NO_CHECKPOINT
  try:
    frames = checkpoints.checkpoint_frames(path)
  except checkpoints.CheckpointError as e:
    logging.error('--mode=test: %s', e)
    return EXIT_NO_CHECKPOINT
  levels = suites.get(config.env).test_levels(config)
  items = _work_items(config, levels)
  # At most one worker per core: a DMLab-30 config asks for 150 actors.
  num_workers = max(1, min(config.num_actors, len(items), os.cpu_count() or 1))
  logging.info('Testing %s (%d frames) on %d level(s), %d episodes each, in '
               '%d worker processes.', path, frames, len(levels),
               config.test_num_episodes, num_workers)
  start = time.time()
  level_returns: Dict[str, List[float]] = {level: [] for level in levels}
  level_steps: Dict[str, List[int]] = {level: [] for level in levels}
  # 'spawn': each worker imports TensorFlow fresh (forking a process that
  # already runs TF threads is unsafe).
  context = multiprocessing.get_context('spawn')
  for path in _videos(config, levels, every=True):
    os.remove(path)  # An earlier test's; this one writes its own.
  with concurrent.futures.ProcessPoolExecutor(
      max_workers=num_workers, mp_context=context,
      initializer=devices.limit_actor_gpus,
      initargs=(config.actor_gpus,)) as pool:
    # Videos come from each level's first work item.
    firsts = {level: first for level, _, first in reversed(items)}
    futures = [pool.submit(evaluate_level, config, path, level, n, first,
                           config.test_video if firsts[level] == first else 0)
               for level, n, first in items]
    for future in concurrent.futures.as_completed(futures):
      level, returns, lengths = future.result()
      level_returns[level].extend(returns)
      level_steps[level].extend(lengths)
      logging.info('%s: %d/%d episodes, mean return %.2f', level,
                   len(level_returns[level]), config.test_num_episodes,
                   np.mean(level_returns[level]))
  results = dict(env=config.env, level_name=config.level_name, frames=frames,
                 checkpoint=path, test_num_episodes=config.test_num_episodes,
                 test_policy=config.test_policy,
                 videos=_videos(config, levels),
                 level_returns=level_returns, level_episode_steps=level_steps,
                 wall_secs=time.time() - start)
  out = run_dir.test_results_path(config.logdir)
  run_dir.write_json_atomic(out, results)
  for level in levels:
    logging.info('Test %-40s mean return %10.2f over %d episodes', level,
                 np.mean(level_returns[level]), len(level_returns[level]))
  logging.info('Wrote %s', out)
  return 0
