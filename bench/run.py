r"""Runs the benchmarks and writes one JSON file (`make bench`).

Sections (each is the return value of one benchmark module):
  "vtrace"      bench/vtrace_bench.py: the V-trace op vs a numpy recursion.
  "networks"    bench/networks_bench.py: actor step / learner unroll timings.
  "learners"    bench/learners_bench.py: learner-only updates/s with 1 and 2
                replicas (--num_learners) and the all-reduce time.
  "end_to_end"  bench/throughput.py: Pong training frames/s with 1, 2, 4
                actors, env-only frames/s, envs_per_actor, peak memory.
  "actor_hosts" bench/actor_hosts.py: in-process actors vs actor hosts with
                env worker processes (frames/s, PSS, inference batch) and
                the box's limit (bench/box_limit.py).
  "transport"   bench/transport_bench.py: N producers of Atari-sized
                unrolls against a dequeue-only learner.
plus "machine": CPU model, cores, RAM, the GPU TensorFlow sees, TF version,
date and the load average (the numbers mean little on a busy machine).

An existing output file is updated in place: the sections run now replace
theirs, the others are kept, and every section records the machine block of
the run that produced it under "<section>_machine" so that numbers measured
on different days stay attributable.

  python -m bench.run --out bench/results/bench.json
  python -m bench.run --only=end_to_end --seconds=30   # a quick check
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from typing import Dict, List, Optional

SECTIONS = ('vtrace', 'networks', 'end_to_end', 'actor_hosts', 'transport',
            'learners')
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- The machine block --------------------------------------------------------


def parse_cpu_model(cpuinfo_text: str) -> Optional[str]:
  """The CPU model of /proc/cpuinfo ('model name', or ARM's 'Hardware' /
  'Processor' lines); None if there is none."""
  for key in ('model name', 'Hardware', 'Processor', 'cpu model'):
    for line in cpuinfo_text.splitlines():
      name, sep, value = line.partition(':')
      if sep and name.strip() == key and value.strip():
        return value.strip()
  return None


def parse_mem_total_bytes(meminfo_text: str) -> Optional[int]:
  """MemTotal of /proc/meminfo in bytes; None if absent."""
  for line in meminfo_text.splitlines():
    name, sep, value = line.partition(':')
    if sep and name.strip() == 'MemTotal':
      parts = value.split()
      scale = {'kB': 1024, 'B': 1}.get(parts[1] if len(parts) > 1 else 'B')
      if scale is None:
        raise ValueError(f'Unexpected MemTotal unit in {line!r}.')
      return int(parts[0]) * scale
  return None


def _read(path: str) -> str:
  try:
    with open(path, errors='replace') as f:
      return f.read()
  except OSError:
    return ''


def _git_commit() -> Optional[str]:
  try:
    out = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, text=True,
                         capture_output=True, timeout=10, check=True)
    return out.stdout.strip() or None
  except (OSError, subprocess.SubprocessError):
    return None


def tensorflow_info() -> Dict[str, object]:
  """TF version and the GPUs TF sees (imports TensorFlow)."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  gpus = []
  for device in tf.config.list_physical_devices('GPU'):
    try:
      details = tf.config.experimental.get_device_details(device)
    except (ValueError, RuntimeError):
      details = {}
    gpus.append(details.get('device_name', device.name))
  return {'tensorflow': tf.__version__, 'gpus': gpus or 'none'}


def machine_info(with_tensorflow: bool = True) -> Dict[str, object]:
  """What the numbers were measured on."""
  try:
    usable_cores = len(os.sched_getaffinity(0))
  except (AttributeError, OSError):
    usable_cores = None
  mem_total = parse_mem_total_bytes(_read('/proc/meminfo'))
  info = {
      'cpu_model': (parse_cpu_model(_read('/proc/cpuinfo')) or
                    platform.processor() or platform.machine() or 'unknown'),
      'cores': os.cpu_count(),
      'usable_cores': usable_cores,
      'ram_gib': None if mem_total is None else round(mem_total / 2**30, 1),
      'platform': platform.platform(),
      'python': platform.python_version(),
      'date': datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec='seconds'),
      'loadavg': [round(x, 2) for x in os.getloadavg()],
      'git_commit': _git_commit(),
  }
  if with_tensorflow:
    info.update(tensorflow_info())
  return info


# --- Results file -------------------------------------------------------------


