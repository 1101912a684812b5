r"""Residual against plain networks: the degradation problem and the gradient reaching early layers.

    python experiments/lecture/residual.py --workdir=runs/residual [--quick] [--depths=8,32] [--dataset=fashion_mnist]

The lecture: a ResNet block computes F(x) + x, so the gradient gets an identity term, and very
deep networks train. He et al. found that without the shortcuts a deeper network trains to a
higher training loss than a shallower one (the degradation problem), while with them it does not.
For each depth 6n + 2 (CIFAR-style ResNets: a 3×3 stem, three stages of n basic blocks, widths
w, 2w, 4w, BatchNorm everywhere) it trains the ResNet and the same network with every shortcut
removed (`shortcut=False`: no identity, no projection) from the same batches. Records the training
loss of every step and, every few steps, the gradient norm of every convolution
(`trends_jax.evaluation.gradient_flow`). Writes results.json, results.md, training_loss.png and
gradient_flow.png (the deepest pair), with the lecture's claims checked. `--quick`: depths 8 and
14, width 4, 6 steps of 16.
"""

import time

import jax
import matplotlib.pyplot as plt
import numpy as np
import optax
import scaffold
from absl import flags

from trends_jax import data, losses, models
from trends_jax.evaluation import gradient_flow
from trends_jax.run import plots
from trends_jax.training import steps as train_steps

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_enum("dataset", "fashion_mnist", ["fashion_mnist", "mnist5k"], "28×28 grey images, 10 classes.")
flags.DEFINE_list("depths", None, "Depths 6n + 2 to compare (default 8,32; quick 8,14).")
flags.DEFINE_integer("seed", 0, "Seed of initialization and batches.")

# Sizes: (depths, width of the first stage, steps, batch size, record the gradients every … steps).
FULL = ((8, 32), 8, 500, 128, 25)
QUICK = ((8, 14), 4, 6, 16, 3)
NETWORKS = {"resnet": True, "plain": False}  # name: shortcut
LEARNING_RATE = 0.05
MOMENTUM = 0.9
TRAIN_LOSS_EXAMPLES = 5000


def train(depth, shortcut, width, train_x, train_y, test_x, test_y, steps, batch, record_every, seed):
  """SGD with momentum; the loss of every step, per-layer gradient norms every few steps."""
  n = (depth - 2) // 6
  model = models.create("resnet18", num_classes=10, stage_sizes=(n, n, n), num_filters=width,
                        cifar_stem=True, shortcut=shortcut)
  variables, order = models.initialize(model, train_x[:2], seed)
  state = train_steps.TrainState.create(apply_fn=model.apply, params=variables["params"],
                                        tx=optax.sgd(LEARNING_RATE, momentum=MOMENTUM),
                                        batch_stats=variables["batch_stats"], rng=jax.random.PRNGKey(seed))
  step = jax.jit(train_steps.make_train_step(model, losses.softmax_cross_entropy, parameter_grad_norms=True),
                 donate_argnums=0)
  evaluate = jax.jit(train_steps.make_eval_step(model, losses.softmax_cross_entropy))
  step_losses, flow = [], []
  for i, index in enumerate(data.shuffled_batches(len(train_x), batch, steps, seed)):
    state, metrics = step(state, {"inputs": train_x[index], "label": train_y[index]})
    step_losses.append(metrics["loss"])
    if i % record_every == 0 or i == steps - 1:
      flow.append((i, gradient_flow.layer_norms(metrics["grad_norms"], order=order, leaves=("kernel",))))
  on_train = train_steps.evaluate_arrays(evaluate, state, train_x[:TRAIN_LOSS_EXAMPLES], train_y[:TRAIN_LOSS_EXAMPLES])
  on_test = train_steps.evaluate_arrays(evaluate, state, test_x, test_y)
  return {"losses": [float(x) for x in jax.device_get(step_losses)], "flow": flow, "train_loss": on_train["loss"],
          "train_accuracy": on_train["accuracy"], "test_accuracy": on_test["accuracy"],
          "parameters": sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state.params))}


def smooth(values: list[float], window: int = 20) -> np.ndarray:
  window = min(window, len(values))
  return np.convolve(values, np.ones(window) / window, mode="valid")


def plot_losses(runs: dict, path: str) -> None:
  fig, ax = plt.subplots(figsize=(7.5, 4.5))
  colors = dict(zip(sorted({depth for _, depth in runs}), plt.rcParams["axes.prop_cycle"].by_key()["color"]))
  for (network, depth), run in runs.items():
    ax.plot(smooth(run["losses"]), ls="-" if network == "resnet" else "--", color=colors[depth],
            label=f"{network}-{depth}")
  ax.set_yscale("log")
  ax.set_xlabel("step")
  ax.set_ylabel("training loss (mean of 20 steps)")
  ax.set_title("solid: with shortcuts; dashed: plain")
  ax.grid(alpha=0.3, which="both")
  ax.legend()
  plots.save(fig, path)


def conv_norms(flow_entry) -> list[tuple[str, float]]:
  """The convolutions of the residual branches and the stem, input → output (not the projections)."""
  return [(name, norm) for name, norm in flow_entry if "conv" in name and "downsample" not in name]


