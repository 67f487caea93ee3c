"""The IMPALA paper's published numbers (Espeholt et al., 2018).

Tables 1-4 are transcribed from docs/impala.md §7; the per-level (Table B.1) and
per-game (Table C.1) scores are the CSVs shipped in `data/` (copied verbatim
from the paper's tables, never retyped), read with `load_table_b1` and
`load_table_c1`. Everything here is the paper's; our own numbers come from
run logs (see `tables`).

Units:
  - Table 1: environment frames per second (= 4 x agent steps/s, action
    repeat 4), shallow model, batch size 32; `None` where the paper has "—".
  - Table 2: final episode return (mean of the best 3 hyperparameter settings
    in the paper).
  - Tables 3-4 and aggregate rows: human-normalised score in percent.
"""

import collections
import csv
import importlib.resources
import io

# --- Table 1: throughput -----------------------------------------------------

# Task 1 / Task 2 of Table 1 (DMLab levels, without the `contributed/dmlab30/`
# prefix; seekavoid_arena_01 is not one of the DMLab-30 levels).
TABLE1_TASKS = ('seekavoid_arena_01', 'rooms_keys_doors_puzzle')

# One published row. `task_fps` is a tuple aligned with TABLE1_TASKS.
Table1Row = collections.namedtuple('Table1Row', 'setup cpus gpus task_fps')

# All published numbers use a shallow model; GPU rows used one NVIDIA P100.
TABLE1 = (
    Table1Row('A3C, 32 workers', 64, 0, (6.5e3, 9e3)),
    Table1Row('Batched A2C (sync step)', 48, 0, (9e3, 5e3)),
    Table1Row('Batched A2C (sync step)', 48, 1, (13e3, 5.5e3)),
    Table1Row('Batched A2C (sync traj.)', 48, 0, (16e3, 17.5e3)),
    Table1Row('Batched A2C (dyn. batch)', 48, 1, (16e3, 13e3)),
    Table1Row('IMPALA, 48 actors', 48, 0, (17e3, 20.5e3)),
    Table1Row('IMPALA (dyn. batch), 48 actors', 48, 1, (21e3, 24e3)),
    Table1Row('A3C, distributed', 200, 0, (46e3, 50e3)),
    Table1Row('IMPALA, distributed', 150, 1, (80e3, None)),
    Table1Row('IMPALA (optimised)', 375, 1, (200e3, None)),
    Table1Row('IMPALA (optimised), batch 128', 500, 1, (250e3, None)),
)

TABLE1_HARDWARE = (
    'Published rows: 48-500 CPU cores, and one NVIDIA P100 GPU where the GPUs '
    'column is 1; shallow model, batch size 32 unless stated.')

# --- Table 2: off-policy corrections ------------------------------------------

TABLE2_LEVELS = (
    'rooms_watermaze',
    'rooms_keys_doors_puzzle',
    'lasertag_three_opponents_small',
    'explore_goal_locations_small',
    'seekavoid_arena_01',
)

# Directory names used for the corrections (`<root>/<correction>/<level>/`)
# and the paper's row labels (§5.2.2).
TABLE2_CORRECTIONS = collections.OrderedDict([
    ('vtrace', 'V-trace'),
    ('1step', '1-Step'),
    ('epsilon', 'epsilon-correction'),
    ('none', 'No-correction'),
])


# The protocol behind Table 2 (§5.2, Table G.1's single-level column): every
# cell is an identical set of 24 pre-sampled Table D.1 settings, each a run
# of 1e9 frames with the shallow model, 48 actors and batch 32.
TABLE2_SETTINGS = 24
TABLE2_FRAMES = int(1e9)
TABLE2_TORSO = 'shallow'
TABLE2_ACTORS = 48
TABLE2_BATCH_SIZE = 32


def _table2_rows(rows):
  return collections.OrderedDict(
      (correction, collections.OrderedDict(zip(TABLE2_LEVELS, values)))
      for correction, values in rows)


# correction -> level -> final return.
TABLE2_WITHOUT_REPLAY = _table2_rows([
    ('vtrace', (46.8, 32.9, 31.3, 229.2, 43.8)),
    ('1step', (51.8, 35.9, 25.4, 215.8, 43.7)),
    ('epsilon', (44.2, 27.3, 4.3, 107.7, 41.5)),
    ('none', (40.3, 29.1, 5.0, 94.9, 16.1)),
])
TABLE2_WITH_REPLAY = _table2_rows([
    ('vtrace', (47.1, 35.8, 34.5, 250.8, 46.9)),
    ('1step', (54.7, 34.4, 26.4, 204.8, 41.6)),
    ('epsilon', (30.4, 30.2, 3.9, 101.5, 37.6)),
    ('none', (35.0, 21.1, 2.8, 85.0, 11.2)),
])


def table2_published(correction, level, replay=False):
  """Published Table 2 final return for (correction, level), or None."""
  if correction not in TABLE2_CORRECTIONS:
    raise ValueError('Unknown correction %r; expected one of %s.' %
                     (correction, ', '.join(TABLE2_CORRECTIONS)))
  table = TABLE2_WITH_REPLAY if replay else TABLE2_WITHOUT_REPLAY
  return table[correction].get(level)


