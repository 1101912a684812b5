"""Linear and logistic regression, polynomial features and the multilayer perceptron."""

import functools
import itertools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

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
  """Each input feature raised to the powers 1..degree, then one Dense layer.

  `cross_terms=True` uses every monomial of total degree 1..degree instead (x1·x2, x1²·x2, …),
  the lecture's pairwise products, without which no boundary that depends on x1·x2 is linear in
  the features. There are C(n + degree, degree) − 1 of them for n features.
  """
  num_classes: int = 1
  degree: int = 2
  cross_terms: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = jnp.asarray(x, self.dtype).reshape((x.shape[0], -1))
    if self.cross_terms:
      monomials = [np.asarray(list(itertools.combinations_with_replacement(range(x.shape[1]), p)))
                   for p in range(1, self.degree + 1)]  # Rows of feature indices to multiply.
      features = jnp.concatenate([jnp.prod(x[:, m], axis=-1) for m in monomials], axis=-1)
    else:
      features = jnp.concatenate([x ** p for p in range(1, self.degree + 1)], axis=-1)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(features)


register("mlp", MLP)
register("linear", functools.partial(MLP, depth=0, num_classes=1))
register("logistic", functools.partial(MLP, depth=0))
register("polynomial", PolynomialRegression)
