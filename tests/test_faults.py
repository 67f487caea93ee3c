"""Fault handling without processes (docs/faults.md): the launcher's learner
restarts and stall detection (runtime/watchdog.py), the soak's measurements."""

import os
import types

import pytest

from bench import soak
from bench import soak_report
from scalable_agent_tf2.config import Config
from scalable_agent_tf2.runtime import launcher as launcher_lib
from scalable_agent_tf2.runtime import watchdog


# -- Learner restarts ----------------------------------------------------------


def test_learner_restart_policy():
  assert watchdog.learner_restart_refusal(-9, 0, 3) is None
  assert watchdog.learner_restart_refusal(1, 2, 3) is None
  assert 'used up --max_learner_restarts=3' in \
      watchdog.learner_restart_refusal(-9, 3, 3)
  assert 'non-finite' in watchdog.learner_restart_refusal(
      watchdog.EXIT_NON_FINITE, 0, 3)
  assert 'configuration' in watchdog.learner_restart_refusal(
      watchdog.EXIT_REFUSED_CONFIG, 0, 3)
  assert watchdog.learner_restart_refusal(-9, 0, 0) is not None
  assert [watchdog.learner_backoff_secs(k) for k in (1, 2, 3, 9)] == \
      [2.0, 4.0, 8.0, 30.0]


class _FakeChild:
  """poll() returns the scripted codes; start() counts."""

  def __init__(self, name, codes=()):
    self.name = name
    self.codes = list(codes)
    self.starts = 0
    self.pid = os.getpid()
    self.log_path = None

  def poll(self):
    return self.codes.pop(0) if self.codes else None

  @property
  def running(self):
    return True

  def start(self):
    self.starts += 1


def _launcher(tmp_path, **kw):
  config = Config(logdir=str(tmp_path), max_learner_restarts=2, **kw)
  return launcher_lib.Launcher(config)


def test_dead_learner_is_restarted_with_backoff_then_given_up(tmp_path,
                                                              monkeypatch):
  clock = [1000.0]
  monkeypatch.setattr(launcher_lib.time, 'time', lambda: clock[0])
  launcher = _launcher(tmp_path)
  learner = launcher_lib._Learner(_FakeChild('learner', [-9]))
  done = launcher_lib._Actor(_FakeChild('actor 0'), finished=True)
  assert launcher._supervise_learner(learner, [done]) is None
  assert learner.restarts == 1 and learner.restart_at == 1002.0
  assert launcher._supervise_learner(learner, [done]) is None
  assert learner.child.starts == 0, 'not before the backoff'
  clock[0] = 1002.0
  assert launcher._supervise_learner(learner, [done]) is None
  assert learner.child.starts == 1
  # An actor the dead learner's closed queue had ended runs again.
  assert done.child.starts == 1 and not done.finished
  learner.child.codes = [1]
  assert launcher._supervise_learner(learner, []) is None
  clock[0] = 1010.0
  launcher._supervise_learner(learner, [])
  learner.child.codes = [-9]
  # Restarts used up: the run ends with the learner's status (128 + 9).
  assert launcher._supervise_learner(learner, []) == 137


@pytest.mark.parametrize('code,status', [(watchdog.EXIT_NON_FINITE, 5),
                                         (watchdog.EXIT_REFUSED_CONFIG, 7),
                                         (0, 0)])
def test_final_learner_exits_are_not_restarted(tmp_path, code, status):
  launcher = _launcher(tmp_path)
  learner = launcher_lib._Learner(_FakeChild('learner', [code]))
  assert launcher._supervise_learner(learner, []) == status
  assert learner.child.starts == 0 and learner.restarts == 0


def test_restart_message_names_the_frames_of_the_last_progress_line(
    tmp_path, caplog):
  (tmp_path / 'progress.jsonl').write_text('{"frames": 640}\n'
                                           '{"frames": 1280}\n')
  launcher = _launcher(tmp_path)
  learner = launcher_lib._Learner(_FakeChild('learner', [-9]))
  with caplog.at_level('ERROR'):
    launcher._supervise_learner(learner, [])
  assert ('The learner exited with signal SIGKILL without being asked to '
          'stop (last progress line at 1280 frames)') in caplog.text


def test_actor_without_the_restarting_learner_is_restarted_uncounted(
    tmp_path, monkeypatch):
  clock = [1000.0]
  monkeypatch.setattr(launcher_lib.time, 'time', lambda: clock[0])
  launcher = _launcher(tmp_path, max_actor_restarts=1)
  learner = launcher_lib._Learner(_FakeChild('learner'))
  unreachable = watchdog.EXIT_LEARNER_UNREACHABLE
  actor = launcher_lib._Actor(_FakeChild('actor 0', [unreachable]))
  # The learner died and waits for its backoff: the actor's give-up is the
  # restart's doing, restarted at once and not counted.
  learner.restart_at = 1002.0
  assert launcher._supervise([actor], learner)
  assert actor.restarts == 0 and actor.restart_at == 1000.0
  assert launcher._supervise([actor], learner) and actor.child.starts == 1
  # Restarted 300 s ago (within the grace): still not counted.
  learner.restart_at, learner.restarted_at = None, 700.0
  actor.child.codes = [unreachable]
  assert launcher._supervise([actor], learner) and actor.restarts == 0
  launcher._supervise([actor], learner)
  # Long after the restart, the same exit is the actor's: counted, and with
  # --max_actor_restarts=1 the second one stops the run.
  learner.restarted_at = 1000.0 - watchdog.LEARNER_RESTART_GRACE_SECS
  actor.child.codes = [unreachable]
  assert launcher._supervise([actor], learner) and actor.restarts == 1
  clock[0] = 1001.0
  launcher._supervise([actor], learner)
  actor.child.codes = [unreachable]
  assert not launcher._supervise([actor], learner)


