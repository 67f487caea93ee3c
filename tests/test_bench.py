"""Unit tests of the benchmark helpers (bench/run.py, throughput.py, pong.py).

Only the pure parts: steady-state windows and medians of progress lines (the
statistic lives in scalable_agent_tf2.run_dir; bench reads it from there),
/proc parsing (status, cmdline, process discovery on a fake /proc tree), the
machine block's parsers, the results-file merge, the command lines the
benchmarks train with, and the Pong summary statistics. No benchmark runs
here (`make bench` / `make bench-pong` are never run in CI).
"""

import csv
import json
import os
import sys

import numpy as np
import pytest

# `bench` is a top-level directory of the repository, not an installed package.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)
# pylint: disable=g-import-not-at-top,wrong-import-position

from bench import curve_files
from bench import memory
from bench import pong
from bench import run as bench_run
from bench import throughput
from bench import training_run
from bench import torso_health

from runtime_helpers import resolved_config


# --- /proc parsing ------------------------------------------------------------

STATUS = """Name:\tpython
State:\tS (sleeping)
Pid:\t4242
VmPeak:\t 5123456 kB
VmHWM:\t  987654 kB
VmRSS:\t  876543 kB
Threads:\t42
"""


class TestProc:

  def test_parse_status_fields(self):
    assert memory.parse_status_kib(STATUS, 'VmHWM') == 987654
    assert memory.parse_status_kib(STATUS, 'VmRSS') == 876543

  def test_parse_status_missing_field(self):
    # Zombies and kernel threads have no Vm* lines.
    assert memory.parse_status_kib('Name:\tpython\nState:\tZ\n',
                                       'VmHWM') is None

  def test_parse_cmdline(self):
    raw = b'/venv/bin/python\x00-m\x00scalable_agent_tf2.experiment\x00' \
          b'--job_name=learner\x00'
    assert memory.parse_cmdline(raw) == [
        '/venv/bin/python', '-m', 'scalable_agent_tf2.experiment',
        '--job_name=learner']
    assert memory.parse_cmdline(b'') == []

  def test_run_role(self):
    base = ['python', '-m', 'scalable_agent_tf2.experiment']
    assert memory.run_role(
        base + ['--job_name=learner', '--logdir=/tmp/run1'],
        '/tmp/run1') == 'learner'
    assert memory.run_role(
        base + ['--job_name=actor', '--logdir=/tmp/run1', '--task=3'],
        '/tmp/run1') == 'actor 3'
    # Another run's processes (even with a logdir sharing a prefix) and the
    # launcher itself (no --job_name) are not this run's learner/actors.
    assert memory.run_role(
        base + ['--job_name=learner', '--logdir=/tmp/run10'],
        '/tmp/run1') is None
    assert memory.run_role(base + ['--logdir=/tmp/run1'],
                               '/tmp/run1') is None

  def _fake_proc(self, root, pid, argv, hwm_kib, rss_kib):
    directory = root / str(pid)
    directory.mkdir()
    (directory / 'cmdline').write_bytes(
        b''.join(a.encode() + b'\0' for a in argv))
    (directory / 'status').write_text(
        f'Name:\tpython\nVmHWM:\t{hwm_kib} kB\nVmRSS:\t{rss_kib} kB\n')

  def test_find_processes_and_sample_peak_memory(self, tmp_path):
    logdir = '/tmp/bench_a2_e4_x'
    entry = ['python', '-m', 'scalable_agent_tf2.experiment',
             f'--logdir={logdir}']
    self._fake_proc(tmp_path, 100, entry, 50_000, 40_000)  # The launcher.
    self._fake_proc(tmp_path, 101, entry + ['--job_name=learner'],
                    2 * 1024 * 1024, 1024 * 1024)
    self._fake_proc(tmp_path, 102, entry + ['--job_name=actor', '--task=0'],
                    512 * 1024, 256 * 1024)
    self._fake_proc(tmp_path, 103, entry + ['--job_name=actor', '--task=1'],
                    600 * 1024, 300 * 1024)
    self._fake_proc(tmp_path, 200, ['python', '--job_name=learner',
                                    '--logdir=/tmp/other'], 9_999_999, 1)
    (tmp_path / 'self').mkdir()  # Non-numeric entries are skipped.
    assert memory.find_run_processes(logdir, str(tmp_path)) == {
        'learner': [101], 'actor 0': [102], 'actor 1': [103]}

    sampler = memory.MemorySampler(logdir, str(tmp_path))
    sampler.sample()
    # A later sample with a lower VmHWM (e.g. a restarted actor) keeps the
    # peak.
    (tmp_path / '102' / 'status').write_text('VmHWM:\t1024 kB\n'
                                             'VmRSS:\t1024 kB\n')
    sampler.sample()
    summary = sampler.summary()
    assert summary['learner_peak_rss_mib'] == 2048.0
    assert summary['actor_peak_rss_mib'] == 512.0
    assert summary['actor_measured'] == 'actor 0'
    # Last sample's RSS over learner + actors (not the launcher): 1024 MiB
    # + 1 MiB + 300 MiB.
    assert summary['total_rss_mib_at_stop'] == 1325.0

  def test_sampler_without_processes(self, tmp_path):
    sampler = memory.MemorySampler('/tmp/nothing', str(tmp_path))
    sampler.sample()
    assert sampler.summary()['learner_peak_rss_mib'] is None
    assert sampler.summary()['actor_peak_rss_mib'] is None


