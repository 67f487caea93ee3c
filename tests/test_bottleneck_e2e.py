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
@pytest.mark.parametrize('slow_stage, updates, verdict, line', [
    ('scalable_agent_tf2.learner:Learner.train_step:1.0', 12, 'learner',
     'bottleneck: learner (queue full'),
    ('scalable_agent_tf2.runtime.actor:Actor.unroll:1.0', 8, 'acting',
     'bottleneck: acting (learner waits'),
], ids=['slow_train_step', 'slow_actors'])
def test_the_slowed_side_is_named_the_bottleneck(tmp_path, slow_stage,
                                                 updates, verdict, line):
  logdir = str(tmp_path / 'run')
  result = _run_slowed(logdir, slow_stage, updates)
  assert result.returncode == 0, result.stderr[-3000:]
  verdicts = _verdicts(logdir)
  assert verdicts and verdicts.count(verdict) > len(verdicts) / 2, verdicts
  assert line in result.stderr
