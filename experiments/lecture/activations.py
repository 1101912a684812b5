r"""Activations in a deep MLP: sigmoid, tanh and ReLU, with and without BatchNorm and residual connections.

    python experiments/lecture/activations.py --workdir=runs/activations [--quick] [--data_dir=…] [--depth=20]

Trains a `depth`-layer MLP (lecun-normal initialization, flax's default) on MNIST-5k's 4,000
training digits for every activation × {plain, BatchNorm, residual, BatchNorm + residual}, with
plain SGD + momentum at one learning rate for all. Before and after training it measures each
layer's ‖∂loss/∂kernel‖ on a fixed batch of 512 training digits (`trends_jax.evaluation.gradient_flow`):
the lecture's vanishing (sigmoid) and exploding (ReLU) gradients. Writes gradient_norms.png,
training_curves.png, results.json and results.md, with the lecture's claims checked against the
numbers. `--quick`: 4 narrow layers, a few steps.
"""

import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
import scaffold
from absl import flags

from trends_jax import data, models
from trends_jax.errors import UserError
from trends_jax.evaluation import gradient_flow
from trends_jax.run import plots

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_integer("depth", None, "Hidden layers (default 20; quick 4).")
flags.DEFINE_integer("steps", None, "Training steps per network (default 1000; quick 20).")
flags.DEFINE_integer("seed", 0, "Seed of initialization and batches.")

ACTIVATIONS = ("sigmoid", "tanh", "relu")
VARIANTS = {"plain": {}, "batchnorm": {"batch_norm": True}, "residual": {"residual": True},
            "batchnorm+residual": {"batch_norm": True, "residual": True}}
# Sizes: (depth, width, steps, batch size, evaluations, probe examples, test examples).
FULL = (20, 128, 1000, 128, 10, 512, 1000)
QUICK = (4, 16, 20, 32, 2, 64, 200)
LEARNING_RATE = 0.01
MOMENTUM = 0.9


def load(split: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
  source = data.data_source("mnist5k", split, FLAGS.data_dir)
  examples = source.__getitems__(list(range(min(limit, len(source)))))
  images = np.stack([e["image"] for e in examples]).reshape(len(examples), -1).astype(np.float32) / 255
  return images, np.asarray([e["label"] for e in examples], np.int32)


def train_one(activation: str, variant: str, depth: int, width: int, steps: int, batch: int,
              evaluations: int, train: tuple, probe: tuple, test: tuple) -> dict:
  """Trains one network; its per-layer gradient norms before and after, loss and accuracy curves."""
  model = models.create("mlp", depth=depth, width=width, activation=activation, **VARIANTS[variant])
  variables = model.init(jax.random.PRNGKey(FLAGS.seed), train[0][:2])
  layer_order = variables["params"]  # Still in creation order; jax.grad's output is sorted.
  tx = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)

  def loss_fn(params, batch_stats, x, y):
    logits, updates = model.apply({"params": params, "batch_stats": batch_stats}, x, train=True,
                                  mutable=["batch_stats"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), updates.get("batch_stats", {})

  @jax.jit
  def step(params, batch_stats, opt_state, x, y):
    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch_stats, x, y)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), batch_stats, opt_state, loss

  @jax.jit
  def accuracy(params, batch_stats, x, y):
    logits = model.apply({"params": params, "batch_stats": batch_stats}, x, train=False)
    return jnp.mean(jnp.argmax(logits, -1) == y)

  probe_grads = jax.jit(jax.grad(lambda params, batch_stats: loss_fn(params, batch_stats, *probe)[0]))

  def gradient_norms(params, batch_stats):
    return gradient_flow.layer_norms(probe_grads(params, batch_stats), order=layer_order, leaves=("kernel",))

  params, batch_stats = variables["params"], variables.get("batch_stats", {})
  opt_state = tx.init(params)
  initial = gradient_norms(params, batch_stats)
  batches = data.shuffled_batches(len(train[1]), batch, steps, FLAGS.seed)
  eval_steps = set(np.linspace(0, steps, evaluations + 1).astype(int).tolist())
  losses, curve = [], []
  start = time.perf_counter()
  for i in range(steps + 1):
    if i in eval_steps:
      curve.append((i, float(accuracy(params, batch_stats, *test))))
    if i == steps:
      break
    rows = batches[i]
    params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state, train[0][rows], train[1][rows])
    losses.append(loss)
  seconds = time.perf_counter() - start
  losses = [float(x) for x in jax.device_get(losses)]
  return {"initial": initial, "trained": gradient_norms(params, batch_stats), "losses": losses,
          "accuracy_curve": curve, "seconds": seconds, "diverged": not np.isfinite(losses[-1])}


