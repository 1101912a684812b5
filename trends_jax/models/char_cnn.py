"""Character-level CNN text classifiers (Zhang, Zhao & LeCun 2015; Kim 2014's max over time).

Input: int32 character ids (B, L) from the `chars_to_ids` op: 0 padding, 1 out of vocabulary, then
characters by descending frequency. Characters → an embedding (or, with `embed_dim=None`, Zhang
et al.'s one-hot "quantization" in which padding and unknown characters are all-zero vectors) →
1-D convolutions (VALID, ReLU, each optionally followed by a non-overlapping max-pool) → max over
time (Kim 2014; any length) or flatten (Zhang et al.; a fixed length) → dense ReLU layers with
dropout → num_classes logits.

`char_cnn_zhang_small` / `_large` are the paper's two models layer for layer (Table 1 and 2:
6 convolutions with kernels 7, 7, 3, 3, 3, 3, max-pool 3 after the 1st, 2nd and 6th; 256 / 1024
features; two 1024 / 2048-unit dense layers, dropout 0.5; 70-character alphabet, length 1014, so
`vocab_size=72` with padding and unknown). The paper's Gaussian initialization (std 0.05 / 0.02)
is not reproduced: layers keep flax's defaults. `char_cnn` is a small CPU-sized default.
"""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from trends_jax.errors import UserError
from trends_jax.models import register


class CharCNN(nn.Module):
  """Characters → convolutions → pool over time → dense → logits (module docstring)."""
  num_classes: int = 5
  vocab_size: int = 128  # Rows of the embedding; ids ≥ vocab_size count as unknown (id 1).
  embed_dim: int | None = 16  # None: one-hot of ids 2…vocab_size-1 (Zhang et al.).
  # One (features, kernel size, max-pool size after it; 0 for none) per convolution.
  convs: Sequence[tuple[int, int, int]] = ((64, 7, 3), (64, 3, 3), (64, 3, 0))
  pool_over_time: bool = True  # Max over time (Kim 2014); False flattens (Zhang et al.).
  hidden: Sequence[int] = (128,)
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    ids = jnp.asarray(x).astype(jnp.int32)  # Float zeros too (summary.py traces with floats).
    ids = jnp.where(ids < self.vocab_size, ids, 1)
    if self.embed_dim is None:
      h = jax.nn.one_hot(ids - 2, self.vocab_size - 2, dtype=self.dtype)  # Ids 0 and 1 → zeros.
    else:
      h = nn.Embed(self.vocab_size, self.embed_dim, name="embed")(ids).astype(self.dtype)
      h = h * (ids > 0)[..., None].astype(self.dtype)  # Padding contributes nothing.
    for i, (features, kernel, pool) in enumerate(self.convs):
      if h.shape[1] < kernel:
        raise UserError(f"CharCNN: {x.shape[1]} characters are too few for convolution {i + 1} "
                         f"(length {h.shape[1]} < kernel {kernel}); raise max_len in chars_to_ids")
      h = nn.relu(nn.Conv(features, (kernel,), padding="VALID", dtype=self.dtype, name=f"conv{i}")(h))
      if pool:
        h = nn.max_pool(h, (pool,), strides=(pool,))
    h = jnp.max(h, axis=1) if self.pool_over_time else h.reshape((h.shape[0], -1))
    for i, width in enumerate(self.hidden):
      h = nn.relu(nn.Dense(width, dtype=self.dtype, name=f"dense{i}")(h))
      h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(h)


register("char_cnn", CharCNN)
register("char_cnn_zhang_small", functools.partial(CharCNN, vocab_size=72, embed_dim=None, pool_over_time=False, convs=(
    (256, 7, 3), (256, 7, 3), (256, 3, 0), (256, 3, 0), (256, 3, 0), (256, 3, 3)), hidden=(1024, 1024), dropout_rate=0.5))
register("char_cnn_zhang_large", functools.partial(CharCNN, vocab_size=72, embed_dim=None, pool_over_time=False, convs=(
    (1024, 7, 3), (1024, 7, 3), (1024, 3, 0), (1024, 3, 0), (1024, 3, 0), (1024, 3, 3)), hidden=(2048, 2048), dropout_rate=0.5))
