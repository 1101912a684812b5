r"""The same steps in trends_jax and in PyTorch on this machine's CPU: ResNet-18 (CIFAR) and an LSTM.

    python experiments/bench/vs_torch.py --workdir=runs/bench_torch [--quick] [--torch_threads=0] [--conv_ops] [--profile=2]
        [--config=configs/cifar10.py:resnet18 --config.batch_size=128]

- ResNet-18 with the CIFAR stem, one training step on a random batch: trends_jax's own compiled
  step for --config (`trends_jax.training.supervised.build_program`: forward, cross-entropy, backward, the
  config's SGD with Nesterov momentum and L2 on kernels, BatchNorm statistics) against its
  PyTorch twin (torch_models.py: same layer shapes, same optimizer), eager.
- LSTM, one layer of 256 over 100 steps of 256 features, batch 64 (experiments/bench/lstm.py's
  step: forward, mean squared output, backward): trends_jax's fused LSTM against `nn.LSTM`.
Median of --reps steps after warm-up (JAX compiles first). ratio = trends_jax / PyTorch: above 1,
trends_jax is slower. --conv_ops: each distinct convolution of that ResNet-18 timed alone at the
same batch, forward and backward to its input and weight (lax.conv_general_dilated, NHWC, against
nn.Conv2d, NCHW), with the count-weighted total: where the step's gap is XLA's convolution
kernels against oneDNN's. --profile=N: after the timings, N more ResNet-18 and LSTM steps of each side run under
a profiler (jax.profiler, broken down by `trends_jax.bench.ops`; torch.profiler's self CPU time per
aten op), and both top-op tables go into the results. The JAX times add up every thread's time
(CPU time), PyTorch's the time on the calling thread, so compare shares, not milliseconds. Needs `pip install 'trends_jax[bench]'`. Writes results.json and results.md.
"""

import os
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from ml_collections import config_flags

from trends_jax import models
from trends_jax.bench import ops, timing as benchmark
from trends_jax.errors import UserError
from trends_jax.models import recurrent
from trends_jax.run import cli, results as report
from trends_jax.training import parallel, supervised as train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", os.path.join(REPO, "configs", "cifar10.py:resnet18"),
                                "The ResNet-18 config whose step is compared.", lock_config=True)
flags.DEFINE_string("workdir", None, "Where results.json and results.md go.")
flags.mark_flag_as_required("workdir")
flags.DEFINE_bool("quick", False, "Tiny sizes and few repetitions (for tests).")
flags.DEFINE_integer("reps", 10, "Timed steps per side (after warm-up).")
flags.DEFINE_integer("torch_threads", 0, "PyTorch's intra-op threads; 0: one per CPU core.")
flags.DEFINE_bool("conv_ops", False, "Also time each distinct convolution of ResNet-18 (CIFAR stem), as its forward pass meets them, at the "
                  "config's batch size alone, forward + backward, on both sides.")
flags.DEFINE_integer("profile", 0, "ResNet-18 and LSTM steps of each side run under a profiler after the timings; "
                     "their top ops go into the results. 0: none.", lower_bound=0)

IMAGE_SHAPE = (32, 32, 3)
LSTM = {"batch": 64, "length": 100, "features": 256, "hidden": 256, "layers": 1}
QUICK = {"reps": 2, "batch_size": 4, "num_filters": 4,
         "lstm": {"batch": 4, "length": 8, "features": 8, "hidden": 16, "layers": 1}}


def torch_op_table(run_step: Callable[[], None], calls: int, top: int = 15) -> list[dict]:
  """`calls` steps under torch.profiler: the aten ops with the most self CPU time."""
  from torch import profiler
  with profiler.profile(activities=[profiler.ProfilerActivity.CPU]) as profile:
    for _ in range(calls):
      run_step()
  averages = sorted(profile.key_averages(), key=lambda e: -e.self_cpu_time_total)
  total = sum(e.self_cpu_time_total for e in averages) or 1.0
  return [{"op": e.key, "calls_per_step": e.count / calls, "ms_per_step": e.self_cpu_time_total / calls / 1000,
           "share": e.self_cpu_time_total / total} for e in averages[:top]]


