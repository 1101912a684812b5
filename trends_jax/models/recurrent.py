"""Recurrent networks: Elman RNN, LSTM and GRU cells, stacks of them scanned over time, and two models.

Cells (`CELLS`), each h' (and for the LSTM c') from the input x and the previous state:
- `rnn`: flax's `SimpleCell`, Elman's h' = tanh(W_i x + b + W_h h).
- `gru`: flax's `GRUCell`: r = σ(W_ir x + b_ir + W_hr h), z = σ(W_iz x + b_iz + W_hz h),
  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h.
- `lstm`: flax's fused `OptimizedLSTMCell` equations, i, f, o = σ(W_i· x + W_h· h + b_h·),
  g = tanh(…), c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c'), with the forget-gate bias initialized to
  `forget_bias` (1 by default; Gers et al. 2000, Jozefowicz et al. 2015), which flax cannot.

`RecurrentStack` runs `num_layers` of them over (B, T, F) with `nn.RNN` (an `nn.scan` over time,
compiled with the rest of the step under jit), optionally bidirectional (`nn.Bidirectional`:
forward and backward outputs concatenated), with dropout between layers. Models:
- `sequence_classifier`: (B, T, F) floats (pixels, the adding problem's pairs) → stack → the last
  hidden state (forward at T, backward at 1) → Dense(num_classes). `num_classes=1` regresses.
- `char_lm`: (B, T) character ids → embedding → stack → Dense(vocabulary) at every step:
  (B, T, V) logits of the next character; `num_classes` is the vocabulary size. It can also take
  and return the recurrent state (`carries`), which generation uses to go one character at a time.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype
from flax.linen.recurrent import DenseParams

from trends_jax.errors import UserError
from trends_jax.models import register


class LSTMCell(nn.OptimizedLSTMCell):
  """flax's fused LSTM (one matmul for the four gates), plus the forget-gate bias at initialization.

  Parameters are named and shaped as flax's `LSTMCell`/`OptimizedLSTMCell` (ii…io, hi…ho), so
  each loads the other's; with `forget_bias=0` the initialization is flax's too.
  """
  forget_bias: float = 1.0

  @nn.compact
  def __call__(self, carry, inputs):
    c, h = carry
    hidden = h.shape[-1]
    input_kernels, hidden_kernels, biases = [], [], []
    for gate in "ifgo":
      kernel, _ = DenseParams(hidden, use_bias=False, param_dtype=self.param_dtype,
                              kernel_init=self.kernel_init, name=f"i{gate}")(inputs)
      bias_init = nn.initializers.constant(self.forget_bias) if gate == "f" else self.bias_init
      recurrent_kernel, bias = DenseParams(hidden, use_bias=True, param_dtype=self.param_dtype,
                                           kernel_init=self.recurrent_kernel_init, bias_init=bias_init,
                                           name=f"h{gate}")(h)
      input_kernels.append(kernel)
      hidden_kernels.append(recurrent_kernel)
      biases.append(bias)
    x, h, w_i, w_h, b = promote_dtype(inputs, h, jnp.concatenate(input_kernels, -1),
                                      jnp.concatenate(hidden_kernels, -1), jnp.concatenate(biases, -1),
                                      dtype=self.dtype)
    i, f, g, o = jnp.split(x @ w_i + h @ w_h + b, 4, axis=-1)
    new_c = self.gate_fn(f) * c + self.gate_fn(i) * self.activation_fn(g)
    new_h = self.gate_fn(o) * self.activation_fn(new_c)
    return (new_c, new_h), new_h


CELLS = {"rnn": nn.SimpleCell, "lstm": LSTMCell, "gru": nn.GRUCell}


class RecurrentStack(nn.Module):
  """`num_layers` recurrent layers over (B, T, F) → (final carries per layer, outputs (B, T, H or 2H))."""
  cell: str = "lstm"
  hidden: int = 128
  num_layers: int = 1
  bidirectional: bool = False
  dropout_rate: float = 0.0  # Between layers.
  forget_bias: float = 1.0  # LSTM only.
  unroll: int = 1  # Time steps per scan iteration: more can be faster, compiles slower.
  dtype: Any = jnp.float32

  def _cell(self) -> nn.Module:
    if self.cell not in CELLS:
      raise UserError(f"unknown cell {self.cell!r} in model.cell; known: {', '.join(CELLS)}")
    options = {"forget_bias": self.forget_bias} if CELLS[self.cell] is LSTMCell else {}
    # Unbound (parent=None): the nn.RNN that receives it adopts it, so its parameters sit under it.
    return CELLS[self.cell](self.hidden, dtype=self.dtype, parent=None, **options)

  @nn.compact
  def __call__(self, x, train: bool = False, carries=None):
    carries = carries or (None,) * self.num_layers
    final = []
    for layer in range(self.num_layers):
      if layer and self.dropout_rate:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
      forward = nn.RNN(self._cell(), return_carry=True, unroll=self.unroll, name=f"layer{layer}")
      if self.bidirectional:
        backward = nn.RNN(self._cell(), return_carry=True, unroll=self.unroll,
                          name=f"layer{layer}_backward")
        carry, x = nn.Bidirectional(forward, backward, return_carry=True, name=f"bidirectional{layer}")(
            x, initial_carry=carries[layer])
      else:
        carry, x = forward(x, initial_carry=carries[layer])
      final.append(carry)
    return tuple(final), x


class SequenceClassifier(nn.Module):
  """(B, T, F) → recurrent stack → last hidden state → Dense(num_classes) (module docstring)."""
  num_classes: int = 10
  cell: str = "lstm"
  hidden: int = 128
  num_layers: int = 1
  bidirectional: bool = False
  dropout_rate: float = 0.0
  forget_bias: float = 1.0
  unroll: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = jnp.asarray(x, self.dtype)
    if x.ndim == 2:  # (B, T): one feature per step.
      x = x[..., None]
    if x.ndim != 3:
      raise UserError(f"sequence_classifier takes (batch, time, features) inputs, got shape {x.shape}; "
                      "turn images into pixel sequences with the pixel_sequence preprocessing op")
    _, outputs = RecurrentStack(self.cell, self.hidden, self.num_layers, self.bidirectional,
                                self.dropout_rate, self.forget_bias, self.unroll, self.dtype, name="recurrent")(x, train)
    last = outputs[:, -1]
    if self.bidirectional:  # The backward direction ends at the first step.
      last = jnp.concatenate([outputs[:, -1, :self.hidden], outputs[:, 0, self.hidden:]], axis=-1)
    last = nn.Dropout(self.dropout_rate, deterministic=not train)(last)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(last)


class CharLM(nn.Module):
  """Character ids (B, T) → embedding → recurrent stack → next-character logits (B, T, V)."""
  num_classes: int = 128  # The vocabulary: ids ≥ num_classes count as unknown (id 1).
  embed_dim: int = 64
  cell: str = "lstm"
  hidden: int = 256
  num_layers: int = 2
  dropout_rate: float = 0.0
  forget_bias: float = 1.0
  unroll: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False, carries=None, return_carries: bool = False):
    ids = jnp.asarray(x).astype(jnp.int32)  # Float zeros too (summary.py traces with floats).
    ids = jnp.where(ids < self.num_classes, ids, 1)
    h = nn.Embed(self.num_classes, self.embed_dim, name="embed")(ids).astype(self.dtype)
    carries, h = RecurrentStack(self.cell, self.hidden, self.num_layers, False, self.dropout_rate,
                                self.forget_bias, self.unroll, self.dtype, name="recurrent")(h, train, carries)
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name="head")(h)
    return (carries, logits) if return_carries else logits


register("sequence_classifier", SequenceClassifier)
register("char_lm", CharLM)
