"""The run configuration: one validated dataclass, with the paper's defaults.

Flags map 1:1 onto `Config` fields (the released code's flag names plus what the
reproduction needs). Hyperparameters left as `None` are filled by `resolve()`
from the paper's table for the chosen environment (docs/impala.md §4):

  * Atari (Table G.1): unroll 20, entropy 0.01, lr 0.0006, RMSProp eps 0.01,
    global grad-norm clip 40, 2e8 frames per game, feed-forward deep network.
  * DMLab (released defaults / Table D.3): unroll 100, entropy 0.00025,
    lr 0.00048, eps 0.1, no grad clip, 1e9 frames, deep CNN-LSTM.
  * DMLab-30 (`--level_name=dmlab30`, the released README run): entropy
    0.0033391318945337044, lr 0.00031866995608948655, soft_asymmetric reward
    clipping, 1e10 frames, 150 actors.

Presets (`--preset`): `paper` is the table above. `small` -- the default for
Atari -- changes four of them so that one small machine (a few cores, no GPU)
sees Pong learn within hours instead of days: shallow torso, batch 4 (about
8x more updates per frame), 8 environments per actor, RMSProp epsilon 1e-5
(a value of the paper's own sweep, Table D.1). The released code's flag
defaults were not the paper's table either (batch_size 2); the paper's runs
pass `--preset=paper` (the Atari-57 suite, the Pong benchmark). DMLab has only
the `paper` preset. Explicit flags always win over a preset.

`validate()` rejects bad combinations at start-up with a message naming the
flag, so a run never starts with a silent misconfiguration.
"""

import dataclasses
import json
import os
from typing import Any, Dict, Optional

# What a run writes into its logdir: its flags, for resume checks and test mode.
CONFIG_FILE = 'config.json'

ENVS = ('atari', 'dmlab')
MODES = ('train', 'test')
JOB_NAMES = ('', 'learner', 'actor')
TORSOS = ('shallow', 'deep')
CORRECTIONS = ('vtrace', '1step', 'epsilon', 'none')
PRESETS = ('paper', 'small')
DEFAULT_PRESET = {'atari': 'small', 'dmlab': 'paper'}
REWARD_CLIPPING = ('abs_one', 'soft_asymmetric', 'none')

# Multi-task pseudo level names: actors are assigned the suite's levels round
# robin (paper §5.3, Appendix G).
MULTI_TASK_LEVELS = {'atari': 'atari57', 'dmlab': 'dmlab30'}

_PAPER_DEFAULTS = {
    'atari': dict(
        level_name='Pong', unroll_length=20, batch_size=32,
        num_action_repeats=4, total_environment_frames=int(2e8),
        entropy_cost=0.01, baseline_cost=0.5, discounting=0.99,
        reward_clipping='abs_one', learning_rate=0.0006, decay=0.99,
        momentum=0.0, epsilon=0.01, grad_norm_clip=40.0, torso='deep',
        use_lstm=False, use_instruction=False, envs_per_actor=4),
    'dmlab': dict(
        level_name='explore_goal_locations_small', unroll_length=100,
        batch_size=32, num_action_repeats=4,
        total_environment_frames=int(1e9), entropy_cost=0.00025,
        baseline_cost=0.5, discounting=0.99, reward_clipping='abs_one',
        learning_rate=0.00048, decay=0.99, momentum=0.0, epsilon=0.1,
        grad_norm_clip=0.0, torso='deep', use_lstm=True, use_instruction=True,
        envs_per_actor=1),
}

# `--preset=small` (Atari): what differs from Table G.1, and why.
#   * torso shallow: the deep ResNet is ~4x slower per frame on a CPU.
#   * batch_size 4: with few environment streams the paper's batch of 32
#     makes ~8x fewer updates per frame; Pong then stays at -20 for the first
#     10M frames on 2 cores (README, "Pong on 2 cores").
#   * envs_per_actor 8: 16 streams on 2 cores keep the batch decorrelated.
#   * epsilon 1e-5 (Table D.1 sweep value): with epsilon 0.01 inside the sqrt
#     the torso's tiny per-weight gradients (median mean square 2e-10 to 3e-9
#     in the paper-preset Pong run, `bench.torso_health`) are damped 1,700x to
#     6,500x and the torso barely moves in 10M frames.
SMALL_ATARI_OVERRIDES = dict(torso='shallow', batch_size=4, envs_per_actor=8,
                             epsilon=1e-5)

# The released README's DMLab-30 command line (docs/impala.md §4).
_DMLAB30_OVERRIDES = dict(
    entropy_cost=0.0033391318945337044,
    learning_rate=0.00031866995608948655,
    reward_clipping='soft_asymmetric',
    total_environment_frames=int(1e10),
    num_actors=150)


