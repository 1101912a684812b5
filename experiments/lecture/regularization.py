r"""Regularization against overfitting: an MLP on 1,000 real MNIST digits, with and without it.

    python experiments/lecture/regularization.py --workdir=runs/regularization [--quick]

Variants: none, L2 penalty, L1 penalty, dropout 0.2, dropout 0.5, dropout 0.5 + L2. Each is a
normal trainer run (its workdir under runs/<variant>/, resumable) that evaluates on the 1,000
training digits and on MNIST-5k's 1,000 test digits. Writes curves.png (train and test accuracy
against the step), results.json and results.md (final accuracies, the generalization gap and the
lecture's claims checked against them).
"""


import matplotlib.pyplot as plt
import scaffold
from absl import flags

from trends_jax.run import plots
from trends_jax.run.workdir import Workdir
from trends_jax.training import loop

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_integer("seed", 0, "The trainer's seed (config.seed): initialization, batches, dropout.")

# variant: overrides (dotted paths) of configs/lecture/regularization.py.
VARIANTS = {
    "none": {},
    "l2": {"optimizer.l2": 2e-3},
    "l1": {"optimizer.l1": 1e-4},
    "dropout_0.2": {"model.dropout_rate": 0.2},
    "dropout_0.5": {"model.dropout_rate": 0.5},
    "dropout_0.5+l2": {"model.dropout_rate": 0.5, "optimizer.l2": 2e-3},
}


def lecture_claims(final: dict[str, dict]) -> dict[str, bool]:
  """The lecture's claims, from each variant's final accuracies. On 1,000 test digits a difference
  under about a point is noise; the claims state the measured order all the same."""
  none = final["none"]
  better = lambda variant: final[variant]["test_accuracy"] > none["test_accuracy"]  # noqa: E731
  return {
      "without regularization the big MLP memorizes its 1,000 training digits (train accuracy ≥ 0.99)":
          none["train_accuracy"] >= 0.99,
      "without regularization it overfits (train accuracy more than 5 points above test accuracy)":
          none["gap"] > 0.05,
      "an L2 penalty raises test accuracy": better("l2"),
      "an L1 penalty raises test accuracy": better("l1"),
      "dropout 0.5 raises test accuracy": better("dropout_0.5"),
      "dropout 0.5 and L2 combined beat either alone": final["dropout_0.5+l2"]["test_accuracy"] > max(
          final["dropout_0.5"]["test_accuracy"], final["l2"]["test_accuracy"]),
  }


def main(argv):
  del argv
  curves, rows = {}, []
  for variant, overrides in VARIANTS.items():
    config = scaffold.load_config("lecture/regularization", "quick" if FLAGS.quick else None)
    config.dataset.data_dir = FLAGS.data_dir
    config.update_from_flattened_dict(overrides)
    config.seed = FLAGS.seed
    run_dir = scaffold.output("runs", variant)
    print(f"--- {variant}", flush=True)
    status = scaffold.run_user_code(loop.train_and_evaluate, config, run_dir)
    records = Workdir(run_dir).read_metrics()
    curves[variant] = records
    final = {split: [r for r in records if r["split"] == split][-1] for split in ("train_eval", "eval")}
    rows.append({"variant": variant, "train_accuracy": final["train_eval"]["accuracy"],
                 "test_accuracy": final["eval"]["accuracy"],
                 "gap": final["train_eval"]["accuracy"] - final["eval"]["accuracy"],
                 "test_loss": final["eval"]["loss"], "steps": status["step"]})

  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for ax, split, title in ((axes[0], "train_eval", "1,000 training digits"), (axes[1], "eval", "1,000 test digits")):
    for variant, records in curves.items():
      points = [(r["step"], r["accuracy"]) for r in records if r["split"] == split]
      ax.plot(*zip(*points), marker="o", ms=2, label=variant)
    ax.set_title(f"accuracy on {title}")
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
  axes[0].legend()
  plots.save(fig, scaffold.output("curves.png"))

  best = max(rows, key=lambda r: r["test_accuracy"])
  none = rows[0]
  claims = lecture_claims({r["variant"]: r for r in rows})
  notes = (f"MLP 2×1024 ReLU, SGD momentum 0.9 lr 0.05, batch 100, {rows[0]['steps']} steps on the first "
           "1,000 MNIST-5k training digits; test: MNIST-5k's 1,000 test digits. "
           f"Without regularization the gap is {none['gap']:.3f}; the best test accuracy is "
           f"{best['variant']} ({best['test_accuracy']:.3f} vs {none['test_accuracy']:.3f}).")
  scaffold.finish("Regularization on 1,000 MNIST digits", {"variants": VARIANTS},
                  {"final accuracies": rows}, notes, claims)


if __name__ == "__main__":
  scaffold.run(main)
