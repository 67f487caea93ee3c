"""The run configuration: one validated dataclass, with the paper's defaults.

Flags map 1:1 onto `Config` fields (the released code's flag names plus what
the reproduction needs). Each field carries its help text (and its choices),
from which `scalable_agent_tf2.experiment` defines the absl flags. Fields
left as `None` are filled by `resolve()` from the suite plugin of --env
(`scalable_agent_tf2.suites`) for --preset: `paper` is the paper's table
(Atari: Table G.1; DMLab: the released defaults, and the released README run
for --level_name=dmlab30), `small` the Atari default for a few CPU cores
(docs/impala.md §4). Explicit flags always win over a preset. `validate()`
rejects bad combinations at start-up with a message naming the flag.

The command-line helpers at the end (`to_flags`, `experiment_command`,
`parse_extra`, `extra_flag_value`) write and check flags for the drivers.
"""

import dataclasses
import os
import shlex
import sys
import typing
from typing import Any, Dict, List, Mapping, Optional, Sequence

from scalable_agent_tf2 import config_fields
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2 import suites

MODES = ('train', 'test')
TEST_POLICIES = ('sample', 'greedy')
JOB_NAMES = ('', 'learner', 'actor')
TORSOS = ('shallow', 'deep')
CORRECTIONS = ('vtrace', '1step', 'epsilon', 'none')
REWARD_CLIPPING = ('abs_one', 'soft_asymmetric', 'none')

EXPERIMENT_MODULE = 'scalable_agent_tf2.experiment'


ConfigError = config_fields.ConfigError
field_choices = config_fields.field_choices
_field = config_fields.make_field


