"""Preprocessing as a string of registered ops, big_vision style: "inception_crop(224)|flip|value_range(-1, 1)".

Each op maps an example dict to an example dict. Random ops also take a numpy Generator that
grain derives from (seed, position in the epoch-ordered stream), so augmentation is reproducible
and resumes exactly. Ops are module-level functions bound with functools.partial, so pipelines
pickle into grain worker processes. Image ops live in `image_ops`, text ops in `text_ops` and
`text_features`; they register into `op_registry`, a leaf, which this module reads. Ops that fit
something on the training split (a vocabulary, document frequencies) are registered with
`register_fitted`: `parse` hands them the data source being read, from which they find that
split (`fitted`).
"""

import ast
import functools

import grain
import numpy as np

# Importing the op families fills the registry.
from trends_jax.data import image_ops, text_features, text_ops  # noqa: F401
from trends_jax.data.op_registry import FITTED_OPS, OPS, RANDOM_OPS, register
from trends_jax.errors import UserError


def _value_range(example, lo, hi, key, in_max):
  x = np.asarray(example[key], np.float32)
  return {**example, key: lo + x * ((hi - lo) / in_max)}


@register("value_range")
def value_range(lo: float = 0.0, hi: float = 1.0, key: str = "image", in_max: float = 255.0):
  """Maps [0, in_max] to [lo, hi] as float32."""
  return functools.partial(_value_range, lo=lo, hi=hi, key=key, in_max=in_max)


def _standardize(example, mean, std, key):
  x = np.asarray(example[key], np.float32)
  return {**example, key: (x - np.float32(mean)) / np.float32(std)}


@register("standardize")
def standardize(mean, std, key: str = "image"):
  """(x - mean) / std, per channel when given sequences."""
  return functools.partial(_standardize, mean=np.asarray(mean, np.float32),
                           std=np.asarray(std, np.float32), key=key)


def _flatten(example, key):
  return {**example, key: np.reshape(example[key], (-1,))}


@register("flatten")
def flatten(key: str = "image"):
  return functools.partial(_flatten, key=key)


class Apply(grain.transforms.Map):
  """One deterministic preprocessing function as a grain transform."""

  def __init__(self, fn):
    self.fn = fn

  def map(self, example):
    return self.fn(example)


class RandomApply(grain.transforms.RandomMap):
  """One random preprocessing function; grain supplies a per-record seeded Generator."""

  def __init__(self, fn):
    self.fn = fn

  def random_map(self, example, rng: np.random.Generator):
    return self.fn(example, rng)


def apply_all(example, transforms, rng: np.random.Generator | None = None):
  """Runs grain transforms on one example as grain does: every random one draws from `rng`, in order."""
  for t in transforms:
    if isinstance(t, RandomApply):
      rng = rng or np.random.default_rng(0)
      example = t.random_map(example, rng)
    else:
      example = t.map(example)
  return example


def is_random(transforms) -> bool:
  return any(isinstance(t, RandomApply) for t in transforms)


def _literal(node: ast.AST, spec: str):
  try:
    return ast.literal_eval(node)
  except ValueError:
    raise UserError(f"dataset.preprocess {spec!r}: arguments must be literals "
                    f"(numbers, strings, tuples), got {ast.unparse(node)!r}") from None


def parse(spec: str, source=None) -> list:
  """"op(args)|op(args)" → list of grain transforms.

  `source`: the data source the transforms will read (any split of its dataset), for the ops that
  fit on the dataset's training split; None where there is none (a spec checked on its own).
  """
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
    if call.func.id in FITTED_OPS:
      kwargs["source"] = source
    try:
      fn = op(*args, **kwargs)
    except (TypeError, ValueError) as e:
      raise UserError(f"dataset.preprocess: {part!r}: {e}") from None
    fns.append(RandomApply(fn) if call.func.id in RANDOM_OPS else Apply(fn))
  return fns
