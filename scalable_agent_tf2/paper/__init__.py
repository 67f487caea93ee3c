"""Regenerates the IMPALA paper's Tables 1-4 next to the published numbers.

- `published`: the paper's Tables 1-4 as data and loaders for Tables B.1/C.1.
- `tables`: pure functions that read run logs and build the tables, plus
  Markdown/CSV renderers.
- `plots`: learning curves (episode return vs environment frames) as PNG.

Command line: `python -m scalable_agent_tf2.paper table1|table2|table3|table4|
curves ...` (see `__main__`).
"""
