"""The checks behind `Config.validate()`, one concern each.

Each check takes a resolved `Config` and raises `config.ConfigError` with a
message naming the flag (and the fix) for a value or combination that cannot
run, so a run never starts with a silent misconfiguration.
"""

import dataclasses
from typing import Any, Dict

from scalable_agent_tf2 import suites
from scalable_agent_tf2.config_fields import ConfigError
from scalable_agent_tf2.config_fields import field_choices
from scalable_agent_tf2.runtime import devices


def _check(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def _check_choices(c) -> None:
  for field in dataclasses.fields(c):
    choices = field_choices(field)
    if field.name == 'preset':
      choices = suites.get(c.env).presets  # Only the suite's own presets.
    if choices is None or getattr(c, field.name) in choices:
      continue
    if field.name == 'job_name':
      raise ConfigError(f'--job_name must be one of {choices[1:]} or '
                        'empty (local run).')
    raise ConfigError(f'--{field.name} must be one of {choices}.')


def _check_counts(c) -> None:
  for name in ('batch_size', 'unroll_length', 'num_action_repeats',
               'total_environment_frames', 'num_actors', 'envs_per_actor',
               'test_num_episodes', 'width', 'height'):
    _check(getattr(c, name) >= 1, f'--{name} must be >= 1.')
  _check(c.task >= 0, '--task must be >= 0.')
  _check(c.test_video >= 0, '--test_video must be >= 0 (0 = no video).')
  _check(0 <= c.stop_at_frames <= c.total_environment_frames,
         '--stop_at_frames must be in [0, --total_environment_frames] (0 = '
         'at --total_environment_frames; past it the learning rate is 0).')
  _check(c.seed >= 1, '--seed must be >= 1 (environment i gets seed '
         'i + 1 + 100000 * (seed - 1), docs/impala.md §5).')
  _check(c.task < c.num_actors or c.job_name != 'actor',
         f'--task={c.task} but --num_actors={c.num_actors}: actor tasks are '
         '0..num_actors-1 (the task picks the level and seed).')


def _check_learning(c) -> None:
  _check(0.0 < c.discounting <= 1.0, '--discounting must be in (0, 1].')
  _check(0.0 <= c.decay < 1.0, '--decay must be in [0, 1).')
  _check(0.0 <= c.momentum < 1.0, '--momentum must be in [0, 1).')
  _check(c.epsilon > 0.0, '--epsilon must be > 0.')
  _check(c.learning_rate > 0.0, '--learning_rate must be > 0.')
  _check(c.grad_norm_clip >= 0.0,
         '--grad_norm_clip must be >= 0 (0 = no clipping).')
  _check(c.entropy_cost >= 0.0 and c.baseline_cost >= 0.0,
         '--entropy_cost and --baseline_cost must be >= 0.')
  _check(c.max_policy_lag >= 0, '--max_policy_lag must be >= 0 (0 = off).')


def _check_runtime(c) -> None:
  _check(c.queue_capacity >= 0, '--queue_capacity must be >= 0.')
  _check(c.effective_queue_capacity >= c.batch_size,
         '--queue_capacity must be at least --batch_size (or 0 for '
         '2 * batch_size): the learner dequeues batch_size unrolls at once.')
  for name in ('checkpoint_secs', 'summary_secs', 'progress_secs'):
    _check(getattr(c, name) > 0, f'--{name} must be > 0.')
  _check(c.max_actor_restarts >= 0, '--max_actor_restarts must be >= 0.')
  # Local-run supervision (runtime/watchdog.py).
  _check(c.max_learner_restarts >= 0, '--max_learner_restarts must be >= 0.')
  _check(c.actor_stall_secs >= 0, '--actor_stall_secs must be >= 0 (0 = off).')
  _check(c.num_learners >= 1, '--num_learners must be >= 1.')
  try:
    devices.parse_actor_gpus(c.actor_gpus)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  _check(c.batch_size_per_learner >= 0, '--batch_size_per_learner must be '
         '>= 0.')
  _check(c.batch_size_per_learner == 0 or
         c.batch_size == c.num_learners * c.batch_size_per_learner,
         f'--batch_size={c.batch_size} contradicts --num_learners='
         f'{c.num_learners} x --batch_size_per_learner='
         f'{c.batch_size_per_learner}; give one of the two batch flags.')
  _check(c.batch_size % c.num_learners == 0,
         f'--num_learners={c.num_learners} must divide --batch_size='
         f'{c.batch_size}: every learner replica trains on an equal share '
         'of each batch.')
  # Actor hosts (runtime/actor_host.py).
  _check(c.inference_batch_timeout_ms >= 0,
         '--inference_batch_timeout_ms must be >= 0.')
  _check(c.actor_threads >= 0, '--actor_threads must be >= 0 (0 = TF\'s '
         'default).')
  _check(c.max_inference_batch >= 0,
         '--max_inference_batch must be >= 0 (0 = all streams).')
  _check(c.param_refresh_ms > 0, '--param_refresh_ms must be > 0.')
  _check(c.env_reset_delay_ms >= 0, '--env_reset_delay_ms must be >= 0.')
  _check(0.0 <= c.env_reset_delay_fraction <= 1.0,
         '--env_reset_delay_fraction must be in [0, 1].')


# Experience replay (scalable_agent_tf2/replay.py, docs/replay.md).
def _check_replay(c) -> None:
  _check(c.replay_capacity >= 0,
         '--replay_capacity must be >= 0 (0 = no replay).')
  _check(0.0 <= c.replay_proportion < 1.0,
         '--replay_proportion must be in [0, 1): every batch needs at least '
         'one fresh unroll.')
  if c.replay_capacity == 0:
    return
  replayed = c.batch_size * c.replay_proportion
  _check(abs(replayed - round(replayed)) < 1e-6,
         f'--replay_proportion={c.replay_proportion} x --batch_size='
         f'{c.batch_size} = {replayed:g} replayed unrolls per batch, not a '
         f'whole number: use a proportion k/{c.batch_size}.')
  _check(c.num_replayed_per_update >= 1,
         f'--replay_capacity={c.replay_capacity} but --replay_proportion='
         f'{c.replay_proportion} replays no unroll of a batch of '
         f'{c.batch_size}; use --replay_capacity=0 for no replay.')
  _check(c.replay_capacity >= c.num_fresh_per_update,
         f'--replay_capacity={c.replay_capacity} must hold at least the '
         f'{c.num_fresh_per_update} fresh unrolls each update inserts.')


def _check_addresses(c) -> None:
  if c.job_name:
    _check(bool(c.learner_address),
           f'--job_name={c.job_name} needs --learner_address=host:port (the '
           'learner\'s address in the cluster).')
  for name in ('learner_address', 'actor_address'):
    address = getattr(c, name)
    _check(not address or _is_host_port(address),
           f'--{name} must be host:port, got {address!r}.')


def _check_level(c) -> None:
  """The level belongs to --env (another suite's multi-task level does not)."""
  for env in suites.names():
    other = suites.get(env).multi_task_level
    _check(env == c.env or c.level_name != other,
           f'--level_name={other} is the multi-task level of --env={env}, '
           f'not of --env={c.env}.')
  suites.get(c.env).check_level(c)


def _is_host_port(address: str) -> bool:
  host, sep, port = address.rpartition(':')
  return bool(sep) and bool(host) and port.isdigit() and 0 < int(port) < 65536


# In the order `Config.validate` runs them.
CHECKS = (_check_choices, _check_counts, _check_learning, _check_runtime,
          _check_addresses, _check_level, _check_replay)


# -- Resuming (runtime/preflight.py) ----------------------------------------

# Settings that decide the shapes of the network and of the unrolls, or the
# experiment itself. A resumed run must agree with the checkpoint on these.
IDENTITY_FIELDS = ('env', 'level_name', 'torso', 'use_lstm', 'use_instruction',
                   'unroll_length', 'num_action_repeats', 'width', 'height')


def check_resume_compatible(saved: Dict[str, Any], config) -> None:
  """Refuses to resume a logdir written by an incompatible configuration."""
  current = config.to_dict()
  diffs = [f'{k}: checkpoint {saved.get(k)!r} vs now {current[k]!r}'
           for k in IDENTITY_FIELDS if k in saved and saved[k] != current[k]]
  if diffs:
    raise ConfigError(
        'The logdir holds a run with a different configuration; use a new '
        '--logdir or the same flags. Differences: ' + '; '.join(diffs))
