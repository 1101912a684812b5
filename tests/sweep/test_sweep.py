"""Sweeps: the pieces, the checks, and the local backend (resume, failures, results.csv)."""

import csv
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from trends_jax.errors import UserError
from trends_jax.sweep import hyper, local, results, trial
from trends_jax.training.supervised import base_config


def test_pieces_expand_to_trials():
  grid = hyper.product([hyper.sweep("optimizer.name", ["sgd", "adam"]),
                        hyper.sweep("optimizer.learning_rate", [0.1, 0.01, 0.001])])
  assert len(grid) == 6 and grid[1] == {"optimizer.name": "sgd", "optimizer.learning_rate": 0.01}
  zipped = hyper.zip([hyper.sweep("a", [1, 2]), hyper.sweep("b", [3, 4])])
  assert zipped == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
  with pytest.raises(UserError, match="equal length"):
    hyper.zip([hyper.sweep("a", [1, 2]), hyper.sweep("b", [3])])
  draws = hyper.loguniform("lr", 1e-4, 1e-1, 50, seed=3)
  assert draws == hyper.loguniform("lr", 1e-4, 1e-1, 50, seed=3)
  assert draws != hyper.loguniform("lr", 1e-4, 1e-1, 50, seed=4)
  assert all(1e-4 <= d["lr"] <= 1e-1 for d in draws)
  assert all(0 <= d["x"] <= 1 for d in hyper.uniform("x", 0, 1, 20))
  assert {d["c"] for d in hyper.choice("c", ["a", "b"], 40)} == {"a", "b"}
  grid = hyper.logspace("lr", 1e-3, 1e-1, 3)
  assert [round(d["lr"], 6) for d in grid] == [0.001, 0.01, 0.1]


def test_command_line_sweep_and_stable_ids():
  trials = hyper.parse_command_line(
      "optimizer.name=sgd,adam;optimizer.learning_rate=0.1,1e-3;model.batch_norm=true")
  assert len(trials) == 4 and trials[0]["optimizer.learning_rate"] == 0.1 and trials[0]["model.batch_norm"] is True
  a = trial.trial_id({"x": 1, "y": "adam"})
  assert a == trial.trial_id({"y": "adam", "x": 1}) and a != trial.trial_id({"x": 2, "y": "adam"})


def test_checks_before_any_trial():
  config = base_config()
  with pytest.raises(UserError, match="swept field 'optimizer.lr' is not in the config"):
    trial.check(hyper.sweep("optimizer.lr", [0.1]), config)
  with pytest.raises(UserError, match="the sweep is empty"):
    trial.check([], config)
  with pytest.raises(UserError, match="1 duplicate trial"):
    trial.check(hyper.sweep("optimizer.learning_rate", [0.1, 0.1]), config)
  trial.check(hyper.sweep("optimizer.learning_rate", [0.1, 0.2]), config)


def _sweep(workdir, data_dir, spec, *extra):
  return subprocess.run(
      [sys.executable, "experiments/sweep.py", "--config=configs/default.py:quick", f"--workdir={workdir}",
       f"--sweep={spec};dataset.data_dir={data_dir}", "--parallel=2", *extra],
      cwd=REPO, capture_output=True, text=True, timeout=600,
      env={**os.environ, "XLA_FLAGS": ""})


def test_local_sweep_records_failures_and_resumes(tmp_path, data_dir):
  # learning_rate=-1 is refused by the trainer: that trial fails, the others finish.
  result = _sweep(tmp_path, data_dir, "optimizer.learning_rate=0.01,-1.0;num_train_steps=10")
  assert result.returncode == 0, result.stderr[-2000:]
  with open(tmp_path / "results.csv") as f:
    rows = {json.loads(r["overrides"])["optimizer.learning_rate"]: r for r in csv.DictReader(f)}
  assert rows[0.01]["status"] == "done" and float(rows[0.01]["final_eval_accuracy"]) > 0
  assert rows[0.01]["steps"] == "10" and float(rows[0.01]["wall_seconds"]) > 0
  assert rows[-1.0]["status"] == "failed" and "learning_rate must be > 0" in rows[-1.0]["error"]
  assert "1 failed" in result.stdout

  done_dir = tmp_path / "trials" / rows[0.01]["id"]
  before = (done_dir / "metrics.jsonl").read_text()
  # Again, with one more trial: the finished one is skipped, the new one runs.
  result = _sweep(tmp_path, data_dir, "optimizer.learning_rate=0.01,-1.0,0.003;num_train_steps=10")
  assert result.returncode == 0, result.stderr[-2000:]
  assert (done_dir / "metrics.jsonl").read_text() == before
  with open(tmp_path / "results.csv") as f:
    assert sorted(r["status"] for r in csv.DictReader(f)) == ["done", "done", "failed"]


