r"""Actor hosts vs in-process actors: frames/s, memory (PSS), inference batch.

Pong, shallow torso, the paper preset (batch 32, unroll 20), the protocol of
`bench.throughput` (`bench.training_run`: start-up excluded, a fixed wall
time, the median of progress.jsonl fps over the steady state), for the
layouts of docs/actor_hosts.md, run back to back and alternated (A B A B)
`repeats` times:

  in_process_2x4_threads1  2 actor processes x 4 envs, in-process
  host_1x8                 1 actor host x 8 env workers
  host_1x16                1 actor host x 16 env workers
  hosts_2x8                2 actor hosts x 8 env workers
  *_slow, *_slower         in-process 2 x 4 and host 1 x 8 with slow restarts
                           (Table 1's second task; --env_reset_delay_ms)
  and, when asked for by name, the thread-setting variants in LAYOUTS.

Per run: frames/s, the env-only frames/s of the same number of environments
in the same number of processes, the PSS (/proc/<pid>/smaps_rollup) of the
learner, the actor processes, the env workers and the whole run, the mean
inference batch, the hosts' stage shares and policy lag (their stats lines,
runtime/host_stats.py), the learner's stage shares and verdicts
(runtime/bottleneck.py); once, the box's limit (`bench.box_limit`) and
end-to-end / limit; and the RATIOS the targets are stated in.

  python -m bench.run --only=actor_hosts             # ~35 min, idle machine
"""

import os
import shutil
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Tuple

from bench import box_limit
from bench import env_only
from bench import memory
from bench import training_run
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.runtime import host_stats
from scalable_agent_tf2.runtime import processes

# Slow restarts (Table 1's second task; docs/actor_hosts.md): 200 ms on 10%
# of episode ends, and a heavier setting whose effect stands out of the
# noise on Pong's long episodes.
_SLOW = ('--env_reset_delay_ms=200', '--env_reset_delay_fraction=0.1')
_SLOWER = ('--env_reset_delay_ms=1000', '--env_reset_delay_fraction=0.5')
# name -> (actor processes, envs each, env processes, --actor_threads, flags).
LAYOUTS = {
    'in_process_2x4_threads1': (2, 4, False, 1, ()),
    'host_1x8': (1, 8, True, 1, ()),
    'host_1x16': (1, 16, True, 1, ()),
    'hosts_2x8': (2, 8, True, 1, ()),
    'in_process_2x4_slow': (2, 4, False, 1, _SLOW),
    'host_1x8_slow': (1, 8, True, 1, _SLOW),
    'in_process_2x4_slower': (2, 4, False, 1, _SLOWER),
    'host_1x8_slower': (1, 8, True, 1, _SLOWER),
    # Not run by default (parse_layouts): measured once, docs/actor_hosts.md.
    'in_process_2x4': (2, 4, False, 0, ()),
    'host_1x8_default_threads': (1, 8, True, 0, ()),
}
DEFAULT_LAYOUTS = tuple(LAYOUTS)[:8]
DEFAULT_REPEATS = 2
_WORKER_MODULE = 'scalable_agent_tf2.runtime.env_worker'


def parse_layouts(text: str) -> Tuple[str, ...]:
  """'host_1x8,hosts_2x8' -> those names (DEFAULT_LAYOUTS for '').

  Raises:
    SystemExit: an unknown layout name.
  """
  names = tuple(x.strip() for x in text.split(',') if x.strip())
  unknown = sorted(set(names) - set(LAYOUTS))
  if unknown:
    raise SystemExit(f'Unknown actor-host layouts {unknown}; known: '
                     f'{", ".join(LAYOUTS)}.')
  return names or DEFAULT_LAYOUTS


def parse_pss_kib(smaps_rollup_text: str):
  """The Pss line of /proc/<pid>/smaps_rollup in KiB (None if absent)."""
  return memory.parse_status_kib(smaps_rollup_text, 'Pss')


def process_kind(argv: List[str], logdir: str):
  """'learner', 'actor', 'env_worker', 'launcher' or None for one process."""
  if f'--logdir={logdir}' not in argv:
    return None
  if '--job_name=learner' in argv:
    return 'learner'
  if '--job_name=actor' in argv:
    return 'actor'
  if _WORKER_MODULE in argv:
    return 'env_worker'
  return 'launcher'


