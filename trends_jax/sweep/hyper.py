"""The pieces a config file's `get_sweep(hyper)` calls (`hyper` is this module):

    def get_sweep(hyper):
      return hyper.product([
          hyper.sweep("optimizer.name", ["sgd", "momentum", "adam"]),
          hyper.sweep("optimizer.learning_rate", [0.3, 0.1, 0.03, 0.01]),
      ])

Every piece returns a list of trials, each a dict {config field: value}; `parse_command_line`
reads the same from experiments/sweep.py's --sweep. `quasirandom` (trends_jax/sweep/search.py) spreads
a trial budget over `Uniform`, `LogUniform` and `Choice` ranges; `seeds` repeats every trial over
several values of `config.seed`.
"""

import builtins
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from trends_jax.errors import UserError
from trends_jax.sweep.search import Choice, LogUniform, Uniform, quasirandom  # noqa: F401 (pieces)

Trial = dict[str, Any]


def sweep(field: str, values: Iterable[Any]) -> list[Trial]:
  return [{field: v} for v in values]


def product(sweeps: list[list[Trial]]) -> list[Trial]:
  """Every combination, the last sweep varying fastest."""
  trials = [{}]
  for s in sweeps:
    trials = [{**t, **u} for t in trials for u in s]
  return trials


def zip(sweeps: list[list[Trial]]) -> list[Trial]:  # noqa: A001 (hyper.zip, as in big_vision)
  """The i-th trial of every sweep together."""
  lengths = {len(s) for s in sweeps}
  if len(lengths) > 1:
    raise UserError(f"hyper.zip needs sweeps of equal length, got lengths {sorted(lengths)}")
  return [{k: v for t in group for k, v in t.items()} for group in builtins.zip(*sweeps)]


def choice(field: str, values: list[Any], num: int, seed: int = 0) -> list[Trial]:
  rng = np.random.default_rng(seed)
  return [{field: values[int(i)]} for i in rng.integers(0, len(values), num)]


def uniform(field: str, low: float, high: float, num: int, seed: int = 0) -> list[Trial]:
  return [{field: float(v)} for v in np.random.default_rng(seed).uniform(low, high, num)]


def loguniform(field: str, low: float, high: float, num: int, seed: int = 0) -> list[Trial]:
  if not 0 < low < high:
    raise UserError(f"hyper.loguniform needs 0 < low < high, got {low}, {high}")
  draws = np.random.default_rng(seed).uniform(math.log(low), math.log(high), num)
  return [{field: float(math.exp(v))} for v in draws]


def logspace(field: str, low: float, high: float, num: int) -> list[Trial]:
  """A log-spaced grid from low to high inclusive, e.g. learning rates."""
  return [{field: float(v)} for v in np.geomspace(low, high, num)]


def parse_command_line(spec: str) -> list[Trial]:
  """"a.b=1,2;c=x,y" → the product of the listed values (numbers parsed, the rest strings)."""
  sweeps = []
  for part in filter(None, (p.strip() for p in spec.split(";"))):
    field, sep, values = part.partition("=")
    if not sep or not values:
      raise UserError(f"--sweep part {part!r} must look like field=value1,value2")
    sweeps.append(sweep(field.strip(), [literal(v.strip()) for v in values.split(",")]))
  return product(sweeps)


def seeds(trials: list[Trial], num: int, first: int = 0) -> list[Trial]:
  """Every trial over `num` seeds (config.seed = first, first + 1, …), the seed varying fastest."""
  if num < 1:
    raise UserError(f"--seeds must be at least 1, got {num}")
  return product([trials, sweep("seed", range(first, first + num))])


def literal(text: str):
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return {"true": True, "false": False}.get(text.lower(), text)
