"""Gradient size layer by layer: how much of the error signal reaches each layer of a deep network.

    grads = jax.grad(loss)(params)
    gradient_flow.layer_norms(grads, order=params, leaves=("kernel",))
    # [("dense0", 3e-9), ("dense1", 1e-8), …, ("head", 0.4)]

A layer is a module that owns parameters: the path of a parameter without its own name
("dense3", "ResNetBlock_2/Conv_1"). Vanishing gradients show as norms falling by orders of
magnitude from the last layer to the first, exploding ones as norms rising.
"""

import re
from collections.abc import Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp


def _leaves(tree: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
  """(path, leaf) pairs in the tree's own dict order (jax.tree functions would sort the keys)."""
  if isinstance(tree, Mapping):
    for key, sub in tree.items():
      yield from _leaves(sub, prefix + (str(key),))
  else:
    yield prefix, tree


def _natural(path: tuple[str, ...]) -> tuple:
  """Sort key that puts dense2 before dense10."""
  return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", "/".join(path)))


def layer_norms(grads: Any, order: Any = None, leaves: tuple[str, ...] | None = None) -> list[tuple[str, float]]:
  """ℓ2 norm of each layer's gradient, as (layer name, norm) in network order.

  `grads` is a nested dict of arrays (flax's params layout). A layer's norm is over all its
  parameters, or only those named in `leaves` (e.g. ("kernel",) to leave out biases and
  BatchNorm scales). The order is that of `order`, a tree with the same paths whose dicts are in
  network order, such as the params straight from `model.init` (gradients come back from
  jax.grad with sorted keys); without it, names in natural order (dense2 before dense10).
  """
  values = dict(_leaves(grads))
  paths = [p for p, _ in _leaves(order)] if order is not None else sorted(values, key=_natural)
  squares: dict[str, jax.Array] = {}
  for path in paths:
    if leaves is None or path[-1] in leaves:
      layer = "/".join(path[:-1])
      squares[layer] = squares.get(layer, 0.0) + jnp.sum(jnp.square(values[path].astype(jnp.float32)))
  norms = jax.device_get({layer: jnp.sqrt(s) for layer, s in squares.items()})
  return [(layer, float(norms[layer])) for layer in squares]
