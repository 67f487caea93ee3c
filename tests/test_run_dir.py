"""Tests of scalable_agent_tf2/run_dir.py: a run directory's files, their
readers and writers, and the steady-state throughput statistic (Table 1).
"""

import json
import os

import pytest

from scalable_agent_tf2 import run_dir


def _progress(times_fps_frames):
  return [dict(time=t, fps=fps, frames=frames)
          for t, fps, frames in times_fps_frames]


# --- Names --------------------------------------------------------------------


def test_paths_of_a_run_directory():
  assert run_dir.config_path('/r') == '/r/config.json'
  assert run_dir.checkpoint_dir('/r') == '/r/checkpoints'
  assert run_dir.progress_path('/r') == '/r/progress.jsonl'
  assert run_dir.episodes_path('/r') == '/r/episodes.jsonl'
  assert run_dir.test_results_path('/r') == '/r/test_results.json'
  assert run_dir.logs_dir('/r') == '/r/logs'
  assert run_dir.actor_log_path('/r', 3) == '/r/logs/actor_3.log'


# --- JSON lines ---------------------------------------------------------------


def test_read_jsonl_drops_only_a_partial_last_line(tmp_path):
  path = tmp_path / 'progress.jsonl'
  path.write_text('{"fps": 1.0}\n{"fps": 2.0}\n{"fps": 3')
  assert run_dir.read_jsonl(str(path)) == [{'fps': 1.0}, {'fps': 2.0}]
  path.write_text('{"fps": 1.0}\nnot json\n{"fps": 3.0}\n')
  with pytest.raises(ValueError, match='line 2'):
    run_dir.read_jsonl(str(path))


def test_read_jsonl_partial_line_may_end_inside_a_character(tmp_path):
  path = tmp_path / 'episodes.jsonl'
  # The first byte of a two-byte UTF-8 character, written but not the rest.
  path.write_bytes(b'{"level_name": "a"}\n{"level_name": "\xc3')
  assert run_dir.read_jsonl(str(path)) == [{'level_name': 'a'}]


def test_read_jsonl_malformed_middle_line_names_file_and_line(tmp_path):
  path = tmp_path / 'episodes.jsonl'
  path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": \n{"a": 4}\n')
  with pytest.raises(ValueError) as error:
    run_dir.read_jsonl(str(path))
  assert str(path) in str(error.value)
  assert 'line 4 is not valid JSON' in str(error.value)


def test_read_jsonl_complete_bad_last_line_is_an_error(tmp_path):
  # Terminated by a newline, so finished: not a line still being written.
  path = tmp_path / 'progress.jsonl'
  path.write_text('{"a": 1}\n{"a": \n')
  with pytest.raises(ValueError, match='line 2'):
    run_dir.read_jsonl(str(path))


def test_read_jsonl_rejects_a_line_that_is_not_an_object(tmp_path):
  path = tmp_path / 'progress.jsonl'
  path.write_text('{"a": 1}\n[1, 2]\n')
  with pytest.raises(ValueError, match='line 2 is not a JSON object'):
    run_dir.read_jsonl(str(path))


def test_missing_jsonl_file_has_no_records(tmp_path):
  assert run_dir.read_jsonl(str(tmp_path / 'nothing.jsonl')) == []
  assert run_dir.read_progress(str(tmp_path)) == []
  assert run_dir.read_episodes(str(tmp_path)) == []
  assert run_dir.last_progress_frames(str(tmp_path)) == 0


def test_progress_and_last_frames(tmp_path):
  (tmp_path / 'progress.jsonl').write_text(
      '{"frames": 100, "fps": 1.0}\n{"frames": 250, "fps": 2.0}\n')
  assert [r['frames'] for r in run_dir.read_progress(str(tmp_path))] == [
      100, 250]
  assert run_dir.last_progress_frames(str(tmp_path)) == 250
  (tmp_path / 'progress.jsonl').write_text('{"frames": "many"}\n')
  with pytest.raises(ValueError, match='frames'):
    run_dir.last_progress_frames(str(tmp_path))


# --- JSON files ---------------------------------------------------------------


def test_read_json_names_the_file_on_bad_content(tmp_path):
  path = tmp_path / 'config.json'
  path.write_text('{"a": ')
  with pytest.raises(ValueError, match='config.json is not valid JSON'):
    run_dir.read_json(str(path))
  path.write_text('[1]')
  with pytest.raises(ValueError, match='must hold a JSON object'):
    run_dir.read_json(str(path))
  assert run_dir.read_json_if_exists(str(tmp_path / 'none.json')) is None