@dataclasses.dataclass
class Config:
  """All settings of a run. `None` = the suite's default for --env/--preset."""
  # What to run.
  logdir: str = _field('/tmp/agent', 'Run directory: checkpoints, logs, '
                       'config.json, test results.')
  mode: str = _field('train', 'train, or test (the latest checkpoint).',
                     enum=MODES)
  test_num_episodes: int = _field(
      10, 'Episodes per level in test mode (paper: 200 Atari, 500 DMLab-30).')
  test_video: int = _field(
      0, 'Test mode: write the first N episodes of each level as MP4 files '
      'under <logdir>/videos/, from the full-colour screen.')
  test_policy: str = _field(
      'sample', 'Test-mode actions: sample (the paper\'s, as in training) or '
      'greedy (the most probable action).', enum=TEST_POLICIES)
  env: str = _field('atari', 'Environment suite.', enum=suites.names)
  level_name: Optional[str] = _field(
      None, 'Atari game (e.g. Pong) or DMLab level; the suite\'s multi-task '
      'level (atari57 / dmlab30) trains on all its levels.')
  preset: Optional[str] = _field(
      None, 'Defaults for the flags not given: paper (the paper\'s table '
      'for --env) or, for Atari, small (the 2-core preset, docs/impala.md '
      '§4.4).', enum=suites.preset_names)
  # Process topology.
  job_name: str = _field('', 'Empty: run everything on this machine. '
                         'learner|actor: one process of a cluster.',
                         enum=JOB_NAMES)
  task: int = _field(0, 'Actor task id (picks its levels and seeds).')
  num_actors: Optional[int] = _field(
      None, 'Actor processes. Default: one per core, at least 2, unless the '
      'suite sets it.')
  envs_per_actor: Optional[int] = _field(
      None, 'Environments each actor steps with one batched inference.')
  learner_address: str = _field('', 'host:port of the learner (cluster runs).')
  actor_address: str = _field(
      '', 'host:port the learner can reach this actor at (cluster runs across '
      'machines; default: a free localhost port).')
  # Learning.
  batch_size: Optional[int] = _field(None, 'Unrolls per learner batch.')
  unroll_length: Optional[int] = _field(None, 'Unroll length (T).')
  num_action_repeats: Optional[int] = _field(None, 'Frames per agent step.')
  total_environment_frames: Optional[int] = _field(
      None, 'Frames to train for (the learning rate decays to 0 over them).')
  stop_at_frames: int = _field(
      0, 'Stop here instead (0: at total_environment_frames); the learning '
      'rate still decays over total_environment_frames.')
  seed: int = _field(
      1, 'Random seed (>= 1): initial weights, learner RNG, environment seeds '
      '(docs/determinism.md).')
  entropy_cost: Optional[float] = _field(None, 'Entropy cost/multiplier.')
  baseline_cost: Optional[float] = _field(None, 'Baseline cost/multiplier.')
  discounting: Optional[float] = _field(None, 'Discounting factor.')
  reward_clipping: Optional[str] = _field(
      None, 'Reward clipping in the loss.', enum=REWARD_CLIPPING)
  correction: str = _field('vtrace', 'Off-policy correction (paper Table 2).',
                           enum=CORRECTIONS)
  # Network.
  torso: Optional[str] = _field(
      None, 'Network: shallow (2 conv) or deep (ResNet, 15 conv).',
      enum=TORSOS)
  use_lstm: Optional[bool] = _field(None, 'LSTM core (paper Appendix G).')
  use_instruction: Optional[bool] = _field(
      None, 'Instruction encoder (DMLab language levels).')
  # Optimiser (RMSProp, TF1 semantics).
  learning_rate: Optional[float] = _field(None, 'Initial learning rate.')
  decay: Optional[float] = _field(None, 'RMSProp decay.')
  momentum: Optional[float] = _field(None, 'RMSProp momentum.')
  epsilon: Optional[float] = _field(None, 'RMSProp epsilon.')
  grad_norm_clip: Optional[float] = _field(
      None, 'Global gradient-norm clip (0 = none).')
  # Environment details.
  width: int = _field(96, 'DMLab frame width.')
  height: int = _field(72, 'DMLab frame height.')
  dataset_path: str = _field('', 'Path to the DMLab language-level dataset.')
  # Runtime.
  queue_capacity: int = _field(
      0, 'Unroll queue capacity (0 = 2 * batch_size).')
  checkpoint_secs: float = _field(600.0, 'Seconds between checkpoints.')
  summary_secs: float = _field(30.0, 'Seconds between summaries.')
  progress_secs: float = _field(10.0, 'Seconds between progress log lines.')
  max_actor_restarts: int = _field(
      20, 'Actor restarts (in total) before a local run stops.')
  actor_reconnect_secs: float = _field(
      60.0, 'How long an actor retries an unreachable learner.')
  # Local-run supervision (runtime/watchdog.py, docs/faults.md).
  max_learner_restarts: int = _field(
      3, 'Restarts of a learner that died unasked (from its latest '
      'checkpoint, with backoff) before a local run stops; 0 = never.')
  actor_stall_secs: float = _field(
      300.0, 'A local run restarts an actor that made no progress (used '
      'almost no CPU) for this long while the learner was up; 0 = off.')
  netns: str = _field('auto', 'Isolate a local run in a private network '
                      'namespace (auto: when the OS allows it).',
                      enum=('auto', 'off'))
  learner_device: str = _field(
      'auto', 'Where the train step runs (auto: GPU when visible).',
      enum=('auto', 'cpu', 'gpu'))
  gpu_memory_growth: bool = _field(
      True, 'The learner takes GPU memory as it needs it instead of all at '
      'start-up (docs/devices.md).')
  actor_gpus: str = _field(
      '', 'GPUs actor and test processes may use: empty (none, so they leave '
      'the learner\'s GPU memory alone), all, or indices such as 0,1.')
  vtrace_device: str = _field('cpu', 'Where V-trace runs (the paper: CPU).',
                              enum=('cpu', 'learner'))
  num_learners: int = _field(
      1, 'Synchronous learner replicas on the learner host (paper §3.1), '
      'each on batch_size / N unrolls, gradients summed; on N GPUs when '
      'visible, else N logical CPUs (docs/multiple_learners.md).')
  batch_size_per_learner: int = _field(
      0, 'Unrolls per learner replica; sets --batch_size to N x this.')
  max_policy_lag: int = _field(
      0, 'Drop fresh unrolls more than this many updates old, dequeuing '
      'others to fill the batch; 0 = off (the paper has no limit).')
  # Experience replay (paper §5.2.2; scalable_agent_tf2/replay.py).
  replay_capacity: Optional[int] = _field(
      None, 'Unrolls the learner\'s replay buffer holds (FIFO); 0 = no '
      'replay. The paper\'s Table 2 replay runs: 10000.')
  replay_proportion: Optional[float] = _field(
      None, 'With replay: the fraction of each batch sampled uniformly from '
      'the buffer (batch_size * proportion must be a whole number); the rest '
      'is fresh from the queue and alone counts as new frames.')
  # Actor hosts (runtime/actor_host.py, docs/actor_hosts.md).
  env_processes: bool = _field(
      False, 'true: each actor process is an actor host whose '
      'envs_per_actor environments run in their own TF-free worker '
      'processes, inference dynamically batched over the ready ones; false: '
      'the environments are stepped in the actor process, in lockstep.')
  inference_batch_timeout_ms: float = _field(
      2.0, 'With --env_processes: how long an actor host waits, after the '
      'first observation is ready, for more before running inference.')
  max_inference_batch: int = _field(0, 'With --env_processes: the most '
                                    'streams one inference serves (0 = all).')
  param_refresh_ms: float = _field(
      20.0, 'With --env_processes: at most once per period an actor host '
      'pulls newer parameters; unrolls begun later use them '
      '(docs/actor_hosts.md).')
  env_reset_delay_ms: float = _field(
      0.0, 'Slow restarts (Table 1\'s second task; benchmarks, tests): sleep '
      'this long at the end of --env_reset_delay_fraction of episodes.')
  env_reset_delay_fraction: float = _field(
      0.1, 'With --env_reset_delay_ms: the fraction of episodes that sleep.')
  actor_threads: int = _field(
      1, 'TensorFlow intra- and inter-op threads of each actor process (0 = '
      'TensorFlow\'s default; 1 measured fastest, docs/actor_hosts.md).')

  # -- Derived ---------------------------------------------------------------

  @property
  def is_multi_task(self) -> bool:
    return self.level_name == suites.get(self.env).multi_task_level

  @property
  def frames_per_update(self) -> int:
    # Experience replay: only the fresh unrolls are new frames.
    return (self.num_fresh_per_update * self.unroll_length *
            self.num_action_repeats)

  # Experience replay (scalable_agent_tf2/replay.py).
  @property
  def num_replayed_per_update(self) -> int:
    """Unrolls of each batch sampled from the replay buffer (0: no replay)."""
    # 0 is off; None (before resolve()) has no buffer yet either.
    if not self.replay_capacity or self.replay_capacity < 0:
      return 0
    return int(round(self.batch_size * self.replay_proportion))

  @property
  def num_fresh_per_update(self) -> int:
    """Unrolls of each batch dequeued fresh from the actors."""
    return self.batch_size - self.num_replayed_per_update

  @property
  def effective_queue_capacity(self) -> int:
    return self.queue_capacity or 2 * self.batch_size

  @property
  def stop_frames(self) -> int:
    """The learner's frame count at which training stops."""
    return self.stop_at_frames or self.total_environment_frames

  def resolve(self) -> 'Config':
    """Returns a copy with every `None` replaced by the suite's default.

    Raises:
      ConfigError: unknown --env, or a --preset the suite does not define.
    """
    suite = suites.get(self.env)
    preset = self.preset or suite.default_preset
    # An empty --level_name means the suite's default level.
    defaults = dict(suite.defaults(self.level_name or None, preset))
    defaults.setdefault('num_actors', _default_num_actors())
    values = dataclasses.asdict(self)
    if self.batch_size_per_learner > 0 and self.batch_size is None:
      values['batch_size'] = self.num_learners * self.batch_size_per_learner
    for key, value in defaults.items():
      if values.get(key) is None:
        values[key] = value
    values['level_name'] = self.level_name or defaults['level_name']
    values['preset'] = preset
    return Config(**values)

  def validate(self) -> 'Config':
    """Raises ConfigError on anything that cannot run. Returns self."""
    unresolved = [f.name for f in dataclasses.fields(self)
                  if getattr(self, f.name) is None]
    if unresolved:
      raise ConfigError(f'Config not resolved: {unresolved}; call resolve().')
    from scalable_agent_tf2 import config_checks  # pylint: disable=g-import-not-at-top
    for check in config_checks.CHECKS:
      check(self)
    return self

  # -- Serialisation ----------------------------------------------------------

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  def save(self, logdir: str) -> None:
    """Writes the run's config.json into `logdir` (run_dir.config_path)."""
    run_dir.write_json_atomic(run_dir.config_path(logdir), self.to_dict())


