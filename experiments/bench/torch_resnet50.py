r"""PyTorch's own ResNet-50 training step, the contender of experiments/bench/steps.py's:

    python experiments/bench/torch_resnet50.py --workdir=runs/torch_resnet50 [--batch_size=256]

torchvision's `resnet50`, AMP bfloat16 autocast, channels_last, SGD with momentum, on a fixed
random batch of 224² images on the first GPU (the CPU where there is none). Measured twice:
- compiled: `torch.compile` in a child process, which is given --compile_timeout seconds to
  finish its first (compiling) step and is killed past that, so a compile that hangs or takes
  too long costs at most that long and is recorded as given up;
- eager: the same step without compilation, in this process after the child has ended.
Each is the median of --steps waited-for steps after --warmup, as steps.py times trends_jax's
step, and images/s is the batch over that median. `images_per_sec` is the better of the two.
Writes results.json into --workdir.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch_models  # This script's folder is first on sys.path.
from absl import flags

from trends_jax.run import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "runs/torch_resnet50", "Where results.json goes.")
flags.DEFINE_string("model", "resnet50", "A torchvision model name.")
flags.DEFINE_integer("batch_size", 256, "Images per step.")
flags.DEFINE_integer("image_size", 224, "Height and width of the images.")
flags.DEFINE_integer("steps", 30, "Timed steps (after --warmup).")
flags.DEFINE_integer("warmup", 5, "Untimed steps before timing (after the compiling one).")
flags.DEFINE_float("compile_timeout", 60.0, "Seconds the compiled variant's first step may take; 0: no compile.")
flags.DEFINE_bool("bf16", True, "bfloat16 autocast (AMP); False: float32.")
# The child's side of the compiled measurement: where it writes, and the file it touches once compiled.
flags.DEFINE_string("child_results", "", "Internal: the compiled child's results file.")
flags.DEFINE_string("child_compiled", "", "Internal: the file the child writes when its first step is done.")


def device() -> str:
  import torch
  return "cuda" if torch.cuda.is_available() else "cpu"


def measure(compile_model: bool, compiled_marker: str = "") -> dict:
  """Times the step: the first call alone (the compile, where compiled), then warm-up and timed steps."""
  import torch
  where = device()
  step = torch_models.torchvision_train_step(FLAGS.model, FLAGS.batch_size, FLAGS.image_size, where, FLAGS.bf16,
                                             compile_model=compile_model)
  start = time.perf_counter()
  step()
  first = time.perf_counter() - start
  if compiled_marker:
    with open(compiled_marker, "w") as f:
      f.write(f"{first}\n")
  for _ in range(FLAGS.warmup):
    step()
  seconds = []
  for _ in range(FLAGS.steps):
    start = time.perf_counter()
    step()
    seconds.append(time.perf_counter() - start)
  median = float(np.median(seconds))
  return {"first_step_seconds": first, "step_median_seconds": median,
          "step_min_seconds": float(min(seconds)), "step_max_seconds": float(max(seconds)),
          "images_per_sec": FLAGS.batch_size / median,
          "peak_memory_bytes": torch.cuda.max_memory_allocated() if where == "cuda" else None}


def compiled_in_child() -> dict:
  """The compiled step measured in a child process that is killed if its first step overruns."""
  with tempfile.TemporaryDirectory() as tmp:
    results, marker = os.path.join(tmp, "results.json"), os.path.join(tmp, "compiled")
    argv = [a for a in sys.argv[1:] if not a.startswith(("--child_results", "--child_compiled"))]
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), *argv, f"--child_results={results}",
                              f"--child_compiled={marker}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True, text=True)
    # The child has its own session (its group is killed whole), so a cap on this process ends it too.
    def end_child(signum, frame):
      os.killpg(child.pid, signal.SIGKILL)
      sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, end_child)
    start = time.perf_counter()
    while child.poll() is None and not os.path.exists(marker):
      if time.perf_counter() - start > FLAGS.compile_timeout:
        os.killpg(child.pid, signal.SIGKILL)  # Inductor's compile workers are in its group too.
        child.wait()
        return {"status": f"gave up: the first step had not finished after {FLAGS.compile_timeout:g} s"}
      time.sleep(0.2)
    # Compiled in time (or failed): the timed steps take seconds more; the part's own cap bounds them.
    output, _ = child.communicate()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if child.returncode != 0 or not os.path.exists(results):
      return {"status": f"failed (exit {child.returncode})", "log_tail": output[-2000:]}
    with open(results) as f:
      return {"status": "compiled", **json.load(f)}


def main(argv):
  del argv
  for flag in ("batch_size", "image_size", "steps"):
    if FLAGS[flag].value < 1:
      cli.fail(f"--{flag} must be >= 1, got {FLAGS[flag].value}")
  if FLAGS.warmup < 0 or FLAGS.compile_timeout < 0:
    cli.fail("--warmup and --compile_timeout must be >= 0")
  if FLAGS.child_results:
    with open(FLAGS.child_results, "w") as f:
      json.dump(measure(compile_model=True, compiled_marker=FLAGS.child_compiled), f)
    return
  # The child runs first, alone on the device; this process starts CUDA only after it has ended.
  compiled = compiled_in_child() if FLAGS.compile_timeout > 0 else {"status": "not tried (--compile_timeout=0)"}
  # Before eager starts: where the part's cap stops the run, its log still says how the compile went.
  print(f"compiled: {compiled['status']}"
        + (f", {compiled['images_per_sec']:.1f} images/s" if "images_per_sec" in compiled else ""), flush=True)
  import torch
  import torchvision
  eager = measure(compile_model=False)
  best = max(("eager", eager), ("compiled", compiled), key=lambda kv: kv[1].get("images_per_sec", 0.0))
  where = device()
  results = {
      "model": f"torchvision {FLAGS.model}", "batch_size": FLAGS.batch_size, "image_size": FLAGS.image_size,
      "precision": "AMP bfloat16 autocast" if FLAGS.bf16 else "float32", "memory_format": "channels_last",
      "optimizer": "SGD momentum 0.9, weight decay 1e-4", "device": where,
      "device_kind": torch.cuda.get_device_name(0) if where == "cuda" else "cpu",
      "torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
      "compile_timeout_seconds": FLAGS.compile_timeout,
      "images_per_sec": best[1]["images_per_sec"], "best_variant": best[0],
      "step_median_seconds": best[1]["step_median_seconds"], "eager": eager, "compiled": compiled,
  }
  os.makedirs(FLAGS.workdir, exist_ok=True)
  with open(os.path.join(FLAGS.workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
  print(f"{results['model']} on {results['device_kind']}: eager {eager['images_per_sec']:.1f} images/s; "
        f"compiled: {compiled['status']}"
        + (f", {compiled['images_per_sec']:.1f} images/s" if "images_per_sec" in compiled else ""), flush=True)


if __name__ == "__main__":
  cli.run(main)
