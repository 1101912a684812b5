"""The word2vec trainer: `train_and_evaluate(config, workdir)` with the workdir contract of every run.

word2vec's examples are windows of one long word stream, so this trainer has its own data
path: the corpus lives on the devices and each step samples its windows and negatives there
(`trends_jax.data.word_windows`), from a key folded with the step number, so resuming from a
checkpoint continues exactly. Everything else is the framework's: config.json, metrics.jsonl,
TensorBoard, orbax checkpoints, status.json, preemption, optax optimizers, data parallelism over
a ('data',) mesh (rows of the block are sharded; XLA all-reduces the gradients).

Reads top to bottom: checks → corpus → model and optimizer → state → step → loop → export.
The trained vectors are written to the workdir as vectors.txt and vectors.bin (word2vec
formats) with vocabulary.tsv, and evaluated on the Google analogies, WordSim-353 and SimLex-999.
"""

import functools
import math
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from trends_jax import data, optim
from trends_jax.training import config as config_lib
from trends_jax.training import parallel, steps
from trends_jax.run import plots
from trends_jax.evaluation import word_vectors
from trends_jax.run.checkpoint import Checkpointer
from trends_jax.data import word_corpus, word_windows
from trends_jax.errors import UserError
from trends_jax.run.metric_writer import MetricWriter, Progress
from trends_jax.models import word2vec
from trends_jax.run.preemption import PreemptionGuard
from trends_jax.run.workdir import Workdir

MODEL_FIELDS = ("dim", "output", "negatives", "negative_pool", "cbow_mean")