def test_bad_sweep_is_one_line(tmp_path, data_dir):
  result = _sweep(tmp_path, data_dir, "optimizer.lr=0.1")
  assert result.returncode == 2 and "swept field 'optimizer.lr' is not in the config" in result.stderr
  result = _sweep(tmp_path, data_dir, "optimizer.learning_rate=0.1", "--parallel=999")
  assert result.returncode == 2 and "--parallel=999" in result.stderr
  assert not (tmp_path / "trials").exists()


def test_ray_backend_on_a_local_ray(tmp_path, data_dir):
  pytest.importorskip("ray")
  result = _sweep(tmp_path, data_dir, "optimizer.learning_rate=0.01,0.003;num_train_steps=10",
                  "--backend=ray")
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / "results.csv") as f:
    rows = list(csv.DictReader(f))
  assert [r["status"] for r in rows] == ["done", "done"]
  assert all(float(r["final_eval_accuracy"]) > 0.1 and r["steps"] == "10" for r in rows)
  assert all((tmp_path / "trials" / r["id"] / "checkpoints").is_dir() for r in rows)


def test_ray_backend_stops_lagging_trials_with_asha(tmp_path, data_dir):
  # ASHA ranks by --metric (eval/loss, minimised): the trials report their eval records as eval_loss.
  pytest.importorskip("ray")
  result = _sweep(tmp_path, data_dir, "optimizer.learning_rate=0.1,0.03,0.001;optimizer.name=sgd;"
                  "eval_every_steps=5;num_train_steps=30", "--backend=ray", "--asha", "--metric=eval/loss")
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / "results.csv") as f:
    rows = list(csv.DictReader(f))
  statuses = sorted(r["status"] for r in rows)
  assert "done" in statuses and "preempted" in statuses, rows
  assert all(r["error"] == "stopped early by ASHA" for r in rows if r["status"] == "preempted")


def test_shipped_sweep_expands_over_every_optimizer():
  import importlib.util
  spec = importlib.util.spec_from_file_location("optimizer_sweep", os.path.join(REPO, "configs", "optimizer_sweep.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  trials = module.get_sweep(hyper)
  trial.check(trials, module.get_config())
  assert len(trials) == 35
  assert {t["optimizer.name"] for t in trials} == {"sgd", "momentum", "nesterov", "adagrad", "adadelta",
                                                    "rmsprop", "adam"}


def test_report_draws_the_metric_against_the_learning_rate(tmp_path):
  rows = [{"id": str(i), "overrides": json.dumps({"optimizer.name": name, "optimizer.learning_rate": lr}),
           "status": "done", "best_eval_accuracy": acc}
          for i, (name, lr, acc) in enumerate([("sgd", 0.1, 0.8), ("sgd", 0.01, 0.5), ("adam", 0.1, 0.3),
                                               ("adam", 0.001, 0.9)])]
  with open(tmp_path / "results.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=results.COLUMNS)
    writer.writeheader()
    writer.writerows([{c: r.get(c, "") for c in results.COLUMNS} for r in rows])
  result = subprocess.run([sys.executable, "experiments/sweep.py", f"--workdir={tmp_path}", "--report"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert os.path.getsize(tmp_path / "results.png") > 10_000
  result = subprocess.run([sys.executable, "experiments/sweep.py", f"--workdir={tmp_path / 'none'}", "--report"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2 and "results.csv does not exist" in result.stderr


def test_each_worker_slot_gets_its_own_gpus(monkeypatch):
  assert local.device_slots(2, []) == [{}, {}]
  assert local.device_slots(2, ["0", "1", "2", "3"]) == [{"CUDA_VISIBLE_DEVICES": "0,1"},
                                                       {"CUDA_VISIBLE_DEVICES": "2,3"}]
  with pytest.raises(UserError, match="--parallel=3, but there are 2 GPUs"):
    local.device_slots(3, ["0", "1"])
  monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
  assert local.visible_gpus() == ["4", "5"]
