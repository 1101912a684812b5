"""Hyperparameter sweeps: small composable pieces that expand to trials, a local runner, a table.

A config file may define `get_sweep(hyper)`; `hyper` is this module:

    def get_sweep(hyper):
      return hyper.product([
          hyper.sweep("optimizer.name", ["sgd", "momentum", "adam"]),
          hyper.sweep("optimizer.learning_rate", [0.3, 0.1, 0.03, 0.01]),
      ])

Every piece returns a list of trials, each a dict {config field: value}. A trial is a normal run
of experiments/train.py in DIR/trials/<trial_id>/, the id derived from its overrides, so that
running the sweep again skips finished trials and resumes unfinished ones.
"""

import builtins
import csv
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from typing import Any, Iterable

import numpy as np

from trends_jax.errors import UserError

Trial = dict[str, Any]


# --- Pieces ------------------------------------------------------------------------------------

def sweep(field: str, values: Iterable[Any]) -> list[Trial]:
  return [{field: v} for v in values]


def product(sweeps: list[list[Trial]]) -> list[Trial]:
  """Every combination, the last sweep varying fastest."""
  trials = [{}]
  for s in sweeps:
    trials = [{**t, **u} for t in trials for u in s]
  return trials


def zip(sweeps: list[list[Trial]]) -> list[Trial]:  # noqa: A001 (hyper.zip, as in big_vision)
  """The i-th trial of every sweep together."""
  lengths = {len(s) for s in sweeps}
  if len(lengths) > 1:
    raise UserError(f"hyper.zip needs sweeps of equal length, got lengths {sorted(lengths)}")
  return [{k: v for t in group for k, v in t.items()} for group in builtins.zip(*sweeps)]


def choice(field: str, values: list[Any], num: int, seed: int = 0) -> list[Trial]:
  rng = np.random.default_rng(seed)
  return [{field: values[int(i)]} for i in rng.integers(0, len(values), num)]


def uniform(field: str, low: float, high: float, num: int, seed: int = 0) -> list[Trial]:
  return [{field: float(v)} for v in np.random.default_rng(seed).uniform(low, high, num)]


def loguniform(field: str, low: float, high: float, num: int, seed: int = 0) -> list[Trial]:
  if not 0 < low < high:
    raise UserError(f"hyper.loguniform needs 0 < low < high, got {low}, {high}")
  draws = np.random.default_rng(seed).uniform(math.log(low), math.log(high), num)
  return [{field: float(math.exp(v))} for v in draws]


def logspace(field: str, low: float, high: float, num: int) -> list[Trial]:
  """A log-spaced grid from low to high inclusive, e.g. learning rates."""
  return [{field: float(v)} for v in np.geomspace(low, high, num)]


def parse_command_line(spec: str) -> list[Trial]:
  """"a.b=1,2;c=x,y" → the product of the listed values (numbers parsed, the rest strings)."""
  sweeps = []
  for part in filter(None, (p.strip() for p in spec.split(";"))):
    field, sep, values = part.partition("=")
    if not sep or not values:
      raise UserError(f"--sweep part {part!r} must look like field=value1,value2")
    sweeps.append(sweep(field.strip(), [_literal(v.strip()) for v in values.split(",")]))
  return product(sweeps)


def _literal(text: str):
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return {"true": True, "false": False}.get(text.lower(), text)


# --- Trials ------------------------------------------------------------------------------------

def trial_id(overrides: Trial) -> str:
  """Stable across runs and orderings: a readable prefix and a hash of the sorted overrides."""
  canonical = json.dumps(overrides, sort_keys=True, default=str)
  readable = "_".join(f"{k.split('.')[-1]}={v}" for k, v in sorted(overrides.items()))
  readable = "".join(c if c.isalnum() or c in "=._-" else "-" for c in readable)[:60]
  return f"{readable}-{hashlib.sha1(canonical.encode()).hexdigest()[:8]}"


def check(trials: list[Trial], config) -> None:
  """Every swept field exists in the config; no empty sweep; no two identical trials."""
  if not trials:
    raise UserError("the sweep is empty: get_sweep() or --sweep gave no trials")
  for field in sorted({f for t in trials for f in t}):
    node = config
    for part in field.split("."):
      if not hasattr(node, "keys") or part not in node:
        raise UserError(f"swept field {field!r} is not in the config; check its spelling "
                        "(the fields of a run are listed in its workdir's config.json)")
      node = node[part]
  ids = [trial_id(t) for t in trials]
  duplicates = sorted({i for i in ids if ids.count(i) > 1})
  if duplicates:
    raise UserError(f"the sweep has {len(ids) - len(set(ids))} duplicate trial(s), e.g. "
                    f"{trials[ids.index(duplicates[0])]}; remove repeated values")


