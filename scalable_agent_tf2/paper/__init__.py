"""Regenerates the IMPALA paper's Tables 1-4 next to the published numbers.

- `published`: the paper's Tables 1-4 as data and loaders for Tables B.1/C.1.
- `tables`: the public surface: `table1`..`table4`, `Table` and the
  Markdown/CSV renderers. Tables 1 and 2 are built in `table1` / `table2`;
  Tables 3 and 4 by the suites (`dmlab30.table3`, `atari57.table4`), reached
  through `scalable_agent_tf2.suites`.
- `render`: the `Table` value and its Markdown/CSV text; `runs`: run names
  on the command line and suite roots.
- `plots`: learning curves (episode return vs environment frames) as PNG.

Run directories are read through `scalable_agent_tf2.run_dir` only.

Command line: `python -m scalable_agent_tf2.paper table1|table2|table3|table4|
curves ...` (see `__main__`).
"""