# -- Fields --------------------------------------------------------------------


def field_type(name: str) -> type:
  """The value type of Config field `name`: str, int, float or bool.

  Raises:
    ConfigError: `name` is not a Config field.
  """
  for field in dataclasses.fields(Config):
    if field.name == name:
      args = [a for a in typing.get_args(field.type) if a is not type(None)]
      return args[0] if args else field.type
  raise ConfigError(f'Config has no field {name!r}.')


def _default_num_actors() -> int:
  # One actor process per core (the learner shares them); at least 2 so that
  # the learner always has more than one source of experience.
  return max(2, os.cpu_count() or 1)


# -- Command lines -------------------------------------------------------------

_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(Config))


def to_flags(config_or_dict, **overrides) -> List[str]:
  """The `--name=value` flags that reproduce a Config (plus `overrides`).

  Booleans are written 'true' / 'false', floats with `repr` (exact round
  trip), and `None` values (a hyperparameter left to the preset) are omitted.

  Args:
    config_or_dict: a `Config`, or a dict of Config field values.
    **overrides: field values that replace the config's.

  Raises:
    ConfigError: a name that is not a Config field.
  """
  values = (config_or_dict.to_dict() if isinstance(config_or_dict, Config)
            else dict(config_or_dict))
  values.update(overrides)
  unknown = sorted(set(values) - _FIELD_NAMES)
  if unknown:
    raise ConfigError(f'Not Config fields: {unknown}.')
  flags = []
  for name, value in sorted(values.items()):
    if value is None:
      continue
    if isinstance(value, bool):
      value = 'true' if value else 'false'
    elif isinstance(value, float):
      value = repr(value)
    flags.append(f'--{name}={value}')
  return flags


