"""Read-outs of Pong runs (bench/pong_readouts.py): times, means, the table."""

import json

import numpy as np

from bench import pong_readouts


def test_minutes_count_only_the_sessions_training_time():
  sessions = [{'start': 1000.0, 'wall_secs': 600.0},
              {'start': 5000.0, 'wall_secs': 300.0}]  # A pause in between.
  assert pong_readouts.training_minutes(1300.0, sessions) == 5.0
  assert pong_readouts.training_minutes(5120.0, sessions) == 12.0
  assert pong_readouts.training_minutes(9000.0, sessions) is None


def test_mean_at_takes_the_last_full_window_at_or_below():
  frames = np.arange(1, 41, dtype=np.float64) * 1000.0
  returns = np.arange(40, dtype=np.float64)
  # Episodes 11..30 end at 11K..30K frames: returns 10..29, mean 19.5.
  assert pong_readouts.mean_at(frames, returns, 30_500.0) == 19.5
  assert pong_readouts.mean_at(frames, returns, 19_000.0) is None  # < 20.


def test_the_table_has_a_row_per_run_with_its_readouts(tmp_path):
  run = tmp_path / 'seed_1'
  run.mkdir()
  (tmp_path / 'no_readouts').mkdir()
  readouts = {
      'run': 'seed_1', 'schedule_frames': 10_000_000,
      'reached': {'-10': {'frames': 2_500_000, 'minutes': 11.2},
                  '+0': {'frames': 4_000_000, 'minutes': 17.9},
                  '+10': {'frames': 5_000_000, 'minutes': 22.0},
                  '+18': {'frames': None, 'minutes': None}},
      'mean_at': {'5000000': 9.5, '10000000': 17.25},
      'best_moving_average': 18.0, 'fps_steady_state': 3854.1,
      'policy_lag_fresh': 14.5, 'policy_lag_replayed': 30.1,
      'entropy': 1.3}
  (run / pong_readouts.READOUTS_JSON).write_text(json.dumps(readouts))
  text = pong_readouts.table(str(tmp_path))
  lines = text.strip().splitlines()
  assert len(lines) == 3  # Header, rule, one run.
  assert lines[0].count('|') == lines[1].count('|') == lines[2].count('|')
  assert lines[2] == (
      '| `seed_1` | 10M | 2.50M (11 min) | 4.00M (18 min) | 5.00M (22 min) | '
      'not reached | 9.5 | 17.2 | 18.0 | 3,854 | 14.5 / 30.1 | 1.30 | — |')
