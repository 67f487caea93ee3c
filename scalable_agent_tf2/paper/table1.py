"""Table 1 of the paper: throughput (environment frames/s), ours beside it.

Our number for a run is `run_dir.steady_state_fps` of its progress.jsonl: the
median per-interval "fps" (environment frames including the action repeat of
4, as the paper's Table 1 counts) after the first 20% of the lines. Its
label names the acting layout (`acting_layout`), since the same actor count
means different things in-process and with actor hosts.
"""

import os
import platform

from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.paper import published
from scalable_agent_tf2.paper.render import MISSING
from scalable_agent_tf2.paper.render import Table
from scalable_agent_tf2.paper.runs import short_level_name


def machine_description(cpus=None, gpus=0, description=None):
  """Our hardware for Table 1: dict with 'cpus', 'gpus', 'description'.

  Defaults: cpus = os.cpu_count(), gpus = 0, description from `platform`.
  """
  if cpus is None:
    cpus = os.cpu_count()
  if cpus is not None and int(cpus) < 1:
    raise ValueError('cpus must be >= 1, got %r.' % (cpus,))
  if int(gpus) < 0:
    raise ValueError('gpus must be >= 0, got %r.' % (gpus,))
  if description is None:
    processor = platform.processor() or platform.machine() or 'unknown CPU'
    description = '%s, %s' % (processor, platform.system() or 'unknown OS')
  return {'cpus': cpus, 'gpus': int(gpus), 'description': description}


def _plural(count, word):
  return '%s %s%s' % (count, word, '' if count == 1 else 's')


def acting_layout(config):
  """How a run acted, from its config.json (None if it does not say).

  '1 host x 8 streams, env processes, dyn. batch' (--env_processes: actor
  hosts, docs/actor_hosts.md) or '2 actors x 4 envs, in-process'; without
  envs_per_actor (older runs) '2 actors, in-process'.
  """
  if 'num_actors' not in config:
    return None
  actors, envs = config['num_actors'], config.get('envs_per_actor')
  if config.get('env_processes'):
    text = _plural(actors, 'host')
    if envs is not None:
      text += ' x ' + _plural(envs, 'stream')
    return text + ', env processes, dyn. batch'
  text = _plural(actors, 'actor')
  if envs is not None:
    text += ' x ' + _plural(envs, 'env')
  return text + ', in-process'


def _our_run(name, logdir, warmup_fraction):
  """(setup label, task, steady-state fps or None) of one run."""
  config = run_dir.read_config(logdir)
  fps = run_dir.steady_state_fps(run_dir.read_progress(logdir),
                                 warmup_fraction)
  task = short_level_name(config.get('level_name', 'unknown level'))
  details = ', '.join(prefix + str(config[key]) for key, prefix in (
      ('torso', ''), ('batch_size', 'batch ')) if key in config)
  layout = acting_layout(config)
  details = '; '.join(d for d in (details, layout) if d)
  setup = 'Ours: %s' % name
  if details:
    setup += ' (%s)' % details
  return setup, task, fps


def _our_rows(runs, machine, warmup_fraction, tasks):
  """(rows with an 'Other task' cell, any run on another task?, missing)."""
  gpu_label = 'none' if machine['gpus'] == 0 else str(machine['gpus'])
  rows, missing, other_task = [], [], False
  for name, logdir in runs:
    setup, task, fps = _our_run(name, logdir, warmup_fraction)
    if fps is None:
      missing.append('%s (no %s lines in %s)' % (name, run_dir.PROGRESS_FILE,
                                                 logdir))
    value = MISSING if fps is None else fps
    cells = [None] * len(tasks)
    other = None
    if task in tasks:
      cells[tasks.index(task)] = value
    else:
      other_task = True
      setup += ' on %s' % task
      other = value
    rows.append([setup, machine['cpus'], gpu_label] + cells + [other])
  return rows, other_task, missing


def _notes(machine, warmup_fraction, missing):
  gpu_label = 'none' if machine['gpus'] == 0 else str(machine['gpus'])
  notes = [
      published.TABLE1_HARDWARE +
      ' Published numbers are from the paper (Table 1); their hardware is '
      'not comparable with ours.',
      'Ours: %s CPU cores, GPU %s (%s).' % (machine['cpus'], gpu_label,
                                            machine['description']),
      'Ours: frames/s = median of progress.jsonl "fps" (environment frames '
      'including the action repeat of 4, as in the paper) after the first '
      '%d%% of the lines (start-up).' % round(100 * warmup_fraction),
  ]
  if missing:
    notes.append('Missing: ' + '; '.join(missing) + '.')
  return notes


def table1(runs, machine=None,
           warmup_fraction=run_dir.DEFAULT_WARMUP_FRACTION, strict=False):
  """Table 1: our runs' frames/s next to the published throughput rows.

  Args:
    runs: list of (name, logdir). Each logdir holds progress.jsonl and,
      optionally, config.json (level_name, torso, batch_size, and the
      acting layout: num_actors, envs_per_actor, env_processes).
    machine: `machine_description()` dict; the current machine if None.
    warmup_fraction: see `run_dir.steady_state_fps`.
    strict: raise instead of marking runs without progress lines.

  Returns:
    [Table] with the published rows, then one row per run.
  """
  machine = machine or machine_description()
  tasks = list(published.TABLE1_TASKS)
  ours, other_task, missing = _our_rows(runs, machine, warmup_fraction, tasks)
  if strict and missing:
    raise ValueError('Table 1: missing throughput for ' + '; '.join(missing))
  columns = (['Setup', 'CPUs', 'GPUs'] +
             ['Task %d: %s (frames/s)' % (i + 1, t)
              for i, t in enumerate(tasks)])
  rows = [[row.setup, row.cpus, row.gpus] + list(row.task_fps)
          for row in published.TABLE1]
  if other_task:
    columns.append('Other task (frames/s)')
    rows = [row + [None] for row in rows]
  rows += [row if other_task else row[:-1] for row in ours]
  formats = [None] * 3 + ['{:,.0f}'] * (len(columns) - 3)
  return [Table('table1', 'Table 1: throughput (environment frames/s)',
                columns, rows, formats,
                _notes(machine, warmup_fraction, missing))]
