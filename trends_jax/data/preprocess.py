"""Preprocessing as a string of registered ops, big_vision style: "value_range(0, 1)|flatten".

Each op maps an example dict to an example dict. Ops are plain functions bound with
functools.partial, so the pipeline pickles into grain worker processes.
"""

import ast
import functools

import grain
import numpy as np

from trends_jax.errors import UserError
from trends_jax.registry import Registry

OPS = Registry("preprocessing op", "dataset.preprocess")


def _value_range(example, lo, hi, key, in_max):
  x = np.asarray(example[key], np.float32)
  return {**example, key: lo + x * ((hi - lo) / in_max)}


@OPS.register("value_range")
def value_range(lo: float = 0.0, hi: float = 1.0, key: str = "image", in_max: float = 255.0):
  """Maps [0, in_max] to [lo, hi] as float32."""
  return functools.partial(_value_range, lo=lo, hi=hi, key=key, in_max=in_max)


def _standardize(example, mean, std, key):
  x = np.asarray(example[key], np.float32)
  return {**example, key: (x - np.float32(mean)) / np.float32(std)}


@OPS.register("standardize")
def standardize(mean, std, key: str = "image"):
  """(x - mean) / std, per channel when given sequences."""
  return functools.partial(_standardize, mean=np.asarray(mean, np.float32),
                           std=np.asarray(std, np.float32), key=key)


def _flatten(example, key):
  return {**example, key: np.reshape(example[key], (-1,))}


@OPS.register("flatten")
def flatten(key: str = "image"):
  return functools.partial(_flatten, key=key)


class Apply(grain.transforms.Map):
  """One preprocessing function as a grain transform."""

  def __init__(self, fn):
    self.fn = fn

  def map(self, example):
    return self.fn(example)


def _literal(node: ast.AST, spec: str):
  try:
    return ast.literal_eval(node)
  except ValueError:
    raise UserError(f"dataset.preprocess {spec!r}: arguments must be literals "
                    f"(numbers, strings, tuples), got {ast.unparse(node)!r}") from None


def parse(spec: str) -> list:
  """"op(args)|op(args)" → list of example → example functions."""
  fns = []
  for part in filter(None, (p.strip() for p in spec.split("|"))):
    try:
      call = ast.parse(part if "(" in part else part + "()", mode="eval").body
    except SyntaxError:
      raise UserError(f"dataset.preprocess: cannot parse {part!r}; write ops as name(arg, key=value) "
                      "joined by '|'") from None
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
      raise UserError(f"dataset.preprocess: {part!r} is not an op call like value_range(0, 1)")
    op = OPS.get(call.func.id)
    args = [_literal(a, part) for a in call.args]
    kwargs = {k.arg: _literal(k.value, part) for k in call.keywords}
    try:
      fns.append(op(*args, **kwargs))
    except TypeError as e:
      raise UserError(f"dataset.preprocess: {part!r}: {e}") from None
  return fns