def resnet18_steps(config, reps: int) -> tuple[tuple[float, float], dict]:
  """Seconds per training step of the config's ResNet-18, trends_jax and PyTorch, and with
  --profile their op tables."""
  import torch_models
  if config.model.name != "resnet18" or not config.model.get("cifar_stem"):
    raise UserError(f"--config must train resnet18 with cifar_stem=True (the PyTorch twin's model), "
                    f"got {config.model.name} cifar_stem={config.model.get('cifar_stem')}")
  num_classes, opt = 10, config.optimizer
  strategy = parallel.create("jit", jax.devices()[:1])
  program = train.build_program(config, strategy, np.zeros((1, *IMAGE_SHAPE), np.float32), num_classes, 1000)
  state = strategy.init_state(program.make_state)
  rng = np.random.default_rng(0)
  batch = strategy.put_batch({"inputs": rng.normal(size=(config.batch_size, *IMAGE_SHAPE)).astype(np.float32),
                              "label": rng.integers(0, num_classes, config.batch_size).astype(np.int32)})
  step = program.train_step.lower(state, batch).compile()

  def jax_step():
    nonlocal state
    state, metrics = step(state, batch)
    jax.block_until_ready((state, metrics))

  torch_step = torch_models.resnet18_train_step(
      config.batch_size, IMAGE_SHAPE, num_classes, config.model.get("num_filters", 64), opt.learning_rate,
      opt.get("momentum", 0.9), opt.name == "nesterov", opt.get("l2", 0.0))
  seconds = benchmark.time_calls(jax_step, reps).median, benchmark.time_calls(torch_step, reps).median
  tables = {}
  if FLAGS.profile:
    jax_tables = ops.profile_calls(step, jax_step, FLAGS.profile)
    tables = {"resnet18 trends_jax: time by kind": jax_tables["time by kind"],
              "resnet18 trends_jax: top ops": jax_tables["top ops"],
              "resnet18 PyTorch: top ops": torch_op_table(torch_step, FLAGS.profile)}
  return seconds, tables


def model_convolutions(config, batch: int) -> list[tuple[nn.Conv, tuple, int]]:
  """The config's model's convolutions as its forward pass meets them, one per distinct
  (input shape, module settings), each with its input shape and how many times it occurs."""
  model = models.create(config.model.name, **train.model_kwargs(config, 10))
  found: dict[tuple, list] = {}

  def record(next_fun, args, kwargs, context):
    module = context.module
    if isinstance(module, nn.Conv) and context.method_name == "__call__":
      key = (args[0].shape, module.features, tuple(module.kernel_size), module.strides, module.padding)
      found.setdefault(key, [module.clone(parent=None, name=None), args[0].shape, 0])[2] += 1
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((batch, *IMAGE_SHAPE)), train=False))
  return [tuple(entry) for entry in found.values()]


def conv_table(config, batch: int, reps: int) -> list[dict]:
  """Each distinct convolution of the model alone, forward + backward to input and weight: XLA
  against oneDNN (nn.Conv2d with the same kernel, stride and padding)."""
  import torch_models
  rows, rng = [], np.random.default_rng(0)
  for conv, shape, count in model_convolutions(config, batch):
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    params = conv.init(jax.random.PRNGKey(0), x)
    grads = jax.jit(jax.grad(lambda x, p, conv=conv: conv.apply(p, x).sum(), argnums=(0, 1)))
    kernel, stride = conv.kernel_size[0], conv.strides if isinstance(conv.strides, int) else conv.strides[0]
    padding = conv.padding if isinstance(conv.padding, int) else kernel // 2
    jax_seconds = benchmark.time_calls(lambda g=grads, x=x, p=params: jax.block_until_ready(g(x, p)), reps).median
    torch_seconds = benchmark.time_calls(torch_models.conv_grad_step(
        batch, shape[1], shape[-1], conv.features, kernel, stride, padding, conv.use_bias), reps).median
    rows.append({"convolution": f"{kernel}x{kernel}/{stride} {shape[-1]}->{conv.features} at {shape[1]}x{shape[2]}",
                 "count": count, "trends_jax_ms": jax_seconds * 1000, "torch_ms": torch_seconds * 1000,
                 "ratio": jax_seconds / torch_seconds})
  jax_total, torch_total = (sum(r["count"] * r[k] for r in rows) for k in ("trends_jax_ms", "torch_ms"))
  rows.append({"convolution": "all of the model's convolutions (count × time)", "count": sum(r["count"] for r in rows),
               "trends_jax_ms": jax_total, "torch_ms": torch_total, "ratio": jax_total / torch_total})
  return rows


