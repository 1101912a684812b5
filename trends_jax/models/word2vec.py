"""word2vec (Mikolov et al., 2013): skip-gram and CBOW, with negative sampling or a full softmax.

Two tables of `dim`-vectors per word, initialised as in word2vec.c: input vectors uniform in
±0.5/dim, output vectors zero. The loss is written on the table rows a step gathers (`Rows`),
so a trainer can either differentiate through the gathers (dense gradients, any optax
optimizer) or take gradients of the rows and apply SGD to those rows only, as word2vec.c does
(`sgd_on_rows`): on a vocabulary of V words that saves two passes over V × dim per step.

- skip-gram: the centre's input vector predicts each context word.
- CBOW: the mean (or sum) of the context input vectors predicts the centre word. As in
  word2vec.c, each context vector receives the full gradient of the hidden vector, also when
  the forward pass takes the mean.
- negative sampling: -log σ(h·u_target) - Σ_k log σ(-h·u_k) with k negatives from the noise
  distribution, fresh for every pair (word2vec.c), or `shared_negatives` S per centre used by all
  its pairs with weight K/S (the same expected gradient, far fewer rows to gather).
- softmax: -log softmax(h·U)[target] over the whole vocabulary (small vocabularies only).

Inputs come from `trends_jax.data.word_windows.sample_windows`: `words` (rows, L), the kept words
of each row, and `valid` (rows, L, 2·window), which (centre, context) pairs are real. The loss is
summed over pairs, so a learning rate means what it means in word2vec.c (per pair).
"""

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

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


class Rows(NamedTuple):
  """The table rows one step reads."""
  input: jax.Array  # (rows, L, dim): input vectors of the row's words.
  output: jax.Array  # (rows, L, dim): output vectors of the row's words.
  negatives: jax.Array | None  # (…, dim): output vectors of the sampled negatives.


def gather(params: dict, words, negative_ids) -> Rows:
  return Rows(params["input"][words], params["output"][words],
              None if negative_ids is None else params["output"][negative_ids])


def sgd_on_rows(params: dict, words, negative_ids, row_grads: Rows, learning_rate) -> dict:
  """params - learning_rate · gradient, touching only the gathered rows (repeated rows add up)."""
  output = params["output"].at[words].add(-learning_rate * row_grads.output)
  if negative_ids is not None:
    output = output.at[negative_ids].add(-learning_rate * row_grads.negatives)
  return {"input": params["input"].at[words].add(-learning_rate * row_grads.input), "output": output}


class Pairs(NamedTuple):
  """What an architecture predicts: per centre a hidden vector and its targets."""
  hidden: jax.Array  # (rows, L, dim)
  target_vectors: jax.Array  # (rows, L, T, dim)
  targets: jax.Array  # (rows, L, T) word ids
  mask: jax.Array  # (rows, L, T) real pairs


@ARCHITECTURES.register("skipgram")
def skipgram(rows: Rows, words, valid, cbow_mean) -> Pairs:
  del cbow_mean
  window = valid.shape[-1] // 2
  return Pairs(rows.input, neighbours(rows.output, window), neighbours(words, window), valid)


@ARCHITECTURES.register("cbow")
def cbow(rows: Rows, words, valid, cbow_mean) -> Pairs:
  window = valid.shape[-1] // 2
  weights = valid.astype(rows.input.dtype)
  # An einsum, not multiply-and-sum: XLA CPU fuses the latter ~25× slower.
  summed = jnp.einsum("rltd,rlt->rld", neighbours(rows.input, window), weights)
  hidden = summed
  if cbow_mean:
    mean = summed / jnp.maximum(weights.sum(-1, keepdims=True), 1)
    hidden = summed + jax.lax.stop_gradient(mean - summed)  # Forward: the mean; backward: as the sum.
  return Pairs(hidden, rows.output[..., None, :], words[..., None], valid.any(-1, keepdims=True))


