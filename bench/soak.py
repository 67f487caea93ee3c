"""`make soak`: a long local Pong run under faults, watched for memory growth.

  python -m bench.soak --minutes=60 --logdir=/tmp/soak_run \
      --out=bench/results/soak

Runs the user's entry point (a local run: launcher, learner, 2 actors) for
`--minutes`; every `--sample_secs` it records each process's PSS and the
learner's queue size (its newest progress line); every `--actor_kill_mins`
it kills one actor with SIGKILL (alternating), and once, at
`--learner_kill_min`, the learner (the launcher restarts both; docs/faults.md).
At the end the run is stopped with SIGTERM (final checkpoint). Outputs in
`--out`: soak.csv (one row per process and sample), soak.png, summary.json
(machine, load averages, command, kills, each process's PSS growth after the
first `--warmup_mins`, the frames the learner restart rolled back).

A benchmark of memory, not of speed: other work on the machine only slows it.
"""

import argparse
import os
import re
import shlex
import signal
import sys
import time
from typing import List

from bench import memory
from bench import run as bench_run
from bench import soak_report
from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.runtime import processes

_ROLLED_BACK = re.compile(r'Rolled back (\d+) frames')
_KEY_LINES = ('Rolled back', 'Restarting', 'restarting', 'exited with',
              'stalled', 'Resumed from', 'Learner finished', 'died')


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--minutes', type=float, default=60.0)
  p.add_argument('--logdir', default='/tmp/soak_run',
                 help='The run directory (emptied first; keep it out of git).')
  p.add_argument('--out', default='bench/results/soak')
  p.add_argument('--sample_secs', type=float, default=30.0)
  p.add_argument('--actor_kill_mins', type=float, default=10.0)
  p.add_argument('--learner_kill_min', type=float, default=None,
                 help='Default: 35/60 of --minutes (between actor kills).')
  p.add_argument('--warmup_mins', type=float, default=10.0)
  p.add_argument('--num_actors', type=int, default=2)
  p.add_argument('--note', default='',
                 help='Added to summary.json (e.g. which code ran).')
  p.add_argument('--extra', default='',
                 help='More experiment flags, e.g. "--checkpoint_secs=300".')
  return p


def _experiment_flags(args) -> List[str]:
  flags = ['--env=atari', '--level_name=Pong', f'--logdir={args.logdir}',
           f'--num_actors={args.num_actors}',
           '--total_environment_frames=10000000000']
  return flags + config_lib.parse_extra(args.extra,
                                        reserved=('logdir', 'num_actors'))


def _kill_schedule(args) -> List[dict]:
  """[{secs, what}] sorted: actors every actor_kill_mins, the learner once."""
  total = args.minutes * 60
  events, k = [], 1
  while k * args.actor_kill_mins * 60 < total:
    events.append(dict(secs=k * args.actor_kill_mins * 60,
                       what=f'kill actor {(k - 1) % args.num_actors}'))
    k += 1
  learner_min = (args.learner_kill_min if args.learner_kill_min is not None
                 else args.minutes * 35 / 60)
  if learner_min * 60 < total:
    events.append(dict(secs=learner_min * 60, what='kill learner'))
  return sorted(events, key=lambda e: e['secs'])


def _kill(logdir: str, what: str) -> str:
  role = what[len('kill '):]
  pids = memory.find_run_processes(logdir).get(role, [])
  for pid in pids:
    try:
      os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
      pass
  return f'{role}: SIGKILL to pid {pids}' if pids else f'{role}: not running'


def _queue_and_frames(logdir: str):
  try:
    records = run_dir.read_progress(logdir)
  except (OSError, ValueError):
    return None, None
  if not records:
    return None, None
  return records[-1].get('queue_size'), records[-1].get('frames')


