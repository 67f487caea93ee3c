"""Several synchronous learner replicas (`--num_learners`, paper §3.1).

The contract: N replicas on batch_size / N unrolls each make exactly the
update one learner makes on the whole batch (the losses are sums, the
gradients are summed, clipping sees the summed gradient). Checked on CPU
with logical devices, in a fresh process each (logical devices must be set
before TensorFlow starts), and end to end with real processes.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from runtime_helpers import (REPO, TINY_PONG_FLAGS, checkpoint_values,
                             child_env, frames_of, latest_checkpoint,
                             run_experiment)
from scalable_agent_tf2.config import Config, ConfigError

PROGRAM = os.path.join(REPO, 'tests', 'programs', 'replica_equivalence.py')
FRAMES_PER_UPDATE = 4 * 10 * 4  # TINY_PONG_FLAGS: batch 4 x unroll 10 x 4.


def _equivalence(network, updates, num_learners):
  result = subprocess.run(
      [sys.executable, PROGRAM, network, str(updates), str(num_learners)],
      cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=600)
  report = json.loads(result.stdout.strip().splitlines()[-1]) \
      if result.stdout.strip() else None
  return result, report


@pytest.mark.timeout(600)
@pytest.mark.parametrize('network', ['deep_lstm', 'atari_ff'])
@pytest.mark.parametrize('updates', [1, 3])
def test_two_replicas_update_like_one_learner(network, updates):
  result, report = _equivalence(network, updates, 2)
  assert result.returncode == 0, (report, result.stderr[-3000:])
  assert report['replicas'] == 2
  # The whole batch counts once: 8 unrolls x 5 steps x 4 repeats per update.
  assert report['frames'] == [160 * updates, 160 * updates]
  assert report['loss'][0] == pytest.approx(report['loss'][1], rel=1e-5)


def test_num_learners_must_divide_the_batch():
  with pytest.raises(ConfigError, match='--num_learners=3 must divide'):
    Config(env='atari', level_name='Pong', batch_size=4,
           num_learners=3).resolve().validate()
  with pytest.raises(ConfigError, match='--num_learners must be >= 1'):
    Config(env='atari', level_name='Pong', num_learners=0).resolve().validate()


def test_batch_size_per_learner_gives_n_times_the_batch():
  # Table 3's 8 learners each on the paper's 32 unrolls: a batch of 256.
  config = Config(env='dmlab', level_name='dmlab30', num_learners=8,
                  batch_size_per_learner=32).resolve().validate()
  assert config.batch_size == 256
  assert config.resolve().batch_size == 256  # resolve() is idempotent.
  # Without it --num_learners splits the preset's batch of 32.
  assert Config(env='dmlab', level_name='dmlab30',
                num_learners=8).resolve().batch_size == 32
  with pytest.raises(ConfigError, match='contradicts --num_learners=2'):
    Config(env='atari', level_name='Pong', num_learners=2, batch_size=8,
           batch_size_per_learner=8).resolve().validate()


def test_a_bad_num_learners_is_refused_at_start_up(tmp_path):
  result = run_experiment(str(tmp_path / 'bad'), *TINY_PONG_FLAGS,
                          '--num_learners=3', timeout=120)
  assert result.returncode != 0
  assert '--num_learners=3 must divide --batch_size=4' in result.stderr
  assert not os.path.exists(tmp_path / 'bad' / 'checkpoints')


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_two_learners_train_pong_and_one_learner_resumes(tmp_path):
  logdir = str(tmp_path / 'pong2')
  budget = 12 * FRAMES_PER_UPDATE
  result = run_experiment(logdir, *TINY_PONG_FLAGS, '--num_learners=2',
                          f'--total_environment_frames={budget}', timeout=400)
  assert result.returncode == 0, result.stderr[-3000:]
  assert '2 replica(s), 2 unrolls each' in result.stderr
  assert 'CPU:1' in result.stderr
  saved = checkpoint_values(latest_checkpoint(logdir))
  assert frames_of(saved) == budget
  # One learner restores the 2-replica checkpoint exactly (one copy of every
  # parameter and slot) and, at the same budget, saves it back unchanged.
  result = run_experiment(logdir, *TINY_PONG_FLAGS, '--num_learners=1',
                          f'--total_environment_frames={budget}', timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Resumed from' in result.stderr
  again = checkpoint_values(latest_checkpoint(logdir))
  assert saved.keys() == again.keys()
  for key in saved:
    if not key.startswith('save_counter'):
      np.testing.assert_array_equal(saved[key], again[key], err_msg=key)
  # ... and continues training from there.
  result = run_experiment(logdir, *TINY_PONG_FLAGS, '--num_learners=1',
                          f'--total_environment_frames={budget + 4 * FRAMES_PER_UPDATE}',
                          timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert frames_of(checkpoint_values(latest_checkpoint(logdir))) == \
      budget + 4 * FRAMES_PER_UPDATE
