r"""Dense against convolutional layers: parameters on a photo, accuracy on Fashion-MNIST at equal budgets.

    python experiments/lecture/dense_vs_conv.py --workdir=runs/dense_vs_conv [--quick] [--data_dir=…]

Counts (with jax.eval_shape, nothing allocated) the parameters and multiply-adds of one layer on
the lecture's 1024×768 RGB image: a dense layer of 32 units against 3×3 and 5×5 convolutions with
32 filters. Then, at each parameter budget of --budgets (default `medium`: a CNN of 105,866),
trains a LeNet-style `cnn` and a two-layer `mlp` whose width is chosen to match the CNN's
parameter count, each a normal trainer run of 500 steps on Fashion-MNIST (its workdir under
runs/<budget>_<model>/, resumable), and compares test accuracy on the 10,000 test images. Writes
layer_parameters.png, accuracy.png, results.json and results.md, with the lecture's claims
checked against the numbers. `--quick`: the `small` budget, a few steps on a slice of the data.
"""


import flax.linen as nn
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import scaffold
from absl import flags

from trends_jax import models
from trends_jax.run import plots
from trends_jax.run.workdir import Workdir
from trends_jax.training import loop

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_integer("seed", 0, "The trainer's seed (config.seed): initialization, batches, dropout.")
flags.DEFINE_list("budgets", None, "Parameter budgets to train at (default medium; quick small): small, medium.")

IMAGE = (768, 1024, 3)  # The lecture's 1024×768 photo, height first.
# name: (layer, input shape without the batch axis, output positions each kernel weight is used at).
LAYERS = {
    "dense 32 units": (nn.Dense(32), (int(np.prod(IMAGE)),), 1),
    "conv 3×3, 32 filters": (nn.Conv(32, (3, 3)), IMAGE, IMAGE[0] * IMAGE[1]),
    "conv 5×5, 32 filters": (nn.Conv(32, (5, 5)), IMAGE, IMAGE[0] * IMAGE[1]),
}
# budget: the CNN's fields (its parameter count); the MLP's width is fitted to that count.
BUDGETS = {
    "small": {"features": (8, 16), "kernel_size": 3, "hidden": 32},  # 26,698
    "medium": {"features": (16, 32), "kernel_size": 3, "hidden": 64},  # 105,866
}
MLP_DEPTH = 2
FASHION_SHAPE = (28, 28, 1)


def parameter_count(module: nn.Module, input_shape: tuple) -> dict[str, int]:
  """Parameter count of each kind ("kernel", "bias") of `module` on one input, without allocating."""
  shapes = jax.eval_shape(module.init, jax.random.PRNGKey(0), jax.ShapeDtypeStruct((1, *input_shape), jnp.float32))
  counts = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(shapes["params"])[0]:
    kind = path[-1].key
    counts[kind] = counts.get(kind, 0) + int(np.prod(leaf.shape))
  return counts


def mlp_width_for(budget: int) -> int:
  """The hidden width whose MLP has the parameter count nearest to `budget` (count grows with width)."""
  def count(width):
    return sum(parameter_count(models.create("mlp", depth=MLP_DEPTH, width=width), FASHION_SHAPE).values())

  low, high = 1, 4096
  while high - low > 1:
    middle = (low + high) // 2
    low, high = (middle, high) if count(middle) <= budget else (low, middle)
  return min((low, high), key=lambda width: abs(count(width) - budget))


def plot_layers(rows: list[dict], path: str) -> None:
  fig, ax = plt.subplots(figsize=(7.5, 3.8))
  names = [r["layer"] for r in rows]
  y = np.arange(len(rows))
  ax.barh(y - 0.2, [r["parameters"] for r in rows], 0.4, label="parameters")
  ax.barh(y + 0.2, [r["multiply_adds"] for r in rows], 0.4, label="multiply-adds per image")
  for i, r in enumerate(rows):
    ax.annotate(f"{r['parameters']:,}", (r["parameters"], i - 0.2), xytext=(3, -3), textcoords="offset points",
                fontsize=8)
  ax.set_xscale("log")
  ax.set_yticks(y, names)
  ax.invert_yaxis()
  ax.set_title("one layer on a 1024×768 RGB image")
  ax.grid(alpha=0.3, axis="x", which="both")
  ax.legend(fontsize=8, loc="lower right")
  plots.save(fig, path)


def plot_accuracy(rows: list[dict], path: str) -> None:
  budgets = list(dict.fromkeys(r["budget"] for r in rows))
  fig, ax = plt.subplots(figsize=(7, 4.2))
  for i, model in enumerate(("mlp", "cnn")):
    mine = [next(r for r in rows if r["budget"] == b and r["model"] == model) for b in budgets]
    bars = ax.bar(np.arange(len(budgets)) + (i - 0.5) * 0.4, [r["test_accuracy"] for r in mine], 0.4, label=model)
    ax.bar_label(bars, [f"{r['test_accuracy']:.3f}\n{r['parameters']:,} p." for r in mine], fontsize=8)
  ax.set_xticks(range(len(budgets)), [f"{b} budget" for b in budgets])
  ax.set_ylim(0, 1.1)
  ax.set_ylabel("test accuracy")
  ax.set_title("Fashion-MNIST: CNN against MLP at equal parameter budgets")
  ax.grid(alpha=0.3, axis="y")
  ax.legend(loc="lower right")
  plots.save(fig, path)


