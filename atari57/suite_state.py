"""Where each run of the Atari-57 suite stands: trained, finished, evaluated.

"Finished" is the latest checkpoint's `num_env_frames` >= the budget: the
checkpoint is what evaluation and a resume use, so it is the ground truth (an
exit status of 0 alone is not: a run stopped by a signal exits cleanly too).
The run directory's files are read through `scalable_agent_tf2.run_dir`.
"""

import dataclasses
import os
from typing import Optional, Sequence

from atari57.suite_commands import SuiteError
from atari57.suite_commands import human
from scalable_agent_tf2 import run_dir


def checkpoint_frames(logdir: str) -> Optional[int]:
  """`num_env_frames` of the latest checkpoint in `logdir`, None if none.

  Raises:
    SuiteError: the latest checkpoint exists but cannot be read.
  """
  if not os.path.exists(os.path.join(run_dir.checkpoint_dir(logdir),
                                     'checkpoint')):
    return None  # Cheap path: no TensorFlow import for untrained games.
  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2.runtime import checkpoints  # Imports TensorFlow.
  path = checkpoints.latest_checkpoint(logdir)
  if not path:
    return None
  try:
    return checkpoints.checkpoint_frames(path)
  except checkpoints.CheckpointError as e:
    raise SuiteError(str(e)) from None


def read_json_or_none(path: str) -> Optional[dict]:
  """The JSON object at `path`; None if missing or unreadable."""
  try:
    return run_dir.read_json_if_exists(path)
  except (OSError, ValueError):
    return None


def saved_config(logdir: str) -> dict:
  """The run's config.json ({} if there is none or it cannot be read)."""
  return read_json_or_none(run_dir.config_path(logdir)) or {}


@dataclasses.dataclass
class RunStatus:
  """Where one training run stands.

  Attributes:
    logdir: the run's directory.
    budget: frames it must reach.
    frames: the latest checkpoint's frame counter (None: no checkpoint, or
      one that cannot be read).
    problem: why the run must not be started (a run of another torso in the
      logdir), or None.
    note: something to say about the run (an unreadable checkpoint: the
      experiment then restores an older one or refuses), or None.
  """
  logdir: str
  budget: int
  frames: Optional[int] = None
  problem: Optional[str] = None
  note: Optional[str] = None

  @property
  def finished(self) -> bool:
    return (self.problem is None and self.frames is not None and
            self.frames >= self.budget)

  def describe(self) -> str:
    if self.problem:
      return self.problem
    if self.note:
      return self.note
    if self.frames is None:
      return 'new run'
    if self.finished:
      return 'finished (%s of %s frames)' % (
          human(self.frames), human(self.budget))
    return 'resuming at %s of %s frames' % (
        human(self.frames), human(self.budget))


def run_status(logdir: str, budget: int,
               torso: Optional[str] = None) -> RunStatus:
  """Reads a run's state: its checkpoint's frames and its saved torso.

  Args:
    logdir: the run's directory (need not exist).
    budget: frames the run must reach to count as finished.
    torso: the torso this suite trains; a logdir holding a run of another
      torso is a problem (the experiment would refuse to resume it, and a
      finished one would otherwise be skipped silently and mix into the
      suite's table).
  """
  status = RunStatus(logdir, budget)
  try:
    status.frames = checkpoint_frames(logdir)
  except SuiteError as e:
    status.note = '%s; the experiment will try older checkpoints' % e
  saved = saved_config(logdir)
  if torso and saved.get('torso') not in (None, torso):
    status.problem = ('%s holds a --torso=%s run, not %s; use another --root '
                      'or the same torso' % (logdir, saved['torso'], torso))
  return status


def results_up_to_date(logdir: str, episodes: int, levels: Sequence[str],
                       frames: Optional[int]) -> bool:
  """Whether test_results.json already evaluates the latest checkpoint.

  True when it was written for a checkpoint with `frames` frames and holds
  at least `episodes` episodes of every level in `levels`.
  """
  results = read_json_or_none(run_dir.test_results_path(logdir))
  if not results or frames is None or results.get('frames') != frames:
    return False
  returns = results.get('level_returns')
  if not isinstance(returns, dict):
    return False
  return all(isinstance(returns.get(level), list) and
             len(returns[level]) >= episodes for level in levels)
