"""word2vec's training examples, sampled on the device from a block of the corpus stream.

A step reads `rows` × `row_length` consecutive word ids (row_length plays the part of
word2vec.c's 1,000-word sentence). Per row, as in word2vec.c: frequent words are discarded
first (so windows reach past them), then every remaining word is a centre with a window of
`b` words on each side, b uniform in 1…window. Shapes are fixed, so rows are compacted with
their kept words first and a `valid` mask marks real (centre, context) pairs.

Everything is a pure function of a PRNG key: jit-compiled, vmapped over rows (which are
sharded over the devices), and the same key gives the same examples on any number of devices.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def _row_windows(key, row, keep_probability, window: int):
  length = row.shape[0]
  discard_key, window_key = jax.random.split(key)
  kept = jax.random.uniform(discard_key, (length,)) < keep_probability[row]
  # Kept words moved to the front, in order; `count` of them are real.
  positions = jnp.nonzero(kept, size=length, fill_value=0)[0]
  words = row[positions]
  count = kept.sum()
  offsets = jnp.concatenate([jnp.arange(-window, 0), jnp.arange(1, window + 1)])
  reach = jax.random.randint(window_key, (length,), 1, window + 1)
  centre_position = jnp.arange(length)[:, None]
  context_position = centre_position + offsets[None, :]
  valid = ((centre_position < count) & (context_position >= 0) & (context_position < count)
           & (jnp.abs(offsets)[None, :] <= reach[:, None]))
  return words, valid


def sample_windows(key, block, keep_probability, window: int):
  """block (rows, L) int32 → words (rows, L), valid (rows, L, 2·window).

  words[r, :count] are the row's kept words in order; valid[r, i, t] says that
  (words[r, i], words[r, i + offsets[t]]) is a (centre, context) pair, offsets = -window…-1, 1…window.
  """
  keys = jax.random.split(key, block.shape[0])
  return jax.vmap(_row_windows, in_axes=(0, 0, None, None))(keys, block, keep_probability, window)


class NoiseTable(NamedTuple):
  """Walker's alias table of a distribution over V word ids (Vose's construction, `noise_table`).

  A draw is one uniform id i and one coin: i with probability accept[i], else alias[i]. Exact,
  and two gathers per draw in place of a binary search over the cumulative distribution: the
  skip-gram step ran 8% faster on CPU (docs/performance.md, "word2vec").
  """
  accept: jax.Array  # (V,) float32
  alias: jax.Array  # (V,) int32


def noise_table(probabilities: np.ndarray) -> NoiseTable:
  """The alias table (as numpy arrays) of a distribution given as V non-negative weights."""
  weights = np.asarray(probabilities, np.float64)
  scaled = weights * (len(weights) / weights.sum())
  accept, alias = np.ones(len(weights)), np.arange(len(weights))
  small, large = [i for i, v in enumerate(scaled) if v < 1], [i for i, v in enumerate(scaled) if v >= 1]
  while small and large:
    below, above = small.pop(), large.pop()
    accept[below], alias[below] = scaled[below], above
    scaled[above] -= 1 - scaled[below]
    (small if scaled[above] < 1 else large).append(above)
  # What is left of either list is 1 up to rounding: kept with certainty.
  return NoiseTable(accept.astype(np.float32), alias.astype(np.int32))


def sample_negatives(key, table: NoiseTable, shape):
  """Word ids drawn from the distribution of an alias table."""
  id_key, coin_key = jax.random.split(key)
  ids = jax.random.randint(id_key, shape, 0, table.accept.shape[0])
  return jnp.where(jax.random.uniform(coin_key, shape) < table.accept[ids], ids, table.alias[ids])
