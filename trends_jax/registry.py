"""Name → constructor tables, so that configs pick components by name (models, losses, optimizers…)."""

import importlib
from collections.abc import Callable
from typing import Any

from trends_jax.errors import UserError


class Registry:
  """A dict from name to constructor that reports unknown names with the list of known ones."""

  def __init__(self, kind: str, config_field: str):
    self.kind = kind
    self.config_field = config_field
    self._entries: dict[str, Callable[..., Any]] = {}

  def register(self, name: str, value: Callable[..., Any] | str | None = None):
    """Registers `value` under `name`; used bare or as a decorator. A value "package.module:attr"
    is imported when the name is first asked for, for entries whose module imports the registry's."""
    def add(v):
      if name in self._entries:
        raise ValueError(f"{self.kind} {name!r} is registered twice")
      self._entries[name] = v
      return v
    return add if value is None else add(value)

  def get(self, name: str) -> Callable[..., Any]:
    if name not in self._entries:
      raise UserError(
          f"unknown {self.kind} {name!r} in {self.config_field}; known: {', '.join(self.names())}")
    value = self._entries[name]
    if isinstance(value, str):
      module, attr = value.split(":")
      value = self._entries[name] = getattr(importlib.import_module(module), attr)
    return value

  def names(self) -> list[str]:
    return sorted(self._entries)

  def __contains__(self, name: str) -> bool:
    return name in self._entries
