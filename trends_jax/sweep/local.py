"""The local backend: each trial its own experiments/train.py process, `parallel` at a time, each
worker slot with its own share of the machine's GPUs."""

import os
import subprocess
import time
from typing import Any

from trends_jax.errors import UserError
from trends_jax.sweep import trial
from trends_jax.sweep.hyper import Trial
from trends_jax.sweep.results import collect


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


def run_local(trials: list[Trial], config_arg: str, workdir: str, parallel: int = 1,
              train_script: str | None = None, env: dict | None = None, log=print) -> list[dict]:
  """Runs each trial as its own `experiments/train.py` process, `parallel` at a time; on a machine
  with GPUs each worker slot gets its own share of them (CUDA_VISIBLE_DEVICES).

  A trial that fails or diverges is recorded and the others go on; finished trials are skipped
  (the launcher itself returns at once on a finished workdir) and unfinished ones resume.
  """
  pending = list(trials)
  free_slots = device_slots(parallel, visible_gpus())
  running: dict[str, tuple[subprocess.Popen, Any, dict, Any]] = {}
  done: dict[str, int] = {}  # trial id → exit code (0 for trials found finished).
  start, last_reported = time.time(), None
  while pending or running:
    while pending and len(running) < parallel:
      overrides = pending.pop(0)
      tid = trial.trial_id(overrides)
      run = trial.trial_workdir(workdir, overrides)
      if trial.is_done(run):
        done[tid] = 0
        continue
      slot = free_slots.pop()
      process, log_file = trial.start(overrides, config_arg, run, train_script, {**(env or {}), **slot})
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
    if (len(done), len(running)) != last_reported:  # A progress line when something changed.
      last_reported = (len(done), len(running))
      rows = [r for r in collect(trials, workdir) if r["id"] in done]
      failed = [r for r in rows if r["status"] != "done"]
      best = max((r for r in rows if r["status"] == "done" and r.get("best_eval_accuracy") is not None),
                 key=lambda r: r["best_eval_accuracy"], default=None)
      log(f"trials: {len(done)}/{len(trials)} finished, {len(running)} running, {len(failed)} failed"
          + (f"; best eval accuracy {best['best_eval_accuracy']:.4f} ({best['id']})" if best else "")
          + f" [{time.time() - start:.0f}s]")
  return collect(trials, workdir)
