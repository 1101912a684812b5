r"""BatchNorm against batch size: accuracy from 2 to 256, and how far batch statistics stray from the running averages.

    python experiments/lecture/batchnorm_batch_size.py --workdir=runs/batchnorm_batch_size [--quick] \
        [--batch_sizes=2,4,8,16,32,64,128,256] [--dataset=fashion_mnist]

The lecture: BatchNorm normalizes each batch to zero mean and unit variance and keeps running
averages that are used at test time; with small batches the statistics are noisy. A small CNN
(two 3×3 convolutions, each followed by BatchNorm, ReLU and 2×2 max-pooling; dense 64; dense 10)
is trained at each batch size, with BatchNorm and, as a control, without it. Every run sees the
same number of examples (so small batches take more steps), with SGD whose learning rate grows
in proportion to the batch and decays to 0 (linear scaling keeps runs of a fixed number of
examples comparable); the control separates BatchNorm's share of a small-batch penalty from
SGD's. Each BatchNorm network is evaluated twice: with its running averages (as deployed) and with
the statistics of test batches of its training batch size. For test batches of that size, the
gap between their statistics and the running averages, and their noise (against the statistics
of many test images), per channel of both BatchNorm inputs. Writes results.json, results.md,
accuracy.png and statistics_gap.png, with the lecture's claims checked. `--quick`: batch sizes 2
and 32, 256 examples, widths (4, 8).
"""

import time

import flax.linen as nn
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
flags.DEFINE_list("batch_sizes", None, "Batch sizes (default 2,4,8,16,32,64,128,256; quick 2,32).")
flags.DEFINE_integer("seed", 0, "Seed of initialization and batches.")

# Sizes: (batch sizes, examples seen per run, convolution widths, dense width).
FULL = ((2, 4, 8, 16, 32, 64, 128, 256), 16_384, (8, 16), 64)
QUICK = ((2, 32), 256, (4, 8), 16)
NORMS = {"batchnorm": True, "none": False}  # name: the cnn's batch_norm
REFERENCE_BATCH = 32
MARGIN = 0.01  # The smallest accuracy difference a claim counts: one seed cannot resolve less.
LEARNING_RATE = 0.02  # At REFERENCE_BATCH; proportional to the batch size.
MOMENTUM = 0.9
EVAL_BATCH = 500
# The gaps are measured on the first 2,048 test images (mnist5k: 512), in chunks that every batch size divides.
GAP_IMAGES = 2048
GAP_CHUNK = 512


def train(model, batch_size, examples, train_x, train_y, seed):
  """All the steps in one compiled scan (thousands of tiny steps at batch 2); the loss of each."""
  variables, _ = models.initialize(model, train_x[:2], seed)
  steps = examples // batch_size
  # Decayed to 0, so that the last step's noise does not decide the comparison.
  tx = optax.sgd(optax.cosine_decay_schedule(LEARNING_RATE * batch_size / REFERENCE_BATCH, steps), momentum=MOMENTUM)
  state = train_steps.TrainState.create(apply_fn=model.apply, params=variables["params"], tx=tx,
                                        batch_stats=variables.get("batch_stats"), rng=jax.random.PRNGKey(seed))
  step = train_steps.make_train_step(model, losses.softmax_cross_entropy)

  @jax.jit
  def run(state, images, labels, batches):
    def scan_step(state, index):
      state, metrics = step(state, {"inputs": images[index], "label": labels[index]})
      return state, metrics["loss"]
    return jax.lax.scan(scan_step, state, batches)

  state, step_losses = run(state, train_x, train_y, data.shuffled_batches(len(train_x), batch_size, steps, seed))
  trained = {"params": state.params, "batch_stats": state.batch_stats if state.batch_stats is not None else {}}
  return trained, np.asarray(step_losses)


def accuracy_with_running_averages(model, variables, x, y) -> float:
  predict = jax.jit(lambda x: jnp.argmax(model.apply(variables, x, train=False), -1))
  return float(np.mean(np.concatenate([predict(x[i:i + EVAL_BATCH]) for i in range(0, len(x), EVAL_BATCH)]) == y))


