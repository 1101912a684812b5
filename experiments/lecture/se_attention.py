r"""Squeeze-and-excitation: SE-ResNet against ResNet, the learned channel gates by class, avg vs max squeeze.

    python experiments/lecture/se_attention.py --workdir=runs/se_attention [--quick] [--dataset=fashion_mnist]

The lecture: SENet squeezes each channel to one number (the text says its maximum response; the
paper uses the average), a small dense network with a sigmoid turns those into per-channel weights
in (0, 1), and the channels are rescaled; built on ResNet blocks, trained with the log loss alone.
Trains a small CIFAR-style ResNet (3×3 stem, three stages of basic blocks) three times from the
same batches: without SE, with SE squeezing by the average, with SE squeezing by the maximum. Then
reads every block's gates (`se_gate`, sown by the model) on the test set. Writes results.json,
results.md, training.png (loss curves, test accuracy) and gates_by_class.png (each block's mean
gate per class and channel), with the lecture's claims checked. `--quick`: width 8, 6 steps of 16.
"""

import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
import scaffold
from absl import flags

from trends_jax import data, losses, models
from trends_jax.run import plots
from trends_jax.training import steps as train_steps

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_enum("dataset", "fashion_mnist", ["fashion_mnist", "mnist5k"], "28×28 grey images, 10 classes.")
flags.DEFINE_integer("seed", 0, "Seed of initialization and batches.")

# Sizes: (blocks per stage, width of the first stage, steps, batch size).
FULL = (1, 16, 600, 128)
QUICK = (1, 8, 6, 16)
VARIANTS = {"resnet": None, "se_avg": "avg", "se_max": "max"}  # name: squeeze
SE_REDUCTION = 4  # The paper's 16 would leave the 16-channel first stage a single hidden unit.
LEARNING_RATE = 1e-3
EVAL_BATCH = 500


def train(squeeze, blocks, width, train_x, train_y, test_x, test_y, steps, batch, seed):
  """Adam on the log loss; the loss of every step, test accuracy, and each block's test-set gates."""
  model = models.create("resnet18", num_classes=10, stage_sizes=(blocks,) * 3, num_filters=width,
                        cifar_stem=True, squeeze=squeeze, se_reduction=SE_REDUCTION)
  variables, _ = models.initialize(model, train_x[:2], seed)
  state = train_steps.TrainState.create(apply_fn=model.apply, params=variables["params"], tx=optax.adam(LEARNING_RATE),
                                        batch_stats=variables["batch_stats"], rng=jax.random.PRNGKey(seed))
  step = jax.jit(train_steps.make_train_step(model, losses.softmax_cross_entropy), donate_argnums=0)

  @jax.jit
  def predict(params, batch_stats, x):
    """Predicted classes and every block's gates {block: [batch, channels]} (none without SE)."""
    logits, sown = model.apply({"params": params, "batch_stats": batch_stats}, x, train=False,
                               mutable=["intermediates"])
    gates = {block: values["se"]["se_gate"][0] for block, values in sown.get("intermediates", {}).items()}
    return jnp.argmax(logits, -1), gates

  step_losses = []
  for index in data.shuffled_batches(len(train_x), batch, steps, seed):
    state, metrics = step(state, {"inputs": train_x[index], "label": train_y[index]})
    step_losses.append(metrics["loss"])
  params, batch_stats = state.params, state.batch_stats
  outputs = [jax.device_get(predict(params, batch_stats, test_x[i:i + EVAL_BATCH]))
             for i in range(0, len(test_x), EVAL_BATCH)]
  predicted = np.concatenate([p for p, _ in outputs])
  gates = {block: np.concatenate([g[block] for _, g in outputs]) for block in outputs[0][1]}
  return {"losses": [float(x) for x in jax.device_get(step_losses)], "gates": gates,
          "test_accuracy": float(np.mean(predicted == test_y)),
          "parameters": sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))}


