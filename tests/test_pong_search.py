"""Unit tests of the small-machine preset search (bench/pong_search.py)."""

import json

import numpy as np

import pytest

from bench import curve_files
from bench import pong
from bench import pong_search

from runtime_helpers import resolved_config


def _summary(batch_size=4, epsilon=1e-5, frames_to_threshold=None):
  return {'hyperparameters': {'batch_size': batch_size, 'epsilon': epsilon,
                              'grad_norm_clip': 40.0, 'learning_rate': 6e-4,
                              'preset': 'small', 'unroll_length': 20,
                              'num_action_repeats': 4},
          'frames_trained': 10_002_560, 'final_mean_return_last_20': -13.0,
          'best_moving_average': -12.5,
          'frames_to_threshold': frames_to_threshold,
          'fps_steady_state': 3812.4}


def test_every_run_is_a_valid_bench_pong_command():
  for name in pong_search.RUNS:
    args, extra = pong._parse_args(pong_search.pong_args(name))  # pylint: disable=protected-access
    assert args.frames == 10_000_000
    assert args.out_dir == f'bench/results/pong_search/{name}'
    # The command resolves to a valid config on the preset's 200M schedule.
    command = pong.training_command('/tmp/p', args.frames, args.torso, 10.0,
                                    extra, args.preset, game=args.game)
    config = resolved_config(command).validate()
    assert config.total_environment_frames == 200_000_000
    assert config.stop_frames == 10_000_000
    assert config.torso == 'shallow' and config.envs_per_actor == 8
    assert config.level_name == pong_search.RUNS[name].game
  with pytest.raises(SystemExit, match='Unknown search run'):
    pong_search.pong_args('nope')


def test_runs_differ_from_the_small_preset_as_named():
  runs = pong_search.RUNS
  assert runs['small_200M'][:2] == ('small', '')
  assert '--epsilon=0.01' in runs['b4_eps1e-2'].extra
  assert '--batch_size=32' in runs['b32_eps1e-5'].extra
  assert '--grad_norm_clip=320' in runs['b32_clip320'].extra
  # 0.0006 / sqrt(8): the random walk of batch 4's 8x updates as long as
  # batch 32's.
  assert '--learning_rate=0.00021' in runs['b4_lr2.1e-4'].extra
  assert [n for n, r in runs.items() if r.game != 'Pong'] == ['breakout_small']


def test_table_row_reads_summary_health_and_clip_budget():
  health = {'torso_trained': {'conv_1': {'never_active': 15}},
            'torso_initial': {'conv_1': {'never_active': 3}}}
  budget = {'by_batch_size': {'4': {'clip_factor': 0.851, 'steps': {
      'torso': {'step_norm_eps_0.01': 0.03, 'step_norm_eps_1e-05': 0.2}}}}}
  row = pong_search.table_row('small_200M', _summary(frames_to_threshold=
                                                     9_500_000), health, budget)
  assert row == ('| `small_200M` | 4 | 1e-05 | 40 | 0.0006 | 10.00M | -13.0 | '
                 '-12.5 | 9.50M | 15 / 16 (fresh 3) | 0.85 | 6,252 | 3,812 |')
  # Health and budget not measured yet: dashes, not zeros.
  row = pong_search.table_row('x', _summary(), None, None)
  assert '| — | — | — | — | 3,812 |' in row


def test_torso_path_is_the_step_at_the_runs_epsilon_times_updates():
  entry = {'steps': {'torso': {'step_norm_eps_0.01': 0.05,
                               'step_norm_eps_1e-05': 0.2}}}
  # 10,002,560 frames / (batch 32 x unroll 20 x action repeats 4) = 3,907
  # updates.
  summary = _summary(batch_size=32, epsilon=0.01)
  assert pong_search.torso_path(summary, entry) == pytest.approx(
      0.05 * 10_002_560 / 2560)
  assert pong_search.torso_path(_summary(epsilon=1e-3), entry) is None


def test_table_lists_the_runs_that_have_a_summary(tmp_path, monkeypatch):
  monkeypatch.setattr(pong_search, 'ROOT', str(tmp_path))
  (tmp_path / 'b4_eps1e-2').mkdir()
  (tmp_path / 'b4_eps1e-2' / 'summary.json').write_text(
      json.dumps(_summary(epsilon=0.01)))
  text = pong_search.table()
  lines = text.strip().splitlines()
  assert lines[0] == pong_search.TABLE_HEADER.splitlines()[0]
  assert len(lines) == 3 and lines[2].startswith('| `b4_eps1e-2` | 4 | 0.01 |')
  # A second game gets its own table, beside Table C.1's score.
  (tmp_path / 'breakout_small').mkdir()
  summary = dict(_summary(), game='Breakout', paper_table_c1={
      'impala_shallow_200M': 640.43})
  (tmp_path / 'breakout_small' / 'summary.json').write_text(
      json.dumps(summary))
  lines = pong_search.table().strip().splitlines()
  assert lines[4] == pong_search.OTHER_GAME_HEADER.splitlines()[0]
  assert lines[6] == ('| `breakout_small` | Breakout | small | 10.00M | '
                      '-13.0 | -12.5 | 640.4 | — | 3,812 |')


def test_read_curve_csv_reads_what_bench_pong_writes(tmp_path):
  path = str(tmp_path / 'curve.csv')
  curve_files.write_curve_csv(path, np.array([100.0, 250.0]),
                              np.array([-21.0, 3.0]))
  frames, returns = curve_files.read_curve_csv(path)
  np.testing.assert_array_equal(frames, [100.0, 250.0])
  np.testing.assert_array_equal(returns, [-21.0, 3.0])
