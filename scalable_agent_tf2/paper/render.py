"""The `Table` value every paper table returns, and its Markdown/CSV text.

A table is rows of plain values (float, int, str, None); rendering is the only
place that formats them. Cells of missing runs, levels or games are strings
(`MISSING`, `missing_text`), so a table never crashes on partial results.
"""

import dataclasses
import math
from typing import Any, List, Optional

import numpy as np

from scalable_agent_tf2 import run_dir

# The cell of a run, level or game without results.
MISSING = 'n/a (missing)'


def missing_text(count: int, what: str) -> str:
  """'n/a (missing: 3 games)'; `what` is a plural ('games' -> '1 game')."""
  return 'n/a (missing: %d %s)' % (count, what if count != 1 else what[:-1])


@dataclasses.dataclass
class Table:
  """One rendered table.

  Attributes:
    name: short slug (CSV file stem), e.g. 'table3_levels'.
    title: Markdown heading text.
    columns: column headers.
    rows: list of rows, each a list aligned with `columns`; cells are float,
      int, str (e.g. 'n/a (missing: 3 games)') or None (no number).
    formats: per-column format strings for floats (None -> '{:.1f}').
    notes: lines printed under the table.
  """
  name: str
  title: str
  columns: List[str]
  rows: List[List[Any]]
  formats: Optional[List[Optional[str]]] = None
  notes: List[str] = dataclasses.field(default_factory=list)

  def row(self, label):
    """The first row whose first cell is `label` (KeyError if none)."""
    for row in self.rows:
      if row[0] == label:
        return row
    raise KeyError('No row %r in %s.' % (label, self.name))

  def cell(self, label, column):
    """The cell of row `label` under header `column`."""
    return self.row(label)[self.columns.index(column)]


def _format_cell(value, fmt):
  if value is None:
    return '—'
  if isinstance(value, bool):
    return str(value)
  if isinstance(value, (int, np.integer)):
    return '{:,}'.format(int(value))
  if isinstance(value, (float, np.floating)):
    if math.isnan(value):
      return 'nan'
    return (fmt or '{:.1f}').format(float(value))
  return str(value)


def format_rows(table):
  """The table's rows as display strings (what `render_markdown` prints)."""
  formats = table.formats or [None] * len(table.columns)
  return [[_format_cell(v, f) for v, f in zip(row, formats)]
          for row in table.rows]


def _markdown_line(cells):
  return '| ' + ' | '.join(c.replace('|', '\\|') for c in cells) + ' |'


def render_markdown(tables):
  """Markdown for one `Table` or a list of them (heading, table, notes)."""
  if isinstance(tables, Table):
    tables = [tables]
  blocks = []
  for table in tables:
    lines = ['### ' + table.title, '', _markdown_line(table.columns),
             '|' + '|'.join(['---'] * len(table.columns)) + '|']
    lines.extend(_markdown_line(cells) for cells in format_rows(table))
    if table.notes:
      lines.append('')
      lines.extend('- ' + note for note in table.notes)
    blocks.append('\n'.join(lines))
  return '\n\n'.join(blocks) + '\n'


def render_csv(table):
  """CSV text of one `Table`: raw numbers (full precision), '' for None."""
  return run_dir.csv_text(table.columns, table.rows)