# --- Command lines ------------------------------------------------------------


_resolved = resolved_config  # The Config the entry point makes of a command.


# Table G.1 (docs/impala.md §4): what --preset=paper gives an Atari run.
_TABLE_G1 = dict(batch_size=32, unroll_length=20, num_action_repeats=4,
                 entropy_cost=0.01, baseline_cost=0.5, discounting=0.99,
                 reward_clipping='abs_one', learning_rate=0.0006, decay=0.99,
                 momentum=0.0, epsilon=0.01, grad_norm_clip=40.0,
                 use_lstm=False)


def test_throughput_command_uses_the_entry_point_and_table_g1():
  command = throughput.training_command('/tmp/x', 4, 2, 2.0)
  assert command[1:3] == ['-m', 'scalable_agent_tf2.experiment']
  for flag in ('--env=atari', '--preset=paper', '--level_name=Pong',
               '--torso=shallow', '--num_actors=4', '--envs_per_actor=2',
               '--logdir=/tmp/x'):
    assert flag in command
  config = _resolved(command)
  assert config.batch_size == 32 and config.unroll_length == 20
  assert (config.num_actors, config.envs_per_actor) == (4, 2)
  assert config.torso == 'shallow'  # Table 1's model.


def test_pong_flags_are_the_paper_atari_hyperparameters():
  config = _resolved(pong.training_command('/tmp/p', 10_000_000, 'shallow',
                                           10.0))
  for name, value in _TABLE_G1.items():
    assert getattr(config, name) == value, name
  # The Table G.1 values are the preset's, not restated on the command line.
  assert not any(c.startswith(('--batch_size', '--epsilon'))
                 for c in pong.training_command('/tmp/p', 1, 'deep', 1.0))


def test_pong_small_preset_command_leaves_the_values_to_the_preset():
  command = pong.training_command('/tmp/p', 10_000_000, 'shallow', 10.0,
                                  preset='small')
  assert '--preset=small' in command
  assert not any(c.startswith(('--batch_size', '--epsilon')) for c in command)


def test_pong_command_puts_extra_flags_last():
  # absl keeps the last value of a repeated flag: --extra must win.
  command = pong.training_command('/tmp/p', 10_000_000, 'deep', 10.0,
                                  ['--batch_size=16', '--num_actors=8'])
  assert command[-2:] == ['--batch_size=16', '--num_actors=8']
  config = _resolved(command)
  assert config.batch_size == 16 and config.num_actors == 8
  assert '--torso=deep' in command
  assert '--stop_at_frames=10000000' in command
  assert config.use_lstm is False


def test_pong_schedule_is_the_presets_own_whatever_the_budget():
  # The learning rate anneals over Table G.1's 200M frames; the budget only
  # says where the run stops.
  for preset in ('paper', 'small'):
    assert pong.preset_schedule_frames(preset) == 200_000_000
    config = _resolved(pong.training_command('/tmp/p', 10_000_000, 'shallow',
                                             10.0, preset=preset))
    assert config.total_environment_frames == 200_000_000
    assert config.stop_frames == 10_000_000
  config = _resolved(pong.training_command('/tmp/p', 10_000_000, 'shallow',
                                           10.0, schedule_frames=40_000_000))
  assert config.total_environment_frames == 40_000_000
  assert config.stop_frames == 10_000_000


