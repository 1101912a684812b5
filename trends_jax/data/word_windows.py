"""word2vec's training examples, sampled on the device from a block of the corpus stream.

A step reads `rows` × `row_length` consecutive word ids (row_length plays the part of
word2vec.c's 1,000-word sentence). Per row, as in word2vec.c: frequent words are discarded
first (so windows reach past them), then every remaining word is a centre with a window of
`b` words on each side, b uniform in 1…window. Shapes are fixed, so rows are compacted with
their kept words first and a `valid` mask marks real (centre, context) pairs.

Everything is a pure function of a PRNG key: jit-compiled, vmapped over rows (which are
sharded over the devices), and the same key gives the same examples on any number of devices.
"""

import jax
import jax.numpy as jnp


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


def sample_negatives(key, noise_cdf, shape):
  """Word ids drawn from the noise distribution given as its cumulative sum (float32, last = 1)."""
  u = jax.random.uniform(key, shape, maxval=noise_cdf[-1])
  # The unrolled binary search: ~4× faster than the default scan on CPU for these sizes.
  ids = jnp.searchsorted(noise_cdf, u, side="right", method="scan_unrolled")
  return jnp.minimum(ids, noise_cdf.shape[0] - 1).astype(jnp.int32)
