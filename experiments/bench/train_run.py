r"""A real training run (experiments/train.py), stopped at a target or a time cap, and what it reached:

    python experiments/bench/train_run.py --workdir=runs/fmnist_tta --train_config=configs/fashion_mnist.py:resnet18 \
        --target=0.949 --max_seconds=170 -- --config.eval_every_steps=469
    python experiments/bench/train_run.py --workdir=runs/char_lm_short --train_config=configs/char_lm.py \
        --max_seconds=60 -- --config.num_train_steps=1500

Everything after `--` goes to train.py as it is. The run trains in <workdir>/run. This script
reads its metrics.jsonl as it grows, stamping each row with the seconds since train.py started
(metrics.jsonl has no times of its own), and stops the run with SIGTERM (the trainer's
checkpoint-and-exit-75) when an eval row's --target_metric reaches --target, or when
--max_seconds have passed; a run that ends by itself is left to end. results.json in --workdir:
how it ended, the best and the last eval metrics, seconds to the target (None if not reached),
the steady-state training rate (the median of the train rows' rate after the first, which holds
compilation) in examples/s and steps/s, and every eval row with its time.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from absl import flags

from trends_jax.run import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Where results.json goes; the run itself goes in <workdir>/run.")
flags.mark_flag_as_required("workdir")
flags.DEFINE_string("train_config", None, "train.py's --config, e.g. configs/fashion_mnist.py:resnet18.")
flags.mark_flag_as_required("train_config")
flags.DEFINE_string("target_metric", "accuracy", "The eval metric that --target is about.")
flags.DEFINE_float("target", None, "Stop once an eval row's --target_metric is at least this; unset: no target.")
flags.DEFINE_float("max_seconds", 170.0, "Stop the run after this many seconds.")
flags.DEFINE_float("grace_seconds", 30.0, "Seconds a stopped run gets to save its checkpoint before it is killed.")

TRAIN_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train.py")


def read_rows(path: str, seen: int) -> list[dict]:
  """The complete rows of metrics.jsonl past the first `seen` (a half-written last line waits)."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    lines = f.read().split("\n")
  return [json.loads(line) for line in lines[seen:-1] if line.strip()]


def summarize(rows: list[dict], batch_size: int, target_metric: str, target: float | None) -> dict:
  """What the timed rows say: best and last eval, seconds to the target, steady training rate."""
  evals = [r for r in rows if r.get("split") == "eval"]
  train = [r for r in rows if r.get("split") == "train"]
  rate_key = next((k for k in (train[0] if train else {}) if k.endswith("_per_sec")), None)
  rates = [r[rate_key] for r in train[1:]] if rate_key else []
  reached = [r for r in evals if target is not None and r.get(target_metric, -np.inf) >= target]
  best = max(evals, key=lambda r: r.get(target_metric, -np.inf)) if evals else None
  rate = float(np.median(rates)) if rates else None
  return {
      "target_metric": target_metric, "target": target, "target_reached": bool(reached),
      "seconds_to_target": reached[0]["seconds"] if reached else None,
      "step_at_target": reached[0]["step"] if reached else None,
      f"best_eval_{target_metric}": best.get(target_metric) if best else None,
      "best_eval_step": best["step"] if best else None, "last_eval": evals[-1] if evals else None,
      "last_step": rows[-1]["step"] if rows else 0, "rate_unit": rate_key,
      "train_rate_per_sec": rate, "steps_per_sec": rate / batch_size if rate and batch_size else None,
      "first_train_row_seconds": train[0]["seconds"] if train else None, "eval_rows": evals,
  }


def train(argv: list[str]) -> dict:
  run_dir = os.path.join(FLAGS.workdir, "run")
  metrics = os.path.join(run_dir, "metrics.jsonl")
  if os.path.exists(metrics):
    cli.fail(f"{run_dir} already holds a run; its rows would have no times: use a new --workdir")
  command = [sys.executable, TRAIN_PY, f"--config={FLAGS.train_config}", f"--workdir={run_dir}", *argv]
  start = time.perf_counter()
  child = subprocess.Popen(command)
  rows, stopped_by = [], None
  while child.poll() is None:
    now = time.perf_counter() - start
    for row in read_rows(metrics, len(rows)):
      rows.append({**row, "seconds": round(now, 2)})
    hit = FLAGS.target is not None and any(
        r.get("split") == "eval" and r.get(FLAGS.target_metric, -np.inf) >= FLAGS.target for r in rows)
    if stopped_by is None and (hit or now > FLAGS.max_seconds):
      stopped_by = "target" if hit else "time"
      child.send_signal(signal.SIGTERM)
      try:
        child.wait(FLAGS.grace_seconds)
      except subprocess.TimeoutExpired:
        child.kill()
      break
    time.sleep(0.25)
  child.wait()
  seconds = time.perf_counter() - start
  for row in read_rows(metrics, len(rows)):  # Rows written while it ended: stamped with its end.
    rows.append({**row, "seconds": round(seconds, 2)})
  config = {}
  if os.path.exists(os.path.join(run_dir, "config.json")):  # Absent where train.py refused the config.
    with open(os.path.join(run_dir, "config.json")) as f:
      config = json.load(f)
  return {"config": FLAGS.train_config, "train_args": argv, "exit_code": child.returncode,
          "stopped_by": stopped_by or "finished", "seconds": round(seconds, 1), "max_seconds": FLAGS.max_seconds,
          "batch_size": config.get("batch_size"),
          **summarize(rows, config.get("batch_size"), FLAGS.target_metric, FLAGS.target)}


def main(argv):
  if FLAGS.max_seconds <= 0 or FLAGS.grace_seconds < 0:
    cli.fail("--max_seconds must be > 0 and --grace_seconds >= 0")
  os.makedirs(FLAGS.workdir, exist_ok=True)
  results = train(argv[1:])
  with open(os.path.join(FLAGS.workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
  last = results["last_eval"] or {}
  print(f"{FLAGS.train_config}: {results['stopped_by']} after {results['seconds']} s, step {results['last_step']}; "
        f"best eval {FLAGS.target_metric} {results[f'best_eval_{FLAGS.target_metric}']}; "
        f"target {FLAGS.target} reached: {results['target_reached']} ({results['seconds_to_target']} s); "
        f"last eval {json.dumps({k: v for k, v in last.items() if k not in ('split',)})}", flush=True)
  # A run that failed (not one this script stopped) fails this part.
  if results["stopped_by"] == "finished" and results["exit_code"] != 0:
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