def test_median_policy_lag_of_the_steady_state_lines():
  lines = [{'mean_policy_lag': 1.0}, {'mean_policy_lag': 4.0},
           {'mean_policy_lag': 2.0}, {'fps': 3.0}]
  assert training_run.median_policy_lag(lines) == 2.0
  assert training_run.median_policy_lag(lines[:2]) == 2.5
  assert training_run.median_policy_lag([{'fps': 1.0}]) is None


def test_pong_learning_rate_at():
  assert pong.learning_rate_at(0, 0.0006, 200e6) == 0.0006
  assert pong.learning_rate_at(10e6, 0.0006, 200e6) == pytest.approx(0.00057)
  assert pong.learning_rate_at(8.94e6, 0.0006, 10e6) == pytest.approx(6.36e-5)
  assert pong.learning_rate_at(3e8, 0.0006, 200e6) == 0.0


def test_pong_refuses_to_resume_with_another_schedule_or_game(tmp_path):
  pong.check_same_run(str(tmp_path), 200_000_000)  # No config.json yet.
  (tmp_path / 'config.json').write_text(json.dumps(
      {'total_environment_frames': 40_000_000, 'level_name': 'Pong'}))
  pong.check_same_run(str(tmp_path), 40_000_000)
  with pytest.raises(SystemExit, match='--schedule_frames=40000000'):
    pong.check_same_run(str(tmp_path), 200_000_000)
  with pytest.raises(SystemExit, match='--game=Pong'):
    pong.check_same_run(str(tmp_path), 40_000_000, 'Breakout')


def test_pong_game_option_names_an_atari57_game():
  args, _ = pong._parse_args(['--game=breakout'])  # pylint: disable=protected-access
  assert args.game == 'Breakout'
  config = _resolved(pong.training_command('/tmp/p', 10_000_000, 'shallow',
                                           10.0, preset='small',
                                           game=args.game))
  assert config.level_name == 'Breakout' and config.batch_size == 4
  with pytest.raises(SystemExit, match='--game: Unknown Atari-57 game'):
    pong._parse_args(['--game=Tetris'])  # pylint: disable=protected-access
  with pytest.raises(SystemExit, match='--game'):
    pong._parse_args(['--extra=--level_name=Breakout'])  # pylint: disable=protected-access


def test_curve_statistics_hold_pong_to_its_target_and_other_games_to_none():
  frames = np.arange(1.0, 21.0) * 1e5
  pong_stats = pong.curve_statistics(frames, np.full(20, 19.0), 'Pong')
  assert pong_stats['frames_to_threshold'] == 2e6
  assert pong_stats['threshold']['return'] == 18.0
  assert pong_stats['paper_table_c1']['impala_shallow_200M'] == 20.40
  breakout = pong.curve_statistics(frames, np.full(20, 30.0), 'Breakout')
  assert breakout['threshold']['return'] is None
  assert breakout['frames_to_threshold'] is None
  assert breakout['best_moving_average'] == 30.0
  assert breakout['paper_table_c1'] == {'impala_shallow_200M': 640.43,
                                        'impala_deep_200M': 787.34}


@pytest.mark.parametrize('extra, message', [
    ('--total_environment_frames=5', '--schedule_frames'),
    ('--stop_at_frames=5', '--frames'),
    ('--logdir=/tmp/x', '--out-dir')])
def test_pong_extra_may_not_set_what_its_options_set(extra, message):
  with pytest.raises(SystemExit, match=message):
    pong._parse_args([f'--extra={extra}'])  # pylint: disable=protected-access
  with pytest.raises(SystemExit, match='--schedule_frames must be >= 1'):
    pong._parse_args(['--schedule_frames=0'])  # pylint: disable=protected-access


# --- Machine block and the results file ---------------------------------------


