"""Fake run directories for the paper-table tests (tests/test_paper_*.py).

Written in the runtime's formats (progress.jsonl, episodes.jsonl,
test_results.json, config.json; see scalable_agent_tf2/run_dir.py).
"""

import json
import os

from scalable_agent_tf2.paper import tables

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def write_jsonl(path, records):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    for record in records:
      f.write(json.dumps(record) + '\n')


def write_json(path, value):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(value, f)


def progress_run(logdir, fps_values, config=None):
  write_jsonl(os.path.join(logdir, 'progress.jsonl'), [
      {'time': 1000.0 + i, 'frames': 4000 * (i + 1), 'updates': i + 1,
       'fps': fps, 'loss': 0.5} for i, fps in enumerate(fps_values)])
  if config is not None:
    write_json(os.path.join(logdir, 'config.json'), config)
  return str(logdir)


def episodes_run(logdir, returns, level_name='rooms_watermaze'):
  write_jsonl(os.path.join(logdir, 'episodes.jsonl'), [
      {'time': 1000.0 + i, 'frames': 1000 * (i + 1), 'level_name': level_name,
       'episode_return': float(r), 'episode_step': 100}
      for i, r in enumerate(returns)])
  return str(logdir)


def write_test_results(logdir, env, level_returns, frames=1000000):
  write_json(os.path.join(logdir, 'test_results.json'), {
      'env': env, 'frames': frames, 'level_returns': level_returns,
      'test_num_episodes': 2})
  return str(logdir)


def rendered_cell(table, label, column):
  """The Markdown text of one cell."""
  row_index = [row[0] for row in table.rows].index(label)
  return tables.format_rows(table)[row_index][table.columns.index(column)]
