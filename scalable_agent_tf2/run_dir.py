"""The files of a run directory (`--logdir`), and the only readers of them.

TensorFlow-free, so that drivers, paper tables and benchmarks can read runs
without starting TensorFlow. What a learner writes into its logdir:

  config.json         the run's resolved flags (written once the restore worked)
  checkpoints/        tf.train.CheckpointManager files (ckpt-N.index/.data)
  progress.jsonl      one JSON object per progress interval:
                      {"time", "frames", "updates", "fps", "loss", ...}
  episodes.jsonl      one JSON object per finished real episode:
                      {"time", "frames", "level_name", "episode_return",
                       "episode_step"}
  test_results.json   --mode=test: {"env", "frames", "test_num_episodes",
                      "level_returns": {level: [return, ...]}}
  videos/             --mode=test --test_video=N: <level>_episode_<i>.mp4
  logs/actor_<i>.log  each local actor process's output

Every other module names these files through this one.
"""

import csv
import io
import json
import math
import os
import statistics
import uuid
from typing import Any, Dict, Iterable, List, Optional, Sequence

from scalable_agent_tf2 import config_fields

CONFIG_FILE = 'config.json'
CHECKPOINT_DIR = 'checkpoints'
VIDEOS_DIR = 'videos'
PROGRESS_FILE = 'progress.jsonl'
EPISODES_FILE = 'episodes.jsonl'
TEST_RESULTS_FILE = 'test_results.json'
LOGS_DIR = 'logs'


def config_path(logdir: str) -> str:
  return os.path.join(logdir, CONFIG_FILE)


def checkpoint_dir(logdir: str) -> str:
  return os.path.join(logdir, CHECKPOINT_DIR)


def progress_path(logdir: str) -> str:
  return os.path.join(logdir, PROGRESS_FILE)


def episodes_path(logdir: str) -> str:
  return os.path.join(logdir, EPISODES_FILE)


def test_results_path(logdir: str) -> str:
  return os.path.join(logdir, TEST_RESULTS_FILE)


def video_path(logdir: str, level: str, episode: int) -> str:
  """Test-mode video `episode` (from 0) of `level` (scalable_agent_tf2/videos.py)."""
  return os.path.join(logdir, VIDEOS_DIR, f'{level}_episode_{episode}.mp4')


def logs_dir(logdir: str) -> str:
  return os.path.join(logdir, LOGS_DIR)


def actor_log_path(logdir: str, task: int) -> str:
  return os.path.join(logdir, LOGS_DIR, f'actor_{task}.log')


# -- Readers -------------------------------------------------------------------


def read_json(path: str) -> Dict[str, Any]:
  """A JSON object from `path`.

  Raises:
    ValueError: the file is not valid JSON or not an object (names the file).
    OSError: the file cannot be read.
  """
  with open(path, encoding='utf-8') as f:
    try:
      value = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f'{path} is not valid JSON: {e}') from None
  if not isinstance(value, dict):
    raise ValueError(f'{path} must hold a JSON object.')
  return value


def read_json_if_exists(path: str) -> Optional[Dict[str, Any]]:
  """`read_json(path)`, or None when there is no such file."""
  return read_json(path) if os.path.exists(path) else None


