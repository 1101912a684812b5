r"""How fast one config trains, and how close to the hardware's limit:

    python experiments/bench/steps.py --config=configs/default.py [--steps=20] [--workdir=runs/bench]
    python experiments/bench/steps.py --config=configs/cifar10.py --synthetic --config.batch_size=32
    python experiments/bench/steps.py --config=configs/imagenet2012.py:resnet50 --synthetic --config.batch_size=256
    python experiments/bench/steps.py --config=configs/cifar10.py --synthetic --grad_accum_steps=1,2,4 --loop_steps=0

Measures the exact compiled steps the trainer runs (`trends_jax.training.supervised.build_program`):
- compile: tracing and lowering, then XLA's compilation or its load from the persistent cache
  (`config.compilation_cache_dir`; `compile_cache_hit` says which);
- the train step and the eval step: median and spread of --steps calls after --warmup, each
  waited for (`block_until_ready`), on one batch already on the devices; and the train step
  dispatched --steps times back-to-back with one wait at the end, as the loop runs it;
- the input pipeline alone (examples/s over --input_batches batches, the config's workers);
- the full loop: `train_and_evaluate` for about --loop_steps steps in a temporary workdir
  (evaluation and checkpoint only at the end), its own steady-state examples/s (metrics.jsonl)
  against the bare step's median timed just before and just after it: the loop's overhead in %.
  The bare step alone drifts by ±3% over a minute on this CPU, as much as the 3% target, so the
  loop runs --loop_repeats times between bare timings and the median overhead is reported;
- FLOPs per step (XLA's cost analysis), achieved FLOP/s and MFU against the device's peak
  (`trends_jax.bench.hardware`; None on CPU); peak device memory where the backend reports it, and the
  compiled step's own footprint;
- with --profile=N: N more train steps under jax.profiler, broken down by XLA instruction, kind
  (convolution, matmul, …) and phase (forward, backward, …) by `trends_jax.bench.ops`;
- with --grad_accum_steps=1,2,4: the train step compiled again for each number of micro-batches
  (`config.grad_accum_steps`), and its memory (XLA's memory analysis: temporaries, and the whole
  footprint), to show what gradient accumulation saves. Compiled only, not run.
A word2vec config (its own trainer, which builds its step inside its loop) gets the loop only.

--synthetic: the dataset becomes `synthetic:<name>`, random examples of its own features through
the config's own preprocessing, so any config runs without its data. Writes results.json (every number, and "targets": the issue's goals,
true/false) and results.md into --workdir; prints the table. --quick: a few steps, for tests.
"""

import os
import sys
import tempfile
import time
from collections.abc import Callable

import jax
import numpy as np
from absl import flags
from ml_collections import config_flags

from trends_jax import data
from trends_jax.bench import hardware, ops, timing as benchmark
from trends_jax.data import pipeline, synthetic
from trends_jax.errors import UserError
from trends_jax.run import cli, compilation_cache, results as report
from trends_jax.training import config as config_lib, loop, parallel, supervised

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Config file, e.g. configs/default.py[:arg]; override fields with --config.a.b=v.",
    lock_config=True)
flags.mark_flag_as_required("config")
flags.DEFINE_string("workdir", "runs/bench", "Where results.json and results.md go.")
flags.DEFINE_integer("steps", 20, "Timed train and eval steps (after --warmup).")
flags.DEFINE_integer("warmup", 3, "Untimed steps before timing.")
flags.DEFINE_integer("input_batches", 20, "Batches timed for the input pipeline alone.")
flags.DEFINE_integer("loop_steps", 40, "Steps of the full training loop; 0 skips the loop.")
flags.DEFINE_integer("loop_repeats", 3, "Runs of the loop, each between two timings of the bare step.")
flags.DEFINE_bool("synthetic", False, "Random examples of the dataset's features instead of its data.")
flags.DEFINE_bool("quick", False, "A few steps of everything (for tests).")
flags.DEFINE_integer("profile", 0, "Train steps run under jax.profiler after the timings; their top ops and "
                     "time by kind and phase (trends_jax.bench.ops) are printed and go into the results. 0: none.",
                     lower_bound=0)
flags.DEFINE_list("grad_accum_steps", [], "Numbers of micro-batches (config.grad_accum_steps) whose compiled "
                  "train step's memory is reported, e.g. 1,2,4; empty: none.")