def lecture_claims(layers: dict[str, dict], runs: list[dict]) -> dict[str, bool]:
  dense, conv = layers["dense 32 units"]["parameters"], layers["conv 3×3, 32 filters"]["parameters"]
  accuracy = {(r["budget"], r["model"]): r["test_accuracy"] for r in runs}
  matched = all(abs(r["parameters"] / r["cnn_parameters"] - 1) <= 0.05 for r in runs)
  return {
      "a dense layer of 32 units on a 1024×768 RGB image has tens of millions of weights (≥ 10,000,000)":
          dense >= 10_000_000,
      "the dense layer has over 1000× the parameters of a 3×3 convolution with 32 filters": dense > 1000 * conv,
      "at a similar parameter budget (the MLP within 5% of the CNN's count) the CNN is more accurate on "
      "Fashion-MNIST": matched and all(accuracy[(r["budget"], "cnn")] > accuracy[(r["budget"], "mlp")] for r in runs),
  }


def main(argv):
  del argv
  budgets = FLAGS.budgets or (["small"] if FLAGS.quick else ["medium"])
  unknown = [b for b in budgets if b not in BUDGETS]
  if unknown:
    scaffold.fail(f"unknown budget {unknown[0]!r} in --budgets; known: {', '.join(BUDGETS)}")
  layer_rows = []
  for name, (layer, shape, positions) in LAYERS.items():
    counts = parameter_count(layer, shape)
    layer_rows.append({"layer": name, "input": "×".join(map(str, IMAGE)) + (" flattened" if len(shape) == 1 else ""),
                       "parameters": sum(counts.values()),
                       "multiply_adds": counts["kernel"] * positions})

  run_rows = []
  for budget in budgets:
    cnn_fields = BUDGETS[budget]
    cnn_parameters = sum(parameter_count(models.create("cnn", **cnn_fields), FASHION_SHAPE).values())
    width = mlp_width_for(cnn_parameters)
    for model, kwargs in (("cnn", cnn_fields), ("mlp", {"depth": MLP_DEPTH, "width": width})):
      config = scaffold.load_config("lecture/dense_vs_conv", f"{model},quick" if FLAGS.quick else model)
      config.model.update({"name": model, **kwargs})
      config.dataset.data_dir = FLAGS.data_dir
      config.seed = FLAGS.seed
      run_dir = scaffold.output("runs", f"{budget}_{model}")
      print(f"--- {budget} {model}", flush=True)
      status = scaffold.run_user_code(loop.train_and_evaluate, config, run_dir)
      final = [r for r in Workdir(run_dir).read_metrics() if r["split"] == "eval"][-1]
      run_rows.append({"budget": budget, "model": model,
                       "architecture": (f"conv {cnn_fields['features']} k{cnn_fields['kernel_size']}, dense "
                                        f"{cnn_fields['hidden']}" if model == "cnn" else f"{MLP_DEPTH}×{width} ReLU"),
                       "parameters": sum(parameter_count(models.create(model, **kwargs), FASHION_SHAPE).values()),
                       "cnn_parameters": cnn_parameters, "test_accuracy": final["accuracy"],
                       "test_loss": final["loss"], "steps": status["step"],
                       "wall_seconds": status.get("wall_seconds")})

  plot_layers(layer_rows, scaffold.output("layer_parameters.png"))
  plot_accuracy(run_rows, scaffold.output("accuracy.png"))
  claims = lecture_claims({r["layer"]: r for r in layer_rows}, run_rows)
  notes = ("Layer table: one layer on a 768×1024×3 input (the convolutions with 'same' padding, stride 1); "
           "multiply-adds per image = kernel weights × output positions. Runs: Fashion-MNIST, "
           f"{run_rows[0]['steps']} steps of 128, Adam 2e-3 with cosine decay, test accuracy on Fashion-MNIST's "
           f"{config.dataset.eval_split!r} split; the MLP's width is the one whose parameter count is nearest "
           "the CNN's.")
  scaffold.finish("Dense against convolutional layers",
                  {"image": list(IMAGE), "budgets": {b: {**BUDGETS[b], "features": list(BUDGETS[b]["features"])}
                                                     for b in budgets}},
                  {"one layer on a 1024×768 RGB image": layer_rows, "Fashion-MNIST": run_rows}, notes, claims)


if __name__ == "__main__":
  scaffold.run(main)