def test_parse_cpu_model():
  cpuinfo = ('processor\t: 0\nvendor_id\t: AuthenticAMD\n'
             'model name\t: AMD EPYC 7B13\nflags\t\t: fpu\n\n'
             'processor\t: 1\nmodel name\t: AMD EPYC 7B13\n')
  assert bench_run.parse_cpu_model(cpuinfo) == 'AMD EPYC 7B13'
  assert bench_run.parse_cpu_model('processor\t: 0\nHardware\t: BCM2835\n') \
      == 'BCM2835'
  assert bench_run.parse_cpu_model('processor\t: 0\n') is None


def test_parse_mem_total():
  assert bench_run.parse_mem_total_bytes(
      'MemTotal:       24684084 kB\nMemFree:  1 kB\n') == 24684084 * 1024
  assert bench_run.parse_mem_total_bytes('MemFree: 1 kB\n') is None


def test_parse_only():
  assert bench_run.parse_only('end_to_end,vtrace') == ['vtrace', 'end_to_end']
  with pytest.raises(Exception, match='subset of vtrace,networks,end_to_end'):
    bench_run.parse_only('vtrace,pong')
  with pytest.raises(Exception, match='subset'):
    bench_run.parse_only(',')


def test_merge_keeps_sections_not_rerun():
  old_machine = {'date': 'old'}
  existing = {'machine': old_machine, 'vtrace': {'a': 1},
              'vtrace_machine': old_machine, 'networks': {'b': 2},
              'networks_machine': old_machine}
  new_machine = {'date': 'new'}
  merged = bench_run.merge_results(existing, {'vtrace': {'a': 3}},
                                   new_machine)
  assert merged['vtrace'] == {'a': 3}
  assert merged['vtrace_machine'] == new_machine
  assert merged['networks'] == {'b': 2}
  assert merged['networks_machine'] == old_machine
  assert merged['machine'] == new_machine
  assert existing['vtrace'] == {'a': 1}  # Not mutated.


def test_summary_lists_each_vtrace_shape_and_skips_meta():
  document = {'machine': {'cores': 2},
              'vtrace': {'T20_B32': {'tf_function_ms': 0.5,
                                     'numpy_f64_ms': 0.04},
                         'meta': {'repetitions': 50}}}
  lines = bench_run.summary_lines(document, ['vtrace'])
  assert any(line.strip().startswith('T20_B32: tf.function 0.50 ms')
             for line in lines), lines
  assert not any('meta' in line for line in lines), lines


def test_repetition_flags_must_be_positive():
  with pytest.raises(SystemExit, match='networks_unroll_repetitions'):
    bench_run.main(['--only=networks', '--networks_unroll_repetitions=0',
                    '--out=/nonexistent/bench.json'])


def test_load_existing(tmp_path):
  path = tmp_path / 'bench.json'
  assert bench_run.load_existing(str(path)) == {}
  bench_run.write_json(str(path), {'vtrace': {'x': 1.5}})
  assert bench_run.load_existing(str(path)) == {'vtrace': {'x': 1.5}}
  assert os.listdir(tmp_path) == ['bench.json']  # No temporary file left.
  path.write_text('{not json')
  with pytest.raises(SystemExit, match='not valid JSON'):
    bench_run.load_existing(str(path))
  path.write_text('[1, 2]')
  with pytest.raises(SystemExit, match='JSON object'):
    bench_run.load_existing(str(path))


def test_throughput_summary_shows_missing_numbers_and_errors():
  training = dict(envs_per_actor=4, fps_median=None, fps_window_mean=None,
                  learner_peak_rss_mib=900.0, actor_peak_rss_mib=None,
                  error='the run exited on its own with code 1\nlog tail')
  result = dict(protocol=dict(level_name='Pong', torso='shallow',
                              batch_size=32, unroll_length=20,
                              sweep_num_actors=2),
                actors={'1': dict(training=training,
                                  env_only=dict(fps=5000.0),
                                  training_over_env_only=None)},
                envs_per_actor={'2': dict(fps_median=2500.0)})
  text = '\n'.join(throughput.summary_lines(result))
  assert 'n/a' in text
  assert '5,000' in text
  assert '2: 2,500' in text
  assert 'ERROR 1 actors: the run exited on its own with code 1' in text


# --- Pong summary statistics --------------------------------------------------


