r"""word2vec: trends_jax next to gensim, same corpus, same hyperparameters, same machine.

    python experiments/bench/word2vec.py --workdir=runs/bench_word2vec [--corpus=w2v_corpus/large]
        [--architectures=skipgram,cbow] [--variants=pool,per_pair] [--quick]

Both train 100-d vectors with window 5, 5 negatives, subsampling 1e-3, min count 5, 5 epochs,
the rate decaying linearly from 0.025 (skip-gram) or 0.05 (CBOW) to 1e-4 of it. gensim uses
every core (`workers`); trends_jax runs configs/word2vec_<architecture>.py on this process's
devices. Both sets of vectors are scored by the same code (trends_jax.evaluation.word_vectors): Google
analogies by 3CosAdd over the 30,000 most frequent words, WordSim-353 and SimLex-999 Spearman.

Training words/s counts corpus words (before subsampling) × epochs over training time alone:
gensim's `train()`, trends_jax's steps (compilation and evaluation excluded; its full wall time is
in the table too). Variants of trends_jax's skip-gram: `pool` (each pair picks its 5 negatives
from 64 noise words drawn per block of 100 centres, the config's default) and `per_pair` (5 negatives per pair
straight from the noise distribution, as word2vec.c).
Writes results.json (with the lecture's claim checked: each trends_jax model's WordSim-353
Spearman > 0.5), results.md and comparison.png; each trends_jax run is a normal resumable workdir
under runs/.
"""

import importlib.util
import json
import os
import time

import numpy as np
from absl import flags

from trends_jax import data
from trends_jax.evaluation import word_vectors
from trends_jax.run import cli, plots, results as report
from trends_jax.training import loop, word2vec

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Where runs, results and figures go.")
flags.DEFINE_string("corpus", "w2v_corpus/large", "TFDS name of the corpus (a `text` feature per document).")
flags.DEFINE_list("architectures", ["skipgram", "cbow"], "skipgram and/or cbow.")
flags.DEFINE_list("variants", ["pool"], "trends_jax skip-gram negatives: pool and/or per_pair.")
flags.DEFINE_integer("workers", os.cpu_count(), "gensim worker threads.")
flags.DEFINE_bool("quick", False, "One epoch of gensim and 30 steps of trends_jax on w2v_corpus/small (for tests).")
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.mark_flag_as_required("workdir")

VARIANTS = {"pool": {}, "per_pair": {"model.negative_pool": 0}}  # pool: the config's own.