class PssSampler:
  """PSS per kind of process of one run; keeps the last and peak totals."""

  def __init__(self, logdir: str, proc_root: str = '/proc'):
    self._logdir, self._root = logdir, proc_root
    self.last: Dict[str, float] = {}
    self.peak_total_mib = 0.0

  def sample(self) -> None:
    totals: Dict[str, float] = {}
    for entry in os.listdir(self._root):
      if not entry.isdigit():
        continue
      try:
        with open(os.path.join(self._root, entry, 'cmdline'), 'rb') as f:
          kind = process_kind(memory.parse_cmdline(f.read()), self._logdir)
        if kind is None:
          continue
        with open(os.path.join(self._root, entry, 'smaps_rollup')) as f:
          pss = parse_pss_kib(f.read())
      except OSError:
        continue
      if pss is not None:
        totals[kind] = totals.get(kind, 0.0) + pss / 1024.0
        totals[kind + '_count'] = totals.get(kind + '_count', 0) + 1
    if totals:
      self.last = totals
      total = sum(v for k, v in totals.items() if not k.endswith('_count'))
      self.peak_total_mib = max(self.peak_total_mib, total)

  def summary(self, num_envs: int) -> Dict[str, object]:
    mib = {k: round(v, 1) for k, v in self.last.items()}
    total = sum(v for k, v in self.last.items() if not k.endswith('_count'))
    acting = self.last.get('actor', 0.0) + self.last.get('env_worker', 0.0)
    return dict(pss_mib=mib, total_pss_mib=round(total, 1),
                peak_total_pss_mib=round(self.peak_total_mib, 1),
                acting_pss_mib_per_env=round(acting / num_envs, 1))


class _Samplers:
  """RSS (bench.memory) and PSS samplers behind one sample()."""

  def __init__(self, logdir):
    self.rss, self.pss = memory.MemorySampler(logdir), PssSampler(logdir)

  def sample(self):
    self.rss.sample()
    self.pss.sample()


_HOST_SHARES = ('env_wait', 'inference', 'enqueue', 'pull', 'blocked')
_LEARNER_SHARES = ('train_step_share', 'queue_wait_share', 'publish_share',
                   'queue_full_share')


def host_batch_stats(logdir: str, num_actors: int, warmup_fraction: float):
  """Mean inference batch, time shares and policy lag over the hosts'
  steady stats lines (runtime/host_stats.py)."""
  records = []
  for task in range(num_actors):
    try:
      with open(run_dir.actor_log_path(logdir, task), errors='replace') as f:
        lines = host_stats.parse_stats_lines(f.read())
    except OSError:
      continue
    records += lines[int(len(lines) * warmup_fraction):]
  if not records:
    return dict(inference_batch_mean=None)
  secs = sum(r['interval_secs'] for r in records)
  out = dict(inference_batch_mean=host_stats.mean_batch(records),
             stats_lines=len(records))
  for name in _HOST_SHARES:
    if name == 'blocked':  # Already a share of the interval's stream time.
      out['host_blocked_share'] = _median(
          [r.get('blocked_share') for r in records])
      continue
    out[f'host_{name}_share'] = sum(r.get(f'{name}_secs', 0.0)
                                    for r in records) / secs
  for key in ('policy_lag_min', 'policy_lag_mean', 'policy_lag_max'):
    out[f'host_{key}'] = _median([r.get(key) for r in records])
  out['host_bottlenecks'] = sorted({r.get('bottleneck', '').split(' (')[0]
                                    for r in records} - {''})
  return out


def learner_stage_stats(logdir: str, warmup_fraction: float):
  """Medians of the learner's stage shares over the steady progress lines
  (runtime/bottleneck.py) and the verdicts seen."""
  records = run_dir.read_progress(logdir)
  records = records[int(len(records) * warmup_fraction):]
  out = {f'learner_{k}': _median([r.get(k) for r in records])
         for k in _LEARNER_SHARES}
  out['learner_bottlenecks'] = sorted({r.get('bottleneck') for r in records}
                                      - {None})
  return out


def run_layout(name: str, seconds: float, progress_secs: float,
               warmup_fraction: float, startup_timeout: float
               ) -> Dict[str, object]:
  """One timed training run of layout `name` (see LAYOUTS)."""
  actors, envs, in_workers, threads, extra = LAYOUTS[name]
  flags = [f'--env_processes={"true" if in_workers else "false"}',
           f'--actor_threads={threads}', *extra]
  logdir = tempfile.mkdtemp(prefix=f'bench_hosts_{name}_')
  launcher = processes.Child(
      'launcher', training_run.training_command(logdir, actors, envs,
                                                progress_secs, flags),
      log_path=os.path.join(logdir, 'launcher.log'), cwd=training_run.REPO,
      env=training_run.child_env())
  result: Dict[str, object] = dict(layout=name, num_actors=actors,
                                   envs_per_actor=envs,
                                   env_processes=in_workers,
                                   actor_threads=threads,
                                   extra_flags=list(extra),
                                   loadavg_before=memory.load_average())
  samplers = _Samplers(logdir)
  try:
    launcher.start()
    # pylint: disable-next=protected-access
    stop_time = training_run._train(launcher, logdir, seconds,
                                    startup_timeout, samplers, result)
  finally:
    processes.kill_all([launcher])
    launcher.wait()
  training_run._measure(result, logdir, stop_time, warmup_fraction)  # pylint: disable=protected-access
  result.update(samplers.pss.summary(actors * envs))
  result.update(host_batch_stats(logdir, actors, warmup_fraction))
  result.update(learner_stage_stats(logdir, warmup_fraction))
  result['loadavg_after'] = memory.load_average()
  shutil.rmtree(logdir, ignore_errors=True)
  return result