class TestPongStatistics:

  def test_frames_to_threshold_needs_a_full_window(self):
    frames = [1000.0 * i for i in range(1, 8)]
    returns = [21.0, -21.0, 18.0, 18.0, 19.0, 17.0, 21.0]
    # Means of the full 3-episode windows ending at episodes 3..7:
    # 6.0, 5.0, 18.33, 18.0, 19.0 -> the first >= 18 ends at episode 5.
    assert curve_files.frames_to_threshold(frames, returns, window=3,
                                           threshold=18.0) == 5000.0
    # A single lucky first episode is not a full window.
    assert curve_files.frames_to_threshold([1.0, 2.0], [21.0, 21.0], window=3) \
        is None

  def test_frames_to_threshold_exact_threshold_counts(self):
    frames = [10.0, 20.0, 30.0]
    assert curve_files.frames_to_threshold(
        frames, [18.0, 18.0, 18.0], window=3, threshold=18.0) == 30.0
    assert curve_files.frames_to_threshold(
        frames, [18.0, 18.0, 17.9], window=3, threshold=18.0) is None

  def test_frames_to_threshold_validates(self):
    with pytest.raises(ValueError, match='window'):
      curve_files.frames_to_threshold([1.0], [1.0], window=0)
    with pytest.raises(ValueError, match='equal length'):
      curve_files.frames_to_threshold([1.0, 2.0], [1.0], window=1)

  def test_final_mean_return(self):
    returns = list(range(30))
    assert curve_files.final_mean_return(returns, window=20) == pytest.approx(19.5)
    assert curve_files.final_mean_return([3.0, 5.0], window=20) == 4.0
    assert curve_files.final_mean_return([], window=20) is None

  def test_session_wall_time_adds_resumed_sessions(self):
    assert pong.session_wall_secs([{'wall_secs': 10.5},
                                   {'wall_secs': 4.5}]) == 15.0
    assert pong.session_wall_secs([]) == 0.0

  def test_curve_csv(self, tmp_path):
    import numpy as np  # pylint: disable=g-import-not-at-top
    path = tmp_path / 'curve.csv'
    curve_files.write_curve_csv(str(path), np.array([100.0, 200.0, 300.0]),
                                np.array([-21.0, -19.0, -20.0]), window=2)
    with open(path) as f:
      rows = list(csv.reader(f))
    assert rows[0] == ['episode', 'frames', 'episode_return',
                       'moving_average_2']
    assert rows[1:] == [['1', '100', '-21', '-21.0000'],
                        ['2', '200', '-19', '-20.0000'],
                        ['3', '300', '-20', '-19.5000']]

  def test_last_frames_reads_progress(self, tmp_path):
    assert pong.last_frames(str(tmp_path)) == 0
    with open(tmp_path / 'progress.jsonl', 'w') as f:
      for frames in (2560, 5120):
        f.write(json.dumps(dict(time=1.0, frames=frames, fps=1.0)) + '\n')
      f.write('{"time": 2.0, "fra')  # A line still being written.
    assert pong.last_frames(str(tmp_path)) == 5120


# --- Torso health (the RMSProp-epsilon diagnosis) -----------------------------


def test_ms_summary_gives_the_step_shrink_of_epsilon_inside_the_sqrt():
  ms = np.array([1e-10, 1e-8, 4e-6, 1e-2, 1.0])
  summary = torso_health.ms_summary(ms, epsilon=0.01)
  assert summary['ms_median'] == 4e-6
  # sqrt(4e-6 / (4e-6 + 0.01)) = 0.0199960012...
  assert summary['median_step_shrink'] == pytest.approx(0.0199960012, rel=1e-8)
  assert torso_health.ms_summary(ms, epsilon=1e-5)['median_step_shrink'] == (
      pytest.approx(np.sqrt(4e-6 / 1.4e-5)))


def test_never_active_counts_channels_that_are_zero_everywhere():
  activations = np.zeros([5, 3, 3, 4])
  activations[2, 1, 1, 0] = 0.5   # channel 0 fires once
  activations[:, :, :, 3] = 1.0   # channel 3 always fires
  assert torso_health.never_active(activations) == 2
  assert torso_health.never_active(np.ones([2, 8])) == 0


# --- Clip budget (bench/clip_budget.py) ---------------------------------------


