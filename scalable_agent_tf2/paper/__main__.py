"""Command line: regenerate the paper's tables and learning curves.

  python -m scalable_agent_tf2.paper table1 [NAME=]LOGDIR... [--cpus N]
      [--gpus N] [--machine TEXT] [--warmup-fraction 0.2]
  python -m scalable_agent_tf2.paper table2 ROOT [--last-fraction 0.1]
  python -m scalable_agent_tf2.paper table3 [NAME=]LOGDIR...
  python -m scalable_agent_tf2.paper table4 [NAME=]SUITE_ROOT_OR_LOGDIR...
      [--num-bootstrap 2000] [--seed 0]
  python -m scalable_agent_tf2.paper curves [NAME=]LOGDIR... [--out-dir DIR]
      [--combined FILE.png] [--window 100]

Tables print Markdown to stdout; `--out FILE.md` also writes it, `--csv-dir
DIR` writes one CSV per table, `--strict` turns missing runs/levels/games into
an error (exit status 1). See `tables` for the definitions and
`scalable_agent_tf2.run_dir` for the log formats.
"""

import argparse
import os
import sys

from scalable_agent_tf2 import run_dir
from scalable_agent_tf2.paper import plots
from scalable_agent_tf2.paper import tables


def _add_table_flags(parser):
  parser.add_argument('--out', help='Also write the Markdown to this file.')
  parser.add_argument('--csv-dir', help='Write <table name>.csv files here.')
  parser.add_argument('--strict', action='store_true',
                      help='Error out on missing runs, levels or games.')


def _fraction(text):
  value = float(text)
  if not 0.0 <= value <= 1.0:
    raise argparse.ArgumentTypeError('must be in [0, 1], got %s' % text)
  return value


def build_parser():
  parser = argparse.ArgumentParser(
      prog='python -m scalable_agent_tf2.paper',
      description='Regenerate the IMPALA paper\'s Tables 1-4 and learning '
      'curves from run logs, next to the published numbers.')
  sub = parser.add_subparsers(dest='command', required=True)

  p = sub.add_parser('table1', help='Throughput (frames/s) vs Table 1.')
  p.add_argument('runs', nargs='+', metavar='[NAME=]LOGDIR')
  p.add_argument('--cpus', type=int, default=None,
                 help='CPU cores of our machine (default: os.cpu_count()).')
  p.add_argument('--gpus', type=int, default=0, help='GPUs of our machine.')
  p.add_argument('--machine', default=None,
                 help='Machine description (default: from `platform`).')
  p.add_argument('--warmup-fraction', type=_fraction,
                 default=run_dir.DEFAULT_WARMUP_FRACTION)
  _add_table_flags(p)

  p = sub.add_parser('table2', help='Off-policy corrections vs Table 2.')
  p.add_argument('root', help='<root>/<correction>[_replay]/<level>/')
  p.add_argument('--last-fraction', type=_fraction,
                 default=tables.DEFAULT_LAST_FRACTION)
  _add_table_flags(p)

  p = sub.add_parser('table3', help='DMLab-30 test scores vs Table 3/B.1.')
  p.add_argument('runs', nargs='+', metavar='[NAME=]LOGDIR')
  _add_table_flags(p)

  p = sub.add_parser('table4', help='Atari-57 scores vs Table 4/C.1.')
  p.add_argument('runs', nargs='+', metavar='[NAME=]DIR',
                 help='A suite root with one <Game>/ logdir per game, or a '
                 'multi-task logdir.')
  p.add_argument('--num-bootstrap', type=int, default=2000)
  p.add_argument('--seed', type=int, default=0)
  _add_table_flags(p)

  p = sub.add_parser('curves', help='Learning-curve PNGs from episodes.jsonl.')
  p.add_argument('runs', nargs='+', metavar='[NAME=]LOGDIR')
  p.add_argument('--out-dir', default='.',
                 help='One <NAME>.png per run is written here.')
  p.add_argument('--combined', default=None,
                 help='Instead, draw all runs into this one PNG.')
  p.add_argument('--window', type=int, default=plots.DEFAULT_WINDOW,
                 help='Moving-average window in episodes.')
  return parser


def _run(args):
  runs = [tables.parse_run_spec(spec) for spec in getattr(args, 'runs', [])]
  if args.command == 'curves':
    jobs = ([(args.combined, runs)] if args.combined else
            [(os.path.join(args.out_dir, name + '.png'), [(name, logdir)])
             for name, logdir in runs])
    for path, job_runs in jobs:
      written = plots.write_learning_curves(job_runs, path, args.window)
      print('%s: %d curves' % (written['path'], written['num_lines']))
    return

  if args.command == 'table1':
    machine = tables.machine_description(args.cpus, args.gpus, args.machine)
    result = tables.table1(runs, machine, args.warmup_fraction, args.strict)
  elif args.command == 'table2':
    result = tables.table2(args.root, last_fraction=args.last_fraction,
                           strict=args.strict)
  elif args.command == 'table3':
    result = tables.table3(runs, strict=args.strict)
  else:
    result = tables.table4(runs, strict=args.strict,
                           num_bootstrap=args.num_bootstrap, seed=args.seed)
  markdown = tables.render_markdown(result)
  sys.stdout.write(markdown)
  if args.out:
    run_dir.write_text_atomic(args.out, markdown)
  if args.csv_dir:
    for table in result:
      run_dir.write_text_atomic(
          os.path.join(args.csv_dir, table.name + '.csv'),
          tables.render_csv(table))


def main(argv=None):
  args = build_parser().parse_args(argv)
  try:
    _run(args)
  except ValueError as e:
    # Bad input and --strict failures: a one-line message, not a traceback.
    print('error: %s' % e, file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())
