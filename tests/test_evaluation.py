"""Test mode's choice of actions (`--test_policy`, scalable_agent_tf2/evaluation.py)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from scalable_agent_tf2 import evaluation
from scalable_agent_tf2.config import Config, ConfigError
from scalable_agent_tf2.structures import AgentOutput


def _output():
  logits = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 2.9]], np.float32)
  return AgentOutput(action=np.array([2, 1], np.int32), policy_logits=logits,
                     baseline=np.zeros([2], np.float32))


def test_sample_keeps_the_agents_sampled_actions():
  np.testing.assert_array_equal(
      evaluation.test_actions(_output(), 'sample'), [2, 1])


def test_greedy_takes_the_most_probable_action():
  actions = evaluation.test_actions(_output(), 'greedy')
  np.testing.assert_array_equal(actions, [1, 0])
  assert actions.dtype == np.int32


def test_an_unknown_test_policy_is_refused():
  with pytest.raises(ConfigError, match='--test_policy must be one of'):
    Config(env='atari', level_name='Pong', test_policy='argmax').resolve(
        ).validate()


def test_impala_test_is_the_entry_point_in_test_mode(tmp_path):
  # The console script installed by pyproject.toml runs --mode=test: with no
  # checkpoint in --logdir it says so and exits with test mode's code.
  script = os.path.join(os.path.dirname(sys.executable), 'impala-test')
  assert os.path.exists(script), 'reinstall the package (make venv)'
  result = subprocess.run(
      [script, f'--logdir={tmp_path}', '--env=atari', '--level_name=Pong'],
      capture_output=True, text=True, timeout=300)
  assert result.returncode == evaluation.EXIT_NO_CHECKPOINT, result.stderr
  assert '--mode=test: no checkpoint' in result.stderr


@pytest.mark.e2e
def test_test_video_writes_whole_episodes_from_the_full_colour_screen(
    tmp_path):
  # A fresh agent's checkpoint, one Pong episode on real ALE, its video.
  import cv2  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import suites  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import actor as actor_lib  # pylint: disable=g-import-not-at-top
  config = Config(env='atari', level_name='Pong', logdir=str(tmp_path),
                  envs_per_actor=1, test_video=1).resolve().validate()
  agent = actor_lib.build_agent(config, suites.get('atari').num_actions(
      config))
  env = suites.get('atari').make_environment(config, 'Pong', seed=1)
  evaluation_step = tf.function(agent.step)
  from scalable_agent_tf2.runtime import unrolls  # pylint: disable=g-import-not-at-top
  evaluation_step(tf.nest.map_structure(
      tf.convert_to_tensor, unrolls.stack_env_outputs([env.initial()])),
                  tf.zeros([1], tf.int32), agent.initial_state(1))
  env.close()
  path = tf.train.Checkpoint(agent=agent).save(str(tmp_path / 'ckpt'))
  level, returns, lengths = evaluation.evaluate_level(
      config, path, 'Pong', 1, 0, videos=1)
  assert level == 'Pong' and len(returns) == 1 and -21 <= returns[0] <= 21
  video = cv2.VideoCapture(os.path.join(tmp_path, 'videos',
                                        'Pong_episode_0.mp4'))
  frames = 0
  while True:
    ok, frame = video.read()
    if not ok:
      break
    frames += 1
    assert frame.shape == (210, 160, 3)  # ALE's screen, not 84x84 grey.
  assert frames == lengths[0]  # One frame per agent step of the episode.
  assert os.listdir(tmp_path / 'videos') == ['Pong_episode_0.mp4']
