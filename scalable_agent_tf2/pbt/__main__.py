"""`python -m scalable_agent_tf2.pbt`: train a population, draw it.

  python -m scalable_agent_tf2.pbt train --root=logs/pbt/Pong --population=4
      --env=atari --level_name=Pong --total_environment_frames=40000000
      [--parallel=2] [--extra="--num_actors=2 --pbt_burn_in_frames=0"]
      [--burn_in_frames=...] [--ready_episodes=...] [--threshold=5]
      [--hyperparameters=auto] [--fitness_cap=0] [--members=0,1]
  python -m scalable_agent_tf2.pbt plot --root=logs/pbt/Pong

(`make train-pbt` calls `train`; docs/pbt.md.) `member` is internal: the
supervisor of one member's experiment.
"""

import argparse
import sys
from typing import Optional, Sequence

from scalable_agent_tf2 import config as config_lib
from scalable_agent_tf2.pbt import driver
from scalable_agent_tf2.pbt import population

EXIT_USAGE = 2


def _train_parser(sub) -> None:
  p = sub.add_parser('train', help='Train (or continue) a population.')
  p.add_argument('--root', required=True, help='Population root.')
  p.add_argument('--population', type=int, required=True, help='Members M.')
  p.add_argument('--env', default='atari', help='Suite (--env).')
  p.add_argument('--level_name', required=True, help='Level of every member.')
  p.add_argument('--total_environment_frames', type=int, required=True,
                 help='Frame budget of each member (its LR decay).')
  p.add_argument('--extra', default='', help='Flags for every member; '
                 '--pbt_<option>=... tokens set this driver\'s <option>.')
  p.add_argument('--parallel', type=int, default=1,
                 help='Members running at once.')
  p.add_argument('--seed', type=int, default=1, help='Member i: seed + i; '
                 'also seeds the sampling.')
  p.add_argument('--burn_in_frames', type=int,
                 default=population.PAPER_BURN_IN_FRAMES,
                 help='Own frames before the first exploit (paper: 20M).')
  p.add_argument('--ready_episodes', type=int,
                 default=population.PAPER_READY_EPISODES,
                 help='Episodes between exploit steps (paper: 5000).')
  p.add_argument('--threshold', type=float,
                 default=population.PAPER_THRESHOLD,
                 help='Human-normalised points a peer must be better by '
                 '(paper: 5). Negative: copy even from a worse peer (only '
                 'to exercise the exploit, docs/pbt.md).')
  p.add_argument('--hyperparameters', default='auto',
                 help='Comma list to evolve; auto: learning_rate, '
                 'entropy_cost, epsilon, and grad_norm_clip when clipping.')
  p.add_argument('--fitness_cap', type=float, default=0.0,
                 help='Cap of each level\'s score in the fitness (DMLab-30: '
                 '100); 0 = none.')
  p.add_argument('--max_restarts', type=int, default=3,
                 help='Restarts of a dying member in a row.')
  p.add_argument('--members', default='',
                 help='Only these members here (e.g. "0,1"); default all.')
  p.add_argument('--dry_run', action='store_true', help='Print the plan.')
  p.add_argument('--quiet', action='store_true', help='Do not echo output.')


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m scalable_agent_tf2.pbt',
                                   description=__doc__.split('\n')[0])
  sub = parser.add_subparsers(dest='command', required=True)
  _train_parser(sub)
  p = sub.add_parser('plot', help='Draw <root>/pbt.png.')
  p.add_argument('--root', required=True)
  p = sub.add_parser('member', help='(internal) supervise one member.')
  p.add_argument('--max_restarts', type=int, default=3)
  p.add_argument('argv', nargs=argparse.REMAINDER)
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  if args.command == 'member':
    command = args.argv[1:] if args.argv[:1] == ['--'] else args.argv
    return driver.run_member(command, args.max_restarts)
  try:
    if args.command == 'plot':
      from scalable_agent_tf2.pbt import plot  # pylint: disable=g-import-not-at-top
      print(plot.write_plot(args.root))
      return 0
    fields = {k: v for k, v in vars(args).items()
              if k not in ('command', 'quiet')}
    return driver.run_population(driver.Spec(echo=not args.quiet, **fields))
  except (config_lib.ConfigError, population.PopulationError,
          ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return EXIT_USAGE


if __name__ == '__main__':
  sys.exit(main())