def plot_flow(runs: dict, depth: int, path: str) -> None:
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
  for ax, title, pick in ((axes[0], "at initialization (step 0)", lambda flow: [flow[0]]),
                          (axes[1], "mean over training", lambda flow: flow[1:])):
    for network in NETWORKS:
      entries = [conv_norms(f) for _, f in pick(runs[(network, depth)]["flow"])]
      ax.plot(np.mean([[n for _, n in e] for e in entries], axis=0), marker="o", ms=3, label=f"{network}-{depth}")
    ax.set_title(f"‖gradient‖ of each convolution, {title}")
    ax.set_xlabel("convolution (input → output)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
  plots.save(fig, path)


def main(argv):
  del argv
  start = time.perf_counter()
  depths, width, steps, batch, record_every = QUICK if FLAGS.quick else FULL
  if FLAGS.depths:
    try:
      depths = tuple(sorted(int(d) for d in FLAGS.depths))
    except ValueError:
      scaffold.fail(f"--depths must be integers separated by commas, e.g. 8,20,32; got {','.join(FLAGS.depths)}")
    if len(depths) < 2 or any(d < 8 or (d - 2) % 6 for d in depths):
      scaffold.fail(f"--depths needs at least two depths of the form 6n + 2 (8, 14, 20, 26, 32, …); got {list(depths)}")
  train_x, train_y = scaffold.run_user_code(lambda: data.image_arrays(FLAGS.dataset, "train", FLAGS.data_dir, pool=2))
  test_x, test_y = data.image_arrays(FLAGS.dataset, "test", FLAGS.data_dir, pool=2)

  runs, rows = {}, []
  for depth in depths:
    for network, shortcut in NETWORKS.items():
      run = train(depth, shortcut, width, train_x, train_y, test_x, test_y, steps, batch, record_every, FLAGS.seed)
      runs[(network, depth)] = run
      convs0, later = conv_norms(run["flow"][0][1]), [conv_norms(f) for _, f in run["flow"][1:]]
      first_to_last = [e[1][1] / e[-1][1] for e in later]  # e[0] is the stem; e[1] the first block's.
      rows.append({"network": network, "depth": depth, "parameters": run["parameters"],
                   "final_train_loss": run["train_loss"],
                   "last_steps_loss": float(np.mean(run["losses"][-steps // 10 - 1:])),
                   "train_accuracy": run["train_accuracy"], "test_accuracy": run["test_accuracy"],
                   "first_to_last_block_grad_step0": convs0[1][1] / convs0[-1][1],
                   "first_to_last_block_grad_training": float(np.mean(first_to_last))})
      print(f"{network}-{depth}: training loss {run['train_loss']:.4f}, test accuracy {run['test_accuracy']:.4f}",
            flush=True)

  deep, shallow = max(depths), min(depths)
  plot_losses(runs, scaffold.output("training_loss.png"))
  plot_flow(runs, deep, scaffold.output("gradient_flow.png"))
  by = {(r["network"], r["depth"]): r for r in rows}
  ratio_step0 = {network: by[(network, deep)]["first_to_last_block_grad_step0"] for network in NETWORKS}
  ratio_training = {network: by[(network, deep)]["first_to_last_block_grad_training"] for network in NETWORKS}
  claims = {
      f"the plain {deep}-layer network trains to a higher loss than its residual twin":
          by[("plain", deep)]["final_train_loss"] > by[("resnet", deep)]["final_train_loss"],
      f"without shortcuts the {deep}-layer network trains to a higher loss than the {shallow}-layer one "
      "(degradation)": by[("plain", deep)]["final_train_loss"] > by[("plain", shallow)]["final_train_loss"],
      f"with shortcuts the {deep}-layer network trains to a lower loss than the {shallow}-layer one":
          by[("resnet", deep)]["final_train_loss"] < by[("resnet", shallow)]["final_train_loss"],
      f"at initialization the first block of the {deep}-layer network gets a larger share of the gradient "
      "(relative to the last block) with shortcuts than without":
          ratio_step0["resnet"] > ratio_step0["plain"],
      f"averaged over training, the first block of the {deep}-layer network gets a larger share of the gradient "
      "(relative to the last block) with shortcuts than without":
          ratio_training["resnet"] > ratio_training["plain"],
  }
  flow_rows = [{"network": network, "layer": name, "step0": norm,
                "training": float(np.mean([dict(f)[name] for _, f in runs[(network, deep)]["flow"][1:]]))}
               for network in NETWORKS for name, norm in conv_norms(runs[(network, deep)]["flow"][0][1])]
  notes = (f"{FLAGS.dataset} at 14×14 (2×2 average-pooled), {steps} steps of {batch} images, SGD momentum "
           f"{MOMENTUM}, lr {LEARNING_RATE}; first-stage width {width}. final_train_loss: evaluation-mode loss on "
           f"the first {TRAIN_LOSS_EXAMPLES:,} training images after training; last_steps_loss: mean minibatch "
           "loss of the last 10% of steps. Gradient ratios: ‖∂loss/∂kernel‖ of the first block's first "
           "convolution over the last block's last one (above 1: the gradient grows toward the input), at step 0 "
           f"{ratio_step0['plain']:.3g} in plain-{deep} and {ratio_step0['resnet']:.3g} in resnet-{deep}, over "
           f"training {ratio_training['plain']:.3g} and {ratio_training['resnet']:.3g}.")
  scaffold.finish("Residual against plain networks",
                  {"dataset": FLAGS.dataset, "depths": list(depths), "width": width, "steps": steps, "batch_size": batch,
                   "learning_rate": LEARNING_RATE, "momentum": MOMENTUM,
                   "wall_seconds": round(time.perf_counter() - start, 1),
                   "train_loss": {f"{network}-{depth}": run["losses"] for (network, depth), run in runs.items()}},
                  {"runs": rows, "gradient by layer": flow_rows}, notes, claims)


if __name__ == "__main__":
  scaffold.run(main)