def override_flags(overrides: Trial) -> list[str]:
  def text(v):
    return str(v).lower() if isinstance(v, bool) else repr(v) if isinstance(v, float) else str(v)
  return [f"--config.{k}={text(v)}" for k, v in overrides.items()]


# --- Local backend -----------------------------------------------------------------------------

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
  running: dict[str, tuple[subprocess.Popen, Trial, dict, Any]] = {}
  done: dict[str, int] = {}  # trial id → exit code (0 for trials found finished).
  start, last_reported = time.time(), None
  while pending or running:
    while pending and len(running) < parallel:
      overrides = pending.pop(0)
      tid = trial_id(overrides)
      trial_dir = os.path.join(workdir, "trials", tid)
      if (_status(trial_dir) or {}).get("state") == "done":
        done[tid] = 0
        continue
      slot = free_slots.pop()
      process, log_file = start_trial(overrides, config_arg, trial_dir, train_script, {**(env or {}), **slot})
      running[tid] = (process, overrides, slot, log_file)
    time.sleep(0.2)
    for tid, (process, overrides, slot, log_file) in list(running.items()):
      if process.poll() is None:
        continue
      log_file.close()
      free_slots.append(slot)
      done[tid] = process.returncode
      del running[tid]
      if process.returncode == 2:  # Bad input: the launcher wrote nothing, so record why here.
        _write_failure(os.path.join(workdir, "trials", tid), _last_line(os.path.join(workdir, "trials", tid, "log.txt")))
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


# --- Ray backend --------------------------------------------------------------------------------

def _eval_records(trial_dir: str, skip: int) -> list[dict]:
  path = os.path.join(trial_dir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    records = [json.loads(line) for line in f if line.strip()]
  return [r for r in records if r["split"] == "eval"][skip:]


def _ray_trainable(params: dict) -> None:
  """One trial inside a Ray actor: the same train.py process, its eval lines reported to Tune."""
  from ray import tune
  overrides = params["overrides"]
  trial_dir = os.path.join(params["workdir"], "trials", trial_id(overrides))
  if (_status(trial_dir) or {}).get("state") == "done":
    return
  process, log_file = start_trial(overrides, params["config_arg"], trial_dir)
  reported = 0
  try:
    while True:
      finished = process.poll() is not None
      for record in _eval_records(trial_dir, reported):
        reported += 1
        tune.report({f"eval_{k}": v for k, v in record.items() if k not in ("split",)})
      if finished:
        break
      time.sleep(0.5)
  finally:
    if process.poll() is None:  # Stopped early: let it checkpoint, if Ray gives it the time.
      process.terminate()
      process.wait()
    log_file.close()
  if process.returncode == 2:
    _write_failure(trial_dir, _last_line(os.path.join(trial_dir, "log.txt")))


def run_ray(trials: list[Trial], config_arg: str, workdir: str, parallel: int = 1,
            address: str | None = None, asha: bool = False, metric: str = "eval_accuracy",
            mode: str = "max") -> list[dict]:
  """The same trials through Ray Tune, on a local Ray or the cluster at `address`.

  On a cluster, `workdir` must be on a filesystem every node sees. With `asha`, Tune's ASHA
  scheduler stops trials whose `metric` lags at each evaluation: they end "preempted", with
  "stopped early by ASHA" as their error, and resume from their last checkpoint if run again.
  """
  try:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
  except ImportError:
    raise UserError("the Ray backend needs Ray Tune; run: pip install 'trends_jax[ray]'") from None
  workdir = os.path.abspath(workdir)
  ray.init(address=address, include_dashboard=False, ignore_reinit_error=True,
           log_to_driver=False, **({} if address else {"num_cpus": parallel}))
  path, sep, arg = config_arg.partition(":")
  param_space = {"overrides": tune.grid_search(trials), "config_arg": os.path.abspath(path) + sep + arg,
                 "workdir": workdir}
  tuner = tune.Tuner(
      tune.with_resources(_ray_trainable, {"cpu": 1}),
      param_space=param_space,
      tune_config=tune.TuneConfig(
          max_concurrent_trials=parallel,
          scheduler=ASHAScheduler(metric=metric, mode=mode, grace_period=1, reduction_factor=2) if asha else None),
      run_config=tune.RunConfig(name="tune", storage_path=os.path.join(workdir, "ray"), verbose=0))
  tuner.fit()
  # Ray ends a stopped trial's worker and its children at once, so the trial cannot say why.
  for overrides in trials:
    trial_dir = os.path.join(workdir, "trials", trial_id(overrides))
    status = _status(trial_dir) or {}
    if status.get("state") == "running":
      evals = _eval_records(trial_dir, 0)
      reason = "stopped early by ASHA" if asha else "the trial's process ended without a status"
      with open(os.path.join(trial_dir, "status.json"), "w") as f:
        json.dump({**status, "state": "preempted", "step": evals[-1]["step"] if evals else 0,
                   "error": reason}, f)
  return collect(trials, workdir)


def _die_with_parent() -> None:
  """Linux: the trial gets SIGTERM (and checkpoints) if the process that started it dies."""
  try:
    import ctypes
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
  except OSError:
    pass


def start_trial(overrides: Trial, config_arg: str, trial_dir: str, train_script: str | None = None,
                env: dict | None = None):
  """Starts experiments/train.py for one trial; output goes to <trial_dir>/log.txt."""
  train_script = train_script or os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                              "experiments", "train.py")
  os.makedirs(trial_dir, exist_ok=True)
  log_file = open(os.path.join(trial_dir, "log.txt"), "a")
  process = subprocess.Popen(
      [sys.executable, train_script, f"--config={config_arg}", f"--workdir={trial_dir}",
       *override_flags(overrides)],
      stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
      # Its own session, so that a Ray worker killed with its process group does not take the
      # trial down mid-write; the parent-death signal then lets it checkpoint and stop.
      start_new_session=True, preexec_fn=_die_with_parent)
  return process, log_file


