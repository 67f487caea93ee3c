"""Population-based training (paper Appendix F; docs/pbt.md).

  population.py       the population root's files (TF-free): settings,
                      each member's published status, its pbt_log.jsonl.
  hyperparameters.py  sampling from the Table D.1 ranges and the explore
                      step (x1.2 or /1.2 with probability 0.33).
  fitness.py          a member's human-normalised fitness.
  member.py           the hook in the learner's train loop: exploit/explore.
  driver.py           `python -m scalable_agent_tf2.pbt train`: M members
                      as ordinary runs, PARALLEL at a time, restarted if
                      they die.
  plot.py             the population's PNG (hyperparameters and fitness
                      against frames, per member).

Members coordinate only through files in the population root, so they can
run on different machines that share it.
"""