def test_clip_factor_and_global_norm():
  from bench import clip_budget  # pylint: disable=g-import-not-at-top
  assert clip_budget.global_norm([np.array([3.0]), np.array([[4.0]])]) == 5.0
  assert clip_budget.clip_factor(281.0, 40.0) == pytest.approx(40 / 281)
  assert clip_budget.clip_factor(38.0, 40.0) == 1.0
  assert clip_budget.clip_factor(1e6, 0.0) == 1.0  # 0 = no clipping.


def test_rmsprop_step_norm_is_tf1s_next_step():
  from bench import clip_budget  # pylint: disable=g-import-not-at-top
  g, ms = np.array([0.1, -0.2]), np.ones(2)
  # ms' = 0.99 * 1 + 0.01 * g^2; step = lr * g / sqrt(ms' + eps).
  expected = np.sqrt(sum((1e-3 * x / np.sqrt(0.99 + 0.01 * x * x + 0.01)) ** 2
                         for x in g))
  assert clip_budget.rmsprop_step_norm([g], [ms], 1e-3, 0.99, 0.01) == (
      pytest.approx(expected, rel=1e-12))
  # A tiny ms: epsilon decides the step, by sqrt(eps ratio) at most.
  tiny = np.full(2, 1e-9)
  ratio = (clip_budget.rmsprop_step_norm([g * 1e-4], [tiny], 1.0, 0.99, 1e-5)
           / clip_budget.rmsprop_step_norm([g * 1e-4], [tiny], 1.0, 0.99,
                                           1e-2))
  assert 1.0 < ratio <= np.sqrt(1e-2 / 1e-5)
  assert clip_budget.layer_group('agent/policy_logits/w:0') == 'policy'
  assert clip_budget.layer_group('agent/baseline/b:0') == 'baseline'
  assert clip_budget.layer_group('agent/shallow_torso/conv_1/w:0') == 'torso'


# --- Actor hosts, box limit, transport (bench/actor_hosts.py, ...) -------------


def test_pss_and_process_kinds(tmp_path):
  from bench import actor_hosts  # pylint: disable=g-import-not-at-top
  assert actor_hosts.parse_pss_kib('Rss: 10 kB\nPss:   2048 kB\n') == 2048
  logdir = '/tmp/run_x'
  worker = ['python', '-m', 'scalable_agent_tf2.runtime.env_worker',
            '--socket=s', f'--logdir={logdir}']
  assert actor_hosts.process_kind(worker, logdir) == 'env_worker'
  assert actor_hosts.process_kind(
      ['p', '--job_name=actor', f'--logdir={logdir}'], logdir) == 'actor'
  assert actor_hosts.process_kind(
      ['p', '--job_name=learner', f'--logdir={logdir}'], logdir) == 'learner'
  assert actor_hosts.process_kind(['p', f'--logdir={logdir}'],
                                  logdir) == 'launcher'
  assert actor_hosts.process_kind(worker, '/tmp/other') is None
  # A fake /proc with one learner and two workers.
  for pid, argv, pss in (('11', ['p', '--job_name=learner',
                                 f'--logdir={logdir}'], 4096),
                         ('12', worker, 1024), ('13', worker, 1024),
                         ('14', ['other'], 999)):
    (tmp_path / pid).mkdir()
    (tmp_path / pid / 'cmdline').write_bytes(
        b'\0'.join(a.encode() for a in argv) + b'\0')
    (tmp_path / pid / 'smaps_rollup').write_text(f'Pss: {pss} kB\n')
  sampler = actor_hosts.PssSampler(logdir, proc_root=str(tmp_path))
  sampler.sample()
  summary = sampler.summary(num_envs=2)
  assert summary['pss_mib']['learner'] == 4.0
  assert summary['pss_mib']['env_worker'] == 2.0
  assert summary['pss_mib']['env_worker_count'] == 2
  assert summary['total_pss_mib'] == 6.0
  assert summary['acting_pss_mib_per_env'] == 1.0