def base_config() -> ml_collections.ConfigDict:
  """Every field this trainer reads; defaults are word2vec.c's skip-gram recipe."""
  c = ml_collections.ConfigDict()
  c.trainer = "word2vec"
  c.seed = 0
  c.batch_size = 16_000  # Corpus words per step (global): rows of dataset.row_length words.
  c.num_train_steps = 0  # 0: from num_epochs.
  c.num_epochs = 5.0
  c.eval_every_steps = 1000
  c.log_every_steps = 100
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 3
  c.parallel = "jit"
  c.dtype = "float32"
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
      "negative_pool": 0, "cbow_mean": True})
  c.optimizer = ml_collections.ConfigDict({
      # word2vec.c: plain SGD, the rate decaying linearly to 1e-4 of its start over training.
      "name": "sgd", "learning_rate": 0.025, "schedule": "linear", "end_learning_rate": 2.5e-6,
      "warmup_steps": 0})
  c.dataset = ml_collections.ConfigDict({
      "name": "w2v_corpus/small", "data_dir": ml_collections.config_dict.placeholder(str),
      "split": "train", "text_key": "text",
      "text_file": "",  # A UTF-8 text file instead of a dataset: one document per line.
      "min_count": 5, "max_vocab_size": 0, "sample": 1e-3, "noise_power": 0.75, "row_length": 1000})
  c.eval = ml_collections.ConfigDict({
      "analogies": "questions-words", "restrict_vocab": 30_000,
      "word_pairs": ("wordsim353", "simlex999")})
  return c


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Raises UserError naming the first bad field and how to fix it."""
  m, ds = config.model, config.dataset
  word2vec.ARCHITECTURES.get(m.name)
  word2vec.OUTPUTS.get(m.output)
  optim.OPTIMIZERS.get(config.optimizer.name)
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
  if not (config.num_train_steps > 0 or config.num_epochs > 0):
    raise UserError("set num_train_steps or num_epochs > 0, e.g. --config.num_epochs=5")
  for field in ("eval_every_steps", "log_every_steps", "checkpoint_every_steps"):
    if config[field] <= 0:
      raise UserError(f"{field} must be > 0, got {config[field]}")
  if config.dtype not in ("float32", "bfloat16"):
    raise UserError(f"dtype must be float32 or bfloat16, got {config.dtype!r}")


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
                    sparse_updates: bool, max_repeats: int = 0):
  def train_step(state, stream, start, keep_probability, noise_cdf):
    block = jax.lax.dynamic_slice(stream, (start,), (rows * row_length,)).reshape(rows, row_length)
    if row_sharding.num_devices > 1:  # On one device the constraint costs ~0.1 s a step on CPU.
      block = jax.lax.with_sharding_constraint(block, row_sharding)
    window_key, negatives_key = jax.random.split(jax.random.fold_in(state.rng, state.step))
    words, valid = word_windows.sample_windows(window_key, block, keep_probability, window)
    negatives = model.sample_negatives(negatives_key, noise_cdf, words.shape, window)

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
    return new_state, metrics

  return train_step


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, devices=None) -> dict:
  """Trains word vectors for `config` in `workdir` (resuming what is there); returns the final status."""
  lead = jax.process_index() == 0
  launch_time = time.perf_counter()

  # --- Checks ---
  strategy = parallel.create(config.parallel, devices)
  validate(config, strategy.num_devices)
  run = Workdir(workdir)
  run.check_config(config_lib.as_json(config), config_lib.identity_differences)
  for name in (config.eval.analogies, *config.eval.word_pairs):
    data.word_eval_file(name)

  # --- Corpus: on every device, with its subsampling and noise distributions ---
  ds, m = config.dataset, config.model
  corpus = load_corpus(ds)
  num_words = len(corpus.ids)
  if num_words < 2 * m.window + 1:
    raise UserError(f"the corpus has {num_words} words after min_count={ds.min_count}, fewer than one "
                    f"window (2 × model.window + 1 = {2 * m.window + 1}); use a larger corpus or a smaller window")
  num_steps = config.num_train_steps or math.ceil(config.num_epochs * num_words / config.batch_size)
  # The stream wraps around: append enough of its start that any step's block is contiguous.
  stream = np.resize(corpus.ids, num_words + config.batch_size)
  put = functools.partial(jax.device_put, device=strategy.replicated)
  stream, keep_probability, noise_cdf = put(stream), put(corpus.keep_probabilities(ds.sample)), put(
      np.cumsum(corpus.noise_distribution(ds.noise_power)).astype(np.float32))

  # --- Model and optimizer ---
  model = word2vec.Word2Vec(vocab_size=len(corpus.words), architecture=m.name,
                            dtype=jnp.dtype(config.dtype), **{k: m[k] for k in MODEL_FIELDS})
  tx, learning_rate_fn = optim.create(config.optimizer, num_steps)

  def make_state():
    params_key, state_key = jax.random.split(jax.random.PRNGKey(config.seed))
    params = model.init(params_key, method=lambda module: module.vectors())["params"]
    return steps.TrainState.create(apply_fn=model.apply, params=params, tx=tx, rng=state_key)

  # --- State: from the latest checkpoint, or new ---
  checkpointer = Checkpointer(run.checkpoint_dir, config.keep_checkpoints)
  latest_step = checkpointer.latest_step() or 0
  progress = Progress(num_steps, latest_step, enabled=lead)
  if latest_step >= num_steps:
    checkpointer.close()
    progress.say(f"Run in {run.path} already finished at step {latest_step}; nothing to train.")
    return run.read_status() or run.write_status("done", latest_step, num_train_steps=num_steps)
  if lead:
    run.write_config(config_lib.as_json(config))
    corpus.save_vocabulary(os.path.join(run.path, "vocabulary.tsv"))
  # A damaged newest checkpoint is moved aside and the one before it restored.
  restored = latest_step and checkpointer.restore_latest(strategy.abstract_state(jax.eval_shape(make_state)),
                                                       warn=progress.say)
  start_step = 0
  if restored:
    start_step, host_state, _ = restored
    state = strategy.put_state(host_state)
    if lead:
      run.drop_metrics_after(start_step)
    progress.say(f"Resumed from step {start_step} in {run.checkpoint_dir}")
  else:
    state = strategy.init_state(make_state)
  previous_seconds = (run.read_status() or {}).get("wall_seconds", 0.0) if start_step else 0.0
  progress.say(f"word2vec {m.name}, {m.output}: {len(corpus.words):,} words × {m.dim}, corpus "
               f"{num_words:,} words; {num_steps} steps of {config.batch_size} words on "
               f"{strategy.num_devices} {jax.devices()[0].platform} device(s)")

  # --- Step ---
  rows = config.batch_size // ds.row_length
  train_step = jax.jit(
      make_train_step(model, learning_rate_fn, m.window, rows, ds.row_length, strategy.batch_sharding,
                      config.sparse_updates, config.max_row_repeats),
      donate_argnums=0)
  writer = MetricWriter(run.metrics_path, run.tensorboard_dir, enabled=lead)
  if lead:
    run.write_status("running", start_step, num_train_steps=num_steps)

  def save(step):
    if checkpointer.latest_step() != step:
      checkpointer.save(step, state, {"words_seen": step * config.batch_size})

  def evaluate_now(step):
    metrics, sections = evaluate(corpus.words, np.asarray(jax.device_get(state.params["input"])), config.eval)
    writer.write(step, "eval", metrics)
    progress.report(step, "eval", metrics)
    return metrics, sections

  # --- Loop ---
  pending, sections = [], []
  last_log_time, last_log_step = None, start_step
  final_state, step = "done", start_step
  # The guard stays on until the vectors, the last checkpoint and the status are written, so a
  # second signal (or Ctrl-C) during them cannot interrupt them.
  with PreemptionGuard() as preemption:
    try:
      loop_start = time.perf_counter()
      for step in range(start_step + 1, num_steps + 1):
        start = (step - 1) * config.batch_size % num_words
        state, metrics = train_step(state, stream, np.int32(start), keep_probability, noise_cdf)
        pending.append(metrics)

        if last_log_time is None:
          jax.block_until_ready(metrics)
          last_log_time, last_log_step = time.perf_counter(), step
          progress.started(step)
          progress.say(f"First step (compile included) took {last_log_time - loop_start:.1f}s")

        log_due = step % config.log_every_steps == 0 or step == num_steps
        checkpoint_due = step % config.checkpoint_every_steps == 0 or step == num_steps
        if log_due or checkpoint_due:
          fetched = jax.device_get(pending)
          if not all(math.isfinite(x["loss"]) and math.isfinite(x["grad_norm"]) for x in fetched):
            final_state = "diverged"
            progress.say(f"Non-finite loss by step {step}; stopped. The last good checkpoint is step "
                         f"{checkpointer.latest_step()}; lower optimizer.learning_rate.")
            break
        if log_due:
          logged = {k: float(np.mean([x[k] for x in fetched])) for k in fetched[0]}
          now = time.perf_counter()
          if step > last_log_step:
            logged["words_per_sec"] = config.batch_size * (step - last_log_step) / (now - last_log_time)
          last_log_time, last_log_step, pending = now, step, []
          writer.write(step, "train", logged)
          progress.report(step, "train", logged)

        side_work_start = time.perf_counter()
        if lead and (step % config.eval_every_steps == 0 or step == num_steps):
          _, sections = evaluate_now(step)
        if checkpoint_due:
          save(step)
        last_log_time += time.perf_counter() - side_work_start

        if preemption.requested:
          save(step)
          final_state = "preempted"
          progress.say(f"{preemption.signal_name}: saved step {step}; run the same command to resume.")
          break
    except BaseException as e:
      checkpointer.close()
      writer.close()
      if lead:
        run.write_status("failed", step, num_train_steps=num_steps, error=f"{type(e).__name__}: {e}")
      raise

    # --- Export ---
    checkpointer.close()
    writer.close()
    if not lead:
      return {"state": final_state, "step": step}
    if final_state == "done":
      vectors = word_vectors.WordVectors(corpus.words, np.asarray(jax.device_get(state.params["input"])))
      vectors.save_word2vec_format(os.path.join(run.path, "vectors.txt"), binary=False)
      vectors.save_word2vec_format(os.path.join(run.path, "vectors.bin"), binary=True)
    records = run.read_metrics()
    final_eval = next((r for r in reversed(records) if r["split"] == "eval"), {})
    if records:
      plots.training_curves(records, run.curves_path, title=f"word2vec {m.name} on {ds.text_file or ds.name}")
    status = run.write_status(final_state, step, num_train_steps=num_steps,
                              wall_seconds=round(previous_seconds + time.perf_counter() - launch_time, 2),
                              vocabulary_size=len(corpus.words), corpus_words=num_words,
                              analogy_sections=sections,
                              **{f"eval_{k}": v for k, v in final_eval.items() if k not in ("step", "split")})
  if final_state == "done":
    progress.say(f"Done: step {step}, " + ", ".join(
        f"{k} {v:.4f}" for k, v in final_eval.items() if k not in ("step", "split")))
    progress.say(f"Vectors: {os.path.join(run.path, 'vectors.txt')} (and vectors.bin)")
  progress.say(f"Metrics: {run.metrics_path}\nCheckpoints: {run.checkpoint_dir}")
  return status