def accuracy_with_batch_statistics(model, variables, x, y, batch_size: int) -> float:
  """Each group of `batch_size` test images normalized by its own statistics, as in training."""
  usable = len(x) // batch_size * batch_size

  @jax.jit
  def predict(groups):
    logits = jax.vmap(lambda g: model.apply(variables, g, train=True, mutable=["batch_stats"])[0])(groups)
    return jnp.argmax(logits, -1).reshape(-1)

  groups_per_call = max(1, GAP_CHUNK // batch_size)
  grouped = x[:usable].reshape(-1, batch_size, *x.shape[1:])
  predicted = np.concatenate([predict(grouped[i:i + groups_per_call]) for i in range(0, len(grouped), groups_per_call)])
  return float(np.mean(predicted == y[:usable]))


def statistics_gap(model, variables, x, batch_size: int) -> dict[str, float]:
  """How far each batch's per-channel mean and std of a BatchNorm's input are from the running
  averages (gap) and from those of all of `x` (noise: what a larger batch would average away);
  in units of the reference std, averaged over channels, both BatchNorm layers and the batches."""
  # In evaluation mode every image's feature maps are its own, so they can be grouped afterwards.
  capture = jax.jit(lambda x: model.apply(variables, x, train=False,
                                          capture_intermediates=lambda module, _: isinstance(module, nn.Conv))[1])
  chunks = [jax.device_get(capture(x[i:i + GAP_CHUNK])["intermediates"]) for i in range(0, len(x), GAP_CHUNK)]
  gaps = {"mean_gap": [], "std_gap": [], "mean_noise": [], "std_noise": []}
  for conv, norm in (("conv0", "bn0"), ("conv1", "bn1")):
    maps = np.concatenate([c[conv]["__call__"][0] for c in chunks])  # A convolution's output is its BatchNorm's input.
    batches = maps.reshape(-1, batch_size * maps.shape[1] * maps.shape[2], maps.shape[3])
    running = variables["batch_stats"][norm]
    references = {"gap": (running["mean"], np.sqrt(running["var"] + 1e-5)),  # flax's epsilon.
                  "noise": (maps.mean(axis=(0, 1, 2)), np.sqrt(maps.var(axis=(0, 1, 2)) + 1e-5))}
    for name, (mean, std) in references.items():
      gaps[f"mean_{name}"].append((np.abs(batches.mean(axis=1) - mean) / std).ravel())
      gaps[f"std_{name}"].append(np.abs(batches.std(axis=1) / std - 1).ravel())
  return {name: float(np.mean(np.concatenate(values))) for name, values in gaps.items()}


def plot_accuracy(rows: list[dict], path: str) -> None:
  fig, ax = plt.subplots(figsize=(7.5, 4.5))
  for norm, key, label, style in (("batchnorm", "test_accuracy", "BatchNorm, running averages", "o-"),
                                  ("batchnorm", "test_accuracy_batch_stats", "BatchNorm, test-batch statistics", "s--"),
                                  ("none", "test_accuracy", "no normalization", "^-")):
    points = [(r["batch_size"], r[key]) for r in rows if r["norm"] == norm]
    ax.plot(*zip(*points), style, label=label)
  ax.set_xscale("log", base=2)
  ax.set_xticks(sorted({r["batch_size"] for r in rows}), [str(b) for b in sorted({r["batch_size"] for r in rows})])
  ax.set_xlabel("training batch size (the same number of examples for every run)")
  ax.set_ylabel("test accuracy")
  ax.grid(alpha=0.3, which="both")
  ax.legend()
  plots.save(fig, path)


def plot_gap(rows: list[dict], path: str) -> None:
  fig, ax = plt.subplots(figsize=(7.5, 4.5))
  points = [r for r in rows if r["norm"] == "batchnorm"]
  sizes = [r["batch_size"] for r in points]
  for key, style, label in (("mean_gap", "o-", "|μ_batch − μ_running| / σ_running"),
                            ("std_gap", "s-", "|σ_batch / σ_running − 1|"),
                            ("mean_noise", "o:", "|μ_batch − μ_all| / σ_all (noise)"),
                            ("std_noise", "s:", "|σ_batch / σ_all − 1| (noise)")):
    ax.plot(sizes, [r[key] for r in points], style, label=label)
  ax.set_xscale("log", base=2)
  ax.set_xticks(sizes, [str(b) for b in sizes])
  ax.set_yscale("log")
  ax.set_xlabel("batch size")
  ax.set_title("BatchNorm inputs of test batches: statistics against running averages")
  ax.grid(alpha=0.3, which="both")
  ax.legend()
  plots.save(fig, path)


def main(argv):
  del argv
  start = time.perf_counter()
  batch_sizes, examples, features, hidden = QUICK if FLAGS.quick else FULL
  if FLAGS.batch_sizes:
    try:
      batch_sizes = tuple(sorted(int(b) for b in FLAGS.batch_sizes))
    except ValueError:
      scaffold.fail(f"--batch_sizes must be integers separated by commas, e.g. 2,32,256; "
                  f"got {','.join(FLAGS.batch_sizes)}")
    if not {2, REFERENCE_BATCH} <= set(batch_sizes) or any(GAP_CHUNK % b for b in batch_sizes):
      scaffold.fail(f"--batch_sizes must include 2 and {REFERENCE_BATCH} (the claims compare them) and be powers of "
                  f"two up to {GAP_CHUNK}; got {list(batch_sizes)}")
  train_x, train_y = scaffold.run_user_code(lambda: data.image_arrays(FLAGS.dataset, "train", FLAGS.data_dir, pool=2))
  test_x, test_y = data.image_arrays(FLAGS.dataset, "test", FLAGS.data_dir, pool=2)
  gap_images = min(GAP_IMAGES, len(test_x) // GAP_CHUNK * GAP_CHUNK)

  rows = []
  for norm, batch_norm in NORMS.items():
    model = models.create("cnn", num_classes=10, features=features, kernel_size=3, hidden=hidden,
                          batch_norm=batch_norm)
    for batch_size in batch_sizes:
      variables, losses = train(model, batch_size, examples, train_x, train_y, FLAGS.seed)
      row = {"norm": norm, "batch_size": batch_size, "steps": len(losses),
             "learning_rate": LEARNING_RATE * batch_size / REFERENCE_BATCH,
             "test_accuracy": accuracy_with_running_averages(model, variables, test_x, test_y),
             "last_steps_loss": float(np.mean(losses[-len(losses) // 10 - 1:]))}
      if batch_norm:
        row["test_accuracy_batch_stats"] = accuracy_with_batch_statistics(model, variables, test_x, test_y, batch_size)
        row.update(statistics_gap(model, variables, test_x[:gap_images], batch_size))
      rows.append(row)
      print(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)

  plot_accuracy(rows, scaffold.output("accuracy.png"))
  plot_gap(rows, scaffold.output("statistics_gap.png"))
  by = {(r["norm"], r["batch_size"]): r for r in rows}
  bn2, bn32 = by[("batchnorm", 2)], by[("batchnorm", REFERENCE_BATCH)]
  none2, none32 = by[("none", 2)], by[("none", REFERENCE_BATCH)]
  points = f"{MARGIN * 100:.0f} point"
  claims = {
      f"with BatchNorm, test accuracy at batch size 2 is more than {points} lower than at {REFERENCE_BATCH}":
          bn32["test_accuracy"] - bn2["test_accuracy"] > MARGIN,
      f"the statistics of a batch of 2 are noisier than those of a batch of {REFERENCE_BATCH} (mean and std)":
          bn2["mean_noise"] > bn32["mean_noise"] and bn2["std_noise"] > bn32["std_noise"],
      f"going from batch {REFERENCE_BATCH} to 2 costs the BatchNorm network more than {points} more accuracy than "
      "the same network without normalization":
          (bn32["test_accuracy"] - bn2["test_accuracy"]) - (none32["test_accuracy"] - none2["test_accuracy"]) > MARGIN,
      f"at batch size 2, normalizing test batches by their own statistics is more than {points} less accurate "
      "than by the running averages": bn2["test_accuracy"] - bn2["test_accuracy_batch_stats"] > MARGIN,
  }
  fewest_steps = examples // max(batch_sizes)
  notes = (f"{FLAGS.dataset} at 14×14 (2×2 average-pooled). Fixed number of examples: every run sees {examples:,} "
           f"training examples (steps = {examples:,} / batch size), SGD momentum {MOMENTUM}, learning rate "
           f"{LEARNING_RATE} × batch / {REFERENCE_BATCH}, cosine-decayed to 0; CNN widths {features}, dense {hidden}. "
           f"BatchNorm momentum 0.99 (flax's default): after the {fewest_steps} steps of batch {max(batch_sizes)}, "
           f"{0.99 ** fewest_steps:.2f} of the running averages is still their initial value (mean 0, variance 1), "
           "so at a fixed number of examples large batches leave the running averages behind. test_accuracy: whole "
           "test split, running averages; test_accuracy_batch_stats: test images in groups of the training batch "
           "size, each normalized by its own statistics. Gap and noise: statistics of the BatchNorm inputs of test "
           "batches of the training batch size against the network's running averages (gap) and against those of "
           f"all the first {gap_images:,} test images (noise). Accuracy differences under {points} are more than "
           "one seed can resolve.")
  scaffold.finish("BatchNorm against batch size",
                  {"dataset": FLAGS.dataset, "batch_sizes": list(batch_sizes), "examples_per_run": examples,
                   "features": list(features), "hidden": hidden, "learning_rate_at_32": LEARNING_RATE,
                   "momentum": MOMENTUM, "wall_seconds": round(time.perf_counter() - start, 1)},
                  {"runs": rows}, notes, claims)


if __name__ == "__main__":
  scaffold.run(main)
