"""Test-only: slows one method of the project in every child process.

On PYTHONPATH (tests/test_bottleneck_e2e.py) with
SLOW_STAGE=<module>:<Class>.<method>:<seconds>, the method sleeps that long
before each call once its module is imported; other modules and processes
that never import it (the TF-free environment workers) are untouched.
"""

import importlib.abc
import importlib.util
import os
import sys
import time

_SPEC = os.environ.get('SLOW_STAGE')


def _slow(function, secs):
  def slowed(*args, **kwargs):
    time.sleep(secs)
    return function(*args, **kwargs)
  return slowed


class _Patcher(importlib.abc.MetaPathFinder, importlib.abc.Loader):
  """Imports the target module normally, then wraps the method."""

  def __init__(self, module, attribute, secs):
    self._module, self._attribute, self._secs = module, attribute, secs
    self._spec = None

  def find_spec(self, fullname, path, target=None):
    if fullname != self._module or self._spec is not None:
      return None
    sys.meta_path.remove(self)
    try:
      self._spec = importlib.util.find_spec(fullname)
    finally:
      sys.meta_path.insert(0, self)
    self._inner = self._spec.loader
    self._spec.loader = self
    return self._spec

  def create_module(self, spec):
    return self._inner.create_module(spec)

  def exec_module(self, module):
    self._inner.exec_module(module)
    class_name, method = self._attribute.split('.')
    cls = getattr(module, class_name)
    setattr(cls, method, _slow(getattr(cls, method), self._secs))


if _SPEC:
  _module, _attribute, _secs = _SPEC.split(':')
  sys.meta_path.insert(0, _Patcher(_module, _attribute, float(_secs)))