class ConfigError(ValueError):
  """A flag value or combination that cannot run."""


@dataclasses.dataclass
class Config:
  """All settings of a run. `None` = the paper's default for `env`."""
  # What to run.
  logdir: str = '/tmp/agent'
  mode: str = 'train'
  test_num_episodes: int = 10
  env: str = 'atari'
  level_name: Optional[str] = None
  preset: Optional[str] = None  # None = DEFAULT_PRESET[env].
  # Process topology.
  job_name: str = ''
  task: int = 0
  num_actors: Optional[int] = None
  envs_per_actor: Optional[int] = None
  learner_address: str = ''
  actor_address: str = ''
  # Learning.
  batch_size: Optional[int] = None
  unroll_length: Optional[int] = None
  num_action_repeats: Optional[int] = None
  total_environment_frames: Optional[int] = None
  seed: int = 1
  entropy_cost: Optional[float] = None
  baseline_cost: Optional[float] = None
  discounting: Optional[float] = None
  reward_clipping: Optional[str] = None
  correction: str = 'vtrace'
  # Network.
  torso: Optional[str] = None
  use_lstm: Optional[bool] = None
  use_instruction: Optional[bool] = None
  # Optimiser (RMSProp, TF1 semantics).
  learning_rate: Optional[float] = None
  decay: Optional[float] = None
  momentum: Optional[float] = None
  epsilon: Optional[float] = None
  grad_norm_clip: Optional[float] = None
  # Environment details.
  width: int = 96
  height: int = 72
  dataset_path: str = ''
  # Runtime.
  queue_capacity: int = 0  # 0 = 2 * batch_size.
  checkpoint_secs: float = 600.0
  summary_secs: float = 30.0
  progress_secs: float = 10.0
  max_actor_restarts: int = 20
  actor_reconnect_secs: float = 60.0
  netns: str = 'auto'  # auto | off
  learner_device: str = 'auto'  # auto | cpu | gpu
  vtrace_device: str = 'cpu'  # where V-trace runs (the paper: CPU).

  # -- Derived ---------------------------------------------------------------

  @property
  def is_multi_task(self) -> bool:
    return self.level_name == MULTI_TASK_LEVELS.get(self.env)

  @property
  def frames_per_update(self) -> int:
    return self.batch_size * self.unroll_length * self.num_action_repeats

  @property
  def effective_queue_capacity(self) -> int:
    return self.queue_capacity or 2 * self.batch_size

  def resolve(self) -> 'Config':
    """Returns a copy with every `None` replaced by the paper's default."""
    if self.env not in ENVS:
      raise ConfigError(f'--env must be one of {ENVS}, got {self.env!r}.')
    values = dataclasses.asdict(self)
    defaults = dict(_PAPER_DEFAULTS[self.env])
    level_name = self.level_name or defaults['level_name']
    preset = self.preset or DEFAULT_PRESET[self.env]
    if preset not in PRESETS:
      raise ConfigError(f'--preset must be one of {PRESETS}, got {preset!r}.')
    if preset == 'small':
      if self.env != 'atari':
        raise ConfigError('--preset=small is defined for Atari only; DMLab '
                          'runs use --preset=paper (the default).')
      defaults.update(SMALL_ATARI_OVERRIDES)
    if self.env == 'dmlab' and level_name == 'dmlab30':
      defaults.update(_DMLAB30_OVERRIDES)
    defaults.setdefault('num_actors', _default_num_actors())
    for key, value in defaults.items():
      if values.get(key) is None:
        values[key] = value
    values['level_name'] = level_name
    values['preset'] = preset
    return Config(**values)

  def validate(self) -> 'Config':
    """Raises ConfigError on anything that cannot run. Returns self."""
    unresolved = [f.name for f in dataclasses.fields(self)
                  if getattr(self, f.name) is None]
    if unresolved:
      raise ConfigError(f'Config not resolved: {unresolved}; call resolve().')

    def check(condition, message):
      if not condition:
        raise ConfigError(message)

    check(self.mode in MODES, f'--mode must be one of {MODES}.')
    check(self.preset in PRESETS, f'--preset must be one of {PRESETS}.')
    check(self.env in ENVS, f'--env must be one of {ENVS}.')
    check(self.job_name in JOB_NAMES,
          f'--job_name must be one of {JOB_NAMES[1:]} or empty (local run).')
    check(self.torso in TORSOS, f'--torso must be one of {TORSOS}.')
    check(self.correction in CORRECTIONS,
          f'--correction must be one of {CORRECTIONS}.')
    check(self.reward_clipping in REWARD_CLIPPING,
          f'--reward_clipping must be one of {REWARD_CLIPPING}.')
    for name in ('batch_size', 'unroll_length', 'num_action_repeats',
                 'total_environment_frames', 'num_actors', 'envs_per_actor',
                 'test_num_episodes', 'width', 'height'):
      check(getattr(self, name) >= 1, f'--{name} must be >= 1.')
    check(self.task >= 0, '--task must be >= 0.')
    check(self.seed >= 1, '--seed must be >= 1 (environment i gets seed '
          'i + 1 + 100000 * (seed - 1), docs/impala.md §5).')
    check(self.task < self.num_actors or self.job_name != 'actor',
          f'--task={self.task} but --num_actors={self.num_actors}: actor '
          'tasks are 0..num_actors-1 (the task picks the level and seed).')
    check(0.0 < self.discounting <= 1.0, '--discounting must be in (0, 1].')
    check(0.0 <= self.decay < 1.0, '--decay must be in [0, 1).')
    check(0.0 <= self.momentum < 1.0, '--momentum must be in [0, 1).')
    check(self.epsilon > 0.0, '--epsilon must be > 0.')
    check(self.learning_rate > 0.0, '--learning_rate must be > 0.')
    check(self.grad_norm_clip >= 0.0,
          '--grad_norm_clip must be >= 0 (0 = no clipping).')
    check(self.entropy_cost >= 0.0 and self.baseline_cost >= 0.0,
          '--entropy_cost and --baseline_cost must be >= 0.')
    check(self.queue_capacity >= 0, '--queue_capacity must be >= 0.')
    check(self.effective_queue_capacity >= self.batch_size,
          '--queue_capacity must be at least --batch_size (or 0 for '
          '2 * batch_size): the learner dequeues batch_size unrolls at once.')
    for name in ('checkpoint_secs', 'summary_secs', 'progress_secs'):
      check(getattr(self, name) > 0, f'--{name} must be > 0.')
    check(self.max_actor_restarts >= 0, '--max_actor_restarts must be >= 0.')
    check(self.netns in ('auto', 'off'), "--netns must be 'auto' or 'off'.")
    check(self.learner_device in ('auto', 'cpu', 'gpu'),
          "--learner_device must be 'auto', 'cpu' or 'gpu'.")
    check(self.vtrace_device in ('cpu', 'learner'),
          "--vtrace_device must be 'cpu' (the paper) or 'learner'.")
    if self.env == 'atari':
      check(not self.use_instruction,
            '--use_instruction is for DMLab language levels; Atari has no '
            'instructions.')
      check(not self.dataset_path, '--dataset_path is a DMLab option.')
    if self.job_name:
      check(bool(self.learner_address),
            f'--job_name={self.job_name} needs --learner_address=host:port '
            '(the learner\'s address in the cluster).')
    if self.learner_address:
      check(_is_host_port(self.learner_address),
            f'--learner_address must be host:port, got '
            f'{self.learner_address!r}.')
    if self.actor_address:
      check(_is_host_port(self.actor_address),
            f'--actor_address must be host:port, got {self.actor_address!r}.')
    return self

  # -- Serialisation ----------------------------------------------------------

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  def save(self, path: str) -> None:
    with open(path, 'w') as f:
      json.dump(self.to_dict(), f, indent=2, sort_keys=True)