def read_jsonl(path: str) -> List[Dict[str, Any]]:
  """Records of a JSON-lines file.

  A run that is still writing may leave a partial last line (no newline
  yet); that one line is dropped. Any other malformed line is an error. A
  missing file has no records.

  Raises:
    ValueError: a line that is not a JSON object (names file and line).
  """
  if not os.path.exists(path):
    return []
  with open(path, 'rb') as f:
    lines = f.read().split(b'\n')
  records = []
  for index, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      # Decoded per line: a partial last line may end inside a character.
      record = json.loads(line.decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
      if index == len(lines) - 1:  # Unterminated last line: still written.
        break
      raise ValueError(f'{path} line {index + 1} is not valid JSON: '
                       f'{e}') from None
    if not isinstance(record, dict):
      raise ValueError(f'{path} line {index + 1} is not a JSON object.')
    records.append(record)
  return records


def read_config(logdir: str) -> Dict[str, Any]:
  """config.json of a run as a dict; {} if the run has none.

  Raises:
    config.ConfigError (a ValueError): not valid JSON or not an object; the
      message names the file (docs/faults.md).
  """
  try:
    return read_json_if_exists(config_path(logdir)) or {}
  except ValueError as e:
    # Entry points print a ConfigError as one line, so a truncated
    # config.json never ends in a traceback.
    raise config_fields.ConfigError(str(e)) from None


def read_progress(logdir: str) -> List[Dict[str, Any]]:
  return read_jsonl(progress_path(logdir))


def read_episodes(logdir: str) -> List[Dict[str, Any]]:
  return read_jsonl(episodes_path(logdir))


def last_progress_frames(logdir: str) -> int:
  """The frame counter of the newest progress line (0 without one)."""
  records = read_progress(logdir)
  if not records:
    return 0
  frames = records[-1].get('frames', 0)
  if isinstance(frames, bool) or not isinstance(frames, (int, float)):
    raise ValueError(f'{progress_path(logdir)}: the last line\'s "frames" '
                     f'must be a number, got {frames!r}.')
  return int(frames)


def read_test_results(logdir: str) -> Dict[str, Any]:
  """test_results.json of a run, validated.

  Returns:
    dict with 'env', 'frames', 'test_num_episodes' and 'level_returns'
    (level name -> list of float returns).

  Raises:
    ValueError: missing file or malformed content.
  """
  path = test_results_path(logdir)
  if not os.path.exists(path):
    raise ValueError(f'No {TEST_RESULTS_FILE} in {logdir} (run --mode=test '
                     'first).')
  results = read_json(path)
  if not isinstance(results.get('env', ''), str):
    raise ValueError(f'{path}: "env" must be a string.')
  frames = results.get('frames')
  if frames is not None and (isinstance(frames, bool) or
                             not isinstance(frames, (int, float))):
    raise ValueError(f'{path}: "frames" must be a number, got {frames!r}.')
  level_returns = results.get('level_returns')
  if not isinstance(level_returns, dict):
    raise ValueError(f'{path} has no "level_returns" object.')
  cleaned = {}
  for level, returns in level_returns.items():
    if not isinstance(returns, list):
      raise ValueError(f'{path}: returns of {level!r} must be a list.')
    if any(isinstance(r, bool) for r in returns):
      raise ValueError(f'{path}: returns of {level!r} must be numbers.')
    try:
      cleaned[level] = [float(r) for r in returns]
    except (TypeError, ValueError):
      raise ValueError(f'{path}: returns of {level!r} must be '
                       'numbers.') from None
  results['level_returns'] = cleaned
  return results


# -- Writers -------------------------------------------------------------------


def write_text_atomic(path: str, text: str) -> None:
  """Writes `path` so that a reader never sees a half-written file.

  The text goes to a temporary file in the same directory (unique per call,
  so concurrent writers never share one), which then replaces `path`; on any
  error the temporary file is removed and `path` is left as it was.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp = f'{path}.tmp.{os.getpid()}.{uuid.uuid4().hex}'
  try:
    with open(tmp, 'x', encoding='utf-8', newline='') as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_json_atomic(path: str, value: Any) -> None:
  write_text_atomic(path, json.dumps(value, indent=2, sort_keys=True) + '\n')


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
  """CSV of `rows` under `columns`; None cells are empty."""
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(columns)
  for row in rows:
    writer.writerow(['' if v is None else v for v in row])
  return out.getvalue()


def write_markdown_and_csv(markdown_path: str, markdown: str,
                           csv_files: Dict[str, str]) -> List[str]:
  """Writes a Markdown file and CSV files (path -> text). Returns the paths."""
  write_text_atomic(markdown_path, markdown)
  for path, text in csv_files.items():
    write_text_atomic(path, text)
  return [markdown_path] + list(csv_files)


# -- The steady-state throughput statistic --------------------------------------

# The first 20% of progress lines (start-up, queues filling, the first graph
# traces) are left out of a run's throughput.
DEFAULT_WARMUP_FRACTION = 0.2


def steady_state_window(records: Sequence[dict],
                        stop_time: Optional[float] = None,
                        warmup_fraction: float = DEFAULT_WARMUP_FRACTION
                        ) -> List[dict]:
  """The progress records of a run's steady state.

  Args:
    records: progress.jsonl records in file order, each with 'fps' (env
      frames/s over its interval, action repeats included, as the paper's
      Table 1 counts) and, when `stop_time` is given, 'time' (unix seconds).
    stop_time: when the run was asked to stop; records written at or after
      it (the learner's final, partial interval) are dropped. None keeps all.
    warmup_fraction: fraction in [0, 1) of the remaining records, counted
      from the start, that are dropped as start-up (rounded down).

  Raises:
    ValueError: a bad fraction or a record without numeric fields.
  """
  if not 0.0 <= warmup_fraction < 1.0:
    raise ValueError(f'warmup_fraction must be in [0, 1), got '
                     f'{warmup_fraction!r}.')
  kept = []
  for index, record in enumerate(records):
    try:
      float(record['fps'])
      record_time = None if stop_time is None else float(record['time'])
    except (KeyError, TypeError, ValueError):
      needs = '"fps"' if stop_time is None else '"fps" and "time"'
      raise ValueError(f'progress record {index + 1} needs a numeric '
                       f'{needs}, got {record!r}.') from None
    if record_time is None or record_time < stop_time:
      kept.append(record)
  return kept[int(math.floor(len(kept) * warmup_fraction)):]


def steady_state_fps(records: Sequence[dict],
                     warmup_fraction: float = DEFAULT_WARMUP_FRACTION,
                     stop_time: Optional[float] = None) -> Optional[float]:
  """Median env frames/s of the steady-state window; None without records."""
  window = steady_state_window(records, stop_time, warmup_fraction)
  if not window:
    return None
  return float(statistics.median(float(r['fps']) for r in window))


def steady_state_stats(records: Sequence[dict], stop_time: Optional[float],
                       warmup_fraction: float = DEFAULT_WARMUP_FRACTION
                       ) -> Dict[str, Any]:
  """Throughput statistics of the steady-state window.

  Returns:
    dict with
      fps_median: median of the per-interval 'fps' (None without records);
      fps_window_mean: frames gained over the window / its duration, from the
        first to the last record (None with fewer than two records, or if
        they lack 'frames' or 'time'); less sensitive to how updates fall
        into intervals than the median;
      window_lines, total_lines: records used / records before the stop;
      window_secs: duration between the first and last record of the window.
  """
  before_stop = steady_state_window(records, stop_time, 0.0)
  window = steady_state_window(records, stop_time, warmup_fraction)
  stats = dict(fps_median=steady_state_fps(window, 0.0),
               fps_window_mean=None, window_lines=len(window),
               total_lines=len(before_stop), window_secs=None)
  if len(window) < 2:
    return stats
  seconds = _difference(window, 'time')
  frames = _difference(window, 'frames')
  stats['window_secs'] = seconds
  if seconds is not None and frames is not None and seconds > 0:
    stats['fps_window_mean'] = frames / seconds
  return stats


def _difference(window: Sequence[dict], key: str) -> Optional[float]:
  """window[-1][key] - window[0][key], or None if either is not a number."""
  try:
    return float(window[-1][key]) - float(window[0][key])
  except (KeyError, TypeError, ValueError):
    return None