def first_to_last(norms: list[tuple[str, float]]) -> float:
  """Gradient norm of the first hidden layer over the last hidden layer's (the head left out)."""
  hidden = [n for name, n in norms if name != "head"]
  return hidden[0] / hidden[-1] if hidden[-1] > 0 else float("nan")


def plot_gradients(runs: dict, depth: int, path: str) -> None:
  fig, axes = plt.subplots(2, len(ACTIVATIONS), figsize=(5 * len(ACTIVATIONS), 7.5), sharex=True)
  for row, (key, when) in enumerate((("initial", "at initialization"), ("trained", "after training"))):
    for col, activation in enumerate(ACTIVATIONS):
      ax = axes[row, col]
      for variant in VARIANTS:
        run = runs[(activation, variant)]
        norms = np.array([n for _, n in run[key]])
        norms[~(norms > 0)] = np.nan  # Zero or NaN (a diverged run) has no place on a log axis.
        ax.plot(np.arange(1, len(norms) + 1), norms, marker="o", ms=3,
                label=variant + (" (diverged)" if run["diverged"] else ""))
      ax.set_yscale("log")
      ax.set_title(f"{activation}, {when}")
      ax.grid(alpha=0.3, which="both")
      if row == 1:
        ax.set_xlabel(f"layer (1 = first, {depth + 1} = output)")
  axes[0, 0].set_ylabel("‖∂loss/∂kernel‖")
  axes[1, 0].set_ylabel("‖∂loss/∂kernel‖")
  for ax in axes[0]:
    ax.legend(fontsize=8)
  plots.save(fig, path)