def _status(trial_dir: str) -> dict | None:
  try:
    with open(os.path.join(trial_dir, "status.json")) as f:
      return json.load(f)
  except (FileNotFoundError, json.JSONDecodeError):
    return None


def _last_line(path: str) -> str:
  with open(path) as f:
    lines = [line.strip() for line in f if line.strip()]
  return lines[-1] if lines else ""


def _write_failure(trial_dir: str, error: str) -> None:
  with open(os.path.join(trial_dir, "status.json"), "w") as f:
    json.dump({"state": "failed", "step": 0, "error": error}, f)


# --- Results -----------------------------------------------------------------------------------

COLUMNS = ["id", "overrides", "status", "final_eval_accuracy", "best_eval_accuracy", "final_eval_loss",
           "best_eval_loss", "steps", "wall_seconds", "error"]


def collect(trials: list[Trial], workdir: str) -> list[dict]:
  """One row per trial from its status.json and metrics.jsonl."""
  rows = []
  for overrides in trials:
    tid = trial_id(overrides)
    trial_dir = os.path.join(workdir, "trials", tid)
    status = _status(trial_dir) or {"state": "pending", "step": 0}
    evals = []
    if os.path.exists(os.path.join(trial_dir, "metrics.jsonl")):
      with open(os.path.join(trial_dir, "metrics.jsonl")) as f:
        evals = [r for r in map(json.loads, filter(str.strip, f)) if r["split"] == "eval"]
    accuracies = [r["accuracy"] for r in evals if "accuracy" in r]
    losses = [r["loss"] for r in evals if "loss" in r and math.isfinite(r["loss"])]
    rows.append({"id": tid, "overrides": json.dumps(overrides, sort_keys=True), "status": status["state"],
                 "final_eval_accuracy": accuracies[-1] if accuracies else None,
                 "best_eval_accuracy": max(accuracies) if accuracies else None,
                 "final_eval_loss": evals[-1]["loss"] if evals else None,
                 "best_eval_loss": min(losses) if losses else None,
                 "steps": status.get("step", 0), "wall_seconds": status.get("wall_seconds"),
                 "error": status.get("error", "")})
  return rows


def write_results(rows: list[dict], workdir: str) -> None:
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "results.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
  from trends_jax.run import results as report
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(report.markdown_table([{k: ("" if v is None else v) for k, v in r.items()} for r in rows], COLUMNS))
