"""Speed measurement: bench.py's JSON, XLA's FLOP counts, bfloat16 state, the compilation cache."""

import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.conftest import REPO
from trends_jax import models
from trends_jax.bench import hardware, timing as benchmark
from trends_jax.run import compilation_cache
from trends_jax.training import parallel, supervised as train

BENCH_FIELDS = {
    "config", "synthetic", "trainer", "model", "dataset", "dtype", "batch_size", "parallel", "platform",
    "device_kind", "num_devices", "jax_version", "compilation_cache_dir",
    "trace_lower_seconds", "compile_seconds", "compile_cache_hit",
    *(f"{step}_{stat}_seconds" for step in ("train_step", "eval_step")
      for stat in ("median", "p10", "p90", "mean", "min", "max")),
    "train_step_timed", "eval_step_timed", "eval_batch_size",
    "examples_per_sec", "input_examples_per_sec", "input_vs_step_throughput",
    "flops_per_step", "flops_per_second", "peak_flops_per_second", "mfu", "peak_memory_bytes", "step_memory_bytes",
    "donated_bytes",
    "back_to_back_seconds_per_step", "loop_steps", "loop_seconds_per_step", "loop_examples_per_sec",
    "loop_repeats", "train_step_median_around_loops_seconds", "loop_overhead_percent_each",
    "loop_overhead_percent", "targets",
}


def _bench(workdir, *args):
  result = subprocess.run([sys.executable, "experiments/bench/steps.py", f"--workdir={workdir}", "--quick", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "XLA_FLAGS": ""})  # One device, as a user runs it.
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f), result.stdout


def test_bench_reports_every_field_and_a_relaunch_loads_the_compiled_step(tmp_path, data_dir):
  args = ["--config=configs/default.py:quick", f"--config.dataset.data_dir={data_dir}",
          f"--config.compilation_cache_dir={tmp_path / 'cache'}"]
  cold, printed = _bench(tmp_path / "cold", *args)
  assert BENCH_FIELDS <= set(cold), BENCH_FIELDS - set(cold)
  assert "## measurements" in printed and "train_step_median_seconds" in printed
  assert cold["platform"] == "cpu" and cold["mfu"] is None and cold["peak_flops_per_second"] is None
  assert 0 < cold["train_step_p10_seconds"] <= cold["train_step_median_seconds"] <= cold["train_step_p90_seconds"]
  assert cold["eval_step_median_seconds"] > 0 and cold["input_examples_per_sec"] > 0
  assert cold["flops_per_step"] > 1e6 and cold["flops_per_second"] > 0 and cold["step_memory_bytes"] > 0
  assert cold["donated_bytes"] > 0  # The state's buffers are reused for the new state.
  assert cold["loop_steps"] == 5 and cold["loop_seconds_per_step"] > 0 and cold["back_to_back_seconds_per_step"] > 0
  before, after = cold["train_step_median_around_loops_seconds"]
  assert before == cold["train_step_median_seconds"] and cold["loop_repeats"] == 1
  assert cold["loop_overhead_percent"] == pytest.approx(100 * (cold["loop_seconds_per_step"] / ((before + after) / 2) - 1))
  assert cold["loop_overhead_percent_each"] == [cold["loop_overhead_percent"]]
  assert len(cold["targets"]) == 2 and all(isinstance(v, bool) for v in cold["targets"].values())
  assert not cold["compile_cache_hit"] and os.listdir(tmp_path / "cache")

  relaunch, _ = _bench(tmp_path / "relaunch", *args, "--loop_steps=0", "--steps=1", "--input_batches=1")
  assert relaunch["compile_cache_hit"]
  assert relaunch["compile_seconds"] < cold["compile_seconds"]
  assert "loop_overhead_percent" not in relaunch and len(relaunch["targets"]) == 1


def test_bench_synthetic_needs_no_data(tmp_path):
  # ',cpu': a fixed warm-up (the full recipe's is an epoch of the real data, longer than the synthetic one's run).
  results, printed = _bench(tmp_path, "--config=configs/fashion_mnist.py:cnn,cpu", "--synthetic", "--loop_steps=0",
                            "--steps=1", f"--config.dataset.data_dir={tmp_path / 'nothing_here'}",
                            "--config.batch_size=16", "--grad_accum_steps=1,4", "--profile=1")
  assert results["synthetic"] and results["dataset"] == "synthetic:fashion_mnist" and results["input_examples_per_sec"] > 0
  assert results["train_step_median_seconds"] > 0 and not os.path.exists(tmp_path / "nothing_here")
  # The step compiled again with 4 micro-batches of 4 holds fewer temporaries than with one of 16.
  whole, accumulated = results["grad_accum_memory"]
  assert (whole["grad_accum_steps"], whole["micro_batch"], accumulated["micro_batch"]) == (1, 16, 4)
  assert 0 < accumulated["temp_bytes"] < whole["temp_bytes"] and accumulated["step_memory_bytes"] < whole["step_memory_bytes"]
  # --profile: the profiled step's time by kind adds up, and the CNN's convolutions are in it.
  kinds = results["tables"]["train step under the profiler: time by kind"]
  assert sum(r["share"] for r in kinds) == pytest.approx(1.0) and "convolution" in {r["kind"] for r in kinds}
  assert "## train step under the profiler: top ops" in printed
  assert "## train step memory by grad_accum_steps" in printed


