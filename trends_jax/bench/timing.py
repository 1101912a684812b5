"""Measuring speed: step timings that wait for the devices, XLA's cost of a compiled program,
input-pipeline rates and the trainer's own steady-state rate. (Synthetic data for any config is
a dataset name: `trends_jax.data.synthetic`.)

JAX dispatches work asynchronously, so a step "returns" long before the devices finish it; every
timing here waits for the results (`jax.block_until_ready`) or, for back-to-back steps, for the
last one, and skips warm-up calls (compilation, first allocations).
"""

import json
import statistics
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Timing(NamedTuple):
  """Seconds per call over `count` timed calls."""
  median: float
  p10: float
  p90: float
  mean: float
  min: float
  max: float
  count: int

  def as_dict(self, prefix: str) -> dict:
    return {f"{prefix}_{k}_seconds" if k != "count" else f"{prefix}_timed": v
            for k, v in self._asdict().items()}


def time_calls(run: Callable[[], Any], reps: int, warmup: int = 2) -> Timing:
  """Times `reps` calls of `run` after `warmup` untimed ones; `run` must wait for its own results."""
  for _ in range(warmup):
    run()
  seconds = []
  for _ in range(reps):
    start = time.perf_counter()
    run()
    seconds.append(time.perf_counter() - start)
  p10, p90 = np.percentile(seconds, [10, 90]) if reps > 1 else (seconds[0], seconds[0])
  return Timing(statistics.median(seconds), float(p10), float(p90), statistics.fmean(seconds),
                min(seconds), max(seconds), reps)


def _cost(compiled) -> dict:
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):  # Older jax: one dict per device program.
    cost = cost[0] if cost else None
  return cost or {}


def flops(compiled) -> float | None:
  """FLOPs of one call of a compiled program, per device, from XLA's cost analysis."""
  value = _cost(compiled).get("flops")
  return float(value) if value is not None and value >= 0 else None


def memory_bytes(compiled) -> int | None:
  """Device bytes a compiled program holds while it runs: arguments, outputs and temporaries
  (donated arguments that become outputs counted once); None where the backend does not say."""
  stats = compiled.memory_analysis()
  if stats is None:
    return None
  return int(stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
             - stats.alias_size_in_bytes)


def donated_bytes(compiled) -> int | None:
  """Bytes of arguments whose buffers a compiled program reuses for its outputs (donated state)."""
  stats = compiled.memory_analysis()
  return None if stats is None else int(stats.alias_size_in_bytes)


def examples_per_sec(iterator, batch_size: int, batches: int, warmup: int = 3) -> float:
  """Rate of an input iterator alone, after `warmup` batches (worker start-up, first reads)."""
  for _ in range(warmup):
    next(iterator)
  start = time.perf_counter()
  for _ in range(batches):
    next(iterator)
  return batches * batch_size / (time.perf_counter() - start)


def steady_seconds_per_step(metrics_path: str, batch_size: int, rate_key: str = "examples_per_sec") -> float:
  """Mean seconds per training step as a run measured it itself (metrics.jsonl, train records),
  over every logged interval but the first (which follows compilation and fills the prefetch)."""
  with open(metrics_path) as f:
    records = [r for r in map(json.loads, f) if r.get("split") == "train" and rate_key in r]
  intervals = [(b["step"] - a["step"], batch_size / b[rate_key]) for a, b in zip(records, records[1:])]
  if not intervals:
    raise ValueError(f"{metrics_path} has fewer than two logged training rates; run more steps")
  return sum(steps * seconds for steps, seconds in intervals) / sum(steps for steps, _ in intervals)


def compiled_forward_backward(module, inputs) -> tuple[Any, Callable[[], Any]]:
  """One compiled forward and backward pass of `module` on `inputs` (loss: mean squared output):
  the compiled program, and a call of it that waits for its gradients. The step the LSTM
  benchmarks time."""
  params = module.init(jax.random.PRNGKey(0), inputs)["params"]

  def loss(params):
    outputs = module.apply({"params": params}, inputs)
    outputs = outputs[1] if isinstance(outputs, tuple) else outputs  # RecurrentStack: (carries, outputs).
    return jnp.mean(jnp.square(outputs))

  compiled = jax.jit(jax.grad(loss)).lower(params).compile()
  return compiled, lambda: jax.block_until_ready(compiled(params))


def forward_backward(module, inputs) -> Callable[[], Any]:
  """The call of `compiled_forward_backward`."""
  return compiled_forward_backward(module, inputs)[1]
