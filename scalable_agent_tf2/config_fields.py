"""What a Config field is made of, apart from the Config itself.

`ConfigError` and the field helpers live here so that the modules `Config`
relies on (the suite registry, the run directory, the checks behind
`validate()`) can raise and read them without importing `config`, which
imports them: one direction of import, no cycle.
"""

import dataclasses
from typing import Callable, Optional, Sequence, Union


class ConfigError(ValueError):
  """A flag value or combination that cannot run."""


def make_field(default, help_text: str,
               enum: Union[Sequence[str], Callable[[], Sequence[str]],
                           None] = None):
  """A Config field with its flag help and, for an enum flag, its values (or
  a function returning them, when they come from the suite registry)."""
  metadata = {'help': help_text}
  if enum is not None:
    metadata['enum'] = enum
  return dataclasses.field(default=default, metadata=metadata)


def field_choices(field: dataclasses.Field) -> Optional[tuple]:
  """The valid values of an enum field (None for a free-valued one)."""
  enum = field.metadata.get('enum')
  return tuple(enum() if callable(enum) else enum) if enum is not None else None
