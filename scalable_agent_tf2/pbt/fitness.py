"""A member's fitness: human-normalised, so one threshold fits every suite.

Appendix F compares members by their mean capped human-normalised score
(DMLab-30, docs/impala.md §5.5). Here: the mean over the run's training
levels of each level's human-normalised score of its recent mean return
(`suites.get(env).human_normalized_score`, the learner's window of recent
episodes), each capped at `cap` when cap > 0 (DMLab-30: 100; Atari
multi-task: uncapped mean, docs/impala.md §6.2; one level: its score).
"""

from typing import Mapping, Optional

from scalable_agent_tf2 import suites


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
