r"""How a step's cost grows with its size on this machine: where the CPU (or device) saturates.

    python experiments/bench/scaling.py --workdir=runs/bench_scaling [--quick] [--models=cnn,resnet18]
        [--batch_sizes=1,2,4,8,16,32,64,128,256,512] [--widths=0.25,0.5,1,2]
        [--vocab_sizes=10000,30000,100000,300000,1000000] [--corpus_sizes=1000000,10000000,50000000]

- Image models, each config's own compiled train step (`supervised.build_program`: forward,
  loss, backward, optimizer) on a random batch already on the device: examples/s against the
  batch size at the config's width, and against the width (every layer's channels × w) at
  --width_batch. Models: --cnn_config (configs/default.py, the quick start's CNN on 28×28×1) and
  --resnet_config (configs/cifar10.py:resnet18, 32×32×3).
- word2vec, configs/word2vec_skipgram.py's step (`training.word2vec.build_program`) on a random
  Zipf-distributed stream: words/s against the vocabulary size (corpus of --corpus_sizes[0]
  words) and against the corpus size (vocabulary of 30,000).
Each point: the median of enough calls for about --seconds seconds (at least 2) after one
warm-up call; compilation excluded. Writes results.json, results.md and scaling.png.
"""

import functools
import os

import jax
import matplotlib.ticker as ticker
import numpy as np
from absl import flags
from ml_collections import config_flags

from trends_jax.bench import timing as benchmark
from trends_jax.data import word_corpus
from trends_jax.run import cli, plots, results as report
from trends_jax.training import parallel, supervised, word2vec

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("cnn_config", os.path.join(REPO, "configs", "default.py"), "The CNN's config.")
config_flags.DEFINE_config_file("resnet_config", os.path.join(REPO, "configs", "cifar10.py:resnet18"),
                                "The ResNet's config.")
config_flags.DEFINE_config_file("word2vec_config", os.path.join(REPO, "configs", "word2vec_skipgram.py"),
                                "The word2vec config.")
flags.DEFINE_string("workdir", None, "Where results.json, results.md and scaling.png go.")
flags.mark_flag_as_required("workdir")
flags.DEFINE_list("models", ["cnn", "resnet18"], "Image models to sweep: cnn and/or resnet18 (none: word2vec only).")
flags.DEFINE_list("batch_sizes", ["1", "2", "4", "8", "16", "32", "64", "128", "256", "512"], "Image batch sizes.")
flags.DEFINE_list("widths", ["0.25", "0.5", "1", "2"], "Width multipliers of the image models.")
flags.DEFINE_integer("width_batch", 32, "Batch size of the width sweep.")
flags.DEFINE_list("vocab_sizes", ["10000", "30000", "100000", "300000", "1000000"], "word2vec vocabulary sizes.")
flags.DEFINE_list("corpus_sizes", ["1000000", "10000000", "50000000"], "word2vec corpus sizes (words).")
flags.DEFINE_float("seconds", 3.0, "Timing budget per point.")
flags.DEFINE_bool("quick", False, "Tiny sizes (for tests).")

IMAGE_SHAPES = {"cnn": (28, 28, 1), "resnet": (32, 32, 3)}
QUICK = {"batch_sizes": [2], "widths": [0.5], "width_batch": 2, "vocab_sizes": [500, 2000],
         "corpus_sizes": [20_000, 40_000], "seconds": 0.05}
QUICK_RESNET_FILTERS = 4


def widened(config, width: float):
  """The config with every layer's channels scaled by `width` (at least 1)."""
  config = config.copy_and_resolve_references()
  scale = lambda n: max(1, round(n * width))  # noqa: E731
  with config.unlocked():
    m = config.model
    if "num_filters" in m:
      m.num_filters = scale(m.get("num_filters") or 64)
    elif m.name == "resnet18":
      m.num_filters = scale(64)
    if "features" in m:
      m.features = tuple(scale(f) for f in m.features)
    if "hidden" in m:
      m.hidden = scale(m.hidden)
  return config