def experiment_command(flags: Sequence[str]) -> List[str]:
  """The command line that runs the experiment entry point with `flags`."""
  return [sys.executable, '-m', EXPERIMENT_MODULE, *flags]


def _token_name(token: str) -> str:
  return token.lstrip('-').partition('=')[0] if token.startswith('-') else ''


def parse_extra(text: Optional[str], reserved=()) -> List[str]:
  """Splits an `--extra="..."` string into experiment flags, checked.

  Every token must be `--name=value` or, for a boolean field, `--name` /
  `--noname`, naming a Config field (the `--name value` form is refused: a
  stray word would make every run fail).

  Args:
    text: shell-quoted flags, e.g. '--num_actors=2 --nouse_lstm'.
    reserved: names the caller sets itself and --extra may not: a sequence,
      or a mapping name -> why / what to use instead (shown in the error).

  Returns:
    The tokens, in order, unchanged.

  Raises:
    ConfigError: bad quoting, a token that is not a flag, an unknown field,
      a non-boolean flag without a value, or a reserved name.
  """
  try:
    tokens = shlex.split(text or '')
  except ValueError as e:
    raise ConfigError(f'--extra={text!r} cannot be split: {e}.') from None
  for token in tokens:
    if not _token_name(token):
      raise ConfigError(
          f'--extra: {token!r} is not a flag; write the experiment\'s flags '
          'as --name=value (e.g. --extra="--num_actors=2 --batch_size=4").')
  for token in tokens:
    _check_extra_token(token, reserved)
  return tokens


def _check_extra_token(token: str, reserved) -> None:
  name, has_value, _ = token.lstrip('-').partition('=')
  field = name
  if name not in _FIELD_NAMES and name.startswith('no') and not has_value:
    field = name[2:]  # absl's `--noflag`: false for a boolean --flag.
  if field not in _FIELD_NAMES:
    raise ConfigError(
        f'Invalid experiment flag in --extra: the experiment has no flag '
        f'--{name} (see python -m {EXPERIMENT_MODULE} --helpfull).')
  if field in reserved:
    why = reserved[field] if isinstance(reserved, Mapping) else (
        'the driver sets it')
    raise ConfigError(f'--extra may not set --{field}: {why}.')
  if not has_value and field_type(field) is not bool:
    raise ConfigError(f'--extra: --{name} needs a value; write '
                      f'--{field}=VALUE.')


def extra_flag_value(tokens: Sequence[str], name: str) -> Optional[str]:
  """The value `tokens` give flag `name` (the last one wins, as in absl).

  Returns None when `tokens` do not set it; 'true' / 'false' for a bare
  boolean `--name` / `--noname`.
  """
  value = None
  for token in tokens:
    flag, sep, text = token.lstrip('-').partition('=')
    if flag == name:
      value = text if sep else 'true'
    elif flag == 'no' + name and not sep:
      value = 'false'
  return value