def plot_curves(runs: dict, path: str) -> None:
  fig, axes = plt.subplots(2, len(ACTIVATIONS), figsize=(5 * len(ACTIVATIONS), 7.5))
  for col, activation in enumerate(ACTIVATIONS):
    for variant in VARIANTS:
      run = runs[(activation, variant)]
      losses = np.asarray(run["losses"])
      window = max(1, len(losses) // 50)
      smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
      axes[0, col].plot(np.arange(len(smooth)) + window, smooth, label=variant)
      axes[1, col].plot(*zip(*run["accuracy_curve"]), marker="o", ms=3, label=variant)
    axes[0, col].set_title(f"{activation}: training loss")
    axes[0, col].set_yscale("log")
    axes[1, col].set_title(f"{activation}: test accuracy")
    axes[1, col].set_ylim(0, 1)
    axes[1, col].set_xlabel("step")
    for ax in axes[:, col]:
      ax.grid(alpha=0.3)
  axes[0, 0].legend(fontsize=8)
  plots.save(fig, path)


def lecture_claims(rows: dict, depth: int) -> dict[str, bool]:
  """The lecture's claims, from the rows of each (activation, variant)."""
  ratio = {a: rows[(a, "plain")]["first_over_last_initial"] for a in ACTIVATIONS}
  accuracy = {key: row["test_accuracy"] for key, row in rows.items()}
  return {
      f"sigmoid: at initialization the first hidden layer of the {depth}-layer MLP gets a gradient over "
      "100× smaller than the last hidden layer": ratio["sigmoid"] < 1e-2,
      "tanh softens this: its first-to-last gradient ratio at initialization is larger than sigmoid's":
          ratio["tanh"] > ratio["sigmoid"],
      "ReLU's gradients explode: at initialization the first hidden layer's gradient is over 10× the last's":
          ratio["relu"] > 10,
      f"ReLU trains the plain {depth}-layer MLP to a higher test accuracy than sigmoid":
          accuracy[("relu", "plain")] > accuracy[("sigmoid", "plain")],
      f"the plain {depth}-layer sigmoid MLP does not learn (test accuracy < 0.2)": accuracy[("sigmoid", "plain")] < 0.2,
      f"with BatchNorm the {depth}-layer sigmoid MLP learns (test accuracy ≥ 0.8)":
          accuracy[("sigmoid", "batchnorm")] >= 0.8,
      "with residual connections the first hidden layer gets at least 1/10 of the last one's gradient at "
      "initialization, for every activation": all(rows[(a, "residual")]["first_over_last_initial"] >= 0.1
                                                  for a in ACTIVATIONS),
  }


def main(argv):
  del argv
  depth, width, steps, batch, evaluations, probe_size, test_size = QUICK if FLAGS.quick else FULL
  depth = FLAGS.depth if FLAGS.depth is not None else depth
  steps = FLAGS.steps if FLAGS.steps is not None else steps

  def check():
    if depth < 2 or steps < 1:
      raise UserError(f"--depth must be >= 2 and --steps >= 1; got {depth} and {steps}")
    return load("train", 10**9), load("test", test_size)

  train, test = scaffold.run_user_code(check)
  probe = (train[0][:probe_size], train[1][:probe_size])
  runs, rows = {}, []
  for activation in ACTIVATIONS:
    for variant in VARIANTS:
      run = train_one(activation, variant, depth, width, steps, batch, evaluations, train, probe, test)
      runs[(activation, variant)] = run
      row = {"activation": activation, "variant": variant, "test_accuracy": run["accuracy_curve"][-1][1],
             "final_train_loss": float(np.mean(run["losses"][-50:])), "diverged": run["diverged"],
             "first_over_last_initial": first_to_last(run["initial"]),
             "first_over_last_trained": first_to_last(run["trained"]),
             "first_layer_initial": run["initial"][0][1], "last_hidden_initial": run["initial"][-2][1],
             "seconds": round(run["seconds"], 2)}
      rows.append(row)
      print(f"{activation:7s} {variant:18s} test accuracy {row['test_accuracy']:.3f}, gradient first/last "
            f"{row['first_over_last_initial']:.3g} at init, {row['first_over_last_trained']:.3g} trained "
            f"({run['seconds']:.1f} s)", flush=True)

  plot_gradients(runs, depth, scaffold.output("gradient_norms.png"))
  plot_curves(runs, scaffold.output("training_curves.png"))
  claims = lecture_claims({(row["activation"], row["variant"]): row for row in rows}, depth)
  diverged = [(row["activation"], row["variant"]) for row in rows if row["diverged"]]
  setup = {"dataset": "mnist5k", "train_examples": len(train[1]), "test_examples": len(test[1]),
           "depth": depth, "width": width, "steps": steps, "batch_size": batch,
           "optimizer": f"sgd lr {LEARNING_RATE} momentum {MOMENTUM}", "initialization": "lecun_normal",
           "probe_examples": probe_size,
           "gradient_norms": {f"{a}/{v}": {"layers": [name for name, _ in run["initial"]],
                                           "initial": [n for _, n in run["initial"]],
                                           "trained": [n for _, n in run["trained"]]}
                              for (a, v), run in runs.items()},
           "accuracy_curves": {f"{a}/{v}": run["accuracy_curve"] for (a, v), run in runs.items()}}
  notes = (f"MLP with {depth} hidden layers of {width}, flax's default lecun-normal initialization, SGD "
           f"(lr {LEARNING_RATE}, momentum {MOMENTUM}), {steps} steps of {batch} on MNIST-5k's "
           f"{len(train[1])} training digits; test accuracy on {len(test[1])} test digits. Gradient norms: "
           f"‖∂loss/∂kernel‖ per layer on {probe_size} training digits (BatchNorm in training mode); "
           "first_over_last is the first hidden layer's over the last hidden layer's (below 1: vanishing, "
           "above 1: exploding). Diverged (loss NaN or infinite): "
           f"{', '.join(f'{r[0]} {r[1]}' for r in diverged) or 'none'}.")
  scaffold.finish(f"Activations in a {depth}-layer MLP", setup, {"networks": rows}, notes, claims)


if __name__ == "__main__":
  scaffold.run(main)