def _config(architecture: str):
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs",
                      f"word2vec_{architecture}.py")
  spec = importlib.util.spec_from_file_location(f"word2vec_{architecture}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config("quick" if FLAGS.quick else None)


def _scores(words, vectors, config) -> dict:
  metrics, _ = word2vec.evaluate(words, vectors, config.eval)
  return metrics


def run_gensim(config, documents) -> dict:
  from gensim.models import Word2Vec
  m, ds, opt = config.model, config.dataset, config.optimizer
  epochs = 1 if FLAGS.quick else int(config.num_epochs)
  model = Word2Vec(vector_size=m.dim, window=m.window, negative=m.negatives, sample=ds.sample,
                   min_count=ds.min_count, sg=int(m.name == "skipgram"), cbow_mean=int(m.cbow_mean),
                   alpha=opt.learning_rate, min_alpha=opt.end_learning_rate, workers=FLAGS.workers,
                   seed=config.seed + 1)
  model.build_vocab(documents)
  start = time.perf_counter()
  model.train(documents, total_examples=len(documents), epochs=epochs)
  seconds = time.perf_counter() - start
  words = model.wv.index_to_key
  return {"engine": f"gensim ({FLAGS.workers} workers)", "train_seconds": seconds,
          "words_per_sec": model.corpus_total_words * epochs / seconds, "wall_seconds": seconds,
          **_scores(words, model.wv.vectors, config)}


def run_trends_jax(config, name: str) -> dict:
  import jax
  workdir = os.path.join(FLAGS.workdir, "runs", name)
  start = time.perf_counter()
  status = loop.train_and_evaluate(config, workdir)
  wall = time.perf_counter() - start
  if status["state"] != "done":
    raise SystemExit(f"trends_jax run {name} ended {status['state']}; see {workdir}")
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    train = [json.loads(line) for line in f if '"train"' in line]
  rates = [r["words_per_sec"] for r in train if "words_per_sec" in r]
  words = [line.split("\t")[0] for line in open(os.path.join(workdir, "vocabulary.tsv"), encoding="utf-8")]
  vectors = word_vectors.load_word2vec_format(os.path.join(workdir, "vectors.bin"), binary=True)
  assert vectors.words == words
  return {"engine": f"trends_jax ({jax.device_count()} {jax.devices()[0].platform})",
          "train_seconds": status["num_train_steps"] * config.batch_size / float(np.mean(rates)),
          "words_per_sec": float(np.mean(rates)), "wall_seconds": status.get("wall_seconds", wall),
          **_scores(vectors.words, vectors.vectors, config)}


def lecture_claims(rows: list[dict]) -> dict[str, bool]:
  """The lecture's claim (words in similar contexts get close vectors) for each trends_jax model:
  cosine similarity orders the WordSim-353 pairs as people do (0.5 is well clear of chance's 0;
  published word2vec vectors reach 0.6–0.7)."""
  claims = {}
  for r in rows:
    if r["engine"].startswith("trends_jax"):
      model = f"{r['architecture']} {r['variant']}".strip()
      claims[f"trends_jax's {model} gives similar words close vectors (WordSim-353 Spearman > 0.5)"] = bool(
          r["wordsim353_spearman"] > 0.5)
  return claims


def plot(rows, path):
  fig, axes = plots.pyplot().subplots(1, 3, figsize=(13, 3.8))
  labels = [f"{r['architecture']}\n{r['engine'].split(' ')[0]} {r['variant']}".strip() for r in rows]
  for ax, key, title in zip(axes, ("words_per_sec", "analogy_accuracy", "wordsim353_spearman"),
                            ("training words/s", "analogy accuracy (3CosAdd)", "WordSim-353 Spearman")):
    ax.bar(range(len(rows)), [r[key] for r in rows],
           color=["tab:gray" if r["engine"].startswith("gensim") else "tab:blue" for r in rows])
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set_title(title)
  plots.save(fig, path, dpi=120)


def main(argv):
  del argv
  for a in FLAGS.architectures:
    if a not in ("skipgram", "cbow"):
      cli.fail(f"--architectures takes skipgram and/or cbow, got {a!r}")
  for v in FLAGS.variants:
    if v not in VARIANTS:
      cli.fail(f"--variants takes {' and/or '.join(VARIANTS)}, got {v!r}")
  corpus = "w2v_corpus/small" if FLAGS.quick else FLAGS.corpus
  rows = []
  for architecture in FLAGS.architectures:
    config = _config(architecture)
    config.dataset.name, config.dataset.data_dir = corpus, FLAGS.data_dir
    source = cli.run_user_code(data.data_source, corpus, config.dataset.split, FLAGS.data_dir)
    documents = [source[i]["text"].decode("utf-8").split() for i in range(len(source))]
    print(f"{architecture}: gensim on {corpus} ({sum(map(len, documents)):,} words)", flush=True)
    rows.append({"architecture": architecture, "variant": "", **run_gensim(config, documents), "speed_vs_gensim": 1.0})
    gensim_rate = rows[-1]["words_per_sec"]
    for variant in (FLAGS.variants if architecture == "skipgram" else [""]):
      run_config = config.copy_and_resolve_references()
      run_config.update_from_flattened_dict(VARIANTS.get(variant, {}))
      print(f"{architecture}: trends_jax {variant}", flush=True)
      row = run_trends_jax(run_config, f"{architecture}_{variant}".rstrip("_"))
      rows.append({"architecture": architecture, "variant": variant, **row,
                   "speed_vs_gensim": row["words_per_sec"] / gensim_rate})

  columns = ["architecture", "engine", "variant", "words_per_sec", "speed_vs_gensim", "analogy_accuracy",
             "analogy_coverage", "wordsim353_spearman", "simlex999_spearman", "train_seconds", "wall_seconds"]
  rows = [{c: r.get(c, "") for c in columns} for r in rows]
  os.makedirs(FLAGS.workdir, exist_ok=True)
  plot(rows, os.path.join(FLAGS.workdir, "comparison.png"))
  claims = lecture_claims(rows)
  report.write(FLAGS.workdir, "word2vec: trends_jax and gensim",
               {"corpus": corpus, "quick": FLAGS.quick, "claims": claims}, {"comparison": rows},
               notes=f"Corpus {corpus}; same hyperparameters (configs/word2vec_*.py); both scored by "
                     "trends_jax.evaluation.word_vectors (analogies over the 30,000 most frequent words).\n\n"
                     + report.claim_lines(claims))
  print(report.markdown_table(rows), flush=True)


if __name__ == "__main__":
  cli.run(main)