def merge_results(existing: Dict[str, object], new_sections: Dict[str, object],
                  machine: Dict[str, object]) -> Dict[str, object]:
  """The output document: `existing` with `new_sections` replaced.

  "machine" becomes `machine` (the latest run's), and each new section's
  machine is also kept under "<section>_machine".
  """
  merged = dict(existing)
  merged['machine'] = machine
  for name, value in new_sections.items():
    merged[name] = value
    merged[f'{name}_machine'] = machine
  return merged


def load_existing(path: str) -> Dict[str, object]:
  """The JSON object at `path`, {} if there is no file.

  Raises:
    SystemExit: the file exists but is not a JSON object (refuse to
      overwrite what we cannot read).
  """
  if not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      value = json.load(f)
  except json.JSONDecodeError as e:
    raise SystemExit(f'{path} is not valid JSON ({e}); move it away or pass '
                     'another --out.') from None
  if not isinstance(value, dict):
    raise SystemExit(f'{path} does not hold a JSON object; move it away or '
                     'pass another --out.')
  return value


def write_json(path: str, value: Dict[str, object]) -> None:
  """Writes atomically: an interrupted write never truncates old results."""
  from scalable_agent_tf2 import run_dir  # pylint: disable=g-import-not-at-top
  run_dir.write_json_atomic(path, value)


def parse_only(text: str) -> List[str]:
  """'vtrace,end_to_end' -> ['vtrace', 'end_to_end'] (in SECTIONS order)."""
  names = [x.strip() for x in text.split(',') if x.strip()]
  unknown = sorted(set(names) - set(SECTIONS))
  if unknown or not names:
    raise argparse.ArgumentTypeError(
        f'--only takes a comma-separated subset of {",".join(SECTIONS)}; got '
        f'{text!r}.')
  return [s for s in SECTIONS if s in names]


# --- Summary ------------------------------------------------------------------


def _fmt(value, spec='.2f'):
  return 'n/a' if value is None else format(value, spec)


def summary_lines(document: Dict[str, object],
                  sections: List[str]) -> List[str]:
  """Readable lines for the sections run now."""
  machine = document.get('machine', {})
  lines = [
      f'Machine: {machine.get("cpu_model")}, {machine.get("cores")} cores '
      f'({machine.get("usable_cores")} usable), {machine.get("ram_gib")} GiB '
      f'RAM, GPU: {machine.get("gpus")}, TF {machine.get("tensorflow")}, '
      f'load {machine.get("loadavg")}, {machine.get("date")}']
  if 'vtrace' in sections:
    lines.append('V-trace (median ms per call, batch 32):')
    for shape, t in document['vtrace'].items():
      if shape == 'meta' or not isinstance(t, dict):
        continue
      lines.append(f'  {shape}: tf.function {_fmt(t.get("tf_function_ms"))} '
                   f'ms, numpy float64 {_fmt(t.get("numpy_f64_ms"))} ms')
  if 'networks' in sections:
    lines.append('Networks (CPU; step = actor inference, unroll = learner '
                 'forward+backward at batch 32):')
    for name, n in document['networks'].items():
      if name == 'meta' or not isinstance(n, dict):
        continue
      lines.append(
          f'  {name}: {n.get("num_parameters", 0):,} params; step '
          f'{_fmt(n.get("step_ms_batch_1"))} ms @1, '
          f'{_fmt(n.get("step_ms_batch_32"))} ms @32; unroll T='
          f'{n.get("unroll_length")} {_fmt(n.get("unroll_forward_backward_s"))}'
          f' s ({_fmt(n.get("unroll_agent_steps_per_s"), ",.0f")} agent '
          'steps/s)')
  if 'end_to_end' in sections:
    from bench import throughput  # pylint: disable=g-import-not-at-top
    lines += throughput.summary_lines(document['end_to_end'])
  if 'actor_hosts' in sections:
    from bench import actor_hosts  # pylint: disable=g-import-not-at-top
    lines += actor_hosts.summary_lines(document['actor_hosts'])
  if 'transport' in sections:
    lines.append('Transport (producers: unrolls/s, MB/s in, MB/s out, '
                 'learner CPU s/MB):')
    for n, r in document['transport'].get('producers', {}).items():
      lines.append(f'  {n}: {_fmt(r.get("unrolls_per_sec"), ".0f")}, '
                   f'{_fmt(r.get("mb_per_sec_in"), ".0f")}, '
                   f'{_fmt(r.get("mb_per_sec_out"), ".0f")}, '
                   f'{_fmt(r.get("learner_cpu_secs_per_mb"), ".4f")}')
  return lines