def _watch(args, launcher: processes.Child, start: float):
  """Samples and kills until the time is up or the launcher exits."""
  samples, events = [], []
  schedule = _kill_schedule(args)
  next_sample = start
  while time.time() - start < args.minutes * 60:
    if launcher.poll() is not None:
      break
    now = time.time()
    while schedule and now - start >= schedule[0]['secs']:
      event = schedule.pop(0)
      detail = _kill(args.logdir, event['what'])
      events.append(dict(elapsed_secs=round(now - start, 1),
                         what=event['what'], detail=detail))
      print(f'[soak] {now - start:.0f} s: {detail}', flush=True)
    if now >= next_sample:
      queue, frames = _queue_and_frames(args.logdir)
      load = os.getloadavg()[0]
      for row in soak_report.sample_processes(args.logdir, launcher.pid):
        samples.append(dict(row, elapsed_secs=round(now - start, 1),
                            queue_size=queue, frames=frames,
                            loadavg_1m=round(load, 2)))
      next_sample += args.sample_secs
    time.sleep(1.0)
  return samples, events


def _key_log_lines(log_path: str) -> List[str]:
  try:
    with open(log_path, errors='replace') as f:
      return [line.rstrip() for line in f
              if any(key in line for key in _KEY_LINES)]
  except OSError:
    return []


def _summary(args, command, samples, events, code, log_lines, load_start,
             wall_secs) -> dict:
  growths = soak_report.growth(samples, args.warmup_mins * 60,
                               instance_warmup_secs=180.0)
  lost = [int(m.group(1)) for line in log_lines
          for m in [_ROLLED_BACK.search(line)] if m]
  _, frames = _queue_and_frames(args.logdir)
  return dict(
      machine=bench_run.machine_info(with_tensorflow=False),
      loadavg_start=load_start, loadavg_end=[round(x, 2)
                                             for x in os.getloadavg()],
      note=('Other work (tests, other helpers\' processes) shared the '
            'machine\'s cores during the soak: it measures memory growth, '
            'not speed.'),
      command=' '.join(shlex.quote(a) for a in sys.argv),
      experiment_command=' '.join(shlex.quote(a) for a in command),
      code_note=args.note, minutes=args.minutes, wall_secs=round(wall_secs, 1),
      sample_secs=args.sample_secs, warmup_mins=args.warmup_mins,
      kills=events, launcher_exit=processes.describe_exit(code),
      final_frames=frames,
      frames_rolled_back_by_learner_restart=lost,
      growth_verdict=soak_report.verdict(growths,
                                         min_measured_secs=9 * 60.0),
      growth=growths, launcher_log_key_lines=log_lines[-60:])


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  if os.path.exists(args.logdir):
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.rmtree(args.logdir)
  os.makedirs(args.logdir)
  os.makedirs(args.out, exist_ok=True)
  command = config_lib.experiment_command(_experiment_flags(args))
  log_path = os.path.join(args.logdir, 'launcher.log')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  launcher = processes.Child('launcher', command, log_path=log_path, env=env)
  load_start = [round(x, 2) for x in os.getloadavg()]
  start = time.time()
  launcher.start()
  print(f'[soak] {args.minutes:g} min; launcher pid {launcher.pid}; log '
        f'{log_path}', flush=True)
  try:
    samples, events = _watch(args, launcher, start)
  finally:
    stopped = processes.stop([launcher], grace_secs=60.0)
  code = stopped['launcher']
  wall = time.time() - start
  log_lines = _key_log_lines(log_path)
  summary = _summary(args, command, samples, events, code, log_lines,
                     load_start, wall)
  soak_report.write_csv(os.path.join(args.out, 'soak.csv'), samples)
  soak_report.write_summary(os.path.join(args.out, 'summary.json'), summary)
  verdict = summary['growth_verdict']
  soak_report.write_png(
      os.path.join(args.out, 'soak.png'), samples, events,
      f'Pong soak, {args.minutes:g} min, {args.num_actors} actors: PSS per '
      f'process (max growth after {args.warmup_mins:g} min: '
      f'{verdict["max_growth_percent"]}%)')
  print(f'[soak] done: launcher {summary["launcher_exit"]}, '
        f'{summary["final_frames"]} frames, growth {verdict}, rolled back '
        f'{summary["frames_rolled_back_by_learner_restart"]}', flush=True)
  return 0 if samples else 1


if __name__ == '__main__':
  sys.exit(main())