def test_bench_refuses_a_grad_accum_steps_that_does_not_divide_the_batch(tmp_path):
  result = subprocess.run([sys.executable, "experiments/bench/steps.py", "--config=configs/default.py:quick",
                           f"--workdir={tmp_path}", "--config.batch_size=16", "--grad_accum_steps=1,3"],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "XLA_FLAGS": ""})
  assert result.returncode == 2 and result.stderr.startswith("error: grad_accum_steps 3 does not divide the batch of 16")


def test_bench_refuses_bad_sizes_before_any_work(tmp_path):
  result = subprocess.run([sys.executable, "experiments/bench/steps.py", "--config=configs/default.py:quick",
                           f"--workdir={tmp_path}", "--steps=0"], cwd=REPO, capture_output=True, text=True)
  assert result.returncode == 2 and result.stderr.strip() == "error: --steps must be >= 1, got 0"


def test_flops_of_a_dense_and_a_conv_layer_match_the_formula():
  m, k, n = 16, 32, 8
  dense = nn.Dense(n, use_bias=False)
  x = jnp.ones((m, k))
  variables = dense.init(jax.random.PRNGKey(0), x)
  assert benchmark.flops(jax.jit(dense.apply).lower(variables, x).compile()) == 2 * m * k * n

  batch, size, c_in, c_out, kernel = 2, 10, 3, 4, 3
  conv = nn.Conv(c_out, (kernel, kernel), padding="VALID", use_bias=False)
  images = jnp.ones((batch, size, size, c_in))
  variables = conv.init(jax.random.PRNGKey(0), images)
  out = size - kernel + 1
  assert benchmark.flops(jax.jit(conv.apply).lower(variables, images).compile()) == (
      2 * batch * out * out * kernel * kernel * c_in * c_out)


def test_bfloat16_config_computes_in_bfloat16_and_keeps_float32_state(tiny_config):
  config = tiny_config(dtype="bfloat16")  # A CNN with BatchNorm.
  strategy = parallel.create("jit", jax.devices()[:1])
  program = train.build_program(config, strategy, np.zeros((1, 8, 8, 1), np.float32), 10, 12)
  batch = {"inputs": jnp.zeros((32, 8, 8, 1)), "label": jnp.zeros((32,), jnp.int32)}
  state = jax.eval_shape(program.make_state)
  new_state, _ = jax.eval_shape(program.train_step, state, batch)
  for tree in (state, new_state):
    for part in (tree.params, tree.opt_state, tree.batch_stats):
      dtypes = {x.dtype for x in jax.tree.leaves(part) if jnp.issubdtype(x.dtype, jnp.floating)}
      assert dtypes == {jnp.dtype(jnp.float32)}
  assert jax.tree.leaves(state.batch_stats)
  jaxpr = str(jax.make_jaxpr(program.train_step)(state, batch))
  assert any("conv_general_dilated" in line and "bf16[" in line for line in jaxpr.splitlines())


def test_peak_table_and_mfu():
  assert hardware.mfu(1e12, "cpu", "float32", 1) is None
  assert hardware.mfu(None, "NVIDIA H200", "bfloat16", 1) is None
  assert hardware.mfu(989.5e12 / 2, "NVIDIA H200", "bfloat16", 1) == pytest.approx(0.5)
  assert hardware.mfu(275e12, "TPU v4", "bfloat16", 4) == pytest.approx(0.25)
  for peaks in hardware.PEAK_FLOPS.values():
    assert set(peaks) == {"bfloat16", "float32"} and peaks["float32"] <= peaks["bfloat16"]
  assert hardware.peak_memory_bytes(jax.devices("cpu")) is None


def test_compilation_cache_off_with_an_empty_directory():
  assert compilation_cache.enable("") is None
  assert compilation_cache.DEFAULT_DIR.startswith("~")


def test_torch_twin_of_resnet18_cifar_has_the_same_parameters():
  pytest.importorskip("torch")
  import torch_models
  model = models.create("resnet18", cifar_stem=True, num_classes=10, num_filters=8)
  params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3))))["params"]
  twin = torch_models.resnet18_cifar(in_channels=3, num_classes=10, num_filters=8)
  assert sum(p.numel() for p in twin.parameters()) == sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
  assert sorted(tuple(p.shape) for p in twin.parameters() if p.ndim == 4) == sorted(
      (x.shape[3], x.shape[2], x.shape[0], x.shape[1]) for x in jax.tree.leaves(params) if x.ndim == 4)


def test_gpu_scripts_parse():
  for script in ("bench_gpu.sh", "gpu_wheels.sh"):
    assert subprocess.run(["bash", "-n", os.path.join(REPO, "experiments", "bench", script)]).returncode == 0