# -- Stalled actors ------------------------------------------------------------


def _stat_line(pid, state, utime, stime, name='python3 (x) y'):
  fields = [state, '1', '1', '1', '0', '-1', '0', '0', '0', '0', '0',
            str(utime), str(stime), '0', '0']
  return f'{pid} ({name}) ' + ' '.join(fields) + '\n'


def test_parse_stat_cpu_seconds_counts_after_the_command_name():
  line = _stat_line(12, 'R', 250, 50)
  assert watchdog.parse_stat_cpu_seconds(line, ticks_per_sec=100) == 3.0


def test_stall_watch_finds_an_actor_without_cpu_progress(tmp_path):
  proc = tmp_path / 'proc'
  (proc / '42').mkdir(parents=True)

  def set_ticks(ticks, state='S'):
    (proc / '42' / 'stat').write_text(_stat_line(42, state, ticks, 0))

  ticks = os.sysconf('SC_CLK_TCK')
  watch = watchdog.StallWatch(10.0, min_cpu_secs=1.0, proc_root=str(proc))
  watch.reset('actor 0', 0.0)
  set_ticks(0)
  assert watch.check('actor 0', 42, 0.0) is None
  set_ticks(5 * ticks)  # Busy: 5 CPU seconds in 6 s.
  assert watch.check('actor 0', 42, 6.0) is None
  set_ticks(5 * ticks, 'T')  # Stopped from here on.
  assert watch.check('actor 0', 42, 12.0) is None
  message = watch.check('actor 0', 42, 16.5)
  assert message and 'used 0.00 s of CPU in the last 10 s' in message
  assert 'state T' in message
  watch.reset_all(20.0)  # The learner restarted: the clock starts again.
  assert watch.check('actor 0', 42, 25.0) is None
  assert watch.check('actor 0', 42, 36.0) is not None
  assert watch.check('actor 9', 4242, 99.0) is None, 'gone: not stalled'
  assert watchdog.StallWatch(0.0).check('actor 0', 42, 99.0) is None


def test_stalled_actor_is_killed_only_while_the_learner_is_up(tmp_path,
                                                              monkeypatch):
  launcher = _launcher(tmp_path, actor_stall_secs=5.0)
  child = _FakeChild('actor 0')
  signals = []
  child.signal = signals.append
  child.wait = lambda timeout=None: -9
  actor = launcher_lib._Actor(child)
  monkeypatch.setattr(launcher._stalls, 'check',
                      lambda name, pid, now: 'stalled for a test')
  launcher._check_stall(actor, 100.0, learner_up=False)
  assert not signals
  launcher._check_stall(actor, 100.0, learner_up=True)
  assert signals == [9]


# -- Soak measurements ---------------------------------------------------------


def test_parse_pss_and_growth_per_process():
  text = 'Rss:  2048 kB\nPss:  1536 kB\nPss_Anon:  100 kB\n'
  assert soak_report.parse_pss_kib(text) == 1536
  assert soak_report.parse_pss_kib('Rss: 1 kB\n') is None
  samples = []
  for t in range(0, 1800, 30):
    samples.append(dict(role='launcher', pid=1, elapsed_secs=t,
                        pss_kib=1000 + (t >= 600) * 10))
  for t in range(0, 900, 30):  # Killed at 15 min: baseline at 10.
    samples.append(dict(role='actor 0', pid=2, elapsed_secs=t,
                        pss_kib=2000 + t))
  for t in range(900, 1800, 30):  # Its successor: baseline at 18 min.
    samples.append(dict(role='actor 0', pid=3, elapsed_secs=t,
                        pss_kib=4000))
  growths = {g['pid']: g for g in soak_report.growth(samples, 600, 180)}
  assert growths[1]['growth_percent'] == 0.0
  assert growths[1]['baseline_secs'] == 600
  assert growths[2]['baseline_secs'] == 600
  assert growths[2]['growth_percent'] == pytest.approx(
      100 * (2870 - 2600) / 2600, abs=0.01)
  assert growths[3]['baseline_secs'] == 1080
  verdict = soak_report.verdict(list(growths.values()), 240)
  assert verdict['processes_measured'] == 3
  assert verdict['max_growth_process'] == 'actor 0 (pid 2)'
  assert verdict['under_target'] is False


def test_soak_kill_schedule():
  args = types.SimpleNamespace(minutes=60, actor_kill_mins=10,
                               learner_kill_min=None, num_actors=2)
  events = soak._kill_schedule(args)
  assert [(e['secs'] / 60, e['what']) for e in events] == [
      (10, 'kill actor 0'), (20, 'kill actor 1'), (30, 'kill actor 0'),
      (35, 'kill learner'), (40, 'kill actor 1'), (50, 'kill actor 0')]
