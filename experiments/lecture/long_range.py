r"""Long-range memory: the adding problem at growing lengths, plain RNN against GRU and LSTM.

    python experiments/adding_problem.py --workdir=runs/long_range [--quick] [--lengths=10,25,50,100,200]

For every cell and sequence length, trains a one-layer `sequence_classifier` (one output, mean
squared error) on freshly drawn adding problems (adding_problem.py), then reports its mean
squared error on 1,000 held-out sequences (predicting the mean scores 1/6 ≈ 0.167; "solved" is
below 0.01, "fails" above 0.05). Before and after training it measures ‖∂loss/∂x_t‖ against the
lag between input step t and the output (lecture: vanishing gradients). Writes results.json
(with the lecture's claims checked: the RNN fails at the longest length where the LSTM solves
it), results.md, mse_by_length.png and gradient_by_lag.png (the longest length, log scale).
`--quick`: two short lengths, a few steps, a tiny model.
"""

import time

import adding_problem
import jax
import matplotlib.pyplot as plt
import numpy as np
import optax
import scaffold
from absl import flags

from trends_jax import models
from trends_jax.errors import UserError
from trends_jax.models import recurrent
from trends_jax.run import plots

FLAGS = flags.FLAGS
flags.DEFINE_list("lengths", None, "Sequence lengths (default 10,25,50,100,200; quick 5,20).")
flags.DEFINE_list("cells", ["rnn", "gru", "lstm"], "Cells to compare.")
flags.DEFINE_integer("steps", None, "Training steps per run (default 3000; quick 40).")
flags.DEFINE_integer("seed", 0, "Seed of data and initialization.")

# Sizes: (lengths, steps, hidden units, batch size).
FULL = ((10, 25, 50, 100, 200), 3000, 64, 64)
QUICK = ((5, 20), 40, 8, 16)
LEARNING_RATE = 3e-3
SOLVED_MSE = 0.01
FAILED_MSE = 0.05  # Well above solved; predicting the mean scores 0.167.
TEST_SEQUENCES = 1000


