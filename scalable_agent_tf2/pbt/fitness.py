"""A member's fitness: human-normalised, so one threshold fits every suite.

Appendix F and Table G.1 compare members by their mean capped
human-normalised score (docs/impala.md §4.3, §5.5). Here: the mean over the
run's training levels of each level's human-normalised score of a mean
return (`suites.get(env).human_normalized_score`; the member passes the
episodes since its last ready step), each capped at `cap` when cap > 0
(the DMLab-30 and Atari-57 populations: HUMAN_CAP; a one-game population
of `make train-pbt`: uncapped, so members above human stay comparable).
"""

from typing import Mapping, Optional

from scalable_agent_tf2 import suites

# A level's score counts at most as human level (100%).
HUMAN_CAP = 100.0


def fitness(config, mean_returns: Mapping[str, float],
            cap: float = 0.0) -> Optional[float]:
  """The fitness, or None until every training level has a return.

  Args:
    config: the member's resolved Config (env, level_name).
    mean_returns: level name -> recent mean episode return.
    cap: 0 for none, else the cap of each level's score (in points).
  """
  suite = suites.get(config.env)
  levels = sorted(set(suite.train_levels(config)))
  if any(level not in mean_returns for level in levels):
    return None
  scores = [suite.human_normalized_score(level, mean_returns[level])
            for level in levels]
  if cap > 0:
    scores = [min(score, cap) for score in scores]
  return float(sum(scores) / len(scores))