def _env_only(name: str, env_seconds: float) -> Dict[str, object]:
  actors, envs, in_workers, _, _ = LAYOUTS[name]
  if in_workers:  # One environment per worker process.
    return env_only.env_only_throughput(actors * envs, 1, env_seconds)
  return env_only.env_only_throughput(actors, envs, env_seconds)


def _median(values):
  values = [v for v in values if v is not None]
  return statistics.median(values) if values else None


def run(seconds: float, env_seconds: float, progress_secs: float,
        warmup_fraction: float, startup_timeout: float,
        repeats: int = DEFAULT_REPEATS, layouts=DEFAULT_LAYOUTS,
        log: Callable[[str], None] = print) -> Dict[str, object]:
  """Every layout `repeats` times, alternated; then the box limit."""
  runs = {name: [] for name in layouts}
  started = time.time()
  for repeat in range(repeats):
    for name in layouts:
      log(f'[actor_hosts] {name} (repeat {repeat + 1}/{repeats}) ...')
      result = run_layout(name, seconds, progress_secs, warmup_fraction,
                          startup_timeout)
      log(f'[actor_hosts]   -> {result.get("fps_median")} frames/s, batch '
          f'{result.get("inference_batch_mean")}, total PSS '
          f'{result.get("total_pss_mib")} MiB' +
          (f' ERROR {result["error"].splitlines()[0]}' if 'error' in result
           else ''))
      runs[name].append(result)
  env_rates, measured = {}, {}
  for name in layouts:
    shape = LAYOUTS[name][:3]  # The slow variants share their layout's.
    if shape not in measured:
      log(f'[actor_hosts] env-only for {name} ...')
      measured[shape] = _env_only(name, env_seconds)
    env_rates[name] = measured[shape]
  limit = box_limit.run(env_seconds, log=log)
  best_limit = limit.get('limit_fps_cpu_model')
  out = dict(protocol=dict(seconds=seconds, env_seconds=env_seconds,
                           progress_secs=progress_secs, repeats=repeats,
                           warmup_fraction=warmup_fraction, layouts=LAYOUTS),
             box_limit=limit, layouts={},
             wall_secs=round(time.time() - started))
  for name in layouts:
    fps = _median([r.get('fps_median') for r in runs[name]])
    out['layouts'][name] = dict(
        runs=runs[name], fps_median=fps, env_only=env_rates[name],
        fps_over_limit=(fps / best_limit if fps and best_limit else None))
  out['ratios'] = ratios(out['layouts'])
  return out


# (name, numerator, denominator): the comparisons the targets are stated in
# (docs/actor_hosts.md, "Measured").
RATIOS = (
    ('host_1x8_over_in_process_2x4', 'host_1x8', 'in_process_2x4_threads1'),
    ('host_1x16_over_host_1x8', 'host_1x16', 'host_1x8'),
    ('hosts_2x8_over_host_1x8', 'hosts_2x8', 'host_1x8'),
    ('slow_in_process_kept', 'in_process_2x4_slow', 'in_process_2x4_threads1'),
    ('slow_host_kept', 'host_1x8_slow', 'host_1x8'),
    ('slower_in_process_kept', 'in_process_2x4_slower',
     'in_process_2x4_threads1'),
    ('slower_host_kept', 'host_1x8_slower', 'host_1x8'),
)


def ratios(layouts: Dict[str, Dict[str, object]]) -> Dict[str, float]:
  """The RATIOS of median frames/s among the layouts that were run."""
  out = {}
  for name, top, bottom in RATIOS:
    a = layouts.get(top, {}).get('fps_median')
    b = layouts.get(bottom, {}).get('fps_median')
    if a and b:
      out[name] = round(a / b, 3)
  return out


def summary_lines(result: Dict[str, object]) -> List[str]:
  lines = ['Actor hosts (Pong, shallow, batch 32, unroll 20):',
           f'  {"layout":<26} {"fps":>7} {"env-only":>9} {"batch":>6} '
           f'{"PSS total":>9} {"acting/env":>10} {"/limit":>6} {"lag":>5}']
  for name, entry in result.get('layouts', {}).items():
    last = entry['runs'][-1] if entry['runs'] else {}

    def fmt(value, spec='.0f'):
      return 'n/a' if value is None else format(value, spec)
    lines.append(
        f'  {name:<26} {fmt(entry.get("fps_median")):>7} '
        f'{fmt(entry["env_only"].get("fps")):>9} '
        f'{fmt(last.get("inference_batch_mean"), ".1f"):>6} '
        f'{fmt(last.get("total_pss_mib")):>9} '
        f'{fmt(last.get("acting_pss_mib_per_env")):>10} '
        f'{fmt(entry.get("fps_over_limit"), ".2f"):>6} '
        f'{fmt(last.get("policy_lag_median"), ".1f"):>5}')
  for name, value in result.get('ratios', {}).items():
    lines.append(f'  {name}: {value:.2f}')
  limit = result.get('box_limit', {})
  lines.append(f'  box limit: {limit.get("limit_fps_cpu_model")} frames/s '
               f'(CPU model), {limit.get("limit_fps_wall_x_cores")} (wall x '
               'cores)')
  return lines
