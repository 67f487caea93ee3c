"""Tests of scalable_agent_tf2.runtime.processes with real processes.

Every wait is bounded; every test leaves no process behind.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from scalable_agent_tf2.runtime import orphan_guard
from scalable_agent_tf2.runtime import processes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.timeout(60)


def _alive(pid):
  """True while `pid` exists and is not a zombie."""
  try:
    with open(f'/proc/{pid}/stat') as f:
      state = f.read().rpartition(')')[2].split()[0]
  except OSError:
    return False
  return state != 'Z'


def _wait_until(predicate, timeout):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if predicate():
      return True
    time.sleep(0.05)
  return predicate()


def _wait_for_file(path, timeout=20.0):
  assert _wait_until(lambda: os.path.exists(path) and
                     open(path).read().strip(), timeout), path
  return open(path).read().strip()


def _python(code):
  return [sys.executable, '-c', textwrap.dedent(code)]


# A child that records the stop signal it gets, then exits.
_RECORDING_SLEEPER = '''
    import signal, sys, time
    out = sys.argv[1]
    def record(signum, frame):
      open(out + '.signal', 'w').write(str(signum))
      sys.exit(0)
    signal.signal(signal.SIGTERM, record)
    open(out, 'w').write('ready')
    time.sleep(60)
    '''

# A parent that starts the child above through processes.Child, writes the
# child's pid and sleeps (until the test SIGKILLs it).
_PARENT = '''
    import sys, time
    sys.path.insert(0, {repo!r})
    from scalable_agent_tf2.runtime import processes
    out = sys.argv[1]
    child = processes.Child('sleeper', [sys.executable, '-c', {child!r}, out])
    child.start()
    open(out + '.pid', 'w').write(str(child.pid))
    time.sleep(60)
    '''


def test_the_child_of_a_sigkilled_parent_dies(tmp_path):
  out = str(tmp_path / 'child')
  code = _PARENT.format(repo=REPO, child=textwrap.dedent(_RECORDING_SLEEPER))
  parent = subprocess.Popen(_python(code) + [out])
  try:
    pid = int(_wait_for_file(out + '.pid'))
    _wait_for_file(out)  # The child runs its own program (after the exec).
    with open(f'/proc/{pid}/cmdline', 'rb') as f:
      argv = f.read().split(b'\0')
    assert b'orphan_guard' not in b' '.join(argv)  # The wrapper is gone.
    assert argv[0] == sys.executable.encode()
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    # The kernel sent the death signal (SIGTERM) to the orphan.
    assert _wait_for_file(out + '.signal') == str(int(signal.SIGTERM))
    assert _wait_until(lambda: not _alive(pid), 10.0), f'orphan {pid} lives'
  finally:
    if parent.poll() is None:
      parent.kill()
      parent.wait()


def test_the_guard_refuses_to_start_an_orphan(tmp_path):
  # The supervisor died before the guard set its death signal: the guard
  # signals itself instead of running the command.
  marker = tmp_path / 'ran'
  result = subprocess.run(
      [sys.executable, '-I', '-S', orphan_guard.__file__, '--parent',
       str(os.getpid() + 10**6), '--', 'touch', str(marker)], timeout=30)
  assert result.returncode == -signal.SIGTERM
  assert not marker.exists()


def test_the_guard_rejects_a_bad_command_line():
  with pytest.raises(ValueError, match='--parent'):
    orphan_guard.parse_args(['--', 'true'])
  with pytest.raises(ValueError, match='positive integer'):
    orphan_guard.parse_args(['--parent', 'x', '--', 'true'])
  assert orphan_guard.parse_args(['--parent', '12', '--signal', '9', '--',
                                  'a', '-b']) == (12, 9, ['a', '-b'])


def test_describe_exit_and_exit_status():
  assert processes.describe_exit(0) == 'exit code 0'
  assert processes.describe_exit(3) == 'exit code 3'
  assert processes.describe_exit(-signal.SIGKILL) == 'signal SIGKILL'
  assert processes.describe_exit(-200) == 'signal 200'
  assert processes.describe_exit(None) == 'not run'
  assert processes.exit_status(0) == 0
  assert processes.exit_status(6) == 6
  assert processes.exit_status(-signal.SIGTERM) == 128 + signal.SIGTERM
  with pytest.raises(ValueError):
    processes.exit_status(None)


def test_stop_escalates_to_sigkill_for_a_child_ignoring_sigterm(tmp_path):
  ready = str(tmp_path / 'ready')
  stubborn = processes.Child('stubborn', _python('''
      import signal, sys, time
      signal.signal(signal.SIGTERM, signal.SIG_IGN)
      open(sys.argv[1], 'w').write('ready')
      time.sleep(60)
      ''') + [ready])
  polite = processes.Child('polite', _python('import time; time.sleep(60)'))
  stubborn.start()
  polite.start()
  _wait_for_file(ready)
  messages = []
  start = time.monotonic()
  codes = processes.stop([stubborn, polite], grace_secs=1.0,
                         log=messages.append)
  elapsed = time.monotonic() - start
  assert codes == {'stubborn': -signal.SIGKILL, 'polite': -signal.SIGTERM}
  assert 1.0 <= elapsed < 10.0
  assert messages == ['stubborn did not stop within 1 s; killing it.']
  for child in (stubborn, polite):
    assert not _alive(child.pid), 'no process left behind'


def test_stop_is_quick_when_children_cooperate():
  child = processes.Child('sleeper', _python('import time; time.sleep(60)'))
  child.start()
  start = time.monotonic()
  assert processes.stop([child], grace_secs=30.0) == {'sleeper':
                                                      -signal.SIGTERM}
  assert time.monotonic() - start < 10.0


def test_a_child_logs_to_its_file_and_restarts(tmp_path):
  log = tmp_path / 'logs' / 'child.log'
  child = processes.Child('echo', _python('print("hello", flush=True)'),
                          log_path=str(log))
  assert child.poll() is None and child.wait(1) is None  # Not started yet.
  child.start()
  assert child.wait(timeout=30) == 0
  child.start()  # Restart after the exit: appended to the same log.
  assert child.wait(timeout=30) == 0 and child.returncode == 0
  assert log.read_text() == 'hello\nhello\n'


def test_captured_output_and_a_group_signal(tmp_path):
  child = processes.Child('group', _python('''
      import subprocess, sys, time
      subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
      print('started', flush=True)
      time.sleep(60)
      '''), capture_output=True, signal_group=True)
  child.start()
  try:
    assert child.stdout.readline() == b'started\n'
    child.signal(signal.SIGTERM)  # Also reaches the grandchild (same group).
    assert child.wait(timeout=30) == -signal.SIGTERM
    assert child.stdout.read() == b''  # The grandchild closed its end too.
  finally:
    processes.kill_all([child])
    child.wait(timeout=10)
    child.stdout.close()


def test_start_errors():
  with pytest.raises(FileNotFoundError, match='no_such_program'):
    processes.Child('x', ['no_such_program_anywhere']).start()
  with pytest.raises(ValueError):
    processes.Child('x', [])
  with pytest.raises(ValueError):
    processes.Child('x', ['true'], log_path='/tmp/x', capture_output=True)
  child = processes.Child('x', _python('import time; time.sleep(60)')).start()
  try:
    with pytest.raises(RuntimeError, match='already running'):
      child.start()
  finally:
    processes.stop([child], 5.0)


def test_run_in_foreground_forwards_a_stop_signal(tmp_path):
  ready = str(tmp_path / 'ready')
  child = processes.Child('fg', _python(_RECORDING_SLEEPER) + [ready],
                          new_session=False)
  # SIGTERM to ourselves once the child runs: it must reach the child.
  killer = subprocess.Popen(_python(f'''
      import os, signal, sys, time
      while not os.path.exists({ready!r}):
        time.sleep(0.05)
      os.kill({os.getpid()}, signal.SIGTERM)
      '''))
  before = signal.getsignal(signal.SIGTERM)
  try:
    code, received = processes.run_in_foreground(child)
  finally:
    killer.wait(timeout=30)
  assert received == [signal.SIGTERM]
  assert code == 0  # The child's handler exited cleanly.
  assert open(ready + '.signal').read() == str(int(signal.SIGTERM))
  assert signal.getsignal(signal.SIGTERM) is before  # Restored.