def _median_seconds(run) -> float:
  run()  # Warm-up (and compilation, for a lazily compiled step).
  first = benchmark.time_calls(run, 1, warmup=0).median
  return benchmark.time_calls(run, max(2, min(50, int(FLAGS.seconds / max(first, 1e-6)))), warmup=0).median


def image_step_seconds(config, image_shape: tuple, batch_size: int) -> float:
  strategy = parallel.create("jit", jax.devices()[:1])
  program = supervised.build_program(config, strategy, np.zeros((1, *image_shape), np.float32), 10, 1000)
  state = strategy.init_state(program.make_state)
  rng = np.random.default_rng(0)
  batch = strategy.put_batch({"inputs": rng.normal(size=(batch_size, *image_shape)).astype(np.float32),
                              "label": rng.integers(0, 10, batch_size).astype(np.int32)})
  step = program.train_step.lower(state, batch).compile()

  def run():
    nonlocal state
    state, metrics = step(state, batch)
    jax.block_until_ready((state, metrics))

  return _median_seconds(run)


def word2vec_step_seconds(config, vocab_size: int, corpus_size: int) -> float:
  """Seconds per step of the config's word2vec step (the trainer's own program) on a stream of
  `corpus_size` Zipf-distributed words."""
  rng = np.random.default_rng(0)
  frequency = 1.0 / np.arange(1, vocab_size + 1)
  ids = rng.choice(vocab_size, size=corpus_size, p=frequency / frequency.sum()).astype(np.int32)
  counts = np.maximum(np.bincount(ids, minlength=vocab_size), 1)  # Every word seen, as min_count ensures.
  corpus = word_corpus.WordCorpus([str(i) for i in range(vocab_size)], counts, ids)
  strategy = parallel.create("jit", jax.devices()[:1])
  program = word2vec.build_program(config, corpus, strategy, 1_000_000)
  state, position = strategy.init_state(program.make_state), 0

  def run():
    nonlocal state, position
    state, metrics = program.train_step(state, program.stream, np.int32(position), program.keep_probability,
                                        program.noise)
    position = (position + config.batch_size) % corpus_size
    jax.block_until_ready((state, metrics))

  return _median_seconds(run)


