r"""Text classification on BBC News: bag-of-words logistic regression against a character CNN.

    python experiments/lecture/text_classification.py --workdir=runs/text_classification [--quick] [--data_dir=...]

Four runs of the shipped configs, each a normal trainer run (resumable) under runs/<name>/:
binary bag of words, word counts and TF-IDF (`configs/bbc_bow.py`, logistic regression) and the
character CNN (`configs/bbc_char_cnn.py`), each also evaluated on the whole training split.
Writes results.json and results.md (test and train accuracy, parameters, wall seconds, the
lecture's claims checked against them) and accuracy.png (final accuracies as bars; test accuracy
against the step). `--quick` runs the configs' `quick` variants.
"""


import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import scaffold
from absl import flags

from trends_jax import data, models
from trends_jax.data import pipeline
from trends_jax.run import plots
from trends_jax.run.workdir import Workdir
from trends_jax.training import loop

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_integer("seed", 0, "The trainer's seed (config.seed): initialization, batches, dropout.")

# run name: (config file, argument, what the table calls it)
RUNS = {
    "bow_binary": ("bbc_bow", "binary", "binary bag of words + logistic regression"),
    "bow_count": ("bbc_bow", "count", "word counts + logistic regression"),
    "tfidf": ("bbc_bow", "tfidf", "TF-IDF + logistic regression"),
    "char_cnn": ("bbc_char_cnn", None, "character CNN"),
}


def parameter_count(config) -> int:
  """The model's parameters, from shapes only, on the config's own first example."""
  ds = config.dataset
  source = data.data_source(ds.name, ds.train_split, ds.data_dir)
  example = pipeline.example_batch(source, data.DatasetSpec.from_config(ds))
  fields = {k: v for k, v in config.model.items() if k != "name"}
  model = models.create(config.model.name, num_classes=data.num_classes(ds.name, ds.data_dir), **fields)
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.asarray(example["inputs"])))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["params"]))


def plot(rows: list[dict], curves: dict[str, list], path: str) -> None:
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
  positions = np.arange(len(rows))
  for offset, split, label in ((-0.2, "train_accuracy", "train"), (0.2, "test_accuracy", "test")):
    bars = axes[0].bar(positions + offset, [r[split] for r in rows], width=0.4, label=label)
    axes[0].bar_label(bars, fmt="%.3f", fontsize=8)
  axes[0].set_xticks(positions, [r["run"] for r in rows])
  axes[0].set_ylim(0, 1.2)
  axes[0].set_ylabel("accuracy")
  axes[0].set_title("final accuracy, BBC News (5 topics)")
  axes[0].legend(loc="upper right", ncol=2)
  for run, points in curves.items():
    axes[1].plot(*zip(*points), marker="o", ms=3, label=run)
  axes[1].set_xlabel("step")
  axes[1].set_ylabel("test accuracy")
  axes[1].set_title("test accuracy during training")
  axes[1].grid(alpha=0.3)
  axes[1].legend()
  plots.save(fig, path)


def lecture_claims(final: dict[str, dict]) -> dict[str, bool]:
  """The lecture's claims, from the final test accuracies (5 topics; always guessing the largest
  scores about 0.23)."""
  test = {run: row["test_accuracy"] for run, row in final.items()}
  return {
      "a bag of words with logistic regression classifies the topics (test accuracy ≥ 0.9)":
          max(test["bow_binary"], test["bow_count"]) >= 0.9,
      "TF-IDF weighting is at least as accurate as a binary bag of words": test["tfidf"] >= test["bow_binary"],
      "a character CNN (convolutions and pooling over the characters) learns the task (test accuracy > 0.5)":
          test["char_cnn"] > 0.5,
  }


def main(argv):
  del argv
  rows, curves, setups = [], {}, {}
  for run, (config_name, arg, description) in RUNS.items():
    if FLAGS.quick:
      arg = f"{arg},quick" if arg else "quick"
    config = scaffold.load_config(config_name, arg)
    config.dataset.data_dir = FLAGS.data_dir
    config.seed = FLAGS.seed
    config.dataset.train_eval_split = "train"  # 1,781 articles: cheap next to training.
    run_dir = scaffold.output("runs", run)
    print(f"--- {run}: configs/{config_name}.py{':' + arg if arg else ''}", flush=True)
    status = scaffold.run_user_code(loop.train_and_evaluate, config, run_dir)
    records = Workdir(run_dir).read_metrics()
    final = {split: [r for r in records if r["split"] == split][-1] for split in ("train_eval", "eval")}
    curves[run] = [(r["step"], r["accuracy"]) for r in records if r["split"] == "eval"]
    setups[run] = {"config": f"configs/{config_name}.py:{arg or ''}", "model": config.model.name,
                   "preprocess": config.dataset.preprocess, "steps": status["step"],
                   "batch_size": config.batch_size}
    rows.append({"run": run, "features / model": description,
                 "test_accuracy": final["eval"]["accuracy"], "train_accuracy": final["train_eval"]["accuracy"],
                 "parameters": scaffold.run_user_code(parameter_count, config),
                 "steps": status["step"], "wall_seconds": status["wall_seconds"]})

  plot(rows, curves, scaffold.output("accuracy.png"))
  best = max(rows, key=lambda r: r["test_accuracy"])
  claims = lecture_claims({r["run"]: r for r in rows})
  notes = (f"BBC News, 1,781 training / 444 test articles, 5 topics. Test accuracy on the 444; train "
           f"accuracy on all 1,781 training articles. Best: {best['run']} ({best['test_accuracy']:.3f}). "
           "Wall seconds: each run's own, data preparation and compilation included.")
  scaffold.finish("Text classification on BBC News", {"runs": setups},
                  {"accuracy": rows}, notes, claims)


if __name__ == "__main__":
  scaffold.run(main)
