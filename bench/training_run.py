"""One timed training run of the throughput benchmark (`bench.throughput`).

Trains Atari Pong through the real entry point -- a launcher with a learner
and N actor OS processes joined by a TF cluster on localhost (docs/impala.md
§8) -- with the paper preset (Table G.1) and the shallow model of Table 1,
for a fixed wall time after start-up, then stops it with SIGTERM and reads
the steady-state throughput of its progress.jsonl through
`scalable_agent_tf2.run_dir`.
"""

import os
import shutil
import statistics
import tempfile
import time
from typing import Dict, List, Optional, Sequence

from bench import memory
from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.runtime import processes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LEVEL_NAME = 'Pong'
TORSO = 'shallow'  # Table 1 measures the shallow model.
PRESET = 'paper'  # Table G.1: batch 32, unroll 20, action repeat 4.

DEFAULT_SECONDS = 90.0
DEFAULT_PROGRESS_SECS = 2.0
# The first 35% of the progress lines (start-up, the first traced step, the
# queue backlog being drained) are left out of the median.
DEFAULT_WARMUP_FRACTION = 0.35
# A run that has not written its first progress line by then has failed.
DEFAULT_STARTUP_TIMEOUT_SECS = 300.0
# Memory is sampled this often while a run trains.
MEMORY_SAMPLE_SECS = 2.0
# The launcher gives its children 9 s to stop; then some slack.
STOP_TIMEOUT_SECS = 60.0
_POLL_SECS = 0.25


def paper_config() -> config_lib.Config:
  """The resolved configuration every throughput run trains with."""
  return config_lib.Config(env='atari', preset=PRESET, level_name=LEVEL_NAME,
                           torso=TORSO).resolve()


def training_command(logdir: str, num_actors: int, envs_per_actor: int,
                     progress_secs: float,
                     extra_flags: Sequence[str] = ()) -> List[str]:
  """The entry-point command line of one throughput run."""
  return config_lib.experiment_command([
      '--env=atari', f'--preset={PRESET}', f'--level_name={LEVEL_NAME}',
      f'--torso={TORSO}', f'--num_actors={num_actors}',
      f'--envs_per_actor={envs_per_actor}', f'--progress_secs={progress_secs}',
      f'--logdir={logdir}', *extra_flags])


