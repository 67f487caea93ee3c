r"""Transport at scale: N producers against a learner that only dequeues.

The learner's side of the runtime (docs/impala.md §8): one TF server hosting
the unroll queue and the published parameters. Here N producer processes
(N = 1, 2, 4, 8) each loop as fast as they can: pull the parameters once,
enqueue `unrolls_per_pull` synthetic Atari-sized unrolls (84x84x4 frames,
T = 20; about what an 8-stream host sends per pull, docs/actor_hosts.md);
the learner dequeues batches
and republishes its parameters after each, nothing else. Measured over a
common window after a warm-up: unrolls/s, MB/s in (unrolls) and out
(parameters), and the learner's CPU seconds per MB moved. The run lives in
a private network namespace when the OS allows it (runtime/netns.py).

  python -m bench.transport_bench --seconds=30 --out=/tmp/transport.json
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from typing import Dict, List

from bench.training_run import REPO, child_env, paper_config
from scalable_agent_tf2.runtime import processes

PRODUCER_COUNTS = (1, 2, 4, 8)
DEFAULT_SECONDS = 30.0
DEFAULT_WARMUP_SECS = 10.0
UNROLLS_PER_PULL = 8
_MODULE = 'bench.transport_bench'


def _agent_and_spec():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import suites  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import actor as actor_lib  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import unrolls  # pylint: disable=g-import-not-at-top
  config = paper_config()
  suite = suites.get(config.env)
  agent = actor_lib.build_agent(config, suite.num_actions(config))
  spec = unrolls.queue_element_spec(suite.frame_shape(config),
                                    suite.num_actions(config),
                                    config.unroll_length, agent)
  example = unrolls.zeros_like_spec(spec[0], leading=[1])
  agent.step(tf.nest.map_structure(lambda x: x[:, 0], example.env_outputs),
             example.agent_outputs.action[:, 0], agent.initial_state(1))
  return config, agent, spec


def _nbytes(spec) -> int:
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return int(sum(np.prod(s.shape.as_list()) * max(1, s.dtype.size)
                 for s in tf.nest.flatten(spec)))


def _cpu_secs() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def learner_role(address: str, seconds: float, warmup: float,
                 batch: int, out: str) -> None:
  from scalable_agent_tf2.runtime import transport  # pylint: disable=g-import-not-at-top
  transport.connect_learner(address)
  _, agent, spec = _agent_and_spec()
  queue = transport.UnrollQueue(spec, capacity=4 * batch)
  params = transport.PublishedParameters(agent.trainable_variables)
  params.publish(0)
  with open(out + '.ready', 'w'):
    pass
  count, version = 0, 0
  start = window = None
  while True:
    queue.dequeue_many(batch)
    version += 1
    params.publish(version)
    now = time.time()
    if start is None:
      start = now
    elif window is None and now - start >= warmup:
      window = dict(start=now, cpu=_cpu_secs())
      count = 0
    elif window is not None:
      count += batch
      if now - window['start'] >= seconds:
        break
  result = dict(window_start=window['start'], window_end=now,
                unrolls=count, cpu_secs=_cpu_secs() - window['cpu'],
                unroll_bytes=_nbytes(spec[0]),
                param_bytes=sum(int(v.shape.num_elements()) * v.dtype.size
                                for v in agent.trainable_variables),
                num_parameters=sum(int(v.shape.num_elements())
                                   for v in agent.trainable_variables))
  with open(out, 'w') as f:
    json.dump(result, f)
  queue.close(cancel_pending_enqueues=True)
  time.sleep(2.0)  # Let producers see the closed queue.


def producer_role(address: str, unrolls_per_pull: int, batch: int,
                  out: str) -> None:
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import ports  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import transport  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import unrolls  # pylint: disable=g-import-not-at-top
  while not ports.server_reachable(address):
    time.sleep(0.2)
  transport.connect_actor(address, f'localhost:{ports.free_port()}')
  _, agent, spec = _agent_and_spec()
  queue = transport.UnrollQueue(spec, capacity=4 * batch)  # As the learner.
  params = transport.PublishedParameters(agent.trainable_variables)
  element = unrolls.zeros_like_spec(spec, leading=[unrolls_per_pull])
  frames = element[0].env_outputs.observation[0]
  frames[...] = np.random.default_rng(0).integers(0, 255, frames.shape,
                                                  dtype=np.uint8)
  times = []
  try:
    while True:
      params.pull()
      queue.enqueue_many(element)
      times.append(time.time())
  except (tf.errors.CancelledError, tf.errors.OutOfRangeError,
          tf.errors.UnavailableError, tf.errors.FailedPreconditionError):
    pass
  with open(out, 'w') as f:
    json.dump(dict(times=times, unrolls_per_pull=unrolls_per_pull), f)


def _child(name: str, *args: str) -> processes.Child:
  return processes.Child(name, [sys.executable, '-m', _MODULE, *args],
                         cwd=REPO, env=child_env())


def measure(num_producers: int, seconds: float, warmup: float,
            unrolls_per_pull: int, batch: int) -> Dict[str, object]:
  """One learner + `num_producers` producers; rates over the window."""
  from scalable_agent_tf2.runtime import ports  # pylint: disable=g-import-not-at-top
  work = tempfile.mkdtemp(prefix='bench_transport_')
  address = f'localhost:{ports.free_port()}'
  learner_out = os.path.join(work, 'learner.json')
  learner = _child('learner', '--role=learner', f'--address={address}',
                   f'--seconds={seconds}', f'--warmup={warmup}',
                   f'--batch={batch}', f'--out={learner_out}').start()
  producers = []
  try:
    while not os.path.exists(learner_out + '.ready'):
      if not learner.running:
        return dict(num_producers=num_producers, error='learner died')
      time.sleep(0.2)
    producers = [_child(f'producer {i}', '--role=producer',
                        f'--address={address}',
                        f'--unrolls_per_pull={unrolls_per_pull}',
                        f'--batch={batch}',
                        f'--out={os.path.join(work, f"p{i}.json")}').start()
                 for i in range(num_producers)]
    learner.wait(timeout=seconds + warmup + 900)
    for p in producers:
      p.wait(timeout=120)
  finally:
    processes.stop([learner] + producers, grace_secs=5.0)
  return _rates(num_producers, work, learner_out)


def _rates(num_producers: int, work: str, learner_out: str):
  try:
    with open(learner_out) as f:
      learner = json.load(f)
  except (OSError, ValueError):
    return dict(num_producers=num_producers, error='no learner result')
  start, end = learner['window_start'], learner['window_end']
  pulls = enqueued = 0
  for i in range(num_producers):
    try:
      with open(os.path.join(work, f'p{i}.json')) as f:
        record = json.load(f)
    except (OSError, ValueError):
      continue
    n = sum(1 for t in record['times'] if start <= t <= end)
    pulls += n
    enqueued += n * record['unrolls_per_pull']
  secs = end - start
  mb_in = learner['unrolls'] * learner['unroll_bytes'] / 1e6
  mb_out = pulls * learner['param_bytes'] / 1e6
  return dict(num_producers=num_producers, window_secs=secs,
              unrolls_per_sec=learner['unrolls'] / secs,
              enqueued_per_sec=enqueued / secs, pulls_per_sec=pulls / secs,
              mb_per_sec_in=mb_in / secs, mb_per_sec_out=mb_out / secs,
              learner_cpu_secs_per_mb=(learner['cpu_secs'] / (mb_in + mb_out)
                                       if mb_in + mb_out else None),
              unroll_mb=learner['unroll_bytes'] / 1e6,
              param_mb=learner['param_bytes'] / 1e6,
              num_parameters=learner['num_parameters'])


def run_isolated(seconds: float, warmup: float, counts: List[int],
                 unrolls_per_pull: int, batch: int, log=print):
  """Every producer count, in a private network namespace if possible."""
  from scalable_agent_tf2.runtime import netns  # pylint: disable=g-import-not-at-top
  try:
    isolation = netns.enter_private_network()
  except (OSError, netns.NetnsUnavailable) as e:
    isolation = f'none ({e})'
  results = []
  for n in counts:
    log(f'[transport] {n} producer(s) ...')
    results.append(measure(n, seconds, warmup, unrolls_per_pull, batch))
    log(f'[transport]   -> {results[-1]}')
  return dict(isolation=isolation, seconds=seconds, warmup_secs=warmup,
              unrolls_per_pull=unrolls_per_pull, learner_batch=batch,
              producers={str(r['num_producers']): r for r in results})


def run(seconds: float = DEFAULT_SECONDS, warmup: float = DEFAULT_WARMUP_SECS,
        counts=PRODUCER_COUNTS, unrolls_per_pull: int = UNROLLS_PER_PULL,
        batch: int = 32, log=print) -> Dict[str, object]:
  """`run_isolated` in a child process (the namespace stays there)."""
  out = tempfile.mktemp(prefix='bench_transport_', suffix='.json')
  child = _child('transport', '--role=all', f'--seconds={seconds}',
                 f'--warmup={warmup}', f'--counts={",".join(map(str, counts))}',
                 f'--unrolls_per_pull={unrolls_per_pull}', f'--batch={batch}',
                 f'--out={out}')
  code, _ = processes.run_in_foreground(child)
  if code != 0:
    return dict(error=f'transport benchmark exited with '
                f'{processes.describe_exit(code)}')
  with open(out) as f:
    return json.load(f)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog=f'python -m {_MODULE}')
  parser.add_argument('--role', default='all',
                      choices=('all', 'learner', 'producer'))
  parser.add_argument('--address', default='')
  parser.add_argument('--seconds', type=float, default=DEFAULT_SECONDS)
  parser.add_argument('--warmup', type=float, default=DEFAULT_WARMUP_SECS)
  parser.add_argument('--batch', type=int, default=32)
  parser.add_argument('--unrolls_per_pull', type=int, default=UNROLLS_PER_PULL)
  parser.add_argument('--counts', default=','.join(map(str, PRODUCER_COUNTS)))
  parser.add_argument('--out', default='')
  args = parser.parse_args(argv)
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  if args.role == 'learner':
    learner_role(args.address, args.seconds, args.warmup, args.batch, args.out)
  elif args.role == 'producer':
    producer_role(args.address, args.unrolls_per_pull, args.batch, args.out)
  else:
    result = run_isolated(args.seconds, args.warmup,
                          [int(x) for x in args.counts.split(',')],
                          args.unrolls_per_pull, args.batch)
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.out:
      with open(args.out, 'w') as f:
        f.write(text)
    else:
      print(text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