def test_read_config_of_a_run_without_one_is_empty(tmp_path):
  assert run_dir.read_config(str(tmp_path)) == {}
  (tmp_path / 'config.json').write_text('{"env": "atari"}')
  assert run_dir.read_config(str(tmp_path)) == {'env': 'atari'}


def _write_results(logdir, **results):
  (logdir / 'test_results.json').write_text(json.dumps(results))
  return str(logdir)


def test_read_test_results_returns_float_returns(tmp_path):
  logdir = _write_results(tmp_path, env='atari', frames=400,
                          test_num_episodes=2,
                          level_returns={'Pong': [20, 21.5]})
  results = run_dir.read_test_results(logdir)
  assert results == {'env': 'atari', 'frames': 400, 'test_num_episodes': 2,
                     'level_returns': {'Pong': [20.0, 21.5]}}
  assert all(isinstance(r, float) for r in results['level_returns']['Pong'])


def test_read_test_results_without_a_file_says_run_test_first(tmp_path):
  with pytest.raises(ValueError, match=r'No test_results.json in .*--mode=test'):
    run_dir.read_test_results(str(tmp_path))


@pytest.mark.parametrize('results, message', [
    (dict(env='atari'), 'no "level_returns" object'),
    (dict(level_returns=[1.0]), 'no "level_returns" object'),
    (dict(level_returns={'Pong': 1.0}), "returns of 'Pong' must be a list"),
    (dict(level_returns={'Pong': ['x']}), "returns of 'Pong' must be numbers"),
    (dict(level_returns={'Pong': [None]}), "returns of 'Pong' must be numbers"),
    (dict(level_returns={'Pong': [True]}), "returns of 'Pong' must be numbers"),
    (dict(frames='10', level_returns={}), '"frames" must be a number'),
    (dict(env=3, level_returns={}), '"env" must be a string'),
])
def test_read_test_results_rejects_malformed_content(tmp_path, results,
                                                     message):
  logdir = _write_results(tmp_path, **results)
  with pytest.raises(ValueError, match=message) as error:
    run_dir.read_test_results(logdir)
  assert 'test_results.json' in str(error.value)


# --- Writers ------------------------------------------------------------------


def test_write_text_atomic_replaces_and_leaves_no_temp_file(tmp_path):
  path = tmp_path / 'new' / 'table.md'
  run_dir.write_text_atomic(str(path), 'first\n')
  run_dir.write_text_atomic(str(path), 'second\n')
  assert path.read_text() == 'second\n'
  assert os.listdir(tmp_path / 'new') == ['table.md']


def test_failed_atomic_write_keeps_the_old_file_and_no_temp_file(tmp_path):
  path = tmp_path / 'config.json'
  run_dir.write_text_atomic(str(path), 'old')
  with pytest.raises(TypeError):
    run_dir.write_text_atomic(str(path), b'not text')
  assert path.read_text() == 'old'
  assert os.listdir(tmp_path) == ['config.json']


def test_write_json_atomic_is_sorted_and_readable(tmp_path):
  path = tmp_path / 'config.json'
  run_dir.write_json_atomic(str(path), {'b': 1, 'a': [2]})
  assert path.read_text() == '{\n  "a": [\n    2\n  ],\n  "b": 1\n}\n'
  assert run_dir.read_json(str(path)) == {'a': [2], 'b': 1}


def test_csv_text_blank_for_none_and_full_precision():
  assert run_dir.csv_text(['a', 'b', 'c'], [['x,y', 1.23456789, None]]) == (
      'a,b,c\n"x,y",1.23456789,\n')


def test_write_markdown_and_csv_returns_the_paths(tmp_path):
  md = str(tmp_path / 'out' / 'table.md')
  csv_path = str(tmp_path / 'out' / 'table.csv')
  assert run_dir.write_markdown_and_csv(md, '# T\n', {csv_path: 'a\n1\n'}) == [
      md, csv_path]
  assert open(md).read() == '# T\n' and open(csv_path).read() == 'a\n1\n'
  assert sorted(os.listdir(tmp_path / 'out')) == ['table.csv', 'table.md']


# --- Steady state ---------------------------------------------------------------


