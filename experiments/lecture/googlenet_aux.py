r"""GoogLeNet with and without its auxiliary classifiers: the gradient reaching the early layers.

    python experiments/lecture/googlenet_aux.py --workdir=runs/googlenet_aux [--quick] [--dataset=fashion_mnist]

The lecture: GoogLeNet's two auxiliary classifiers were added because the deep network did not
learn (vanishing gradients); they help the early layers learn and are not used for the answer.
Both runs train the same narrow GoogLeNet (`width`, torchvision's layout otherwise, BatchNorm
included) from the same initialization on the same batches; one adds 0.3 × each auxiliary head's
loss to the objective (the trainer's weight, trends_jax/training/steps.py), the other trains on the main
loss alone (its heads then get no gradient and do not touch the network). Every few steps it
records the gradient norm of every convolution (`trends_jax.evaluation.gradient_flow`). Writes
results.json, results.md, gradient_flow.png (gradient norm by layer; the first convolution's over
training) and training.png (training loss, test accuracy), with the lecture's claims checked.
`--quick`: width 1/16, 6 steps of 16, its training step compiled unoptimized.
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
from trends_jax.evaluation import gradient_flow
from trends_jax.run import plots
from trends_jax.training import steps as train_steps

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_enum("dataset", "fashion_mnist", ["fashion_mnist", "mnist5k"], "28×28 grey images, 10 classes.")
flags.DEFINE_integer("seed", 0, "Seed of initialization, batches and dropout.")

# Sizes: (width multiplier, steps, batch size, record the gradients every … steps).
FULL = (0.25, 600, 128, 20)
QUICK = (0.0625, 6, 16, 3)
AUX_WEIGHT = 0.3  # make_train_step's default in trends_jax/training/steps.py.
VARIANTS = {"with_aux": AUX_WEIGHT, "without_aux": 0.0}
LEARNING_RATE = 1e-3
MARGIN = 0.01  # The smallest accuracy difference a claim counts: one seed cannot resolve less.


def compile_steps(model, compiler_options):
  """The trainer's training step, with the auxiliary losses' weight as an argument (so both runs
  share one compilation) and every parameter's gradient norm; and its evaluation step."""
  def step(state, batch, aux_weight):
    return train_steps.make_train_step(model, losses.softmax_cross_entropy, aux_loss_weight=aux_weight,
                                       parameter_grad_norms=True)(state, batch)

  # Not donated: both runs start from the same initial parameters.
  return (jax.jit(step, compiler_options=compiler_options),
          jax.jit(train_steps.make_eval_step(model, losses.softmax_cross_entropy)))


def train(model, steps_fns, tx, variables, order, train_x, train_y, test_x, test_y, aux_weight, steps, batch,
          record_every, seed):
  """Main loss + aux_weight × auxiliary losses; gradient norms per layer every few steps."""
  step, evaluate = steps_fns
  # The dropout key of step i is fold_in(PRNGKey(seed), i) in both runs.
  state = train_steps.TrainState.create(apply_fn=model.apply, params=variables["params"], tx=tx,
                                        batch_stats=variables["batch_stats"], rng=jax.random.PRNGKey(seed))
  step_losses, flow = [], []
  for i, index in enumerate(data.shuffled_batches(len(train_x), batch, steps, seed)):
    state, metrics = step(state, {"inputs": train_x[index], "label": train_y[index]}, aux_weight)
    step_losses.append(metrics["loss"])  # The main head's.
    if i % record_every == 0 or i == steps - 1:
      # Kernels only: the convolutions and dense layers, not BatchNorm's scales and offsets.
      flow.append((i, gradient_flow.layer_norms(metrics["grad_norms"], order=order, leaves=("kernel",))))
  return {"losses": [float(x) for x in jax.device_get(step_losses)], "flow": flow,
          "test_accuracy": train_steps.evaluate_arrays(evaluate, state, test_x, test_y)["accuracy"]}


def parameter_counts(params) -> dict:
  sizes = {name: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(sub)) for name, sub in params.items()}
  aux = sum(n for name, n in sizes.items() if name.startswith("aux"))
  return {"network": sum(sizes.values()) - aux, "auxiliary_heads": aux}


def plot_flow(runs: dict, path: str) -> None:
  fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
  for variant, run in runs.items():
    layers = [(name, norm) for name, norm in run["flow"][0][1] if not name.startswith("aux")]
    trained = np.mean([[norm for name, norm in f if not name.startswith("aux")] for _, f in run["flow"][1:]], axis=0)
    line, = axes[0].plot([n for _, n in layers], ls="--", lw=1)
    axes[0].plot(trained, color=line.get_color(), label=f"{variant} (dashed: step 0; solid: mean over training)")
    axes[1].plot([s for s, _ in run["flow"]], [dict(f)["conv1/conv"] for _, f in run["flow"]], marker="o",
                 ms=3, label=variant)
  names = [name for name, _ in runs["with_aux"]["flow"][0][1] if not name.startswith("aux")]
  ticks = [i for i, name in enumerate(names) if name.count("/") == 1 or name.endswith("branch1/conv") or name == "fc"]
  axes[0].set_xticks(ticks, [names[i].split("/")[0] for i in ticks], rotation=60, fontsize=7)
  for block, head in (("inception4b", "aux1"), ("inception4e", "aux2")):  # Each head branches off before it.
    position = next(i for i, name in enumerate(names) if name.startswith(block)) - 0.5
    axes[0].axvline(position, color="grey", ls=":", lw=1)
    axes[0].annotate(head, (position, 1), xycoords=("data", "axes fraction"), xytext=(2, -10),
                     textcoords="offset points", fontsize=7, color="grey")
  axes[0].set_title("‖gradient‖ of each convolution's kernel, input → output")
  axes[1].set_title("‖gradient‖ at the first convolution (conv1)")
  axes[1].set_xlabel("step")
  for ax in axes:
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
  plots.save(fig, path)


