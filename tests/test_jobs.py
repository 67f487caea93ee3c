"""Tests of scalable_agent_tf2.jobs, the suite drivers' job runner.

Real processes, bounded waits, nothing left running.
"""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from scalable_agent_tf2 import jobs

pytestmark = pytest.mark.timeout(60)


def _python(code):
  return [sys.executable, '-c', textwrap.dedent(code)]


def test_run_jobs_logs_each_job_and_reports_every_exit_code(tmp_path, capsys):
  todo = [jobs.Job(name, _python('import sys; print("hello %s"); sys.exit(%d)'
                                 % (name, code)),
                   str(tmp_path / name / 'out.log'), 'start ' + name)
          for name, code in (('a', 0), ('b', 4), ('c', 0))]
  exits = []
  codes = jobs.run_jobs(todo, parallel=2, echo=True,
                        on_exit=lambda job, code, stop: exits.append(
                            (job.name, stop)))
  assert codes == {'a': 0, 'b': 4, 'c': 0}
  assert jobs.interrupted_exit(codes) is None
  assert sorted(exits) == [('a', False), ('b', False), ('c', False)]
  out = capsys.readouterr().out
  assert '[b] hello b' in out and 'start c' in out
  with open(tmp_path / 'b' / 'out.log') as f:
    text = f.read()
  assert 'hello b' in text and sys.executable in text


def test_an_interrupt_stops_the_running_job_and_starts_no_other(tmp_path):
  sleeper = _python('''
      import sys, time
      open(sys.argv[1], 'w').close()
      time.sleep(120)
      ''')
  todo = [jobs.Job(name, sleeper + [str(tmp_path / f'ready_{name}')],
                   str(tmp_path / name / 'out.log')) for name in ('a', 'b')]
  exits = []

  def interrupt_when_a_runs():  # Bounded wait, no fixed sleep.
    deadline = time.monotonic() + 60
    while (not (tmp_path / 'ready_a').exists()
           and time.monotonic() < deadline):
      time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGINT)

  thread = threading.Thread(target=interrupt_when_a_runs)
  thread.start()
  try:
    codes = jobs.run_jobs(todo, parallel=1, echo=False,
                          on_exit=lambda job, code, stop: exits.append(stop))
  finally:
    thread.join(timeout=70)
  assert codes == {'a': -signal.SIGTERM, 'b': None,
                   jobs.SIGNAL_KEY: signal.SIGINT}
  assert jobs.interrupted_exit(codes) == 128 + signal.SIGINT
  assert exits == [True]
  assert not os.path.exists(tmp_path / 'b')


def test_a_second_signal_kills_a_job_that_ignores_the_first(tmp_path):
  ready = tmp_path / 'ready'
  stubborn = _python('''
      import signal, sys, time
      signal.signal(signal.SIGTERM, signal.SIG_IGN)
      open(sys.argv[1], 'w').write('ready')
      time.sleep(120)
      ''') + [str(ready)]

  def interrupt_twice():
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
      time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGINT)

  thread = threading.Thread(target=interrupt_twice)
  thread.start()
  try:
    codes = jobs.run_jobs([jobs.Job('s', stubborn, str(tmp_path / 's.log'))],
                          echo=False, log=lambda _: None)
  finally:
    thread.join(timeout=40)
  assert codes == {'s': -signal.SIGKILL, jobs.SIGNAL_KEY: signal.SIGTERM}


def test_parallel_jobs_run_at_once_and_never_more(tmp_path):
  # Each job holds a file while it runs and records the most files it saw
  # over a second: never more than `parallel`, and `parallel` at some point
  # (a serial runner would only ever see its own).
  code = '''
      import glob, os, sys, time
      directory, seen, name = sys.argv[1], sys.argv[2], sys.argv[3]
      open(os.path.join(directory, name), 'w').close()
      most = 0
      for _ in range(20):
        most = max(most, len(glob.glob(os.path.join(directory, '*'))))
        time.sleep(0.05)
      os.remove(os.path.join(directory, name))
      open(os.path.join(seen, name), 'w').write(str(most))
      '''
  (tmp_path / 'now').mkdir()
  (tmp_path / 'seen').mkdir()
  todo = [jobs.Job(str(i), _python(code) + [str(tmp_path / 'now'),
                                            str(tmp_path / 'seen'), str(i)],
                   str(tmp_path / 'logs' / f'{i}.log')) for i in range(5)]
  codes = jobs.run_jobs(todo, parallel=2, echo=False, log=lambda _: None)
  assert codes == {str(i): 0 for i in range(5)}
  seen = [int((tmp_path / 'seen' / str(i)).read_text()) for i in range(5)]
  assert max(seen) == 2, seen
  with pytest.raises(ValueError, match='parallel'):
    jobs.run_jobs(todo, parallel=0)


def test_root_lock_refuses_a_second_driver(tmp_path):
  root = str(tmp_path / 'root')
  holder = _python(f'''
      import sys, time
      sys.path.insert(0, {os.path.dirname(os.path.dirname(
          os.path.abspath(__file__)))!r})
      from scalable_agent_tf2 import jobs
      with jobs.root_lock({root!r}, '.lock', 'test driver'):
        print('locked', flush=True)
        time.sleep(60)
      ''')
  other = subprocess.Popen(holder, stdout=subprocess.PIPE)
  try:
    assert other.stdout.readline() == b'locked\n'
    with pytest.raises(SystemExit, match='Another test driver is running'):
      with jobs.root_lock(root, '.lock', 'test driver'):
        pass
  finally:
    other.kill()
    other.wait(timeout=10)
    other.stdout.close()
  with jobs.root_lock(root, '.lock', 'test driver'):  # Free again.
    assert open(os.path.join(root, '.lock')).read() == str(os.getpid())


def test_run_foreground_returns_a_shell_exit_status():
  assert jobs.run_foreground(_python('import sys; sys.exit(5)')) == 5
  assert jobs.run_foreground(_python(
      'import os, signal; os.kill(os.getpid(), signal.SIGKILL)')) == (
          128 + signal.SIGKILL)