# Settings that decide the shapes of the network and of the unrolls, or the
# experiment itself. A resumed run must agree with the checkpoint on these.
IDENTITY_FIELDS = ('env', 'level_name', 'torso', 'use_lstm', 'use_instruction',
                   'unroll_length', 'num_action_repeats', 'width', 'height')


def check_resume_compatible(saved: Dict[str, Any], config: Config) -> None:
  """Refuses to resume a logdir written by an incompatible configuration."""
  current = config.to_dict()
  diffs = [f'{k}: checkpoint {saved.get(k)!r} vs now {current[k]!r}'
           for k in IDENTITY_FIELDS if k in saved and saved[k] != current[k]]
  if diffs:
    raise ConfigError(
        'The logdir holds a run with a different configuration; use a new '
        '--logdir or the same flags. Differences: ' + '; '.join(diffs))


def load_saved(logdir: str) -> Optional[Dict[str, Any]]:
  """The config.json a training run wrote into `logdir`, if any."""
  path = os.path.join(logdir, CONFIG_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _is_host_port(address: str) -> bool:
  host, sep, port = address.rpartition(':')
  return bool(sep) and bool(host) and port.isdigit() and 0 < int(port) < 65536


def _default_num_actors() -> int:
  # One actor process per core (the learner shares them); at least 2 so that
  # the learner always has more than one source of experience.
  return max(2, os.cpu_count() or 1)
