r"""Pong to the paper's level: learning curve and throughput.

Trains one Atari Pong expert (or another game's: --game=Breakout) through the
real entry point with the paper's Atari hyperparameters (`--preset=paper`, Table G.1: batch 32, unroll 20,
entropy 0.01, RMSProp lr 0.0006 / decay 0.99 / epsilon 0.01, global
grad-norm clip 40, rewards clipped to [-1, 1], discount 0.99, action repeat
4; docs/impala.md §4), then writes into --out-dir:

  run/                  the training logdir (checkpoints, progress.jsonl,
                        episodes.jsonl, TensorBoard events);
  learning_curve.csv    episode, frames, episode_return, moving average;
  learning_curve.png    the moving average vs environment frames;
  summary.json          steady-state frames/s, wall time, frames at which the
                        moving average of the last 20 episodes first reaches
                        +18 (Pong only; null if never), the mean return of
                        the last 20 episodes, the run's hyperparameters, the
                        game's Table C.1 scores and the machine;
  sessions.jsonl        one line per invocation (wall time, frames).

The learning rate anneals linearly to 0 over --schedule_frames (default the
preset's own total_environment_frames, Table G.1's 200M), whatever --frames
is: the run stops at --frames (`--stop_at_frames`), so runs of different
budgets share one schedule. Resumable: rerunning the same command continues
from the latest checkpoint in <out-dir>/run (Ctrl-C stops cleanly with a
final checkpoint and still writes the files).

  python -m bench.pong --frames=10000000 --out-dir bench/results/pong
  python -m bench.pong --out-dir=bench/results/pong_search/b4 \
      --extra="--batch_size=4 --envs_per_actor=8"
  python -m bench.pong --game=Breakout --preset=small \
      --out-dir=bench/results/pong_search/breakout_small

The shallow torso is the default (the deep ResNet is several times slower on
a CPU). The paper reports Pong after 200M frames (Table C.1: shallow 20.40,
deep 20.98); README "Pong on 2 cores" has the runs on this machine.
"""

import argparse
import json
import os
import shlex
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from atari57 import games
from bench import curve_files
from bench import run as bench_run
from bench import training_run
from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2 import run_dir
from scalable_agent_tf2 import suites
from scalable_agent_tf2.paper import plots
from scalable_agent_tf2.runtime import processes

DEFAULT_GAME = 'Pong'
CURVE_WINDOW = curve_files.CURVE_WINDOW
# Table 1's definition of steady state (scalable_agent_tf2.run_dir).
FPS_WARMUP_FRACTION = run_dir.DEFAULT_WARMUP_FRACTION

# The Atari presets (atari57/plugin.py): `paper` is Table G.1, `small` the
# small-machine preset of `make train`; --extra flags come after and win.
DEFAULT_OUT_DIRS = {'paper': 'bench/results/pong',
                    'small': 'bench/results/pong_small',
                    'replay': 'bench/results/pong_replay/replay'}

# Set by this command's own options, never through --extra.
_RESERVED = {'total_environment_frames': 'use --schedule_frames',
             'stop_at_frames': 'use --frames', 'logdir': 'use --out-dir',
             'level_name': 'use --game',
             'preset': 'use --preset', 'torso': 'use --torso'}

RUN_DIR = 'run'
CURVE_CSV = curve_files.CURVE_CSV
CURVE_PNG = curve_files.CURVE_PNG
SUMMARY_JSON = 'summary.json'
SESSIONS_FILE = 'sessions.jsonl'


# --- Pure helpers (unit-tested) -----------------------------------------------


def preset_schedule_frames(preset: str) -> int:
  """The frames over which `preset` decays the learning rate to 0 (its own
  total_environment_frames: 200M for both Atari presets, Table G.1)."""
  return int(suites.get('atari').defaults(DEFAULT_GAME, preset)
             ['total_environment_frames'])


