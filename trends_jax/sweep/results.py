"""The sweep's table: one row per trial from its status.json and metrics.jsonl, written as
DIR/results.csv and DIR/results.md."""

import csv
import json
import math
import os

from trends_jax.sweep import trial
from trends_jax.sweep.hyper import Trial

COLUMNS = ["id", "overrides", "status", "final_eval_accuracy", "best_eval_accuracy", "final_eval_loss",
           "best_eval_loss", "steps", "wall_seconds", "error"]


def collect(trials: list[Trial], workdir: str) -> list[dict]:
  """One row per trial from its status.json and metrics.jsonl."""
  rows = []
  for overrides in trials:
    run = trial.trial_workdir(workdir, overrides)
    status = run.read_status() or {"state": "pending", "step": 0}
    evals = trial.eval_records(run)
    accuracies = [r["accuracy"] for r in evals if "accuracy" in r]
    losses = [r["loss"] for r in evals if "loss" in r and math.isfinite(r["loss"])]
    rows.append({"id": trial.trial_id(overrides), "overrides": json.dumps(overrides, sort_keys=True),
                 "status": status["state"],
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
