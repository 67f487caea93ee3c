"""Table 3 / Table 4 report a PBT population root by its best member."""

import os

import pytest

import dmlab30
import paper_helpers

from scalable_agent_tf2.paper import population_runs
from scalable_agent_tf2.paper import tables
from scalable_agent_tf2.pbt import population


def make_population(tmp_path, fitnesses, tested=()):
  root = str(tmp_path / 'pop')
  population.write_settings(root, population.Settings(
      population=len(fitnesses)))
  for index, fitness in enumerate(fitnesses):
    logdir = population.member_logdir(root, index)
    os.makedirs(logdir)
    if fitness is not None:
      population.publish_status(logdir, dict(member=index, fitness=fitness))
    if index in tested:
      with open(os.path.join(logdir, 'test_results.json'), 'w') as f:
        f.write('{}')
  return root


def test_best_member_is_the_fittest_tested_one(tmp_path):
  root = make_population(tmp_path, [10.0, 30.0, 20.0, None])
  assert population_runs.best_member(root) == (1, 30.0)
  root = make_population(tmp_path / 'b', [10.0, 30.0, 20.0], tested=(2,))
  assert population_runs.best_member(root) == (2, 20.0)


def test_resolve_runs_names_the_row_pbt_and_keeps_other_runs(tmp_path):
  root = make_population(tmp_path, [1.0, 5.0])
  runs, notes = population_runs.resolve_runs(
      [tables.parse_run_spec(root), ('ours', '/some/run'),
       tables.parse_run_spec(f'mine={root}')])
  assert runs == [('PBT', population.member_logdir(root, 1)),
                  ('ours', '/some/run'),
                  ('mine', population.member_logdir(root, 1))]
  assert len(notes) == 2 and 'member_1' in notes[0]


def test_a_population_without_fitness_is_an_error(tmp_path):
  root = make_population(tmp_path, [None, None])
  with pytest.raises(ValueError, match='no published fitness'):
    population_runs.resolve_runs([('PBT', root)])


def test_table3_has_a_pbt_row_for_a_population_root(tmp_path):
  root = make_population(tmp_path, [1.0, 5.0])
  paper_helpers.write_test_results(
      population.member_logdir(root, 1), 'dmlab',
      {level: [10.0] for level in dmlab30.LEVEL_MAPPING.values()})
  result = tables.table3([tables.parse_run_spec(root)])
  text = tables.render_markdown(result)
  assert 'PBT' in text and 'member_1' in text
