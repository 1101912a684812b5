"""Long-range memory in recurrent networks: the adding problem, and how the gradient fades with lag.

The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015): each step carries a random value
in [0, 1) and a marker; exactly two steps are marked, one in each half of the sequence, and the
target is the sum of the two marked values. Predicting the mean (1) gives a mean squared error of
1/6 (the variance of a sum of two uniforms), so a model below it has learned to carry a value
across up to the whole length.

`gradient_by_lag` measures the lecture's claim directly: ‖∂loss/∂x_t‖ averaged over a batch, as a
function of the lag T-1-t between input step t and the output; in a tanh RNN it decays
exponentially with the lag, in an LSTM (whose cell state is additive) far more slowly.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

BASELINE_MSE = 1.0 / 6.0  # Always predicting 1.


def adding_problem(rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
  """Inputs (batch, length, 2): [value, marker]; targets (batch,): the sum of the marked values."""
  if length < 2:
    raise ValueError(f"the adding problem needs sequences of at least 2 steps, got {length}")
  values = rng.random((batch, length), dtype=np.float32)
  half = length // 2
  first = rng.integers(0, half, batch)
  second = rng.integers(half, length, batch)
  markers = np.zeros((batch, length), np.float32)
  markers[np.arange(batch), first] = 1.0
  markers[np.arange(batch), second] = 1.0
  targets = values[np.arange(batch), first] + values[np.arange(batch), second]
  return np.stack([values, markers], axis=-1), targets


def mse_loss(apply: Callable, params, x, y) -> jax.Array:
  """Mean squared error of a one-output sequence model `apply(params, x) -> (B, 1)`."""
  return jnp.mean(jnp.square(apply(params, x)[:, 0] - y))


def gradient_by_lag(apply: Callable, params, x, y) -> np.ndarray:
  """‖∂loss/∂x_t‖ averaged over the batch, indexed by lag: entry k is the input k steps before the end."""
  grads = jax.grad(lambda inputs: mse_loss(apply, params, inputs, y))(jnp.asarray(x))
  norms = jnp.linalg.norm(grads, axis=-1).mean(axis=0)
  return np.asarray(norms[::-1])