def learning_rate_at(frames: float, learning_rate: float,
                     schedule_frames: float) -> float:
  """The linearly annealed learning rate after `frames` (docs/impala.md §4)."""
  return float(learning_rate) * max(0.0, 1.0 - frames / schedule_frames)


def training_command(logdir: str, frames: int, torso: str,
                     progress_secs: float,
                     extra_flags: Sequence[str] = (),
                     preset: str = 'paper',
                     schedule_frames: Optional[int] = None,
                     game: str = DEFAULT_GAME) -> List[str]:
  """The entry-point command line that trains `game` with Table G.1 (or the
  small-machine preset) until `frames`, its learning rate annealed over
  `schedule_frames` (default: the preset's own)."""
  schedule = schedule_frames or preset_schedule_frames(preset)
  return config_lib.experiment_command([
      '--env=atari', f'--level_name={game}', f'--torso={torso}',
      f'--total_environment_frames={schedule}', f'--stop_at_frames={frames}',
      f'--logdir={logdir}', f'--progress_secs={progress_secs}',
      f'--preset={preset}', *extra_flags])


def check_same_run(logdir: str, schedule_frames: int,
                   game: str = DEFAULT_GAME) -> None:
  """Refuses to resume a run of another game, or whose learning rate decayed
  over other frames (the curve would mix two runs).

  Raises:
    SystemExit: config.json of `logdir` names another game or schedule.
  """
  config = run_dir.read_config(logdir)
  if config.get('level_name') not in (None, game):
    raise SystemExit(f'{logdir} trained {config["level_name"]}, not {game}: '
                     f'pass --game={config["level_name"]} to resume it, or '
                     'use a new --out-dir.')
  saved = config.get('total_environment_frames')
  if saved is not None and int(saved) != int(schedule_frames):
    raise SystemExit(
        f'{logdir} was trained with its learning rate annealed over '
        f'{int(saved):,} frames, not {int(schedule_frames):,}: pass '
        f'--schedule_frames={int(saved)} to resume it, or use a new '
        '--out-dir.')


def session_wall_secs(sessions: Sequence[dict]) -> float:
  """Total wall time of the invocations that trained."""
  return float(sum(float(s.get('wall_secs', 0.0)) for s in sessions))


# --- Files --------------------------------------------------------------------


def last_frames(logdir: str) -> int:
  """The learner's frame count in the last progress line (0 without one)."""
  return run_dir.last_progress_frames(logdir)


def curve_statistics(frames: np.ndarray, returns: np.ndarray,
                     game: str) -> Dict[str, object]:
  """summary.json's statistics of one game's curve (docs: bench.curve_files)."""
  target = curve_files.TARGET_RETURNS.get(game)
  return {
      'episodes': int(returns.size),
      'threshold': {'moving_average_window': CURVE_WINDOW, 'return': target},
      'frames_to_threshold': (None if target is None else
                              curve_files.frames_to_threshold(
                                  frames, returns, threshold=target)),
      f'final_mean_return_last_{CURVE_WINDOW}':
          curve_files.final_mean_return(returns),
      'best_moving_average': curve_files.best_moving_average(returns),
      'paper_table_c1': curve_files.paper_scores(game),
  }


