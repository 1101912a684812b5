"""The local backend: each trial its own experiments/train.py process, `parallel` at a time, each
worker slot with its own share of the machine's GPUs."""

import os
import subprocess
import time
from typing import Any

from trends_jax.errors import UserError
from trends_jax.sweep import results, trial
from trends_jax.sweep.hyper import Trial


def visible_gpus() -> list[str]:
  """NVIDIA GPU ids this process may use (CUDA_VISIBLE_DEVICES, else nvidia-smi), without importing jax."""
  if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
    return [g for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
  try:
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
  except (OSError, subprocess.SubprocessError):
    return []
  return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def device_slots(parallel: int, gpus: list[str]) -> list[dict]:
  """The environment of each of `parallel` worker slots: its own share of the GPUs, if any."""
  if not gpus:
    return [{} for _ in range(parallel)]
  if parallel > len(gpus):
    raise UserError(f"--parallel={parallel}, but there are {len(gpus)} GPUs and each trial needs its own; "
                    f"use --parallel between 1 and {len(gpus)}")
  share = len(gpus) // parallel
  return [{"CUDA_VISIBLE_DEVICES": ",".join(gpus[i * share:(i + 1) * share])} for i in range(parallel)]


def progress(rows: list[dict], running: int, parallel: int, metric: results.Metric, elapsed: float) -> str:
  """finished / running / failed / pending, the best setting so far (the mean over its finished
  seeds) and an ETA: the finished trials' mean wall time for each trial left, `parallel` at a time."""
  states = [r["status"] for r in rows]
  failed = sum(s in ("failed", "diverged", "preempted") for s in states)
  finished = states.count("done")
  pending = len(rows) - finished - failed - running
  line = f"trials: {finished} finished, {running} running, {failed} failed, {pending} pending of {len(rows)}"
  best = results.aggregate([r for r in rows if r["status"] == "done"], metric)
  if best and best[0]["best"]:
    b = best[0]
    line += (f"; best {metric.label} {b['best']['mean']:.4f}" + (f" ± {b['best']['std']:.4f} over {b['finished']} seeds"
             if b["finished"] > 1 else "") + f" ({results.describe(b['setting'])})")
  walls = [float(r["wall_seconds"]) for r in rows if r["status"] == "done" and r.get("wall_seconds")]
  if walls and pending + running:
    eta = sum(walls) / len(walls) * (pending + running) / parallel
    line += f"; ETA {eta:.0f}s"
  return line + f" [{elapsed:.0f}s]"


def run_local(trials: list[Trial], config_arg: str, workdir: str, parallel: int = 1,
              train_script: str | None = None, env: dict | None = None, log=print,
              config_flags: tuple[str, ...] = (), metric: results.Metric = results.DEFAULT_METRIC,
              base_seed: int | None = None) -> list[dict]:
  """Runs each trial as its own `experiments/train.py` process (the sweep's `config_flags` first),
  `parallel` at a time; on a machine with GPUs each worker slot gets its own share of them
  (CUDA_VISIBLE_DEVICES).

  A trial that fails or diverges is recorded and the others go on; finished trials are skipped
  (the launcher itself returns at once on a finished workdir) and unfinished ones resume. A
  progress line is logged whenever a trial starts or ends.
  """
  pending = list(trials)
  free_slots = device_slots(parallel, visible_gpus())
  running: dict[str, tuple[subprocess.Popen, Any, dict, Any]] = {}
  done: dict[str, int] = {}  # trial id → exit code (0 for trials found finished).
  start, last_state, last_line = time.time(), None, None
  while pending or running:
    while pending and len(running) < parallel:
      overrides = pending.pop(0)
      tid = trial.trial_id(overrides)
      run = trial.trial_workdir(workdir, overrides)
      if trial.is_done(run):
        done[tid] = 0
        continue
      slot = free_slots.pop()
      process, log_file = trial.start(overrides, config_arg, run, train_script, {**(env or {}), **slot},
                                      config_flags)
      running[tid] = (process, run, slot, log_file)
    time.sleep(0.2)
    for tid, (process, run, slot, log_file) in list(running.items()):
      if process.poll() is None:
        continue
      log_file.close()
      free_slots.append(slot)
      done[tid] = process.returncode
      del running[tid]
      if process.returncode == 2:
        trial.record_bad_input(run)
    if (len(done), len(running)) == last_state:  # A line only when a trial started or ended.
      continue
    last_state = (len(done), len(running))
    rows = results.collect(trials, workdir, metric, base_seed)
    for r in rows:  # A trial not yet started reads as pending, whatever an earlier sweep left.
      if r["id"] not in done and r["id"] not in running:
        r["status"] = "pending"
      elif r["id"] in running:
        r["status"] = "running"
    line = progress(rows, len(running), parallel, metric, time.time() - start)
    if line != last_line:
      last_line = line
      log(line)
  return results.collect(trials, workdir, metric, base_seed)
