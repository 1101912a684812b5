r"""Dropout as an ensemble: the full network at test time against the average of sampled thinned networks.

    python experiments/lecture/dropout_ensemble.py --workdir=runs/dropout_ensemble [--quick] [--data_dir=…] [--samples=100]

Trains a 2×256 ReLU MLP with dropout 0.5 after each hidden layer on Fashion-MNIST (a normal
trainer run in runs/mlp_dropout/, resumable), restores it (`trends_jax.training.trained`) and classifies
the 10,000 test images three ways: the full network (flax's dropout scales the kept units by
1/(1−p) in training, so using all units unscaled at test time is the paper's weight-scaling
rule); each of `samples` thinned networks alone (a fresh dropout mask per network, image and
unit); and the average of the first N thinned networks, of their probabilities (arithmetic) and
of their log-probabilities (geometric, what weight scaling approximates). Writes mc_dropout.png,
results.json and results.md, with the lecture's claims checked against the numbers. `--quick`: a
tiny network, a few steps, a slice of the data, 8 samples.
"""


import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import scaffold
from absl import flags

from trends_jax import data
from trends_jax.data import pipeline
from trends_jax.run import plots
from trends_jax.training import loop, trained

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_integer("samples", None, "Thinned networks sampled per test image (default 100; quick 8).")
flags.DEFINE_integer("seed", 0, "Seed of training (config.seed) and of the dropout masks at test time.")

MATCH_POINTS = 0.01  # "Matches": within one point of accuracy.


def ensemble_sizes(samples: int) -> list[int]:
  """1, 2, 5, 10, 20, 50, … up to `samples`, and `samples` itself."""
  sizes = [n * 10**e for e in range(6) for n in (1, 2, 5) if n * 10**e < samples]
  return sizes + [samples]


def evaluate(run: trained.Run, samples: int, sizes: list[int], seed: int) -> dict:
  """Correct answers over the evaluation split: the full network, each thinned network, and the
  arithmetic and geometric averages of the first N thinned networks for each N in `sizes`."""
  model, variables = run.model, run.variables
  first = np.asarray(sizes) - 1

  @jax.jit
  def counts(x, y, mask, key):
    full = model.apply(variables, x, train=False)
    thinned = jax.vmap(lambda k: model.apply(variables, x, train=True, rngs={"dropout": k}))(
        jax.random.split(key, samples))
    log_p = jax.nn.log_softmax(thinned)  # [samples, batch, classes]
    n = jnp.arange(1, samples + 1)[:, None, None]
    arithmetic = (jnp.cumsum(jnp.exp(log_p), axis=0) / n)[first]
    geometric = (jnp.cumsum(log_p, axis=0) / n)[first]
    correct = lambda scores: jnp.sum((jnp.argmax(scores, -1) == y) * mask, axis=-1)  # noqa: E731
    return {"full": correct(full), "single": correct(thinned), "arithmetic": correct(arithmetic),
            "geometric": correct(geometric), "count": jnp.sum(mask)}

  ds = run.config.dataset
  spec = data.DatasetSpec.from_config(ds)
  batches = pipeline.eval_batches(data.examples(spec, ds.eval_split), spec,
                                  global_batch_size=run.config.eval_batch_size)
  totals, key = None, jax.random.PRNGKey(seed)
  for batch in batches:
    key, batch_key = jax.random.split(key)
    sums = counts(batch["inputs"], batch["label"], batch["mask"], batch_key)
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
  totals = jax.device_get(totals)
  return {k: np.asarray(v) / totals["count"] for k, v in totals.items() if k != "count"}


def plot(accuracy: dict, sizes: list[int], dropout_rate: float, path: str) -> None:
  fig, ax = plt.subplots(figsize=(7, 4.2))
  ax.plot(sizes, accuracy["arithmetic"], marker="o", label="average of probabilities")
  ax.plot(sizes, accuracy["geometric"], marker="s", label="average of log-probabilities")
  ax.axhline(accuracy["full"], color="k", ls="--", label="full network (weight scaling)")
  single = accuracy["single"]
  ax.axhspan(single.min(), single.max(), color="grey", alpha=0.25,
             label=f"one thinned network ({len(single)} sampled: min–max)")
  ax.set_xscale("log")
  ax.set_xlabel("thinned networks averaged (N)")
  ax.set_ylabel("test accuracy")
  ax.set_title(f"Monte-Carlo dropout (p = {dropout_rate}) on Fashion-MNIST")
  ax.grid(alpha=0.3, which="both")
  ax.legend(fontsize=8, loc="lower right")
  plots.save(fig, path)


def lecture_claims(accuracy: dict, samples: int) -> dict[str, bool]:
  averaged, full, single = accuracy["arithmetic"][-1], accuracy["full"], accuracy["single"].mean()
  return {
      f"averaging {samples} thinned networks matches the full (weight-scaled) network within "
      f"{MATCH_POINTS * 100:.0f} point of accuracy": abs(averaged - full) <= MATCH_POINTS,
      f"the average of {samples} thinned networks is more accurate than one thinned network (mean over the "
      "sampled ones)": averaged > single,
      "the full network is more accurate than one thinned network (mean over the sampled ones)": full > single,
  }


def main(argv):
  del argv
  samples = FLAGS.samples if FLAGS.samples is not None else (8 if FLAGS.quick else 100)
  if samples < 1:
    scaffold.fail(f"--samples must be >= 1, got {samples}")
  config = scaffold.load_config("lecture/dropout_ensemble", "quick" if FLAGS.quick else None)
  config.dataset.data_dir = FLAGS.data_dir
  config.seed = FLAGS.seed  # Another seed is another trained network, not only other masks.
  run_dir = scaffold.output("runs", "mlp_dropout")
  status = scaffold.run_user_code(lambda: loop.train_and_evaluate(config, run_dir))
  run = scaffold.run_user_code(lambda: trained.load(run_dir))
  sizes = ensemble_sizes(samples)
  accuracy = evaluate(run, samples, sizes, FLAGS.seed)

  plot(accuracy, sizes, config.model.dropout_rate, scaffold.output("mc_dropout.png"))
  single = accuracy["single"]
  rows = [{"prediction": "full network (weight scaling)", "networks": 1, "test_accuracy": float(accuracy["full"])},
          {"prediction": "one thinned network, mean", "networks": 1, "test_accuracy": float(single.mean())},
          {"prediction": "one thinned network, min", "networks": 1, "test_accuracy": float(single.min())},
          {"prediction": "one thinned network, max", "networks": 1, "test_accuracy": float(single.max())}]
  rows += [{"prediction": f"average of {kind}", "networks": n, "test_accuracy": float(a)}
           for kind, key in (("probabilities", "arithmetic"), ("log-probabilities", "geometric"))
           for n, a in zip(sizes, accuracy[key])]
  claims = lecture_claims(accuracy, samples)
  notes = (f"MLP 2×{config.model.width} ReLU, dropout {config.model.dropout_rate} after each hidden layer, Adam 1e-3 (cosine), "
           f"{status['step']} steps of {config.batch_size} on Fashion-MNIST; accuracies on the "
           f"{config.dataset.eval_split} split. A thinned network draws a fresh mask per image; the averages "
           f"use the first N of {samples} masks per image.")
  scaffold.finish("Dropout as an ensemble of thinned networks",
                  {"samples": samples, "dropout_rate": config.model.dropout_rate, "ensemble_sizes": sizes,
                   "single_network_accuracies": single.tolist()},
                  {"test accuracy": rows}, notes, claims)


if __name__ == "__main__":
  scaffold.run(main)