def by_class(gates: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """Mean gate per class and channel: [classes, channels]."""
  return np.stack([gates[labels == c].mean(axis=0) for c in np.unique(labels)])


def class_share(gates: np.ndarray, labels: np.ndarray) -> float:
  """How much the class decides a gate: between-class variance over total variance, mean over channels."""
  means = by_class(gates, labels)
  counts = np.array([np.sum(labels == c) for c in np.unique(labels)])
  between = (counts[:, None] * (means - gates.mean(axis=0)) ** 2).sum(axis=0) / len(labels)
  return float(np.mean(between / np.maximum(gates.var(axis=0), 1e-12)))


def plot_training(runs: dict, path: str) -> None:
  fig, ax = plt.subplots(figsize=(7, 4.2))
  for variant, run in runs.items():
    window = min(20, len(run["losses"]))
    ax.plot(np.convolve(run["losses"], np.ones(window) / window, mode="valid"),
            label=f"{variant}: test accuracy {run['test_accuracy']:.4f}")
  ax.set_yscale("log")
  ax.set_xlabel("step")
  ax.set_ylabel("training loss (mean of 20 steps)")
  ax.grid(alpha=0.3, which="both")
  ax.legend()
  plots.save(fig, path)


def plot_gates(runs: dict, labels: np.ndarray, class_names: list[str], path: str) -> None:
  se = [v for v in runs if runs[v]["gates"]]
  blocks = list(runs[se[0]]["gates"])
  fig, axes = plt.subplots(len(se), len(blocks), figsize=(5 * len(blocks), 4 * len(se)), squeeze=False,
                           layout="constrained")
  for row, variant in zip(axes, se):
    for ax, block in zip(row, blocks):
      image = ax.imshow(by_class(runs[variant]["gates"][block], labels), aspect="auto", cmap="viridis", vmin=0, vmax=1)
      ax.set_yticks(range(len(class_names)), class_names, fontsize=7)
      ax.set_xlabel("channel")
      ax.set_title(f"{variant}, {block}: mean gate", fontsize=9)
  fig.colorbar(image, ax=axes, shrink=0.8)
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv):
  del argv
  start = time.perf_counter()
  blocks, width, steps, batch = QUICK if FLAGS.quick else FULL
  train_x, train_y = scaffold.run_user_code(lambda: data.image_arrays(FLAGS.dataset, "train", FLAGS.data_dir, pool=2))
  test_x, test_y = data.image_arrays(FLAGS.dataset, "test", FLAGS.data_dir, pool=2)
  class_names = data.builder(FLAGS.dataset, FLAGS.data_dir).info.features["label"].names

  runs, rows, gate_rows = {}, [], []
  for variant, squeeze in VARIANTS.items():
    run = train(squeeze, blocks, width, train_x, train_y, test_x, test_y, steps, batch, FLAGS.seed)
    runs[variant] = run
    rows.append({"variant": variant, "squeeze": squeeze or "—", "parameters": run["parameters"],
                 "test_accuracy": run["test_accuracy"],
                 "last_steps_loss": float(np.mean(run["losses"][-steps // 10 - 1:]))})
    gate_rows += [{"variant": variant, "block": block, "mean_gate": float(g.mean()), "gate_std": float(g.std()),
                   "class_share": class_share(g, test_y)} for block, g in run["gates"].items()]
    print(f"{variant}: test accuracy {run['test_accuracy']:.4f}", flush=True)

  plot_training(runs, scaffold.output("training.png"))
  plot_gates(runs, test_y, class_names, scaffold.output("gates_by_class.png"))
  accuracy = {r["variant"]: r["test_accuracy"] for r in rows}
  share = {(r["variant"], r["block"]): r["class_share"] for r in gate_rows}
  first, last = gate_rows[0]["block"], [r["block"] for r in gate_rows if r["variant"] == "se_avg"][-1]
  claims = {
      "SE-ResNet's test accuracy is at least ResNet's": accuracy["se_avg"] >= accuracy["resnet"],
      "squeezing by the maximum (the lecture's text) reaches at least the test accuracy of the average "
      "(the paper's)": accuracy["se_max"] >= accuracy["se_avg"],
      "the gates of the last block depend more on the class than those of the first (SENet paper, Fig. 6)":
          share[("se_avg", last)] > share[("se_avg", first)],
  }
  notes = (f"{FLAGS.dataset} at 14×14 (2×2 average-pooled); CIFAR-style ResNet-{6 * blocks + 2}, widths {width}, "
           f"{2 * width}, {4 * width}, SE reduction {SE_REDUCTION}; {steps} Adam steps (lr {LEARNING_RATE}) of "
           f"{batch} images, the same batches for every run; one seed, so differences of a few tenths of a "
           "point are within run-to-run noise. class_share: between-class variance of a gate over its "
           "variance across test images, mean over channels (0: the gate ignores the class; 1: the class "
           "alone sets it).")
  scaffold.finish("Squeeze-and-excitation on ResNet",
                  {"dataset": FLAGS.dataset, "blocks_per_stage": blocks, "width": width, "steps": steps,
                   "batch_size": batch, "learning_rate": LEARNING_RATE, "se_reduction": SE_REDUCTION,
                   "wall_seconds": round(time.perf_counter() - start, 1),
                   "gates_by_class": {v: {block: by_class(g, test_y).tolist() for block, g in run["gates"].items()}
                                      for v, run in runs.items() if run["gates"]}},
                  {"accuracy": rows, "gates": gate_rows}, notes, claims)


if __name__ == "__main__":
  scaffold.run(main)
