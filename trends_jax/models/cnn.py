"""LeNet-style convolutional network: (conv → [BatchNorm] → relu → pool) × n → dense → classes."""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from trends_jax.models import register

POOLS = {"max": nn.max_pool, "avg": nn.avg_pool}


class CNN(nn.Module):
  num_classes: int = 10
  features: Sequence[int] = (32, 64)
  kernel_size: int = 5
  strides: int = 1
  padding: str = "SAME"
  pool: str = "max"
  pool_size: int = 2
  hidden: int = 128
  dropout_rate: float = 0.0
  batch_norm: bool = False
  dtype: Any = jnp.float32
  norm_axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.pool not in POOLS:
      raise ValueError(f"pool must be one of {sorted(POOLS)}, got {self.pool!r}")
    x = jnp.asarray(x, self.dtype)
    window = (self.pool_size, self.pool_size)
    for i, width in enumerate(self.features):
      x = nn.Conv(width, (self.kernel_size, self.kernel_size), strides=self.strides,
                  padding=self.padding, use_bias=not self.batch_norm, dtype=self.dtype,
                  name=f"conv{i}")(x)
      if self.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, axis_name=self.norm_axis_name,
                         dtype=self.dtype, name=f"bn{i}")(x)
      x = POOLS[self.pool](nn.relu(x), window, strides=window)
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name="fc")(x))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x)


register("cnn", CNN)