def child_env() -> Dict[str, str]:
  """Our environment with the repository on PYTHONPATH (for `bench`)."""
  env = dict(os.environ)
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  env['PYTHONPATH'] = os.pathsep.join(
      [REPO] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
  return env


def _tail(path: str, lines: int = 15) -> str:
  try:
    with open(path, errors='replace') as f:
      return ''.join(f.readlines()[-lines:])
  except OSError:
    return ''


def _has_progress_line(logdir: str) -> bool:
  try:
    return os.path.getsize(run_dir.progress_path(logdir)) > 0
  except OSError:
    return False


def _train(launcher: processes.Child, logdir: str, seconds: float,
           startup_timeout: float, sampler: memory.MemorySampler,
           result: Dict[str, object]) -> Optional[float]:
  """Lets the run train `seconds` after its start-up; then stops it.

  Returns:
    when the SIGTERM was sent (None if the run exited on its own).
  """
  start = time.time()
  next_sample = start + MEMORY_SAMPLE_SECS
  deadline = start + startup_timeout
  training_since = None
  while launcher.running and time.time() < deadline:
    time.sleep(_POLL_SECS)
    now = time.time()
    if training_since is None and _has_progress_line(logdir):
      training_since = now
      result['startup_secs'] = now - start
      deadline = now + seconds
    if now >= next_sample:
      sampler.sample()
      next_sample = time.time() + MEMORY_SAMPLE_SECS
  if not launcher.running:
    result['error'] = (f'the run exited on its own with code '
                       f'{launcher.returncode} after {time.time() - start:.0f}'
                       f' s; launcher log tail:\n{_tail(launcher.log_path)}')
    return None
  sampler.sample()  # VmHWM just before stopping.
  stop_time = time.time()
  if training_since is None:
    result['error'] = (f'no progress line within --startup_timeout='
                       f'{startup_timeout:.0f} s of the launch; launcher '
                       f'log tail:\n{_tail(launcher.log_path)}')

  def warn(unused_message):
    result['stop_warning'] = (f'the launcher did not stop within '
                              f'{STOP_TIMEOUT_SECS:.0f} s; killed.')

  processes.stop([launcher], STOP_TIMEOUT_SECS, log=warn)
  return stop_time


def median_policy_lag(window: Sequence[dict]) -> Optional[float]:
  """Median over progress lines of their mean policy lag, in updates (the
  parameter version the learner trains with minus the one acted with)."""
  lags = [float(r['mean_policy_lag']) for r in window
          if isinstance(r.get('mean_policy_lag'), (int, float))]
  return statistics.median(lags) if lags else None


def _measure(result: Dict[str, object], logdir: str,
             stop_time: Optional[float], warmup_fraction: float) -> None:
  """Adds the steady-state statistics of the run's progress lines."""
  records = run_dir.read_progress(logdir)
  result.update(run_dir.steady_state_stats(records, stop_time,
                                           warmup_fraction))
  if records:
    result['frames'] = records[-1].get('frames')
    result['updates'] = records[-1].get('updates')
  result['policy_lag_median'] = median_policy_lag(
      run_dir.steady_state_window(records, stop_time, warmup_fraction))
  if result['fps_median'] is None and 'error' not in result:
    result['error'] = ('no progress line in the steady-state window: give the '
                       'run more --seconds.')


def run_training(num_actors: int, envs_per_actor: int,
                 seconds: float = DEFAULT_SECONDS,
                 progress_secs: float = DEFAULT_PROGRESS_SECS,
                 warmup_fraction: float = DEFAULT_WARMUP_FRACTION,
                 extra_flags: Sequence[str] = (),
                 startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_SECS,
                 keep_logdir: bool = False) -> Dict[str, object]:
  """Trains Pong for `seconds` after start-up; returns throughput and memory.

  Start-up -- from the launch to the learner's first progress line (processes
  starting, the cluster connecting, the first train step being traced) --
  is not part of the `seconds` budget: on a loaded machine it alone can take
  longer than a short measurement. It is reported as 'startup_secs' and
  capped by `startup_timeout`.

  The run's logdir is a fresh temporary directory, deleted afterwards unless
  `keep_logdir`. A run that fails (exits on its own, or never trains within
  `startup_timeout`) is reported with an 'error' entry instead of raising, so
  that one broken configuration does not lose the others.
  """
  if num_actors < 1 or envs_per_actor < 1:
    raise ValueError('num_actors and envs_per_actor must be >= 1, got '
                     f'{num_actors} and {envs_per_actor}.')
  if seconds <= 0 or startup_timeout <= 0:
    raise ValueError(f'seconds and startup_timeout must be > 0, got '
                     f'{seconds!r} and {startup_timeout!r}.')
  logdir = tempfile.mkdtemp(prefix=f'bench_a{num_actors}_e{envs_per_actor}_')
  launcher = processes.Child(
      'launcher', training_command(logdir, num_actors, envs_per_actor,
                                   progress_secs, extra_flags),
      log_path=os.path.join(logdir, 'launcher.log'), cwd=REPO,
      env=child_env())
  result: Dict[str, object] = dict(
      num_actors=num_actors, envs_per_actor=envs_per_actor,
      measured_secs=seconds, startup_secs=None,
      loadavg_before=memory.load_average())
  sampler = memory.MemorySampler(logdir)
  try:
    launcher.start()
    stop_time = _train(launcher, logdir, seconds, startup_timeout, sampler,
                       result)
  finally:
    processes.kill_all([launcher])  # Interrupted (e.g. Ctrl-C): never leave it.
    launcher.wait()
  result['exit_code'] = launcher.returncode
  result['loadavg_after'] = memory.load_average()
  _measure(result, logdir, stop_time, warmup_fraction)
  result.update(sampler.summary())
  if keep_logdir:
    result['logdir'] = logdir
  else:
    shutil.rmtree(logdir, ignore_errors=True)
  return result
