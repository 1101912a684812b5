r"""LSTM training-step time: this project's JAX LSTM against flax's cells and PyTorch's nn.LSTM.

    python experiments/bench/lstm.py --workdir=runs/bench_lstm [--quick] [--batch=64 --length=100 --hidden=256]

One step is the forward pass over a (batch, length, features) sequence through `layers` LSTM
layers, a squared-error loss on every output, and the backward pass to every weight (no optimizer
update). Contenders, each timed the same way (median of `--reps` steps after warm-up and
compilation; PyTorch on `--torch_threads`, by default one per core): `jax_fused` (`trends_jax.models.recurrent.RecurrentStack`, the
fused `LSTMCell` under `nn.RNN`, jit-compiled), the same with `--unroll` steps per scan iteration,
flax's `nn.OptimizedLSTMCell` and `nn.LSTMCell` under `nn.RNN`, and PyTorch's `nn.LSTM` (eager,
oneDNN kernels) if torch is installed (`pip install 'trends_jax[bench]'`). Prints a table and
writes results.json (seconds per step, and each contender's time / PyTorch's as `ratio_to_torch`),
results.md and step_times.png. `--quick`: a tiny size and few repetitions, for tests.
"""

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from trends_jax.bench import timing as benchmark
from trends_jax.models import recurrent
from trends_jax.run import cli, plots, results as report

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Where results and the figure go.")
flags.mark_flag_as_required("workdir")
flags.DEFINE_bool("quick", False, "A tiny size and few repetitions (for tests).")
flags.DEFINE_integer("batch", 64, "Sequences per step.")
flags.DEFINE_integer("length", 100, "Time steps per sequence.")
flags.DEFINE_integer("features", 256, "Input features per time step.")
flags.DEFINE_integer("hidden", 256, "LSTM units per layer.")
flags.DEFINE_integer("layers", 1, "Stacked LSTM layers.")
flags.DEFINE_integer("unroll", 4, "Time steps per scan iteration for the jax_fused_unrolled contender.")
flags.DEFINE_integer("reps", 20, "Timed steps per contender (after warm-up).")
flags.DEFINE_integer("torch_threads", 0, "PyTorch's intra-op threads; 0: one per CPU core. On a busy "
                     "machine 1 avoids threads spinning on each other (10-100x slower small steps).")

QUICK = {"batch": 4, "length": 8, "features": 8, "hidden": 16, "layers": 1, "reps": 3}


class _FlaxStack(nn.Module):
  """flax's own cell under nn.RNN, layer after layer: the reference for our fused cell."""
  cell: type
  hidden: int
  layers: int

  @nn.compact
  def __call__(self, x):
    for _ in range(self.layers):
      x = nn.RNN(self.cell(self.hidden, parent=None))(x)
    return x


def time_jax(module: nn.Module, size: dict) -> float:
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(size["batch"], size["length"], size["features"])), jnp.float32)
  return benchmark.time_calls(benchmark.forward_backward(module, x), size["reps"]).median


def time_torch(size: dict) -> float:
  import torch_models
  torch_models.set_threads(size["torch_threads"])
  step = torch_models.lstm_grad_step(size["batch"], size["length"], size["features"], size["hidden"],
                                        size["layers"])
  return benchmark.time_calls(step, size["reps"]).median


def contenders(size: dict) -> dict:
  """Name → function returning seconds per step; PyTorch only where it is installed."""
  stack = lambda **kw: recurrent.RecurrentStack("lstm", size["hidden"], size["layers"], **kw)  # noqa: E731
  timed = {
      "jax_fused": lambda: time_jax(stack(), size),
      f"jax_fused_unroll{size['unroll']}": lambda: time_jax(stack(unroll=size["unroll"]), size),
      "flax_OptimizedLSTMCell": lambda: time_jax(_FlaxStack(nn.OptimizedLSTMCell, size["hidden"], size["layers"]), size),
      "flax_LSTMCell": lambda: time_jax(_FlaxStack(nn.LSTMCell, size["hidden"], size["layers"]), size),
  }
  try:
    import torch  # noqa: F401
    timed["torch_nn.LSTM"] = lambda: time_torch(size)
  except ImportError:
    print("PyTorch is not installed (pip install 'trends_jax[bench]'): timing JAX only.", flush=True)
  return timed


def plot(rows: list[dict], size: dict, path: str) -> None:
  fig, ax = plots.pyplot().subplots(figsize=(7.5, 3.8))
  bars = ax.barh([r["contender"] for r in rows], [r["seconds_per_step"] * 1000 for r in rows])
  ax.bar_label(bars, fmt="%.1f ms", fontsize=8)
  ax.invert_yaxis()
  ax.set_xlabel("milliseconds per training step (forward + backward)")
  ax.set_title(f"LSTM, batch {size['batch']}, length {size['length']}, {size['features']}→{size['hidden']}"
               f" × {size['layers']} layer(s), {jax.devices()[0].platform}")
  plots.save(fig, path)


def main(argv):
  del argv
  size = {"batch": FLAGS.batch, "length": FLAGS.length, "features": FLAGS.features, "hidden": FLAGS.hidden,
          "layers": FLAGS.layers, "unroll": FLAGS.unroll, "reps": FLAGS.reps, "torch_threads": FLAGS.torch_threads}
  if FLAGS.quick:
    size.update(QUICK)
  bad = [k for k, v in size.items() if v < (0 if k == "torch_threads" else 1)]
  if bad:
    cli.fail(f"--{bad[0]} must be >= 1, got {size[bad[0]]}")
  rows = []
  for name, run in contenders(size).items():
    seconds = run()
    rows.append({"contender": name, "seconds_per_step": seconds,
                 "sequences_per_sec": size["batch"] / seconds})
    print(f"{name:28s} {seconds * 1000:9.2f} ms/step", flush=True)
  torch_seconds = next((r["seconds_per_step"] for r in rows if r["contender"].startswith("torch")), None)
  for r in rows:
    r["ratio_to_torch"] = r["seconds_per_step"] / torch_seconds if torch_seconds else float("nan")

  os.makedirs(FLAGS.workdir, exist_ok=True)
  plot(rows, size, os.path.join(FLAGS.workdir, "step_times.png"))
  setup = {**size, "platform": jax.devices()[0].platform, "cpu_count": os.cpu_count(),
           "jax": jax.__version__}
  try:
    import torch
    setup["torch"] = torch.__version__
  except ImportError:
    pass
  notes = ("One training step: forward over the sequence, squared-error loss on every output, backward "
           "to every weight; median of the timed steps after warm-up. ratio_to_torch > 1: slower than "
           "PyTorch's nn.LSTM.")
  report.write(FLAGS.workdir, "LSTM step time: JAX against PyTorch", setup, {"step time": rows}, notes)
  print(open(os.path.join(FLAGS.workdir, "results.md")).read())


if __name__ == "__main__":
  cli.run(main)