def _add_host_arguments(parser: argparse.ArgumentParser) -> None:
  """Options of the actor-host and transport sections."""
  parser.add_argument('--host_repeats', type=int, default=2,
                      help='A B A B repetitions of every actor-host layout '
                      '(default %(default)s).')
  parser.add_argument('--host_layouts', default='',
                      help='comma-separated subset of bench.actor_hosts.'
                      'LAYOUTS (default: all).')
  parser.add_argument('--transport_seconds', type=float, default=30.0,
                      help='measured seconds per producer count of the '
                      'transport benchmark (default %(default)s).')
  parser.add_argument('--transport_warmup', type=float, default=10.0,
                      help='warm-up seconds before each transport window.')


def _run_host_section(name: str, args: argparse.Namespace):
  """The actor-host or the transport section."""
  def log(text):
    print(text, flush=True)
  if name == 'actor_hosts':
    from bench import actor_hosts  # pylint: disable=g-import-not-at-top
    layouts = actor_hosts.parse_layouts(args.host_layouts)
    return actor_hosts.run(args.seconds, min(args.env_seconds, args.seconds),
                           args.progress_secs, args.warmup_fraction,
                           args.startup_timeout, repeats=args.host_repeats,
                           layouts=layouts, log=log)
  from bench import transport_bench  # pylint: disable=g-import-not-at-top
  return transport_bench.run(args.transport_seconds, args.transport_warmup,
                             log=log)


# --- Entry point --------------------------------------------------------------


def _run_section(name: str, args: argparse.Namespace):
  """The result of section `name`."""
  if name == 'vtrace':
    from bench import vtrace_bench  # pylint: disable=g-import-not-at-top
    return (vtrace_bench.run() if args.vtrace_repetitions is None
            else vtrace_bench.run(args.vtrace_repetitions))
  if name == 'networks':
    from bench import networks_bench  # pylint: disable=g-import-not-at-top
    kwargs = {}
    if args.networks_step_repetitions is not None:
      kwargs['step_repetitions'] = args.networks_step_repetitions
    if args.networks_unroll_repetitions is not None:
      kwargs['unroll_repetitions'] = args.networks_unroll_repetitions
    return networks_bench.run(**kwargs)
  if name == 'learners':
    from bench import learners_bench  # pylint: disable=g-import-not-at-top
    return learners_bench.run()
  if name in ('actor_hosts', 'transport'):
    return _run_host_section(name, args)
  from bench import throughput  # pylint: disable=g-import-not-at-top
  return throughput.run_from_args(
      args, log=lambda text: print(text, flush=True))


def main(argv=None) -> int:
  from bench import throughput  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(
      prog='python -m bench.run',
      description='Runs the benchmarks; writes one JSON file.')
  parser.add_argument('--out', default='bench/results/bench.json',
                      help='output JSON, updated in place (default '
                      '%(default)s).')
  parser.add_argument('--only', type=parse_only, default=list(SECTIONS),
                      help='comma-separated subset of ' + ','.join(SECTIONS))
  parser.add_argument('--vtrace_repetitions', type=int, default=None,
                      help='timed calls per V-trace shape (default: the '
                      'module\'s 50).')
  parser.add_argument('--networks_step_repetitions', type=int, default=None,
                      help='timed actor steps per network and batch size '
                      '(default: the module\'s 20).')
  parser.add_argument('--networks_unroll_repetitions', type=int, default=None,
                      help='timed learner unrolls per network (default: the '
                      'module\'s 3).')
  throughput.add_arguments(parser)
  _add_host_arguments(parser)
  args = parser.parse_args(argv)
  throughput.check_arguments(args)
  for flag in ('vtrace_repetitions', 'networks_step_repetitions',
               'networks_unroll_repetitions'):
    value = getattr(args, flag)
    if value is not None and value < 1:
      raise SystemExit(f'--{flag} must be >= 1, got {value}.')

  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  existing = load_existing(args.out)  # Fail before an hour of benchmarks.
  machine = machine_info()
  sections: Dict[str, object] = {}
  started = time.time()
  for name in args.only:
    print(f'[bench] {name} ...', flush=True)
    section_start = time.time()
    sections[name] = _run_section(name, args)
    print(f'[bench] {name} done in {time.time() - section_start:.0f} s',
          flush=True)
    # Written after every section: an interrupted run keeps what finished.
    write_json(args.out, merge_results(existing, sections, machine))
  document = merge_results(existing, sections, machine)
  print()
  print('\n'.join(summary_lines(document, args.only)))
  print(f'\nWrote {args.out} ({time.time() - started:.0f} s).')
  return 0


if __name__ == '__main__':
  sys.exit(main())