QUICK = {"steps": 3, "warmup": 1, "input_batches": 3, "loop_steps": 4, "loop_repeats": 1}
MINIMUM = {"steps": 1, "warmup": 0, "input_batches": 1, "loop_steps": 0, "loop_repeats": 1}
# The goals: result field → (the goal in words, whether a value meets it).
TARGETS = {
    "loop_overhead_percent": ("the training loop costs at most 3% over the bare compiled step", lambda v: v <= 3.0),
    "input_vs_step_throughput": ("the input pipeline feeds at least 3x the training step's throughput",
                                 lambda v: v >= 3.0),
}


def measure_steps(config, strategy, sizes: dict) -> tuple[dict, Callable[[], float]]:
  """Compile, train step, eval step, input pipeline, FLOPs and memory of the config's program;
  and a function that times the compiled train step again (its median, in seconds)."""
  ds = config.dataset
  spec = data.DatasetSpec.from_config(ds)
  train_source = data.examples(spec, ds.train_split)
  eval_source = data.examples(spec, ds.eval_split)
  example = pipeline.example_batch(train_source, spec)
  num_steps = config_lib.num_train_steps(config, len(train_source))
  program = supervised.build_program(config, strategy, example["inputs"], data.num_outputs(spec), num_steps)
  state = strategy.init_state(program.make_state)

  loader = iter(pipeline.train_loader(train_source, spec, global_batch_size=config.batch_size,
                                      seed=config.seed))
  input_rate = benchmark.examples_per_sec(loader, pipeline.local_batch_size(config.batch_size),
                                          sizes["input_batches"]) * jax.process_count()
  # As it goes: where a run is stopped by a time cap (bench_gpu.sh), its log says how far it got.
  print(f"input pipeline: {input_rate:,.0f} examples/s", flush=True)
  batch = strategy.put_batch(next(loader))
  eval_batch_size = config.eval_batch_size or config.batch_size
  eval_batch = strategy.put_batch(next(pipeline.eval_batches(eval_source, spec,
                                                             global_batch_size=eval_batch_size)))

  hits = compilation_cache.hits()
  start = time.perf_counter()
  lowered = program.train_step.lower(state, batch)
  lowered_at = time.perf_counter()
  train_step = lowered.compile()
  compiled_at = time.perf_counter()
  cache_hit = compilation_cache.hits() > hits
  print(f"train step: traced and lowered in {lowered_at - start:.1f} s, compiled in {compiled_at - lowered_at:.1f} s"
        f"{' (from the persistent cache)' if cache_hit else ''}", flush=True)
  eval_step = program.eval_step.lower(state, eval_batch).compile()
  print(f"eval step: compiled in {time.perf_counter() - compiled_at:.1f} s", flush=True)

  def one_step():
    nonlocal state
    state, metrics = train_step(state, batch)
    jax.block_until_ready((state, metrics))

  def back_to_back() -> float:
    """Seconds per step with no wait between steps, as the loop dispatches them."""
    nonlocal state
    start = time.perf_counter()
    for _ in range(sizes["steps"]):
      state, metrics = train_step(state, batch)
    jax.block_until_ready((state, metrics))
    return (time.perf_counter() - start) / sizes["steps"]

  timing = benchmark.time_calls(one_step, sizes["steps"], sizes["warmup"])
  print(f"train step: median {timing.median:.4f} s over {sizes['steps']} steps, "
        f"{config.batch_size / timing.median:,.1f} examples/s", flush=True)
  op_tables = ops.profile_calls(train_step, one_step, FLAGS.profile) if FLAGS.profile else {}
  back_to_back_seconds = back_to_back()
  eval_timing = benchmark.time_calls(lambda: jax.block_until_ready(eval_step(state, eval_batch)),
                                     sizes["steps"], sizes["warmup"])
  flops = benchmark.flops(train_step)
  flops = flops * strategy.num_devices if flops is not None else None  # Cost analysis is per device.
  flops_per_second = flops / timing.median if flops is not None else None
  device = jax.devices()[0]
  peak = hardware.peak_flops(device.device_kind, config.dtype)
  step_rate = config.batch_size / timing.median
  return {
      "trace_lower_seconds": lowered_at - start, "compile_seconds": compiled_at - lowered_at,
      "compile_cache_hit": cache_hit,
      **timing.as_dict("train_step"), "back_to_back_seconds_per_step": back_to_back_seconds,
      **eval_timing.as_dict("eval_step"), "eval_batch_size": eval_batch_size,
      "examples_per_sec": step_rate, "input_examples_per_sec": input_rate,
      "input_vs_step_throughput": input_rate / step_rate,
      "flops_per_step": flops, "flops_per_second": flops_per_second,
      "peak_flops_per_second": peak * strategy.num_devices if peak else None,
      "mfu": hardware.mfu(flops_per_second, device.device_kind, config.dtype, strategy.num_devices),
      "peak_memory_bytes": hardware.peak_memory_bytes(), "step_memory_bytes": benchmark.memory_bytes(train_step),
      "donated_bytes": benchmark.donated_bytes(train_step),
      **({"op_tables": op_tables} if op_tables else {}),
  }, lambda: benchmark.time_calls(one_step, sizes["steps"], warmup=1).median