def test_steady_state_fps_drops_the_warmup_and_takes_the_median():
  progress = [{'fps': fps} for fps in (1.0, 100.0, 200.0, 300.0, 400.0)]
  assert run_dir.steady_state_fps(progress) == 250.0
  assert run_dir.steady_state_fps(progress, warmup_fraction=0.0) == 200.0
  assert run_dir.steady_state_fps([]) is None
  with pytest.raises(ValueError, match='fps'):
    run_dir.steady_state_fps([{'frames': 3}])


def test_window_drops_lines_after_stop_and_the_warmup_fraction():
  records = _progress([(float(t), 1000.0 + t, 100 * t) for t in range(10)])
  # 8 lines before the stop (t < 8); the first 25% of them (2) are start-up.
  window = run_dir.steady_state_window(records, stop_time=8.0,
                                       warmup_fraction=0.25)
  assert [r['time'] for r in window] == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
  # The warm-up is rounded down: 20% of 9 lines is 1 line.
  window = run_dir.steady_state_window(records, stop_time=9.0)
  assert [r['time'] for r in window][:2] == [1.0, 2.0]
  assert len(window) == 8


def test_line_written_at_the_stop_is_dropped():
  # The learner's forced final line comes after the stop request.
  records = _progress([(1.0, 10.0, 0), (2.0, 20.0, 0), (3.0, 0.0, 0)])
  window = run_dir.steady_state_window(records, stop_time=3.0,
                                       warmup_fraction=0.0)
  assert [r['fps'] for r in window] == [10.0, 20.0]
  assert run_dir.steady_state_fps(records, 0.0, stop_time=3.0) == 15.0
  assert run_dir.steady_state_fps(records, 0.0) == 10.0
  assert len(run_dir.steady_state_window(records, None, 0.0)) == 3


def test_stop_time_needs_times_but_no_stop_time_does_not():
  assert run_dir.steady_state_window([{'fps': 5.0}], None, 0.0) == [
      {'fps': 5.0}]
  with pytest.raises(ValueError, match='"fps" and "time"'):
    run_dir.steady_state_window([{'fps': 5.0}], 10.0, 0.0)
  with pytest.raises(ValueError, match='record 2'):
    run_dir.steady_state_window([{'fps': 5.0}, {'fps': 'fast'}], None, 0.0)


def test_stats_median_and_window_rate():
  # Start-up line (queue backlog drained fast), then a steady 3000 frames/s
  # with one slow interval, then the final partial line after the stop.
  records = _progress([
      (10.0, 9000.0, 9000), (12.0, 3000.0, 15000), (14.0, 3000.0, 21000),
      (16.0, 1000.0, 23000), (18.0, 3000.0, 29000), (19.0, 0.0, 29000)])
  stats = run_dir.steady_state_stats(records, stop_time=18.5,
                                     warmup_fraction=0.2)
  assert stats == {'fps_median': 3000.0, 'fps_window_mean': 14000 / 6.0,
                   'window_lines': 4, 'total_lines': 5, 'window_secs': 6.0}


def test_stats_of_short_windows():
  assert run_dir.steady_state_stats([], stop_time=5.0) == {
      'fps_median': None, 'fps_window_mean': None, 'window_lines': 0,
      'total_lines': 0, 'window_secs': None}
  one = run_dir.steady_state_stats(_progress([(1.0, 500.0, 10)]),
                                   stop_time=None, warmup_fraction=0.0)
  assert one['fps_median'] == 500.0 and one['fps_window_mean'] is None
  assert one['window_secs'] is None


def test_stats_without_frames_have_a_duration_but_no_rate():
  records = [{'time': 1.0, 'fps': 10.0}, {'time': 3.0, 'fps': 30.0}]
  stats = run_dir.steady_state_stats(records, None, 0.0)
  assert stats['fps_median'] == 20.0
  assert stats['window_secs'] == 2.0 and stats['fps_window_mean'] is None


@pytest.mark.parametrize('fraction', [-0.1, 1.0, 1.5, float('nan')])
def test_rejects_bad_warmup_fraction(fraction):
  with pytest.raises(ValueError, match='warmup_fraction'):
    run_dir.steady_state_window(_progress([(1.0, 1.0, 1)]), None, fraction)
  with pytest.raises(ValueError, match='warmup_fraction'):
    run_dir.steady_state_fps([{'fps': 1.0}], fraction)

