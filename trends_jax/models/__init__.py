"""Model zoo: every architecture is a pure linen Module registered by name.

    model = trends_jax.models.create('cnn', num_classes=10)
    variables = model.init(rng, images, train=False)
    logits = model.apply(variables, images, train=False)
    model, variables = trends_jax.models.load_pretrained('resnet50', 'resnet50-0676ba61.pth')

Every model takes `num_classes` and a compute `dtype` (parameters stay float32) and is called as
`model(x, train=...)`. Models with BatchNorm have a `norm_axis_name` field that the pmap trainer
sets so that batch statistics are taken over the global batch.
"""

import dataclasses
import functools
from collections.abc import Mapping

import flax.linen as nn
import jax

from trends_jax.errors import UserError
from trends_jax.registry import Registry

MODELS = Registry("model", "model.name")
register = MODELS.register
names = MODELS.names


def _fields(constructor) -> set[str]:
  while isinstance(constructor, functools.partial):
    constructor = constructor.func
  return {f.name for f in dataclasses.fields(constructor)} - {"parent", "name"}


def create(name: str, **kwargs) -> nn.Module:
  """Returns the registered model `name` built with `kwargs`; bad names fail with one line."""
  constructor = MODELS.get(name)
  unknown = sorted(set(kwargs) - _fields(constructor))
  if unknown:
    raise UserError(
        f"model {name!r} has no field(s) {', '.join(unknown)}; "
        f"its fields: {', '.join(sorted(_fields(constructor)))}")
  return constructor(**kwargs)


# Importing the families fills the registry.
from trends_jax.models import alexnet, char_cnn, cnn, googlenet, mlp, recurrent, resnet, vgg  # noqa: E402,F401

# Published weights; torch and safetensors are imported only when a file of theirs is read.
from trends_jax.models.pretrained import load_pretrained  # noqa: E402,F401

# For programs that run once (an initialization): XLA's backend optimizations would take most of
# their compile time (one random initializer per parameter) and save nothing.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _names(tree):
  return {k: _names(v) for k, v in tree.items()} if isinstance(tree, Mapping) else None


def initialize(model: nn.Module, example, seed: int) -> tuple[dict, dict]:
  """model.init compiled with FAST_COMPILE, and the parameter names in the order the network
  creates them (a tree of None), which jit's output loses: it comes back with sorted keys."""
  order = {}

  def init(key):
    variables = model.init(key, example, train=False)
    order.update(_names(variables["params"]))  # Flax adds parameters as its modules run.
    return variables

  return jax.jit(init, compiler_options=FAST_COMPILE)(jax.random.PRNGKey(seed)), order


def init_shapes(model: nn.Module, example) -> tuple[dict, list[str]]:
  """The variables' ShapeDtypeStructs (nothing is computed) and the "/"-joined parameter paths in
  the order the network creates them, which come back sorted otherwise; the last is the output layer's."""
  order = {}

  def init(key):
    variables = model.init({"params": key, "dropout": key}, example, train=False)
    order.update(_names(variables["params"]))
    return variables

  shapes = jax.eval_shape(init, jax.random.PRNGKey(0))
  paths = []

  def walk(tree, prefix):
    for name, child in tree.items():
      if isinstance(child, Mapping):
        walk(child, f"{prefix}{name}/")
      else:
        paths.append(f"{prefix}{name}")

  walk(order, "")
  return shapes, paths
