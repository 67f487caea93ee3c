"""End to end: the learner's progress line names the side that limits a run
(runtime/bottleneck.py, docs/metrics.md) when one side is made slow.

tests/fakes/slow_stage/sitecustomize.py adds a sleep to one method in the
run's processes: the learner's train step, or every actor's unroll.
"""

import os
import subprocess

import pytest

from runtime_helpers import (child_env, experiment_command, read_jsonl, REPO,
                             TINY_PONG_FLAGS)

pytestmark = pytest.mark.e2e

_SLOW_DIR = os.path.join(REPO, 'tests', 'fakes', 'slow_stage')
FRAMES_PER_UPDATE = 4 * 10 * 4  # batch 4 x unroll 10 x 4 repeats.


def _run_slowed(logdir, slow_stage, updates):
  env = child_env(_SLOW_DIR)
  env['SLOW_STAGE'] = slow_stage
  return subprocess.run(
      experiment_command(logdir, *TINY_PONG_FLAGS,
                         f'--total_environment_frames='
                         f'{updates * FRAMES_PER_UPDATE}'),
      cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _verdicts(logdir):
  progress = read_jsonl(os.path.join(logdir, 'progress.jsonl'))
  # The first line covers start-up (the actors' first unrolls).
  return [line['bottleneck'] for line in progress[1:]
          if line.get('queue_full_share') is not None]


@pytest.mark.timeout(900)
def test_a_slow_train_step_makes_the_learner_the_bottleneck(tmp_path):
  logdir = str(tmp_path / 'slow_learner')
  result = _run_slowed(logdir, 'scalable_agent_tf2.learner:Learner.train_step:'
                       '1.0', updates=12)
  assert result.returncode == 0, result.stderr[-3000:]
  verdicts = _verdicts(logdir)
  assert verdicts and verdicts.count('learner') > len(verdicts) / 2, verdicts
  assert 'bottleneck: learner (queue full' in result.stderr


@pytest.mark.timeout(900)
def test_slow_actors_make_acting_the_bottleneck(tmp_path):
  logdir = str(tmp_path / 'slow_actors')
  result = _run_slowed(logdir, 'scalable_agent_tf2.runtime.actor:Actor.unroll:'
                       '1.0', updates=8)
  assert result.returncode == 0, result.stderr[-3000:]
  verdicts = _verdicts(logdir)
  assert verdicts and verdicts.count('acting') > len(verdicts) / 2, verdicts
  assert 'bottleneck: acting (learner waits' in result.stderr