def write_outputs(out_dir: str, target_frames: int,
                  sessions: Sequence[dict]) -> Dict[str, object]:
  """Writes the CSV, PNG and summary.json from the run's logs; returns the
  summary."""
  logdir = os.path.join(out_dir, RUN_DIR)
  config = run_dir.read_config(logdir)
  game = config.get('level_name', DEFAULT_GAME)
  progress = run_dir.read_progress(logdir)
  try:
    curves = plots.load_curves(logdir)
  except ValueError:
    curves = {}
  frames, returns = curves.get(game, (np.zeros(0), np.zeros(0)))
  files = {'logdir': logdir, 'csv': os.path.join(out_dir, CURVE_CSV)}
  curve_files.write_curve_csv(files['csv'], frames, returns)
  if returns.size:
    files['png'] = os.path.join(out_dir, CURVE_PNG)
    curve_files.write_curve_png(files['png'], {game: curves[game]},
                                f'IMPALA {config.get("torso", "?")}', game)
  trained_frames = int(progress[-1]['frames']) if progress else 0
  summary = {
      'game': game,
      'torso': config.get('torso'),
      'target_frames': target_frames,
      'frames_trained': trained_frames,
      'complete': trained_frames >= target_frames,
      'fps_steady_state': run_dir.steady_state_fps(progress,
                                                   FPS_WARMUP_FRACTION),
      'fps_statistic': (f'median of progress.jsonl fps after the first '
                        f'{FPS_WARMUP_FRACTION:.0%} of the lines'),
      'wall_time_secs': session_wall_secs(sessions),
      'sessions': len(sessions),
      **curve_statistics(frames, returns, game),
      'learning_rate_schedule': _schedule_summary(config, trained_frames),
      'hyperparameters': {k: config.get(k) for k in (
          'preset', 'torso', 'batch_size', 'unroll_length',
          'num_action_repeats', 'entropy_cost', 'baseline_cost',
          'discounting', 'reward_clipping', 'learning_rate', 'decay',
          'momentum', 'epsilon', 'grad_norm_clip', 'use_lstm', 'num_actors',
          'envs_per_actor', 'total_environment_frames', 'stop_at_frames',
          'seed', 'env_processes', 'replay_capacity', 'replay_proportion')},
      'machine': bench_run.machine_info(),
      'files': files,
  }
  files['summary'] = os.path.join(out_dir, SUMMARY_JSON)
  bench_run.write_json(files['summary'], summary)
  return summary


def _schedule_summary(config: dict, trained_frames: int) -> Dict[str, object]:
  """How the run's learning rate was annealed, and where it ended."""
  schedule, lr = (config.get('total_environment_frames'),
                  config.get('learning_rate'))
  if not schedule or lr is None:
    return {}
  return {'decay': 'linear to 0', 'over_frames': int(schedule),
          'initial_learning_rate': lr,
          'learning_rate_at_frames_trained': learning_rate_at(
              trained_frames, lr, schedule)}


# --- Training -----------------------------------------------------------------


def train(out_dir: str, frames: int, torso: str, progress_secs: float,
          extra_flags: Sequence[str], preset: str = 'paper',
          schedule_frames: Optional[int] = None,
          game: str = DEFAULT_GAME) -> Dict[str, object]:
  """Runs (or resumes) the training until `frames`; returns the session."""
  logdir = os.path.join(out_dir, RUN_DIR)
  os.makedirs(logdir, exist_ok=True)
  schedule = schedule_frames or preset_schedule_frames(preset)
  check_same_run(logdir, schedule, game)
  command = training_command(logdir, frames, torso, progress_secs,
                             extra_flags, preset, schedule, game)
  print('[bench.pong] ' + shlex.join(command), flush=True)
  frames_before = last_frames(logdir)
  start = time.time()
  # Same process group as us: a Ctrl-C in the terminal reaches the launcher
  # too, which stops the learner with a final checkpoint. SIGINT / SIGTERM
  # to this process are forwarded; if this process dies anyway, the launcher
  # gets SIGTERM from the kernel (runtime.processes) and stops the same way.
  launcher = processes.Child('launcher', command, cwd=training_run.REPO,
                             env=training_run.child_env(), new_session=False)
  code, received = processes.run_in_foreground(launcher)
  return dict(start=start, wall_secs=time.time() - start,
              frames_before=frames_before, frames_after=last_frames(logdir),
              exit_code=code, interrupted=bool(received), command=command)


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m bench.pong', description=__doc__.split('\n')[0])
  parser.add_argument('--frames', type=int, default=10_000_000,
                      help='environment frames to train for (default '
                      '%(default)s).')
  parser.add_argument('--schedule_frames', type=int, default=None,
                      help='frames over which the learning rate decays '
                      'linearly to 0 (default: the preset\'s own '
                      'total_environment_frames, 200M), whatever --frames '
                      'is.')
  parser.add_argument('--preset', choices=sorted(DEFAULT_OUT_DIRS),
                      default='paper',
                      help='paper (Table G.1, the default) or small (the '
                      'small-machine preset of `make train`).')
  parser.add_argument('--out-dir', '--out_dir', dest='out_dir', default=None,
                      help='output directory (holds the resumable logdir; '
                      'default bench/results/pong, or pong_small for '
                      '--preset=small).')
  parser.add_argument('--game', default=DEFAULT_GAME,
                      help='the Atari game (ale-py name, default '
                      '%(default)s).')
  parser.add_argument('--torso', choices=('shallow', 'deep'),
                      default='shallow', help='network (default shallow).')
  parser.add_argument('--extra', default='',
                      help='more entry-point flags, e.g. '
                      '"--num_actors=8 --envs_per_actor=2".')
  parser.add_argument('--progress_secs', type=float, default=10.0,
                      help='seconds between progress lines.')
  parser.add_argument('--no_train', action='store_true',
                      help='only rewrite the CSV/PNG/summary from the logs.')
  return parser