def train_one(cell: str, length: int, steps: int, hidden: int, batch: int, seed: int) -> dict:
  """Trains one model on the adding problem; its test error and gradient-by-lag before and after."""
  model = models.create("sequence_classifier", num_classes=1, cell=cell, hidden=hidden)
  apply = lambda params, x: model.apply({"params": params}, x)  # noqa: E731
  rng = np.random.default_rng(seed)
  probe_x, probe_y = adding_problem.adding_problem(np.random.default_rng(seed + 1), 256, length)
  params = model.init(jax.random.PRNGKey(seed), probe_x[:1])["params"]
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(LEARNING_RATE))
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, x, y):
    loss, grads = jax.value_and_grad(lambda p: adding_problem.mse_loss(apply, p, x, y))(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  initial = adding_problem.gradient_by_lag(apply, params, probe_x, probe_y)
  start = time.perf_counter()
  losses = []
  for _ in range(steps):
    params, opt_state, loss = step(params, opt_state, *adding_problem.adding_problem(rng, batch, length))
    losses.append(loss)
  losses = [float(x) for x in jax.device_get(losses)]
  seconds = time.perf_counter() - start
  test_x, test_y = adding_problem.adding_problem(np.random.default_rng(seed + 2), TEST_SEQUENCES, length)
  return {"test_mse": float(adding_problem.mse_loss(apply, params, test_x, test_y)),
          "train_curve": losses, "seconds": seconds,
          "gradient_initial": initial, "gradient_trained": adding_problem.gradient_by_lag(apply, params, probe_x, probe_y)}


def plot_mse(rows: list[dict], cells: list[str], path: str) -> None:
  fig, ax = plt.subplots(figsize=(6.5, 4.2))
  for cell in cells:
    points = [(r["length"], r["test_mse"]) for r in rows if r["cell"] == cell]
    ax.plot(*zip(*points), marker="o", label=cell)
  ax.axhline(adding_problem.BASELINE_MSE, color="grey", ls="--", label="predict the mean (1/6)")
  ax.axhline(SOLVED_MSE, color="grey", ls=":", label=f"solved (< {SOLVED_MSE})")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("sequence length")
  ax.set_ylabel("test mean squared error")
  ax.set_title("the adding problem")
  ax.grid(alpha=0.3, which="both")
  ax.legend(fontsize=8)
  plots.save(fig, path)


def plot_gradients(runs: dict, cells: list[str], length: int, path: str) -> None:
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
  for ax, key, title in ((axes[0], "gradient_initial", "at initialization"),
                         (axes[1], "gradient_trained", "after training")):
    for cell in cells:
      norms = runs[(cell, length)][key]
      ax.plot(np.arange(len(norms)), np.maximum(norms, 1e-30), label=cell)
    ax.set_yscale("log")
    ax.set_xlabel("lag (steps between input and output)")
    ax.set_title(f"‖∂loss/∂x_t‖, length {length}, {title}")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
  axes[0].set_ylabel("gradient norm (mean over 256 sequences)")
  plots.save(fig, path)


def lecture_claims(runs: dict, longest: int) -> dict[str, bool]:
  """The lecture's claims that the runs measured (they need both the RNN and the LSTM)."""
  if ("rnn", longest) not in runs or ("lstm", longest) not in runs:
    return {}
  rnn, lstm = runs[("rnn", longest)], runs[("lstm", longest)]
  lstm_mse = [run["test_mse"] for (cell, _), run in runs.items() if cell == "lstm"]
  carried = lambda run: run["gradient_trained"][-1] / run["gradient_trained"][0]  # noqa: E731
  return {
      f"at the longest length tried the plain RNN fails (test MSE > {FAILED_MSE}) while the LSTM "
      f"solves it (MSE < {SOLVED_MSE})": bool(rnn["test_mse"] > FAILED_MSE and lstm["test_mse"] < SOLVED_MSE),
      f"the LSTM solves every length tried (MSE < {SOLVED_MSE})": bool(max(lstm_mse) < SOLVED_MSE),
      "after training, the gradient reaching the first input of the longest sequence (relative to the "
      "last input's) is over 1000× larger in the LSTM than in the RNN": bool(carried(lstm) > 1000 * carried(rnn)),
  }


def main(argv):
  del argv
  lengths, steps, hidden, batch = QUICK if FLAGS.quick else FULL
  try:
    lengths = tuple(int(n) for n in FLAGS.lengths) if FLAGS.lengths else lengths
  except ValueError:
    scaffold.fail(f"--lengths must be integers separated by commas, e.g. 10,50,100; got {FLAGS.lengths}")
  steps = FLAGS.steps or steps
  cells = FLAGS.cells

  def check():
    for cell in cells:
      if cell not in recurrent.CELLS:
        raise UserError(f"unknown cell {cell!r} in --cells; known: {', '.join(recurrent.CELLS)}")
    if min(lengths) < 2 or steps < 1:
      raise UserError(f"--lengths must be >= 2 and --steps >= 1; got {lengths} and {steps}")

  scaffold.run_user_code(check)
  runs, rows, gradient_rows = {}, [], []
  for length in lengths:
    for cell in cells:
      run = train_one(cell, length, steps, hidden, batch, FLAGS.seed)
      runs[(cell, length)] = run
      print(f"{cell:4s} length {length:4d}: test MSE {run['test_mse']:.4f} ({run['seconds']:.1f} s)", flush=True)
      rows.append({"cell": cell, "length": length, "test_mse": run["test_mse"],
                   "solved": run["test_mse"] < SOLVED_MSE,
                   "final_train_mse": float(np.mean(run["train_curve"][-20:])),
                   "seconds": round(run["seconds"], 2)})
      for key, when in (("gradient_initial", "initialization"), ("gradient_trained", "trained")):
        norms = run[key]
        gradient_rows.append({"cell": cell, "length": length, "when": when, "lag_0": float(norms[0]),
                              "lag_max": float(norms[-1]),
                              "ratio_max_to_0": float(norms[-1] / norms[0]) if norms[0] else float("nan")})

  plot_mse(rows, cells, scaffold.output("mse_by_length.png"))
  plot_gradients(runs, cells, max(lengths), scaffold.output("gradient_by_lag.png"))
  setup = {"task": "adding problem", "lengths": list(lengths), "cells": cells, "steps": steps,
           "hidden": hidden, "batch_size": batch, "learning_rate": LEARNING_RATE, "grad_clip_norm": 1.0,
           "test_sequences": TEST_SEQUENCES, "baseline_mse": adding_problem.BASELINE_MSE, "solved_mse": SOLVED_MSE,
           "gradient_by_lag": {f"{cell}/{length}": {k: runs[(cell, length)][k].tolist()
                                                    for k in ("gradient_initial", "gradient_trained")}
                               for cell, length in runs}}
  claims = lecture_claims(runs, max(lengths))
  notes = (f"Adding problem, {steps} steps of {batch} fresh sequences per run, one layer of {hidden}, Adam "
           f"{LEARNING_RATE}, gradients clipped to norm 1. Test MSE on {TEST_SEQUENCES} held-out sequences; "
           f"predicting the mean scores {adding_problem.BASELINE_MSE:.3f}, solved means < {SOLVED_MSE}. "
           "Gradient table: ‖∂loss/∂x_t‖ (mean over 256 sequences) at lag 0 (the last input) and at the "
           "longest lag (the first input), and their ratio.")
  scaffold.finish("Long-range memory: the adding problem", setup,
                  {"test error": rows, "gradient by lag": gradient_rows}, notes, claims)


if __name__ == "__main__":
  scaffold.run(main)
