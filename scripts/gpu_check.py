r"""`make gpu-check`: the first GPU run as a check, not a surprise.

On a machine where TensorFlow sees a GPU, trains Pong briefly (small preset,
--learner_device=gpu, 2 actor processes) in a temporary logdir, and prints:

  * where the learner's step runs (its "Learner step on ..." log line);
  * the update time (seconds per update over the second half of the run,
    from progress.jsonl) and frames/s;
  * GPU memory per process of the run, from `nvidia-smi`, with each pid
    named learner / actor <i>; actor processes must hold none unless
    --actor_gpus was given (docs/devices.md).

Exit status 0 when the learner ran on a GPU and no actor holds GPU memory,
1 when either fails, 2 when TensorFlow sees no GPU (nothing to check).

  python scripts/gpu_check.py [--frames=200000] [--keep]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXIT_NO_GPU = 2


def visible_gpus() -> List[str]:
  """The GPUs TensorFlow sees, asked in a child (this process stays TF-free)."""
  out = subprocess.run(
      [sys.executable, '-c', 'import tensorflow as tf; print(" ".join(d.name '
       'for d in tf.config.list_physical_devices("GPU")))'],
      capture_output=True, text=True, check=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')).stdout
  return out.split()


def gpu_memory_by_pid() -> Dict[int, int]:
  """pid -> MiB of GPU memory, from nvidia-smi ({} without it)."""
  if shutil.which('nvidia-smi') is None:
    return {}
  out = subprocess.run(
      ['nvidia-smi', '--query-compute-apps=pid,used_memory',
       '--format=csv,noheader,nounits'], capture_output=True, text=True).stdout
  memory = {}
  for line in out.splitlines():
    parts = [p.strip() for p in line.split(',')]
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
      memory[int(parts[0])] = int(parts[1])
  return memory


def role_of(pid: int) -> Optional[str]:
  """'learner' / 'actor <task>' from the process's command line."""
  try:
    with open(f'/proc/{pid}/cmdline', 'rb') as f:
      argv = f.read().decode(errors='replace').split('\0')
  except OSError:
    return None
  flags = dict(a[2:].split('=', 1) for a in argv
               if a.startswith('--') and '=' in a)
  if flags.get('job_name') == 'learner':
    return 'learner'
  if flags.get('job_name') == 'actor':
    return f'actor {flags.get("task", "?")}'
  return None


def update_time(progress: List[dict]) -> Optional[float]:
  """Seconds per update over the second half of the progress lines."""
  half = progress[len(progress) // 2:]
  if len(half) < 2 or half[-1]['updates'] <= half[0]['updates']:
    return None
  return ((half[-1]['time'] - half[0]['time'])
          / (half[-1]['updates'] - half[0]['updates']))


def _train(logdir: str, frames: int, extra: List[str]):
  """Runs the training; returns (launcher output, peak MiB per role)."""
  argv = [sys.executable, '-m', 'scalable_agent_tf2.experiment',
          '--env=atari', '--level_name=Pong', '--num_actors=2',
          '--learner_device=gpu', f'--total_environment_frames={frames}',
          f'--logdir={logdir}', '--progress_secs=2', *extra]
  proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
  peak: Dict[str, int] = {}
  output: List[str] = []
  os.set_blocking(proc.stdout.fileno(), False)
  while proc.poll() is None:
    output.append(proc.stdout.read() or '')
    for pid, mib in gpu_memory_by_pid().items():
      role = role_of(pid)
      if role is not None:
        peak[role] = max(peak.get(role, 0), mib)
    time.sleep(1.0)
  output.append(proc.stdout.read() or '')
  return proc.returncode, ''.join(output), peak


def main(argv: List[str]) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--frames', type=int, default=200_000)
  parser.add_argument('--keep', action='store_true',
                      help='Keep the logdir (printed).')
  parser.add_argument('--extra', default='', help='More experiment flags.')
  args = parser.parse_args(argv)
  gpus = visible_gpus()
  if not gpus:
    print('gpu-check: TensorFlow sees no GPU on this machine; nothing to '
          'check. (Install a CUDA build of TensorFlow and its drivers, then '
          'run this again.)')
    return EXIT_NO_GPU
  print(f'gpu-check: TensorFlow sees {len(gpus)} GPU(s): {" ".join(gpus)}')
  logdir = tempfile.mkdtemp(prefix='gpu_check_')
  code, output, peak = _train(logdir, args.frames, args.extra.split())
  placement = [line for line in output.splitlines()
               if 'Learner step on' in line]
  print('learner placement: ' + (placement[-1].split('] ')[-1]
                                  if placement else 'NOT LOGGED'))
  with open(os.path.join(logdir, 'progress.jsonl')) as f:
    progress = [json.loads(line) for line in f if line.strip()]
  seconds = update_time(progress)
  fps = progress[-1].get('fps') if progress else None
  print(f'update time: {seconds:.4f} s' if seconds else 'update time: ?',
        f'frames/s: {fps:.0f}' if fps else '')
  for role in sorted(peak):
    print(f'GPU memory (peak): {role:10s} {peak[role]} MiB')
  on_gpu = bool(placement) and 'GPU' in placement[-1]
  actors_clean = not any(role.startswith('actor') and mib > 0
                         for role, mib in peak.items())
  if not args.keep:
    shutil.rmtree(logdir, ignore_errors=True)
  else:
    print(f'logdir: {logdir}')
  ok = code == 0 and on_gpu and actors_clean
  print('gpu-check: ' + ('OK' if ok else
                         f'FAILED (exit {code}, learner on GPU: {on_gpu}, '
                         f'actors without GPU memory: {actors_clean})'))
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
