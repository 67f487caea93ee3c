"""Test-mode videos: an environment's episodes as MP4 files (--test_video).

`EpisodeRecorder` writes the first `count` episodes of one environment, each
to `run_dir.video_path(logdir, level, i)`, from `Environment.rgb_frame()`:
the screen in full colour before any preprocessing (Atari: ALE's 210x160
RGB screen, not the 84x84 grey observation the agent sees). One frame per
agent step, played back at 60 / num_action_repeats frames per second, i.e.
at the game's own speed. OpenCV's writer encodes them ('mp4v').
"""

import os
from typing import List, Optional

from absl import logging
import cv2
import numpy as np

from scalable_agent_tf2 import run_dir

# Atari and DeepMind Lab both run at 60 frames per second.
ENGINE_FPS = 60.0


class EpisodeRecorder:
  """The first `count` episodes of one environment, one MP4 each."""

  def __init__(self, logdir: str, level: str, count: int,
               num_action_repeats: int):
    self._logdir, self._level = logdir, level
    self._count = count
    self._fps = ENGINE_FPS / num_action_repeats
    self._writer: Optional[cv2.VideoWriter] = None
    self._path = ''
    self.paths: List[str] = []

  @property
  def done(self) -> bool:
    return len(self.paths) >= self._count

  def add(self, rgb: Optional[np.ndarray]) -> None:
    """Appends one uint8 [H, W, 3] RGB frame to the current episode."""
    if self.done:
      return
    if rgb is None:
      logging.warning('--test_video: %s has no RGB frames; no video.',
                      self._level)
      self._count = 0
      return
    if self._writer is None:
      self._open(rgb.shape)
    self._writer.write(np.ascontiguousarray(rgb[..., ::-1]))  # RGB -> BGR.

  def _open(self, shape) -> None:
    self._path = run_dir.video_path(self._logdir, self._level,
                                    len(self.paths))
    os.makedirs(os.path.dirname(self._path), exist_ok=True)
    height, width = shape[:2]
    self._writer = cv2.VideoWriter(
        self._path, cv2.VideoWriter_fourcc(*'mp4v'), self._fps,
        (width, height))
    if not self._writer.isOpened():
      raise OSError(f'--test_video: OpenCV cannot write {self._path}.')

  def end_episode(self) -> None:
    """Closes the current episode's file."""
    if self._writer is not None:
      self._writer.release()
      self._writer = None
      self.paths.append(self._path)

  def close(self) -> None:
    """Drops an unfinished episode's file (only whole episodes are kept)."""
    if self._writer is not None:
      self._writer.release()
      self._writer = None
      os.remove(self._path)