def lstm_steps(size: dict, reps: int) -> tuple[tuple[float, float], dict]:
  """Seconds per forward + backward of one LSTM stack, trends_jax and PyTorch, and with --profile
  their op tables."""
  import torch_models
  x = jnp.asarray(np.random.default_rng(0).normal(size=(size["batch"], size["length"], size["features"])),
                  jnp.float32)
  compiled, jax_step = benchmark.compiled_forward_backward(
      recurrent.RecurrentStack("lstm", size["hidden"], size["layers"]), x)
  torch_step = torch_models.lstm_grad_step(**size)
  seconds = benchmark.time_calls(jax_step, reps).median, benchmark.time_calls(torch_step, reps).median
  tables = {}
  if FLAGS.profile:
    tables = {"lstm trends_jax: top ops": ops.profile_calls(compiled, jax_step, FLAGS.profile)["top ops"],
              "lstm PyTorch: top ops": torch_op_table(torch_step, FLAGS.profile)}
  return seconds, tables


def main(argv):
  del argv
  try:
    import torch_models
  except ImportError:
    cli.fail("PyTorch is not installed: pip install 'trends_jax[bench]'")
  if FLAGS.reps < 1 or FLAGS.torch_threads < 0:
    cli.fail(f"--reps must be >= 1 and --torch_threads >= 0, got {FLAGS.reps} and {FLAGS.torch_threads}")
  torch_models.set_threads(FLAGS.torch_threads)
  config, lstm, reps = FLAGS.config.copy_and_resolve_references(), dict(LSTM), FLAGS.reps
  if FLAGS.quick:
    with config.unlocked():
      config.batch_size, config.model.num_filters = QUICK["batch_size"], QUICK["num_filters"]
    lstm, reps = QUICK["lstm"], QUICK["reps"]

  rows = []
  resnet, op_tables = cli.run_user_code(lambda: resnet18_steps(config, reps))
  lstm_seconds, lstm_tables = lstm_steps(lstm, reps)
  op_tables.update(lstm_tables)
  for name, shape, (jax_seconds, torch_seconds) in (
      (f"resnet18_cifar train step, batch {config.batch_size}", f"{config.batch_size}x32x32x3", resnet),
      (f"lstm forward+backward, batch {lstm['batch']}",
       f"{lstm['batch']}x{lstm['length']}x{lstm['features']}->{lstm['hidden']}", lstm_seconds)):
    rows.append({"step": name, "shape": shape, "trends_jax_seconds": jax_seconds, "torch_seconds": torch_seconds,
                 "ratio": jax_seconds / torch_seconds})
    print(f"{name:42s} trends_jax {jax_seconds * 1000:9.1f} ms  PyTorch {torch_seconds * 1000:9.1f} ms  "
          f"ratio {jax_seconds / torch_seconds:.2f}", flush=True)

  if FLAGS.conv_ops:
    op_tables["resnet18 convolutions alone, forward + backward"] = conv_table(config, config.batch_size, reps)
  import torch
  setup = {"platform": jax.devices()[0].platform, "cpu_count": os.cpu_count(), "jax": jax.__version__,
           "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "reps": reps,
           "resnet_batch_size": config.batch_size, "lstm": lstm}
  notes = ("Median seconds per step after warm-up; ratio = trends_jax / PyTorch (above 1: trends_jax is "
           "slower). trends_jax: XLA-compiled, float32; PyTorch: eager, float32, NCHW.")
  report.write(FLAGS.workdir, "trends_jax against PyTorch on the same steps", setup, {"step time": rows, **op_tables}, notes)
  print(open(os.path.join(FLAGS.workdir, "results.md")).read())


if __name__ == "__main__":
  cli.run(main)
