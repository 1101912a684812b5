"""The word2vec trainer: skip-gram and CBOW word vectors through the one loop (training/loop.py).

word2vec's examples are windows of one long word stream, so this trainer has its own data
path: the corpus lives on the devices and each step samples its windows and negatives there
(`trends_jax.data.word_windows`), from a key folded with the step number, so the data position
is the step itself and resuming continues exactly. The loop supplies the rest of the run
contract. Rows of each step's block are sharded over a ('data',) mesh; XLA all-reduces the
gradients. At the end the vectors are written as vectors.txt and vectors.bin (word2vec formats)
beside vocabulary.tsv, and evaluated on the Google analogies, WordSim-353 and SimLex-999.
"""

import functools
import os
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from trends_jax import data, optim
from trends_jax.data import word_corpus, word_windows
from trends_jax.errors import UserError
from trends_jax.evaluation import word_vectors
from trends_jax.models import word2vec
from trends_jax.training import config as config_lib, loop, steps

MODEL_FIELDS = ("dim", "output", "negatives", "negative_pool", "pool_block", "cbow_mean")


def base_config() -> ml_collections.ConfigDict:
  """The common fields plus this trainer's; defaults are word2vec.c's skip-gram recipe."""
  c = config_lib.base_config()
  c.trainer = "word2vec"
  c.batch_size = 16_000  # Corpus words per step (global): rows of dataset.row_length words.
  c.num_epochs = 5.0
  c.eval_every_steps = 1000
  c.log_every_steps = 100
  # SGD on the rows a step reads, as word2vec.c (needs optimizer sgd and negative sampling);
  # False: dense gradients of both tables through any optax optimizer.
  c.sparse_updates = True
  # With sparse updates, a row read n > max_row_repeats times in a step moves by at most
  # max_row_repeats × its mean gradient: the plain sum diverges at word2vec.c's rates on large
  # corpora (see word2vec.sgd_on_rows). 0: the plain sum.
  c.max_row_repeats = 16

  c.model = ml_collections.ConfigDict({
      "name": "skipgram",  # or 'cbow'
      "dim": 100, "window": 5, "output": "negative_sampling", "negatives": 5,
      "negative_pool": 0, "pool_block": 0, "cbow_mean": True})
  # word2vec.c: plain SGD, the rate decaying linearly to 1e-4 of its start over training.
  c.optimizer.update({"name": "sgd", "learning_rate": 0.025, "schedule": "linear", "end_learning_rate": 2.5e-6})
  c.dataset.update({
      "name": "w2v_corpus/small", "split": "train", "text_key": "text",
      "text_file": "",  # A UTF-8 text file instead of a dataset: one document per line.
      "min_count": 5, "max_vocab_size": 0, "sample": 1e-3, "noise_power": 0.75, "row_length": 1000})
  c.eval = ml_collections.ConfigDict({
      "analogies": "questions-words", "restrict_vocab": 30_000,
      "word_pairs": ("wordsim353", "simlex999")})
  return c


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Raises UserError naming the first bad word2vec field (the common ones: config.validate)."""
  m, ds = config.model, config.dataset
  word2vec.ARCHITECTURES.get(m.name)
  word2vec.OUTPUTS.get(m.output)
  if config.parallel != "jit":
    raise UserError(f"word2vec trains with parallel='jit' (its sampled rows are sharded over a mesh), "
                    f"got {config.parallel!r}; pass --config.parallel=jit")
  for field, value in (("model.dim", m.dim), ("model.window", m.window), ("dataset.row_length", ds.row_length),
                       ("dataset.min_count", ds.min_count), ("batch_size", config.batch_size)):
    if value < 1:
      raise UserError(f"{field} must be >= 1, got {value}")
  if config.max_row_repeats < 0:
    raise UserError(f"max_row_repeats must be >= 0 (0: plain sums), got {config.max_row_repeats}")
  if m.negative_pool < 0:
    raise UserError(f"model.negative_pool must be >= 0 (0: negatives straight from the noise distribution), "
                    f"got {m.negative_pool}")
  if m.negative_pool and (m.pool_block < 0 or (m.pool_block and ds.row_length % m.pool_block)):  # Unused without a pool.
    divisors = [str(d) for d in range(1, min(ds.row_length, 200) + 1) if ds.row_length % d == 0][-3:]
    raise UserError(f"model.pool_block must divide dataset.row_length ({ds.row_length}) or be 0 (one pool per row), "
                    f"got {m.pool_block}; e.g. --config.model.pool_block={' or '.join(divisors)}")
  if m.output == "negative_sampling" and m.negatives < 1:
    raise UserError(f"model.negatives must be >= 1 with negative sampling, got {m.negatives}; "
                    "or use --config.model.output=softmax")
  if config.sparse_updates:
    dense = "or pass --config.sparse_updates=False for dense gradients"
    if m.output != "negative_sampling":
      raise UserError(f"sparse_updates needs model.output=negative_sampling (a softmax reads the whole "
                      f"output table); {dense}")
    extras = {k: v for k, v in config.optimizer.items()
              if k not in ("name", "learning_rate", "decay_mask") + optim.SCHEDULE_FIELDS and v}
    if config.optimizer.name != "sgd" or extras:
      raise UserError(f"sparse_updates is plain SGD with a schedule; optimizer {config.optimizer.name!r}"
                      f"{' with ' + ', '.join(sorted(extras)) if extras else ''} needs dense gradients: {dense}")
  if ds.sample < 0:
    raise UserError(f"dataset.sample must be >= 0 (0 keeps every word), got {ds.sample}")
  if ds.row_length <= 2 * m.window:
    raise UserError(f"dataset.row_length ({ds.row_length}) must be longer than a window "
                    f"(2 × model.window + 1 = {2 * m.window + 1})")
  unit = ds.row_length * num_devices
  if config.batch_size % unit:
    raise UserError(
        f"batch_size {config.batch_size} must be a multiple of dataset.row_length × devices = "
        f"{ds.row_length} × {num_devices}; e.g. --config.batch_size={max(unit, config.batch_size // unit * unit)}")


def load_corpus(ds: ml_collections.ConfigDict) -> word_corpus.WordCorpus:
  if ds.text_file:
    documents = word_corpus.text_file_documents(ds.text_file)
  else:
    source = data.data_source(ds.name, ds.split, ds.data_dir)
    documents = []
    for i in range(len(source)):
      text = source[i][ds.text_key]
      documents.append((text.decode("utf-8") if isinstance(text, bytes) else str(text)).split())
  return word_corpus.WordCorpus.from_documents(documents, ds.min_count, ds.max_vocab_size)


def evaluate(words: list[str], vectors: np.ndarray, eval_config) -> tuple[dict, list[dict]]:
  """Analogy accuracy (3CosAdd) and coverage, Spearman on word-pair sets; and the analogy sections."""
  kv = word_vectors.WordVectors(words, vectors)
  analogies = kv.evaluate_analogies(data.word_eval_file(eval_config.analogies),
                                    restrict_vocab=eval_config.restrict_vocab)
  metrics = {"analogy_accuracy": analogies["accuracy"], "analogy_coverage": analogies["coverage"]}
  for name in eval_config.word_pairs:
    pairs = kv.evaluate_word_pairs(data.word_eval_file(name))
    metrics[f"{name}_spearman"] = pairs["spearman"]
  return metrics, analogies["sections"] + [analogies["total"]]


def make_train_step(model, learning_rate_fn, window: int, rows: int, row_length: int, row_sharding,
                    sparse_updates: bool, max_repeats: int = 0, skip_nonfinite: bool = False):
  def train_step(state, stream, start, keep_probability, noise):
    block = jax.lax.dynamic_slice(stream, (start,), (rows * row_length,)).reshape(rows, row_length)
    if row_sharding.num_devices > 1:  # On one device the constraint costs ~0.1 s a step on CPU.
      block = jax.lax.with_sharding_constraint(block, row_sharding)
    window_key, negatives_key = jax.random.split(jax.random.fold_in(state.rng, state.step))
    words, valid = word_windows.sample_windows(window_key, block, keep_probability, window)
    negatives = model.sample_negatives(negatives_key, noise, words.shape, window)

    if sparse_updates:  # word2vec.c's SGD: gradients of the gathered rows, applied to them only.
      gathered = word2vec.gather(state.params, words, negatives)
      (total, pairs), grads = jax.value_and_grad(
          lambda r: model.loss_on_rows(r, words, valid, negatives), has_aux=True)(gathered)
      params = word2vec.sgd_on_rows(state.params, words, negatives, grads, learning_rate_fn(state.step),
                                    max_repeats)
      new_state = state.replace(step=state.step + 1, params=params)
    else:  # Dense gradients of the whole tables, through any optax optimizer.
      (total, pairs), grads = jax.value_and_grad(
          lambda p: model.apply({"params": p}, words, valid, negatives), has_aux=True)(state.params)
      new_state = state.apply_gradients(grads=grads)
    metrics = {"loss": total / jnp.maximum(pairs, 1), "pairs": pairs,
               "grad_norm": jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(grads))),
               "learning_rate": learning_rate_fn(state.step)}
    if skip_nonfinite:
      new_state, metrics["skipped"] = steps.skip_if_nonfinite(state, new_state, metrics["loss"], metrics["grad_norm"])
    return new_state, metrics

  return train_step


class Program(NamedTuple):
  """What a word2vec run trains with: the corpus on the devices, the state and the compiled step,
  called as train_step(state, stream, start, keep_probability, noise)."""
  stream: jax.Array  # The corpus ids, with enough of its start appended that any step's block is contiguous.
  keep_probability: jax.Array  # Per word: subsampling's chance of keeping it.
  noise: word_windows.NoiseTable  # The negatives' distribution.
  make_state: Callable[[], steps.TrainState]
  train_step: Callable


def build_program(config: ml_collections.ConfigDict, corpus: word_corpus.WordCorpus, strategy,
                  num_steps: int) -> Program:
  """The config's model, optimizer and compiled step on `corpus`, for `strategy`'s devices."""
  ds, m = config.dataset, config.model
  put = functools.partial(jax.device_put, device=strategy.replicated)
  model = word2vec.Word2Vec(vocab_size=len(corpus.words), architecture=m.name,
                            dtype=jnp.dtype(config.dtype), **{k: m[k] for k in MODEL_FIELDS})
  tx, learning_rate_fn = optim.create(config.optimizer, num_steps)

  def make_state():
    params_key, state_key = jax.random.split(jax.random.PRNGKey(config.seed))
    params = model.init(params_key, method=lambda module: module.vectors())["params"]
    return steps.TrainState.create(apply_fn=model.apply, params=params, tx=tx, rng=state_key)

  train_step = jax.jit(
      make_train_step(model, learning_rate_fn, m.window, config.batch_size // ds.row_length, ds.row_length,
                      strategy.batch_sharding, config.sparse_updates, config.max_row_repeats,
                      skip_nonfinite=config.nonfinite_steps == "skip"),
      donate_argnums=0)
  return Program(put(np.resize(corpus.ids, len(corpus.ids) + config.batch_size)),
                 put(corpus.keep_probabilities(ds.sample)),
                 put(word_windows.noise_table(corpus.noise_distribution(ds.noise_power))),
                 make_state, train_step)


class Word2VecTrainer(loop.Trainer):
  rate_unit = "words"

  def validate(self) -> None:
    validate(self.config, self.strategy.num_devices)

  def setup(self) -> None:
    config, ds, m = self.config, self.config.dataset, self.config.model
    for name in (config.eval.analogies, *config.eval.word_pairs):
      data.word_eval_file(name)
    # --- The corpus, then on it the model, state and compiled step (build_program) ---
    self.corpus = corpus = load_corpus(ds)
    self.num_words = num_words = len(corpus.ids)
    if num_words < 2 * m.window + 1:
      raise UserError(f"the corpus has {num_words} words after min_count={ds.min_count}, fewer than one "
                      f"window (2 × model.window + 1 = {2 * m.window + 1}); use a larger corpus or a smaller window")
    if config.batch_size > num_words:
      unit = ds.row_length * self.strategy.num_devices
      raise UserError(f"batch_size {config.batch_size} is more words than the corpus has ({num_words:,} after "
                      f"min_count={ds.min_count}); use at most that, e.g. --config.batch_size="
                      f"{max(unit, num_words // unit * unit)}")
    self.num_steps = config_lib.num_train_steps(config, num_words)
    program = build_program(config, corpus, self.strategy, self.num_steps)
    self.stream, self.keep_probability, self.noise = program.stream, program.keep_probability, program.noise
    self.make_state, self.train_step = program.make_state, program.train_step
    self.state_shapes = jax.eval_shape(program.make_state)
    self.sections = None  # The analogy sections of the latest evaluation.

  def describe(self, state) -> str:
    config, m = self.config, self.config.model
    return (f"word2vec {m.name}, {m.output}: {len(self.corpus.words):,} words × {m.dim}, corpus "
            f"{self.num_words:,} words; {self.num_steps} steps of {config.batch_size} words on "
            f"{self.strategy.num_devices} {jax.devices()[0].platform} device(s)")

  def write_files(self, run) -> None:
    self.corpus.save_vocabulary(os.path.join(run.path, "vocabulary.tsv"))

  def step(self, state, step: int):
    start = (step - 1) * self.config.batch_size % self.num_words
    return self.train_step(state, self.stream, np.int32(start), self.keep_probability, self.noise)

  def data_state(self, step: int) -> dict:
    return {"words_seen": step * self.config.batch_size}

  def _vectors(self, state) -> np.ndarray:
    return np.asarray(jax.device_get(state.params["input"]))

  def evaluate(self, state) -> dict[str, dict]:
    if not self.lead:  # Host-side numpy on the gathered table: process 0's job.
      return {}
    metrics, self.sections = evaluate(self.corpus.words, self._vectors(state), self.config.eval)
    return {"eval": metrics}

  def plot_title(self) -> str:
    ds = self.config.dataset
    return f"word2vec {self.config.model.name} on {ds.text_file or ds.name}"

  def export(self, state, run, final_state: str) -> dict:
    if final_state == "done" and self.sections is None:  # Finishing a run whose last eval was logged.
      _, self.sections = evaluate(self.corpus.words, self._vectors(state), self.config.eval)
    if final_state == "done":
      vectors = word_vectors.WordVectors(self.corpus.words, self._vectors(state))
      path = os.path.join(run.path, "vectors.txt")
      vectors.save_word2vec_format(path, binary=False)
      vectors.save_word2vec_format(os.path.join(run.path, "vectors.bin"), binary=True)
      print(f"Vectors: {path} (and vectors.bin)", flush=True)
    return {"vocabulary_size": len(self.corpus.words), "corpus_words": self.num_words,
            "analogy_sections": self.sections or []}
