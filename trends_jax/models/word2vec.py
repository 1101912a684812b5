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
- negative sampling: -log σ(h·u_target) - Σ_k log σ(-h·u_k), K negatives per pair. They are
  drawn from the noise distribution either straight (word2vec.c: K·2·window rows gathered per
  centre) or, with `negative_pool` P > 0, by picking K of P noise words drawn for each block of
  `pool_block` consecutive centres (0: the whole row): each pair still gets its own K draws,
  distributed as the noise, but the scores come from one (block × P) matrix product per block
  and only P rows are gathered per block. The product scores every centre against all P words
  of its pool and keeps K·2·window of them, so its cost grows with P, not with K.
- softmax: -log softmax(h·U)[target] over the whole vocabulary (small vocabularies only).

Inputs come from `trends_jax.data.word_windows.sample_windows`: `words` (rows, L), the kept words
of each row, and `valid` (rows, L, 2·window), which (centre, context) pairs are real. The loss is
summed over pairs, so a learning rate means what it means in word2vec.c (per pair).
"""

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from trends_jax.data import word_windows
from trends_jax.registry import Registry

ARCHITECTURES = Registry("word2vec architecture", "model.name")
OUTPUTS = Registry("word2vec output", "model.output")


def shifted(x, window: int):
  """x (rows, L, …) → the 2·window copies x[r, i + d] (zero outside the row), d = -window…-1, 1…window.

  Each window position as a shifted slice of the gathered row, combined term by term by the
  caller, rather than a gather per (centre, context) pair or a stacked (rows, L, 2·window, dim)
  copy: XLA CPU fuses the slices into the sums, and dropping the stacked copy made the CBOW
  step 30% faster (docs/performance.md, "word2vec").
  """
  length = x.shape[1]
  padded = jnp.pad(x, [(0, 0), (window, window)] + [(0, 0)] * (x.ndim - 2))
  return [padded[:, window + d:window + d + length] for d in (*range(-window, 0), *range(1, window + 1))]


class Rows(NamedTuple):
  """The table rows one step reads."""
  input: jax.Array  # (rows, L, dim): input vectors of the row's words.
  output: jax.Array  # (rows, L, dim): output vectors of the row's words.
  negatives: jax.Array | None  # Output vectors of the negatives: (rows, L, T, K, dim) or the pools' (rows, blocks, P, dim).


class Negatives(NamedTuple):
  ids: jax.Array  # Word ids: (rows, L, T, K) per pair, or (rows, blocks, P) the pools.
  pick: jax.Array | None = None  # With pools: (rows, L, T, K) positions in the centre's block's pool.


def gather(params: dict, words, negatives: Negatives | None) -> Rows:
  return Rows(params["input"][words], params["output"][words],
              None if negatives is None else params["output"][negatives.ids])


def sgd_on_rows(params: dict, words, negatives: Negatives | None, row_grads: Rows, learning_rate,
                max_repeats: int = 0) -> dict:
  """params - learning_rate · gradient, touching only the gathered rows.

  A row read n times in a step gets the sum of its n gradients, all taken at the same old
  value: where word2vec.c's one-pair-at-a-time SGD would see each update before the next, a
  frequent word's summed step overshoots, and at word2vec's rates on a large corpus training
  diverges. `max_repeats` = c > 0 scales a row read n > c times by c/n: at most c times its mean
  gradient (rows read up to c times keep the exact sum).
  """
  dim = row_grads.output.shape[-1]
  tables = {"input": (words.reshape(-1), row_grads.input.reshape(-1, dim)),
            "output": (words.reshape(-1), row_grads.output.reshape(-1, dim))}
  if negatives is not None:
    # One scatter per table: two in a row make XLA copy the whole table.
    ids, grads = tables["output"]
    tables["output"] = (jnp.concatenate([ids, negatives.ids.reshape(-1)]),
                        jnp.concatenate([grads, row_grads.negatives.reshape(-1, dim)]))
  updated = {}
  for name, (ids, grads) in tables.items():
    scale = jnp.full(ids.shape, -learning_rate, grads.dtype)
    if max_repeats:
      repeats = jnp.zeros(params[name].shape[0], grads.dtype).at[ids].add(1.0)
      scale = scale * jnp.minimum(1.0, max_repeats / repeats[ids])
    updated[name] = params[name].at[ids].add(scale[:, None] * grads)
  return updated


class Pairs(NamedTuple):
  """What an architecture predicts: per centre a hidden vector and its targets."""
  hidden: jax.Array  # (rows, L, dim)
  positive: jax.Array  # (rows, L, T): hidden · each target's output vector.
  targets: jax.Array  # (rows, L, T) word ids
  mask: jax.Array  # (rows, L, T) real pairs


@ARCHITECTURES.register("skipgram")
def skipgram(rows: Rows, words, valid, cbow_mean) -> Pairs:
  del cbow_mean
  window = valid.shape[-1] // 2
  positive = jnp.stack([jnp.einsum("rld,rld->rl", rows.input, c) for c in shifted(rows.output, window)], axis=-1)
  return Pairs(rows.input, positive, jnp.stack(shifted(words, window), axis=-1), valid)


@ARCHITECTURES.register("cbow")
def cbow(rows: Rows, words, valid, cbow_mean) -> Pairs:
  window = valid.shape[-1] // 2
  weights = valid.astype(rows.input.dtype)
  summed = sum(weights[..., t, None] * context for t, context in enumerate(shifted(rows.input, window)))
  hidden = summed
  if cbow_mean:
    mean = summed / jnp.maximum(weights.sum(-1, keepdims=True), 1)
    hidden = summed + jax.lax.stop_gradient(mean - summed)  # Forward: the mean; backward: as the sum.
  positive = jnp.einsum("rld,rld->rl", hidden, rows.output)[..., None]
  return Pairs(hidden, positive, words[..., None], valid.any(-1, keepdims=True))


@OUTPUTS.register("negative_sampling")
def negative_sampling(pairs: Pairs, negative_vectors, pick=None, output_table=None):
  """negative_vectors: (rows, L, T, K, dim), or pools (rows, blocks, P, dim) with `pick` (rows, L, T, K)."""
  del output_table
  positive = pairs.positive
  mask = pairs.mask.astype(jnp.float32)
  if pick is None:
    *batch, targets, k, dim = negative_vectors.shape  # One contraction over T·K: XLA CPU runs it far faster.
    negative = jnp.einsum("...d,...nd->...n", pairs.hidden,
                          negative_vectors.reshape(*batch, targets * k, dim)).reshape(*batch, targets, k)
  else:
    rows, length, targets, k = pick.shape
    _, blocks, pool, dim = negative_vectors.shape
    hidden = pairs.hidden.reshape(rows, blocks, length // blocks, dim)
    # Every centre × its block's pool.
    scores = jnp.einsum("rbld,rbpd->rblp", hidden, negative_vectors).reshape(rows, length, pool)
    negative = jnp.take_along_axis(scores, pick.reshape(rows, length, targets * k), axis=-1).reshape(pick.shape)
  return (-(jax.nn.log_sigmoid(positive.astype(jnp.float32)) * mask).sum()
          - (mask * jax.nn.log_sigmoid(-negative.astype(jnp.float32)).sum(-1)).sum())


@OUTPUTS.register("softmax")
def full_softmax(pairs: Pairs, negative_vectors, pick=None, output_table=None):
  del negative_vectors, pick
  logits = jnp.einsum("...d,vd->...v", pairs.hidden, output_table).astype(jnp.float32)
  log_normalizer = jax.nn.logsumexp(logits, axis=-1, keepdims=True)
  losses = log_normalizer - jnp.take_along_axis(logits, pairs.targets, axis=-1)
  return (losses * pairs.mask).sum()


class Word2Vec(nn.Module):
  vocab_size: int
  dim: int = 100
  architecture: str = "skipgram"
  output: str = "negative_sampling"
  negatives: int = 5  # K per (centre, context) pair, as in word2vec.c.
  negative_pool: int = 0  # P > 0: each pair picks its K from P noise words drawn for its block of centres.
  pool_block: int = 0  # Consecutive centres sharing one pool (a divisor of the row length); 0: the whole row.
  cbow_mean: bool = True
  dtype: Any = jnp.float32

  def setup(self):
    scale = 0.5 / self.dim

    def uniform(key, shape):
      return jax.random.uniform(key, shape, jnp.float32, -scale, scale)

    self.input_vectors = self.param("input", uniform, (self.vocab_size, self.dim))
    self.output_vectors = self.param("output", nn.initializers.zeros, (self.vocab_size, self.dim))

  def sample_negatives(self, key, noise: word_windows.NoiseTable, words_shape: tuple, window: int) -> Negatives | None:
    """The negatives one step needs (None without negative sampling)."""
    if self.output != "negative_sampling":
      return None
    per_pair = words_shape + (2 * window if self.architecture == "skipgram" else 1, self.negatives)
    if not self.negative_pool:
      return Negatives(word_windows.sample_negatives(key, noise, per_pair))
    pool_key, pick_key = jax.random.split(key)
    rows, length = words_shape
    pool = word_windows.sample_negatives(pool_key, noise, (rows, length // (self.pool_block or length),
                                                                self.negative_pool))
    return Negatives(pool, jax.random.randint(pick_key, per_pair, 0, self.negative_pool))

  def loss_on_rows(self, rows: Rows, words, valid, negatives: Negatives | None = None, output_table=None):
    """(summed loss, number of pairs) from the gathered rows."""
    rows = jax.tree.map(lambda x: x.astype(self.dtype), rows)
    pairs = ARCHITECTURES.get(self.architecture)(rows, words, valid, self.cbow_mean)
    table = None if output_table is None else output_table.astype(self.dtype)
    pick = None if negatives is None else negatives.pick
    loss = OUTPUTS.get(self.output)(pairs, rows.negatives, pick, output_table=table)
    return loss, pairs.mask.sum()

  def __call__(self, words, valid, negatives: Negatives | None):
    """Dense form: gathers its own rows, so gradients reach the whole tables."""
    params = {"input": self.input_vectors, "output": self.output_vectors}
    return self.loss_on_rows(gather(params, words, negatives), words, valid, negatives, self.output_vectors)

  def vectors(self):
    """The word vectors a trained model gives: the input table (word2vec.c's syn0)."""
    return self.input_vectors