def plot(tables: dict, width_batch: int, path: str) -> None:
  fig, axes = plots.pyplot().subplots(1, 3, figsize=(15, 4.2))
  for ax, (name, key, x_label, rate) in zip(axes, (
      ("examples/s against the batch size", "batch_size", "batch size", "examples_per_sec"),
      ("examples/s against the width", "width", f"width multiplier (batch {width_batch})", "examples_per_sec"),
      ("word2vec words/s against the vocabulary size", "vocab_size", "vocabulary size", "words_per_sec"))):
    rows = tables[name]
    for model in dict.fromkeys(r["model"] for r in rows):
      points = [r for r in rows if r["model"] == model]
      ax.plot([r[key] for r in points], [r[rate] for r in points], "o-", label=model)
    ax.set(xscale="log", yscale="log", xlabel=x_label, ylabel=rate.replace("_per_sec", "/s"), title=name)
    ticks = sorted({r[key] for r in rows})
    ax.set_xticks(ticks, [f"{int(t):,}" if float(t).is_integer() else f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
  plots.save(fig, path)


def main(argv):
  del argv
  if FLAGS.quick:
    for name, value in QUICK.items():
      setattr(FLAGS, name, [str(v) for v in value] if isinstance(value, list) else value)
    with FLAGS.resnet_config.unlocked():
      FLAGS.resnet_config.model.num_filters = QUICK_RESNET_FILTERS
  try:
    batch_sizes = [int(b) for b in FLAGS.batch_sizes]
    widths = [float(w) for w in FLAGS.widths]
    vocab_sizes = [int(v) for v in FLAGS.vocab_sizes]
    corpus_sizes = [int(c) for c in FLAGS.corpus_sizes]
  except ValueError as error:
    cli.fail(f"--batch_sizes, --vocab_sizes and --corpus_sizes take integers, --widths numbers: {error}")
  if min(batch_sizes + vocab_sizes + corpus_sizes + [FLAGS.width_batch]) < 1 or min(widths) <= 0:
    cli.fail("every size and width must be positive")
  w2v = FLAGS.word2vec_config
  if min(corpus_sizes) < w2v.batch_size:
    cli.fail(f"--corpus_sizes must be at least the word2vec step ({w2v.batch_size} words), got {min(corpus_sizes)}")
  unknown = sorted(set(FLAGS.models) - {"cnn", "resnet18"})
  if unknown:
    cli.fail(f"--models takes cnn and/or resnet18, got {', '.join(unknown)}")
  configs = {name: value for name, value in (
      ("cnn (configs/default.py)", (FLAGS.cnn_config, IMAGE_SHAPES["cnn"])),
      ("resnet18 (configs/cifar10.py)", (FLAGS.resnet_config, IMAGE_SHAPES["resnet"])))
      if name.split()[0] in FLAGS.models}

  tables = {"examples/s against the batch size": [], "examples/s against the width": [],
            "word2vec words/s against the vocabulary size": [], "word2vec words/s against the corpus size": []}
  for model, (config, shape) in configs.items():
    for batch_size in batch_sizes:
      seconds = cli.run_user_code(functools.partial(image_step_seconds, config, shape, batch_size))
      tables["examples/s against the batch size"].append(
          {"model": model, "batch_size": batch_size, "step_seconds": seconds, "examples_per_sec": batch_size / seconds})
      print(f"{model} batch {batch_size}: {batch_size / seconds:,.1f} examples/s", flush=True)
    for width in widths:
      seconds = cli.run_user_code(functools.partial(image_step_seconds, widened(config, width), shape,
                                                    FLAGS.width_batch))
      tables["examples/s against the width"].append(
          {"model": model, "width": width, "step_seconds": seconds, "examples_per_sec": FLAGS.width_batch / seconds})
      print(f"{model} width {width}: {FLAGS.width_batch / seconds:,.1f} examples/s", flush=True)
  for table, key, sizes in (("word2vec words/s against the vocabulary size", "vocab_size", vocab_sizes),
                            ("word2vec words/s against the corpus size", "corpus_size", corpus_sizes)):
    for size in sizes:
      vocab, corpus = (size, corpus_sizes[0]) if key == "vocab_size" else (min(30_000, vocab_sizes[-1]), size)
      seconds = word2vec_step_seconds(w2v, vocab, corpus)
      tables[table].append({"model": f"word2vec {w2v.model.name}", "vocab_size": vocab, "corpus_size": corpus,
                            "step_seconds": seconds, "words_per_sec": w2v.batch_size / seconds})
      print(f"word2vec vocabulary {vocab:,}, corpus {corpus:,}: {w2v.batch_size / seconds:,.0f} words/s", flush=True)

  setup = {"platform": jax.devices()[0].platform, "cpu_count": os.cpu_count(), "jax": jax.__version__,
           "width_batch": FLAGS.width_batch, "seconds_per_point": FLAGS.seconds,
           "word2vec_words_per_step": w2v.batch_size}
  notes = ("Median seconds per compiled train step on data already on the device, compilation excluded; "
           "examples/s = batch / seconds, words/s = corpus words per step / seconds.")
  report.write(FLAGS.workdir, "How step cost grows with size", setup, tables, notes)
  plot(tables, FLAGS.width_batch, os.path.join(FLAGS.workdir, "scaling.png"))
  print(open(os.path.join(FLAGS.workdir, "results.md")).read())


if __name__ == "__main__":
  cli.run(main)
