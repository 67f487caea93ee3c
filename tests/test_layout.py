"""The house rules of the layout (README, "Layout"), checked on the source.

- The core (`scalable_agent_tf2/`) never imports a suite: suites plug in
  through `scalable_agent_tf2.suites`, which names them as strings.
- Small rooms: no module over 400 lines, no function over 60.
- Every citation can be followed by a reader of the repository: no path
  outside it, no issue-tracker numbers.
"""

import ast
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ('scalable_agent_tf2', 'atari57', 'dmlab30', 'bench')
SUITES = ('atari57', 'dmlab30')
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Citations a reader of the repository cannot follow.
OUTSIDE = re.compile(r'REFERENCE\s*§|DISTRIBUTED_NOTES|\.\./shared|'
                     r'[Ii]ssue #?\d+\b|GitHub issue')


def _python_files(*roots):
  for root in roots:
    for folder, _, files in os.walk(os.path.join(REPO, root)):
      for name in sorted(files):
        if name.endswith('.py'):
          yield os.path.join(folder, name)


def _relative(path):
  return os.path.relpath(path, REPO)


def _imported_modules(tree):
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield node.lineno, alias.name
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
      yield node.lineno, node.module or ''


def test_the_core_never_imports_a_suite():
  offenders = []
  for path in _python_files('scalable_agent_tf2'):
    tree = ast.parse(open(path, encoding='utf-8').read())
    for line, module in _imported_modules(tree):
      if module.split('.')[0] in SUITES:
        offenders.append(f'{_relative(path)}:{line} imports {module}')
  assert not offenders, offenders


@pytest.mark.parametrize('root', PACKAGES)
def test_modules_and_functions_are_small(root):
  too_big = []
  for path in _python_files(root):
    source = open(path, encoding='utf-8').read()
    if source.count('\n') > MAX_MODULE_LINES:
      too_big.append(f'{_relative(path)}: {source.count(chr(10))} lines')
    for node in ast.walk(ast.parse(source)):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        length = node.end_lineno - node.lineno + 1
        if length > MAX_FUNCTION_LINES:
          too_big.append(f'{_relative(path)}:{node.lineno} {node.name}: '
                         f'{length} lines')
  assert not too_big, too_big


def test_citations_stay_inside_the_repository():
  roots = PACKAGES + ('tests',)
  offenders = []
  for path in _python_files(*roots):
    if os.path.abspath(path) == os.path.abspath(__file__):
      continue
    for number, line in enumerate(open(path, encoding='utf-8'), 1):
      if OUTSIDE.search(line):
        offenders.append(f'{_relative(path)}:{number}: {line.strip()[:70]}')
  for name in ('README.md', 'Makefile'):
    for number, line in enumerate(open(os.path.join(REPO, name),
                                       encoding='utf-8'), 1):
      if OUTSIDE.search(line):
        offenders.append(f'{name}:{number}: {line.strip()[:70]}')
  assert not offenders, offenders


def test_cited_doc_sections_exist():
  # "docs/<page>.md §N" must name a page of docs/ that has a section N.
  cited = re.compile(r'docs/([\w-]+\.md) §(\d+)')
  headings = {}
  missing = []
  for path in _python_files(*(PACKAGES + ('tests',))):
    for number, line in enumerate(open(path, encoding='utf-8'), 1):
      for page, section in cited.findall(line):
        if page not in headings:
          doc = os.path.join(REPO, 'docs', page)
          text = open(doc, encoding='utf-8').read() if os.path.exists(
              doc) else ''
          headings[page] = set(re.findall(r'^#+ §?(\d+)[. ]', text, re.M))
        if section not in headings[page]:
          missing.append(f'{_relative(path)}:{number}: docs/{page} §{section}')
  assert not missing, missing