def _parse_args(argv):
  """The options and the --extra flags; SystemExit names a bad one."""
  args = _parser().parse_args(argv)
  if args.frames < 1:
    raise SystemExit(f'--frames must be >= 1, got {args.frames}.')
  if args.progress_secs <= 0:
    raise SystemExit('--progress_secs must be > 0.')
  try:
    args.game = games.canonical_game_name(args.game)
  except ValueError as e:
    raise SystemExit(f'--game: {e}') from None
  if args.schedule_frames is not None and args.schedule_frames < 1:
    raise SystemExit(f'--schedule_frames must be >= 1, got '
                     f'{args.schedule_frames}.')
  try:
    extra_flags = config_lib.parse_extra(args.extra, reserved=_RESERVED)
  except config_lib.ConfigError as e:
    raise SystemExit(f'--extra: {e}') from None
  return args, extra_flags


def _train_session(args, extra_flags, out_dir: str, sessions_path: str) -> int:
  """Trains unless --no_train or done; returns the exit status."""
  logdir = os.path.join(out_dir, RUN_DIR)
  if args.no_train:
    return 0
  if last_frames(logdir) >= args.frames:
    print(f'[bench.pong] {logdir} already has {last_frames(logdir):,} >= '
          f'{args.frames:,} frames: only rewriting the outputs.')
    return 0
  session = train(out_dir, args.frames, args.torso, args.progress_secs,
                  extra_flags, args.preset, args.schedule_frames, args.game)
  with open(sessions_path, 'a') as f:
    f.write(json.dumps(session) + '\n')
  if session['interrupted']:
    return 130
  if session['exit_code'] != 0:
    print(f'[bench.pong] training exited with code {session["exit_code"]}; '
          'writing what the logs hold.', file=sys.stderr)
    return session['exit_code'] or 1
  return 0


def main(argv=None) -> int:
  args, extra_flags = _parse_args(argv)
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  out_dir = args.out_dir or DEFAULT_OUT_DIRS[args.preset]
  os.makedirs(out_dir, exist_ok=True)
  sessions_path = os.path.join(out_dir, SESSIONS_FILE)
  exit_code = _train_session(args, extra_flags, out_dir, sessions_path)
  summary = write_outputs(out_dir, args.frames,
                          run_dir.read_jsonl(sessions_path))
  print(json.dumps({k: summary[k] for k in (
      'frames_trained', 'complete', 'fps_steady_state', 'wall_time_secs',
      'episodes', 'frames_to_threshold',
      f'final_mean_return_last_{CURVE_WINDOW}', 'files')}, indent=2))
  return exit_code


if __name__ == '__main__':
  sys.exit(main())
