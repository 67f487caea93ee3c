"""The paper's Tables 1-4 from run logs, next to the published numbers.

The public import surface of `scalable_agent_tf2.paper`: every `tableN`
returns a list of `Table`s (rows of plain values) that `render_markdown` /
`render_csv` turn into text. The run-log files and their readers are
`scalable_agent_tf2.run_dir`'s.

- Tables 1 and 2 (throughput, off-policy corrections; paper §5.1, §5.2) are
  suite-independent: `table1`, `table2`.
- Tables 3 and 4 (DMLab-30, Atari-57; paper §5.3) need a suite's levels and
  scores, so they live in the suites (`dmlab30.table3`, `atari57.table4`)
  and are reached here through the registry, `suites.get(env).paper_table`.

Missing runs, levels or games never crash a table: the cell says what is
missing ("n/a (missing: 3 games)"). With `strict=True` they raise ValueError.
"""

from scalable_agent_tf2 import run_dir
from scalable_agent_tf2 import suites
from scalable_agent_tf2.paper.render import MISSING
from scalable_agent_tf2.paper.render import Table
from scalable_agent_tf2.paper.render import format_rows
from scalable_agent_tf2.paper.render import missing_text
from scalable_agent_tf2.paper.render import render_csv
from scalable_agent_tf2.paper.render import render_markdown
from scalable_agent_tf2.paper import population_runs
from scalable_agent_tf2.paper.runs import parse_run_spec
from scalable_agent_tf2.paper.table1 import machine_description
from scalable_agent_tf2.paper.table1 import table1
from scalable_agent_tf2.paper.table2 import DEFAULT_LAST_FRACTION
from scalable_agent_tf2.paper.table2 import TABLE2_BEST_K
from scalable_agent_tf2.paper.table2 import discover_table2_runs
from scalable_agent_tf2.paper.table2 import final_return
from scalable_agent_tf2.paper.table2 import table2

# Transitional re-exports for callers outside the paper package that still
# read runs through this module; new code uses `run_dir` directly.
read_config = run_dir.read_config
read_jsonl = run_dir.read_jsonl
steady_state_fps = run_dir.steady_state_fps

__all__ = [
    'DEFAULT_LAST_FRACTION', 'MISSING', 'TABLE2_BEST_K', 'Table',
    'discover_table2_runs', 'final_return', 'format_rows',
    'machine_description', 'missing_text', 'parse_run_spec', 'render_csv',
    'render_markdown', 'table1', 'table2', 'table3', 'table4',
]


def table3(runs, strict=False):
  """Table 3 (DMLab-30 test) and its per-level table vs Table B.1.

  The DMLab-30 suite builds it (`dmlab30.table3.table3`, through the suite
  registry); see there for the arguments.

  Returns:
    [summary Table, per-level Table].
  """
  runs, notes = population_runs.resolve_runs(runs)
  return _with_notes(
      suites.get('dmlab').paper_table('table3')(runs, strict=strict), notes)


def table4(runs, strict=False, num_bootstrap=2000, seed=0):
  """Table 4 (Atari-57) and its per-game table vs Table C.1.

  The Atari-57 suite builds it (`atari57.table4.table4`, through the suite
  registry); see there for the arguments.

  Returns:
    [summary Table, per-game Table].
  """
  runs, notes = population_runs.resolve_runs(runs)
  return _with_notes(suites.get('atari').paper_table('table4')(
      runs, strict=strict, num_bootstrap=num_bootstrap, seed=seed), notes)


def _with_notes(result, notes):
  """Adds the notes naming each PBT population's reported member."""
  if result and notes:
    result[0].notes.extend(notes)
  return result