def test_host_batch_stats_skip_the_warmup_lines(tmp_path):
  from bench import actor_hosts  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import host_stats  # pylint: disable=g-import-not-at-top
  logs = tmp_path / 'logs'
  logs.mkdir()
  lines = [host_stats.format_stats_line(0, dict(
      batches=10, batch_mean=mean, env_wait_secs=0.5, inference_secs=0.25,
      enqueue_secs=0.125, pull_secs=0.0, blocked_share=0.5 * lag,
      policy_lag_min=lag, policy_lag_mean=lag + 1, policy_lag_max=lag + 2,
      interval_secs=1.0, bottleneck='acting: inference (25%)'))
           for mean, lag in ((1.0, 9), (8.0, 1), (6.0, 2), (8.0, 3))]
  (logs / 'actor_0.log').write_text('\n'.join(['x'] + lines) + '\n')
  stats = actor_hosts.host_batch_stats(str(tmp_path), 1,
                                       warmup_fraction=0.25)
  assert stats['stats_lines'] == 3
  assert stats['inference_batch_mean'] == pytest.approx(22.0 / 3)
  assert stats['host_env_wait_share'] == pytest.approx(0.5)
  assert stats['host_inference_share'] == pytest.approx(0.25)
  assert stats['host_enqueue_share'] == pytest.approx(0.125)
  assert stats['host_blocked_share'] == pytest.approx(1.0)
  assert (stats['host_policy_lag_min'], stats['host_policy_lag_max']) == (2, 4)
  assert stats['host_bottlenecks'] == ['acting: inference']


def test_layout_ratios_are_the_targets_comparisons():
  from bench import actor_hosts  # pylint: disable=g-import-not-at-top
  layouts = {'host_1x8': dict(fps_median=3000.0),
             'in_process_2x4_threads1': dict(fps_median=2400.0),
             'host_1x8_slow': dict(fps_median=2700.0),
             'host_1x16': dict(fps_median=None)}
  assert actor_hosts.ratios(layouts) == {
      'host_1x8_over_in_process_2x4': 1.25, 'slow_host_kept': 0.9}


def test_implied_limit_matches_the_hand_computation():
  from bench import box_limit  # pylint: disable=g-import-not-at-top
  # 2 cores, 7500 env frames/s, 0.942 core-s per 2560-frame update.
  limit = box_limit.implied_limit(2, 7500.0, 0.942, 2560)
  assert limit == pytest.approx(2 / (2 / 7500 + 0.942 / 2560))
  assert 3000 < limit < 3300
  assert box_limit.implied_limit(2, None, 0.9, 2560) is None


def test_transport_rates_use_the_learner_window(tmp_path):
  from bench import transport_bench  # pylint: disable=g-import-not-at-top
  learner = dict(window_start=100.0, window_end=110.0, unrolls=320,
                 cpu_secs=2.0, unroll_bytes=1_000_000, param_bytes=500_000,
                 num_parameters=125_000)
  out = tmp_path / 'learner.json'
  out.write_text(json.dumps(learner))
  (tmp_path / 'p0.json').write_text(json.dumps(dict(
      times=[99.0, 101.0, 105.0, 111.0], unrolls_per_pull=8)))
  rates = transport_bench._rates(1, str(tmp_path), str(out))  # pylint: disable=protected-access
  assert rates['unrolls_per_sec'] == 32.0
  assert rates['pulls_per_sec'] == pytest.approx(0.2)
  assert rates['mb_per_sec_in'] == pytest.approx(32.0)
  assert rates['mb_per_sec_out'] == pytest.approx(0.1)
  assert rates['learner_cpu_secs_per_mb'] == pytest.approx(2.0 / 321.0)


def test_bench_sections_include_actor_hosts_and_transport():
  assert bench_run.parse_only('actor_hosts,transport') == ['actor_hosts',
                                                           'transport']


def test_host_layouts_parse():
  from bench import actor_hosts  # pylint: disable=g-import-not-at-top
  assert actor_hosts.parse_layouts('') == actor_hosts.DEFAULT_LAYOUTS
  assert 'in_process_2x4' not in actor_hosts.DEFAULT_LAYOUTS
  assert actor_hosts.parse_layouts('in_process_2x4') == ('in_process_2x4',)
  assert actor_hosts.parse_layouts('hosts_2x8,host_1x8') == ('hosts_2x8',
                                                            'host_1x8')
  with pytest.raises(SystemExit, match='host_3x3'):
    actor_hosts.parse_layouts('host_3x3')