def measure_accumulation(config, strategy, accum_steps: list[int]) -> list[dict]:
  """Memory of the compiled train step for each number of micro-batches, on the config's batch."""
  ds = config.dataset
  spec = data.DatasetSpec.from_config(ds)
  train_source = data.examples(spec, ds.train_split)
  example = pipeline.example_batch(train_source, spec)
  num_steps = config_lib.num_train_steps(config, len(train_source))
  batch = strategy.put_batch(next(iter(pipeline.train_loader(train_source, spec, global_batch_size=config.batch_size,
                                                             seed=config.seed))))
  rows = []
  for k in accum_steps:
    accum_config = config.copy_and_resolve_references()
    accum_config.grad_accum_steps = k
    program = supervised.build_program(accum_config, strategy, example["inputs"], data.num_outputs(spec), num_steps)
    state = strategy.init_state(program.make_state)
    compiled = program.train_step.lower(state, batch).compile()
    stats = compiled.memory_analysis()
    rows.append({"grad_accum_steps": k, "micro_batch": config.batch_size // k,
                 "temp_bytes": None if stats is None else int(stats.temp_size_in_bytes),
                 "step_memory_bytes": benchmark.memory_bytes(compiled)})
  return rows


def measure_loop(config, trainer: str, loop_steps: int) -> dict:
  """Steady-state seconds per step of the trainer's own loop, as it measures them itself."""
  rate_key = f"{loop.TRAINERS.get(trainer).rate_unit}_per_sec"
  log_every = max(1, loop_steps // 4)
  loop_config = config.copy_and_resolve_references()
  loop_config.num_epochs = 0.0
  # One step to compile, then four logged intervals; the first is dropped (it fills the prefetch).
  loop_config.num_train_steps = 1 + 4 * log_every
  loop_config.log_every_steps = log_every
  loop_config.eval_every_steps = loop_config.checkpoint_every_steps = loop_config.num_train_steps
  loop_config.optimizer.warmup_steps = 0  # The schedule does not change the speed; a long warm-up is refused.
  with tempfile.TemporaryDirectory() as workdir:
    status = loop.train_and_evaluate(loop_config, workdir)
    if status["state"] != "done":
      raise UserError(f"the training loop ended {status['state']!r} after {status['step']} steps")
    seconds = benchmark.steady_seconds_per_step(os.path.join(workdir, "metrics.jsonl"), config.batch_size, rate_key)
  return {"loop_steps": loop_config.num_train_steps, "loop_seconds_per_step": seconds,
          "loop_examples_per_sec": config.batch_size / seconds}


def bench(config, trainer: str, sizes: dict, accum_steps: list[int]) -> dict:
  strategy = parallel.create(config.parallel)
  device = jax.devices()[0]
  results = {
      "config": _config_name(), "synthetic": FLAGS.synthetic,
      "trainer": trainer, "model": config.model.name, "dataset": config.dataset.name, "dtype": config.dtype,
      "batch_size": config.batch_size, "parallel": config.parallel, "platform": device.platform,
      "device_kind": device.device_kind, "num_devices": strategy.num_devices, "cpu_count": os.cpu_count(),
      "jax_version": jax.__version__,
  }
  retime_step = None
  if trainer == "supervised":
    step_results, retime_step = measure_steps(config, strategy, sizes)
    results.update(step_results)
    if accum_steps:
      results["grad_accum_memory"] = measure_accumulation(config, strategy, accum_steps)
  if sizes["loop_steps"]:
    # Bare step, loop, bare step, loop, …, bare step: each loop against its two neighbours.
    bare = [results["train_step_median_seconds"]] if retime_step else []
    loop_seconds, overheads = [], []
    for _ in range(sizes["loop_repeats"]):
      loop = measure_loop(config, trainer, sizes["loop_steps"])
      loop_seconds.append(loop["loop_seconds_per_step"])
      if retime_step:
        bare.append(retime_step())
        overheads.append(100 * (loop_seconds[-1] / ((bare[-2] + bare[-1]) / 2) - 1))
    seconds = float(np.median(loop_seconds))
    results.update({"loop_steps": loop["loop_steps"], "loop_repeats": len(loop_seconds),
                    "loop_seconds_per_step": seconds, "loop_examples_per_sec": config.batch_size / seconds})
    if retime_step:
      results["train_step_median_around_loops_seconds"] = bare
      results["loop_overhead_percent_each"] = overheads
      results["loop_overhead_percent"] = float(np.median(overheads))
  return results


def _config_name() -> str:
  """The --config argument as given (file and argument), for the report."""
  return next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--config=")), "")


def table(results: dict) -> list[dict]:
  return [{"quantity": k, "value": v} for k, v in results.items() if not isinstance(v, (dict, list))]


def main(argv):
  del argv
  # --quick sets the sizes that are not given explicitly.
  sizes = {k: QUICK[k] if FLAGS.quick and not FLAGS[k].present else FLAGS[k].value for k in QUICK}
  bad = next((k for k, v in sizes.items() if v < MINIMUM[k]), None)
  if bad:
    cli.fail(f"--{bad} must be >= {MINIMUM[bad]}, got {sizes[bad]}")
  config = FLAGS.config.copy_and_resolve_references()
  trainer = config.get("trainer", loop.DEFAULT_TRAINER)
  cli.run_user_code(lambda: loop.TRAINERS.get(trainer))
  cli.run_user_code(lambda: config_lib.validate(config, parallel.create(config.parallel).num_devices,
                                                jax.process_count()))
  num_devices = parallel.create(config.parallel).num_devices
  if trainer == "supervised":
    cli.run_user_code(lambda: supervised.validate(config, num_devices))
  try:
    accum_steps = [int(k) for k in FLAGS.grad_accum_steps]
  except ValueError:
    cli.fail(f"--grad_accum_steps must be integers, e.g. 1,2,4, got {','.join(FLAGS.grad_accum_steps)}")
  if accum_steps and trainer != "supervised":
    cli.fail(f"--grad_accum_steps measures the supervised trainer's step; {trainer!r} has its own")
  for k in accum_steps:  # Each one as the config would check it.
    accum_config = config.copy_and_resolve_references()
    accum_config.grad_accum_steps = k
    cli.run_user_code(lambda c=accum_config: supervised.validate(c, num_devices))
  if FLAGS.synthetic:
    config.dataset.num_workers = 0
    config.dataset.name = synthetic.name(config.dataset.name)
  cache_dir = compilation_cache.enable(config.get("compilation_cache_dir", compilation_cache.DEFAULT_DIR))
  results = cli.run_user_code(lambda: bench(config, trainer, sizes, accum_steps))
  results["compilation_cache_dir"] = cache_dir or ""

  targets = {goal: meets(results[key]) for key, (goal, meets) in TARGETS.items() if key in results}
  results["targets"] = targets
  notes = (f"{results['config']} on {results['num_devices']} {results['device_kind']} device(s), "
           f"{'synthetic' if FLAGS.synthetic else 'real'} data. Times in seconds; MFU is None where the "
           "device's peak is unknown (every CPU).\n\n" + report.claim_lines(targets))
  tables = {"measurements": table(results)}
  if "grad_accum_memory" in results:
    tables["train step memory by grad_accum_steps"] = results["grad_accum_memory"]
  for name, rows in results.pop("op_tables", {}).items():
    tables[f"train step under the profiler: {name}"] = rows
  report.write(FLAGS.workdir, "Training speed", results, tables, notes)
  print(open(os.path.join(FLAGS.workdir, "results.md")).read())


if __name__ == "__main__":
  cli.run(main)