def plot_training(runs: dict, path: str) -> None:
  fig, ax = plt.subplots(figsize=(7, 4.2))
  for variant, run in runs.items():
    smooth = np.convolve(run["losses"], np.ones(10) / 10, mode="valid") if len(run["losses"]) >= 10 else run["losses"]
    ax.plot(smooth, label=f"{variant}: test accuracy {run['test_accuracy']:.3f}")
  ax.set_xlabel("step")
  ax.set_ylabel("main head's training loss (mean of 10 steps)")
  ax.grid(alpha=0.3)
  ax.legend()
  plots.save(fig, path)


def main(argv):
  del argv
  start = time.perf_counter()
  width, steps, batch, record_every = QUICK if FLAGS.quick else FULL
  train_x, train_y = scaffold.run_user_code(lambda: data.image_arrays(FLAGS.dataset, "train", FLAGS.data_dir, pool=1))
  test_x, test_y = data.image_arrays(FLAGS.dataset, "test", FLAGS.data_dir, pool=1)
  model = models.create("googlenet", num_classes=10, width=width)
  variables, order = models.initialize(model, train_x[:2], FLAGS.seed)

  tx = optax.adam(LEARNING_RATE)
  # The training step of GoogLeNet takes ~20 s to compile here; unoptimized, half that, for --quick's few steps.
  steps_fns = compile_steps(model, models.FAST_COMPILE if FLAGS.quick else None)
  runs, rows = {}, []
  for variant, aux_weight in VARIANTS.items():
    run = train(model, steps_fns, tx, variables, order, train_x, train_y, test_x, test_y, jnp.float32(aux_weight), steps,
                batch, record_every, FLAGS.seed)
    runs[variant] = run
    first, later = run["flow"][0][1], [dict(f) for _, f in run["flow"][1:]]
    conv1_trained = float(np.mean([f["conv1/conv"] for f in later]))
    print(f"{variant}: test accuracy {run['test_accuracy']:.4f}, conv1 gradient {dict(first)['conv1/conv']:.3g} "
          f"at step 0, {conv1_trained:.3g} in training", flush=True)
    rows.append({"variant": variant, "aux_weight": aux_weight, "test_accuracy": run["test_accuracy"],
                 "final_train_loss": float(np.mean(run["losses"][-20:])),
                 "conv1_grad_step0": dict(first)["conv1/conv"], "conv1_grad_training": conv1_trained,
                 "fc_grad_training": float(np.mean([f["fc"] for f in later])),
                 "conv1_to_fc_training": float(np.mean([f["conv1/conv"] / f["fc"] for f in later]))})

  plot_flow(runs, scaffold.output("gradient_flow.png"))
  plot_training(runs, scaffold.output("training.png"))
  by = {r["variant"]: r for r in rows}
  claims = {
      "with auxiliary losses the gradient reaching the first convolution is larger (mean over training)":
          by["with_aux"]["conv1_grad_training"] > by["without_aux"]["conv1_grad_training"],
      f"with auxiliary losses the main head's test accuracy is more than {MARGIN * 100:.0f} point higher":
          by["with_aux"]["test_accuracy"] - by["without_aux"]["test_accuracy"] > MARGIN,
  }
  counts = parameter_counts(variables["params"])
  layer_rows = [{"layer": name, **{f"{v}_step0": dict(runs[v]["flow"][0][1])[name] for v in VARIANTS},
                 **{f"{v}_training": float(np.mean([dict(f)[name] for _, f in runs[v]["flow"][1:]])) for v in VARIANTS}}
                for name, _ in runs["with_aux"]["flow"][0][1] if not name.startswith("aux")]
  notes = (f"GoogLeNet (torchvision's layout, BatchNorm, width ×{width}: {counts['network']:,} parameters, "
           f"auxiliary heads {counts['auxiliary_heads']:,} more) on {FLAGS.dataset} 28×28, {steps} Adam steps "
           f"(lr {LEARNING_RATE}) of {batch} images, the same initialization and batches for both runs; test "
           f"accuracy of the main head on the whole test split. Gradient norms: ‖∂objective/∂kernel‖ on the "
           f"training batch, recorded every {record_every} steps; 'training' is their mean after step 0. "
           "BatchNorm (which the 2014 network did not have) already keeps gradients from vanishing, so the "
           "auxiliary losses are tested on a network that learns without them.")
  scaffold.finish("GoogLeNet with and without auxiliary classifiers",
                  {"dataset": FLAGS.dataset, "width": width, "steps": steps, "batch_size": batch,
                   "learning_rate": LEARNING_RATE, "aux_weight": AUX_WEIGHT, "parameters": counts,
                   "wall_seconds": round(time.perf_counter() - start, 1),
                   "train_loss": {v: runs[v]["losses"] for v in VARIANTS}},
                  {"runs": rows, "gradient by layer": layer_rows}, notes, claims)


if __name__ == "__main__":
  scaffold.run(main)
