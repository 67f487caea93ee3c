"""Package data: the paper's per-level/per-game tables as CSV (verbatim).

`dmlab30_table_b1.csv` is Table B.1 (DMLab-30 test scores) and
`atari57_table_c1.csv` is Table C.1 (Atari-57 scores after 200M frames) of
Espeholt et al. (2018). This file only makes the directory a package so that
the CSVs ship in wheels; load them with `scalable_agent_tf2.paper.published`.
"""
