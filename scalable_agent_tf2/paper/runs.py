"""Naming and finding the runs a paper table is built from.

The files inside one run directory are `scalable_agent_tf2.run_dir`'s; this
module only names runs on the command line and walks suite roots.
"""

import os
from typing import List, Tuple


def parse_run_spec(spec: str) -> Tuple[str, str]:
  """'NAME=DIR' -> (NAME, DIR); 'DIR' -> (basename of DIR, DIR)."""
  name, sep, path = spec.partition('=')
  if sep and name and os.sep not in name:
    return name, path
  path = spec
  return os.path.basename(os.path.normpath(path)), path


def short_level_name(level_name) -> str:
  """'contributed/dmlab30/rooms_watermaze' -> 'rooms_watermaze'."""
  return str(level_name).rsplit('/', 1)[-1]


def subdirs(path: str) -> List[str]:
  """Names of the directories directly under `path`, sorted."""
  return sorted(e.name for e in os.scandir(path) if e.is_dir())
