"""Quasi-random search (scrambled Halton, scipy.stats.qmc): a trial budget spread over uniform,
log-uniform and discrete ranges, as AlgoPerf's and init2winit's tuning do.

    hyper.quasirandom({"optimizer.learning_rate": hyper.LogUniform(1e-4, 1e-1),
                       "optimizer.momentum": hyper.Uniform(0.8, 0.99)}, num=16, seed=0)

The command line's --search reads the same: "optimizer.learning_rate=loguniform(1e-4,1e-1);
optimizer.momentum=uniform(0.8,0.99);optimizer.name=choice(sgd,adam)".
"""

import dataclasses
import math
import re
from typing import Any

import numpy as np
from scipy.stats import qmc

from trends_jax.errors import UserError


@dataclasses.dataclass(frozen=True)
class Uniform:
  low: float
  high: float

  def __post_init__(self):
    if not self.low < self.high:
      raise UserError(f"uniform({self.low}, {self.high}) needs low < high")

  def from_unit(self, u: np.ndarray) -> list:
    return [float(v) for v in qmc.scale(u[:, None], self.low, self.high)[:, 0]]


@dataclasses.dataclass(frozen=True)
class LogUniform:
  low: float
  high: float

  def __post_init__(self):
    if not 0 < self.low < self.high:
      raise UserError(f"loguniform({self.low}, {self.high}) needs 0 < low < high")

  def from_unit(self, u: np.ndarray) -> list:
    logs = qmc.scale(u[:, None], math.log(self.low), math.log(self.high))[:, 0]
    return [float(v) for v in np.exp(logs)]


@dataclasses.dataclass(frozen=True)
class Choice:
  values: tuple

  def __post_init__(self):
    if not self.values:
      raise UserError("choice() needs at least one value")

  def from_unit(self, u: np.ndarray) -> list:
    # Equal slices of [0, 1): the sequence's even spread becomes an even share of each value.
    return [self.values[i] for i in np.minimum((u * len(self.values)).astype(int), len(self.values) - 1)]


DISTRIBUTIONS = {"uniform": Uniform, "loguniform": LogUniform, "choice": Choice}


def quasirandom(space: dict[str, Any], num: int, seed: int = 0) -> list[dict[str, Any]]:
  """`num` trials from a scrambled Halton sequence over `space` {field: Uniform|LogUniform|Choice};
  the same seed gives the same trials."""
  if num < 1:
    raise UserError(f"a quasi-random search needs a budget of at least 1 trial, got {num}")
  if not space:
    raise UserError("a quasi-random search needs at least one field to search")
  fields = sorted(space)
  points = qmc.Halton(d=len(fields), scramble=True, seed=seed).random(num)
  columns = {f: space[f].from_unit(points[:, i]) for i, f in enumerate(fields)}
  return [{f: columns[f][j] for f in fields} for j in range(num)]


_PART = re.compile(r"^\s*([\w.]+)\s*=\s*(\w+)\s*\((.*)\)\s*$")


def parse_command_line(spec: str) -> dict[str, Any]:
  """"a.b=loguniform(1e-4,1e-1);c=choice(x,y)" → the search space {field: distribution}."""
  from trends_jax.sweep.hyper import literal
  space = {}
  for part in filter(None, (p.strip() for p in spec.split(";"))):
    match = _PART.match(part)
    if not match:
      raise UserError(f"--search part {part!r} must look like field=loguniform(low,high), field=uniform(low,high) "
                      "or field=choice(a,b)")
    field, kind, args = match.groups()
    if kind not in DISTRIBUTIONS:
      raise UserError(f"--search part {part!r}: unknown range {kind!r}; use one of {', '.join(DISTRIBUTIONS)}")
    values = [literal(a.strip()) for a in args.split(",") if a.strip()]
    if kind == "choice":
      space[field] = Choice(tuple(values))
      continue
    if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
      raise UserError(f"--search part {part!r}: {kind} takes two numbers, low and high")
    try:
      space[field] = DISTRIBUTIONS[kind](float(values[0]), float(values[1]))
    except UserError as e:
      raise UserError(f"--search part {part!r}: {e}") from None
  if not space:
    raise UserError("--search is empty; e.g. --search='optimizer.learning_rate=loguniform(1e-4,1e-1)'")
  return space
