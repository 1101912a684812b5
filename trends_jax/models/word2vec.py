"""word2vec (Mikolov et al., 2013): skip-gram and CBOW, with negative sampling or a full softmax.

Two tables of `dim`-vectors per word, initialised as in word2vec.c: input vectors uniform in
±0.5/dim, output vectors zero. An architecture turns a window into hidden vectors and the words
they must predict; an output turns those into per-pair losses.

- skip-gram: the centre's input vector predicts each context word.
- CBOW: the mean (or sum) of the context input vectors predicts the centre word. As in
  word2vec.c, each context vector receives the full gradient of the hidden vector, also when
  the forward pass takes the mean.
- negative sampling: -log σ(h·u_target) - Σ_k log σ(-h·u_k), k negatives drawn from the noise
  distribution for every pair (rng stream 'negatives').
- softmax: -log softmax(h·U)[target] over the whole vocabulary (small vocabularies only).

`__call__(centres, contexts, valid, noise_cdf)` takes the output of
`trends_jax.data.word_windows.sample_windows` and returns (summed loss, number of pairs); the
trainer differentiates the sum, so a learning rate means what it means in word2vec.c (per pair).
These models are trained by `trends_jax.train_word2vec`, not the image/sequence trainer.
"""

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from trends_jax.data import word_windows
from trends_jax.registry import Registry

ARCHITECTURES = Registry("word2vec architecture", "model.name")
OUTPUTS = Registry("word2vec output", "model.output")


def neighbours(x, window: int):
  """x (rows, L, …) → (rows, L, 2·window, …): entry [r, i, t] is x[r, i + offsets[t]] (zero outside).

  Windows as shifted copies of one gathered row, rather than a gather per (centre, context)
  pair: XLA fuses the shifts into the dot products, which makes skip-gram several times faster.
  """
  length = x.shape[1]
  padded = jnp.pad(x, [(0, 0), (window, window)] + [(0, 0)] * (x.ndim - 2))
  offsets = [*range(-window, 0), *range(1, window + 1)]
  return jnp.stack([padded[:, window + d:window + d + length] for d in offsets], axis=2)


class Pairs(NamedTuple):
  """What an architecture predicts: per centre a hidden vector and its targets."""
  hidden: jax.Array  # (rows, L, dim)
  targets: jax.Array  # (rows, L, T) word ids
  mask: jax.Array  # (rows, L, T) real pairs
  target_vectors: Callable[[jax.Array], jax.Array]  # output table → (rows, L, T, dim)


@ARCHITECTURES.register("skipgram")
def skipgram(input_vectors, words, valid, cbow_mean) -> Pairs:
  del cbow_mean
  window = valid.shape[-1] // 2
  return Pairs(input_vectors[words], neighbours(words, window), valid,
               lambda table: neighbours(table[words], window))


@ARCHITECTURES.register("cbow")
def cbow(input_vectors, words, valid, cbow_mean) -> Pairs:
  window = valid.shape[-1] // 2
  weights = valid[..., None].astype(input_vectors.dtype)
  summed = (neighbours(input_vectors[words], window) * weights).sum(-2)
  hidden = summed
  if cbow_mean:
    mean = summed / jnp.maximum(weights.sum(-2), 1)
    hidden = summed + jax.lax.stop_gradient(mean - summed)  # Forward: the mean; backward: as the sum.
  return Pairs(hidden, words[..., None], valid.any(-1, keepdims=True),
               lambda table: table[words][..., None, :])


@OUTPUTS.register("negative_sampling")
def negative_sampling(pairs: Pairs, output_vectors, negatives, negatives_per_pair: int):
  """negatives: (rows, L, T, K) fresh for every pair, or (rows, L, S) shared by a centre's pairs."""
  positive = jnp.einsum("...d,...td->...t", pairs.hidden, pairs.target_vectors(output_vectors))
  mask = pairs.mask.astype(jnp.float32)
  loss = -(jax.nn.log_sigmoid(positive.astype(jnp.float32)) * mask).sum()
  if negatives.ndim == pairs.targets.ndim + 1:
    negative = jnp.einsum("...d,...tkd->...tk", pairs.hidden, output_vectors[negatives])
    return loss - (mask * jax.nn.log_sigmoid(-negative.astype(jnp.float32)).sum(-1)).sum()
  # Each pair's K negatives replaced by the centre's S shared ones, weighted K/S: the same
  # expected gradient, with far fewer gathered rows when S < K × 2·window.
  negative = jnp.einsum("...d,...sd->...s", pairs.hidden, output_vectors[negatives])
  weight = mask.sum(-1) * (negatives_per_pair / negatives.shape[-1])
  return loss - (weight * jax.nn.log_sigmoid(-negative.astype(jnp.float32)).sum(-1)).sum()


@OUTPUTS.register("softmax")
def full_softmax(pairs: Pairs, output_vectors, negatives, negatives_per_pair):
  del negatives, negatives_per_pair
  logits = jnp.einsum("...d,vd->...v", pairs.hidden, output_vectors).astype(jnp.float32)
  log_normalizer = jax.nn.logsumexp(logits, axis=-1, keepdims=True)
  losses = log_normalizer - jnp.take_along_axis(logits, pairs.targets, axis=-1)
  return (losses * pairs.mask).sum()


class Word2Vec(nn.Module):
  vocab_size: int
  dim: int = 100
  architecture: str = "skipgram"
  output: str = "negative_sampling"
  negatives: int = 5  # Per (centre, context) pair, as in word2vec.c.
  shared_negatives: int = 0  # > 0: draw this many per centre, shared by its pairs (faster).
  cbow_mean: bool = True
  dtype: Any = jnp.float32

  def setup(self):
    scale = 0.5 / self.dim

    def uniform(key, shape):
      return jax.random.uniform(key, shape, jnp.float32, -scale, scale)

    self.input_vectors = self.param("input", uniform, (self.vocab_size, self.dim))
    self.output_vectors = self.param("output", nn.initializers.zeros, (self.vocab_size, self.dim))

  def __call__(self, words, valid, noise_cdf):
    pairs = ARCHITECTURES.get(self.architecture)(
        self.input_vectors.astype(self.dtype), words, valid, self.cbow_mean)
    output = OUTPUTS.get(self.output)
    negatives = None
    if output is negative_sampling:
      shape = (words.shape + (self.shared_negatives,) if self.shared_negatives
               else pairs.targets.shape + (self.negatives,))
      negatives = word_windows.sample_negatives(self.make_rng("negatives"), noise_cdf, shape)
    loss = output(pairs, self.output_vectors.astype(self.dtype), negatives, self.negatives)
    return loss, pairs.mask.sum()

  def vectors(self):
    """The word vectors a trained model gives: the input table (word2vec.c's syn0)."""
    return self.input_vectors