# --- Test protocols behind Tables 3 and 4 ------------------------------------

# Test episodes per level / game: DMLab-30, paper §5.3.1 (500 per level);
# Atari-57, paper Appendix G (200 per game). Shorter evaluations are flagged.
DMLAB30_TEST_EPISODES = 500
ATARI57_TEST_EPISODES = 200

# --- Table 3: DMLab-30 ---------------------------------------------------------

# (agent, mean capped human-normalised test score in %).
TABLE3 = (
    ('A3C, deep', 23.8),
    ('IMPALA, shallow', 37.1),
    ('IMPALA-Experts, deep', 44.5),
    ('IMPALA, deep', 46.5),
    ('IMPALA, deep, PBT', 49.4),
    ('IMPALA, deep, PBT, 8 learners', 49.1),
)

# Table B.1 columns -> the Table 3 row they belong to.
TABLE_B1_AGENTS = collections.OrderedDict([
    ('impala_experts_deep', 'IMPALA-Experts, deep'),
    ('impala_deep_pbt', 'IMPALA, deep, PBT'),
])

# --- Table 4: Atari-57 --------------------------------------------------------

# Median / mean human-normalised score in %; None where the paper has none.
Table4Row = collections.namedtuple('Table4Row', 'agent median mean')

TABLE4 = (
    Table4Row('IMPALA, deep, experts', 191.8, 957.6),
    Table4Row('IMPALA, shallow, experts', 93.2, 466.4),
    Table4Row('A3C, shallow, experts', None, 285.9),
    Table4Row('A3C, deep, experts', None, 503.6),
    Table4Row('Reactor, experts', 187.0, None),
    Table4Row('IMPALA, deep, multi-task', 59.7, 176.9),
)

# Table C.1 columns -> the Table 4 row they belong to (ACKTR is not in Table 4
# and misses 13 games).
TABLE_C1_AGENTS = collections.OrderedDict([
    ('impala_deep', 'IMPALA, deep, experts'),
    ('impala_shallow', 'IMPALA, shallow, experts'),
    ('impala_deep_multitask', 'IMPALA, deep, multi-task'),
    ('reactor', 'Reactor, experts'),
    ('acktr', 'ACKTR'),
])


# --- Table B.1 / C.1 loaders ----------------------------------------------------

_B1_COLUMNS = ('level', 'human', 'random', 'impala_experts_deep',
               'impala_deep_pbt')
_C1_COLUMNS = ('game', 'acktr', 'reactor', 'impala_deep_multitask',
               'impala_shallow', 'impala_deep')


def _read_package_csv(filename, expected_columns):
  """Rows of a packaged CSV: OrderedDict key -> OrderedDict column -> float.

  The first column is the key; an empty cell (the paper's "N/A") is None.
  """
  resource = importlib.resources.files(__package__) / 'data' / filename
  text = resource.read_text(encoding='utf-8')
  reader = csv.reader(io.StringIO(text))
  header = tuple(next(reader))
  if header != expected_columns:
    raise ValueError('%s: expected columns %s, got %s.' %
                     (filename, expected_columns, header))
  rows = collections.OrderedDict()
  for line_number, cells in enumerate(reader, start=2):
    if not cells:
      continue
    if len(cells) != len(header):
      raise ValueError('%s line %d: expected %d cells, got %d.' %
                       (filename, line_number, len(header), len(cells)))
    values = collections.OrderedDict()
    for column, cell in zip(header[1:], cells[1:]):
      try:
        values[column] = float(cell) if cell.strip() else None
      except ValueError:
        raise ValueError('%s line %d: column %r is not a number: %r.' %
                         (filename, line_number, column, cell)) from None
    if cells[0] in rows:
      raise ValueError('%s: duplicate row %r.' % (filename, cells[0]))
    rows[cells[0]] = values
  return rows


def load_table_b1():
  """Table B.1: DMLab-30 test scores.

  Returns:
    OrderedDict of the 30 DMLab-30 test level names (paper order) -> OrderedDict
    with 'human', 'random' (the paper's rounded columns; use
    `dmlab30.HUMAN_SCORES`/`RANDOM_SCORES` for computing scores),
    'impala_experts_deep', 'impala_deep_pbt' (mean test returns).
  """
  return _read_package_csv('dmlab30_table_b1.csv', _B1_COLUMNS)


def load_table_c1():
  """Table C.1: Atari-57 scores after 200M frames.

  Returns:
    OrderedDict of the 57 games, snake_case as in the paper's table (e.g.
    'bank_heist'; `atari57.canonical_game_name` gives the ale-py name) ->
    OrderedDict column -> raw score or None (N/A), columns 'acktr', 'reactor',
    'impala_deep_multitask', 'impala_shallow', 'impala_deep'.
  """
  return _read_package_csv('atari57_table_c1.csv', _C1_COLUMNS)
