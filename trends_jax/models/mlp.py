"""Linear and logistic regression, polynomial features and the multilayer perceptron."""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from trends_jax.models import register

ACTIVATIONS = {"sigmoid": nn.sigmoid, "tanh": nn.tanh, "relu": nn.relu}


class MLP(nn.Module):
  """Flatten → `depth` × (Dense → [BatchNorm] → activation → [Dropout]) → Dense(num_classes).

  `depth=0` is linear (or softmax) regression. `residual=True` adds the input of each hidden
  layer to its output where the widths match, the fix for vanishing gradients in deep stacks.
  """
  num_classes: int = 10
  depth: int = 2
  width: int = 256
  activation: str = "relu"
  dropout_rate: float | tuple[float, ...] = 0.0
  batch_norm: bool = False
  residual: bool = False
  dtype: Any = jnp.float32
  norm_axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.activation not in ACTIVATIONS:
      raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
    rates = (self.dropout_rate if isinstance(self.dropout_rate, (tuple, list))
             else (self.dropout_rate,) * self.depth)
    x = jnp.asarray(x, self.dtype).reshape((x.shape[0], -1))
    for i in range(self.depth):
      h = nn.Dense(self.width, dtype=self.dtype, name=f"dense{i}")(x)
      if self.batch_norm:
        h = nn.BatchNorm(use_running_average=not train, axis_name=self.norm_axis_name,
                         dtype=self.dtype, name=f"bn{i}")(h)
      h = ACTIVATIONS[self.activation](h)
      if rates[i]:
        h = nn.Dropout(rates[i], deterministic=not train)(h)
      x = x + h if self.residual and x.shape == h.shape else h
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x)


class PolynomialRegression(nn.Module):
  """Each input feature raised to the powers 1..degree, then one Dense layer."""
  num_classes: int = 1
  degree: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = jnp.asarray(x, self.dtype).reshape((x.shape[0], -1))
    features = jnp.concatenate([x ** p for p in range(1, self.degree + 1)], axis=-1)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(features)


register("mlp", MLP)
register("linear", functools.partial(MLP, depth=0, num_classes=1))
register("logistic", functools.partial(MLP, depth=0))
register("polynomial", PolynomialRegression)