@OUTPUTS.register("negative_sampling")
def negative_sampling(pairs: Pairs, negative_vectors, negatives_per_pair: int, output_table=None):
  """negative_vectors: (rows, L, T, K, dim) fresh for every pair, or (rows, L, S, dim) per centre."""
  del output_table
  positive = jnp.einsum("...d,...td->...t", pairs.hidden, pairs.target_vectors)
  mask = pairs.mask.astype(jnp.float32)
  loss = -(jax.nn.log_sigmoid(positive.astype(jnp.float32)) * mask).sum()
  if negative_vectors.ndim == pairs.target_vectors.ndim + 1:
    *batch, targets, k, dim = negative_vectors.shape  # One contraction over T·K: XLA CPU runs it far faster.
    negative = jnp.einsum("...d,...nd->...n", pairs.hidden,
                          negative_vectors.reshape(*batch, targets * k, dim)).reshape(*batch, targets, k)
    return loss - (mask * jax.nn.log_sigmoid(-negative.astype(jnp.float32)).sum(-1)).sum()
  # Each pair's K negatives replaced by the centre's S shared ones, weighted K/S.
  negative = jnp.einsum("...d,...sd->...s", pairs.hidden, negative_vectors)
  weight = mask.sum(-1) * (negatives_per_pair / negative_vectors.shape[-2])
  return loss - (weight * jax.nn.log_sigmoid(-negative.astype(jnp.float32)).sum(-1)).sum()


@OUTPUTS.register("softmax")
def full_softmax(pairs: Pairs, negative_vectors, negatives_per_pair, output_table=None):
  del negative_vectors, negatives_per_pair
  logits = jnp.einsum("...d,vd->...v", pairs.hidden, output_table).astype(jnp.float32)
  log_normalizer = jax.nn.logsumexp(logits, axis=-1, keepdims=True)
  losses = log_normalizer - jnp.take_along_axis(logits, pairs.targets, axis=-1)
  return (losses * pairs.mask).sum()


class Word2Vec(nn.Module):
  vocab_size: int
  dim: int = 100
  architecture: str = "skipgram"
  output: str = "negative_sampling"
  negatives: int = 5  # Per (centre, context) pair, as in word2vec.c.
  shared_negatives: int = 0  # > 0: draw this many per centre, shared by its pairs.
  cbow_mean: bool = True
  dtype: Any = jnp.float32

  def setup(self):
    scale = 0.5 / self.dim

    def uniform(key, shape):
      return jax.random.uniform(key, shape, jnp.float32, -scale, scale)

    self.input_vectors = self.param("input", uniform, (self.vocab_size, self.dim))
    self.output_vectors = self.param("output", nn.initializers.zeros, (self.vocab_size, self.dim))

  def negatives_shape(self, words_shape: tuple, window: int) -> tuple | None:
    """Shape of the negative ids a step needs; None without negative sampling."""
    if self.output != "negative_sampling":
      return None
    if self.shared_negatives:
      return words_shape + (self.shared_negatives,)
    targets = 2 * window if self.architecture == "skipgram" else 1
    return words_shape + (targets, self.negatives)

  def loss_on_rows(self, rows: Rows, words, valid, output_table=None):
    """(summed loss, number of pairs) from the gathered rows."""
    rows = jax.tree.map(lambda x: x.astype(self.dtype), rows)
    pairs = ARCHITECTURES.get(self.architecture)(rows, words, valid, self.cbow_mean)
    table = None if output_table is None else output_table.astype(self.dtype)
    loss = OUTPUTS.get(self.output)(pairs, rows.negatives, self.negatives, output_table=table)
    return loss, pairs.mask.sum()

  def __call__(self, words, valid, negative_ids):
    """Dense form: gathers its own rows, so gradients reach the whole tables."""
    params = {"input": self.input_vectors, "output": self.output_vectors}
    return self.loss_on_rows(gather(params, words, negative_ids), words, valid, self.output_vectors)

  def vectors(self):
    """The word vectors a trained model gives: the input table (word2vec.c's syn0)."""
    return self.input_vectors
