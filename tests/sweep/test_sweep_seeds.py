"""Sweeps over seeds, quasi-random search, the chosen metric, the progress line, overrides that
reach every trial, and every experiments/sweep.py row of docs/bad_input.md."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import qmc

from tests.conftest import REPO, bad_input_rows, launch_forked
from trends_jax.errors import UserError
from trends_jax.sweep import hyper, local, results, search, trial

SPACE = {"optimizer.learning_rate": hyper.LogUniform(1e-4, 1e-1), "optimizer.momentum": hyper.Uniform(0.8, 0.99)}


def test_quasirandom_trials_repeat_for_a_seed_and_cover_the_range():
  trials = hyper.quasirandom(SPACE, 64, seed=5)
  assert trials == hyper.quasirandom(SPACE, 64, seed=5)
  assert trials != hyper.quasirandom(SPACE, 64, seed=6)
  lr = np.array([t["optimizer.learning_rate"] for t in trials])
  momentum = np.array([t["optimizer.momentum"] for t in trials])
  assert lr.min() >= 1e-4 and lr.max() <= 1e-1 and momentum.min() >= 0.8 and momentum.max() <= 0.99
  # Back on the unit square (log scale for the learning rate): every eighth of each axis is hit,
  # and the points are spread more evenly than independent uniform draws.
  unit = np.stack([(np.log(lr) - np.log(1e-4)) / (np.log(1e-1) - np.log(1e-4)), (momentum - 0.8) / 0.19], axis=1)
  for column in unit.T:
    assert len(np.unique(np.minimum((column * 8).astype(int), 7))) == 8
  random = np.random.default_rng(0).uniform(size=(64, 2))
  assert qmc.discrepancy(unit) < qmc.discrepancy(random)
  names = [t["optimizer.name"] for t in hyper.quasirandom({"optimizer.name": hyper.Choice(("sgd", "adam"))}, 16)]
  assert names.count("sgd") == names.count("adam") == 8


def test_search_command_line_and_composition():
  space = search.parse_command_line("optimizer.learning_rate=loguniform(1e-4,1e-1); optimizer.name=choice(sgd,adam)")
  assert space == {"optimizer.learning_rate": search.LogUniform(1e-4, 1e-1),
                   "optimizer.name": search.Choice(("sgd", "adam"))}
  trials = hyper.seeds(hyper.product([hyper.sweep("model.hidden", [8, 16]), hyper.quasirandom(space, 3)]), 3)
  assert len(trials) == 2 * 3 * 3 and [t["seed"] for t in trials[:3]] == [0, 1, 2]
  for bad, message in [("lr=loguniform(0,1)", "needs 0 < low < high"), ("lr=normal(0,1)", "unknown range 'normal'"),
                       ("lr=uniform(1)", "takes two numbers"), ("lr=0.1", "must look like field=loguniform")]:
    with pytest.raises(UserError, match=message):
      search.parse_command_line(bad)


def _rows(values: dict) -> list[dict]:
  """results.csv-like rows: {(lr, seed): (status, eval loss)}."""
  return [{"id": f"{lr}-{seed}", "overrides": json.dumps({"optimizer.learning_rate": lr, "seed": seed}),
           "seed": seed, "status": status, "final_eval_loss": loss, "best_eval_loss": loss,
           "final_eval_accuracy": 1 - loss if loss else None, "best_eval_accuracy": 1 - loss if loss else None,
           "wall_seconds": 10.0}
          for (lr, seed), (status, loss) in values.items()]


def test_aggregates_per_setting_and_the_metric_picks_the_best():
  rows = _rows({(0.1, 0): ("done", 0.2), (0.1, 1): ("done", 0.4), (0.1, 2): ("failed", None),
                (0.01, 0): ("done", 0.35), (0.01, 1): ("done", 0.31), (0.01, 2): ("done", 0.33)})
  by_loss = results.aggregate(rows, results.parse_metric("eval/loss"))
  assert json.loads(by_loss[0]["setting"]) == {"optimizer.learning_rate": 0.1}  # Mean 0.3 < 0.33.
  assert (by_loss[0]["finished"], by_loss[0]["failed"], by_loss[0]["trials"]) == (2, 1, 3)
  assert by_loss[0]["best"]["mean"] == pytest.approx(0.3) and by_loss[0]["best"]["std"] == pytest.approx(np.std(
      [0.2, 0.4], ddof=1))
  assert (by_loss[0]["best"]["min"], by_loss[0]["best"]["max"]) == (0.2, 0.4)
  # Accuracy is 1 - loss here: maximised, it picks the same; minimised (--mode=min), the other.
  assert by_loss[0]["setting"] == results.aggregate(rows, results.parse_metric("eval/accuracy"))[0]["setting"]
  assert by_loss[1]["setting"] == results.aggregate(rows, results.parse_metric("eval/accuracy", "min"))[0]["setting"]
  text = results.settings_markdown(by_loss, results.parse_metric("eval/loss"))
  assert "optimizer.learning_rate=0.1 (0.3 ± 0.14, 2 seeds)" in text and "| 2/3 | 1 |" in text
  assert {results.parse_metric(m).mode for m in ("eval/loss", "train/bits_per_char", "eval/error")} == {"min"}


def test_progress_line_counts_states_and_gives_an_eta():
  rows = _rows({(0.1, 0): ("done", 0.2), (0.1, 1): ("done", 0.4), (0.1, 2): ("failed", None),
                (0.01, 0): ("running", None), (0.01, 1): ("pending", None), (0.01, 2): ("pending", None)})
  line = local.progress(rows, 1, 1, results.parse_metric("eval/loss"), 42)
  assert line == ("trials: 2 finished, 1 running, 1 failed, 2 pending of 6; best eval/loss 0.3000 ± 0.1414 over "
                  "2 seeds (optimizer.learning_rate=0.1); ETA 30s [42s]")


def test_a_resumed_sweep_with_other_flags_is_refused(tmp_path):
  record = {"config": "configs/default.py:quick", "overrides": ["--config.num_train_steps=7"], "search": None}
  trial.check_record(str(tmp_path), record)
  trial.write_record(str(tmp_path), record)
  trial.check_record(str(tmp_path), record)
  with pytest.raises(UserError, match=r"other --config.\* overrides \(\['--config.num_train_steps=7'\] then, "
                                      r"\['--config.num_train_steps=8'\] now\)"):
    trial.check_record(str(tmp_path), {**record, "overrides": ["--config.num_train_steps=8"]})
  with pytest.raises(UserError, match="other --search"):
    trial.check_record(str(tmp_path), {**record, "search": "optimizer.learning_rate=uniform(0,1)"})


def _sweep(workdir, *flags):
  return subprocess.run([sys.executable, "experiments/sweep.py", "--config=configs/default.py:quick",
                         f"--workdir={workdir}", "--parallel=2", *flags],
                        cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, "XLA_FLAGS": ""})


def test_overrides_and_seeds_reach_every_trial(tmp_path, data_dir):
  # learning_rate=-1 is refused by the trainer: both its seeds fail, the others finish.
  flags = ["--sweep=optimizer.learning_rate=0.01,-1.0", "--seeds=2", "--metric=eval/loss",
           "--config.num_train_steps=4", "--config.optimizer.warmup_steps=0", f"--config.dataset.data_dir={data_dir}"]
  result = _sweep(tmp_path, *flags)
  assert result.returncode == 0, result.stderr[-2000:]
  with open(tmp_path / "results.csv") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 4 and sorted(r["seed"] for r in rows) == ["0", "0", "1", "1"]
  for r in rows:
    if r["status"] == "done":
      with open(tmp_path / "trials" / r["id"] / "config.json") as f:
        config = json.load(f)
      assert config["num_train_steps"] == 4 and config["seed"] == int(r["seed"]) and r["steps"] == "4"
  assert sorted(r["status"] for r in rows) == ["done", "done", "failed", "failed"]
  md = (tmp_path / "results.md").read_text()
  assert "Best setting by the mean of the best eval/loss (minimised) over its seeds: optimizer.learning_rate=0.01" in md
  assert "| optimizer.learning_rate=-1 | 0/2 | 2 |" in md and " ± " in md
  assert "trials: 2 finished, 0 running, 2 failed, 0 pending of 4" in result.stdout
  lines = [line for line in result.stdout.splitlines() if line.startswith("trials:")]
  assert len(lines) == len(set(lines))
  with open(tmp_path / "sweep.json") as f:
    assert json.load(f)["overrides"] == flags[3:]
  # The same directory with another override: refused before anything runs, nothing changed.
  before = sorted(os.listdir(tmp_path / "trials"))
  result = _sweep(tmp_path, *flags[:3], "--config.num_train_steps=5", *flags[4:])
  assert result.returncode == 2 and result.stderr.strip().splitlines() == [
      f"error: sweep {tmp_path} was run with other --config.* overrides (['--config.num_train_steps=4'] then, "
      "['--config.num_train_steps=5'] now); use a new --workdir, or the same flags to resume"]
  assert sorted(os.listdir(tmp_path / "trials")) == before


def test_every_bad_input_row_is_one_line_before_any_trial(tmp_path):
  rows = [p.values for p in bad_input_rows("experiments/sweep.py")]
  commands, workdirs = [], []
  for i, (_, tried, _) in enumerate(rows):
    workdir = tmp_path / f"w{i}"
    if "a sweep run in `<workdir>`" in tried:  # The sweep.json a finished sweep leaves.
      trial.write_record(str(workdir), {"config": "configs/default.py:quick", "search": None, "search_trials": None,
                                        "search_seed": None, "overrides": ["--config.num_train_steps=7"]})
    flags = [part for part in tried.split(" then ")[-1].split("`")[1::2] if part.startswith("--")]
    commands.append(["--config=configs/default.py:quick", f"--workdir={workdir}",
                     *([] if any(f.startswith(("--sweep", "--search")) for f in flags)
                       else ["--sweep=optimizer.learning_rate=0.1"]), *flags])
    workdirs.append(workdir)
  results = launch_forked("experiments/sweep.py", commands, tmp_path,
                          preload=("trends_jax.sweep.results", "trends_jax.training.supervised"))
  for (name, _, message), result, workdir in zip(rows, results, workdirs):
    lines = result.stderr.strip().splitlines()
    assert (result.returncode, lines) == (2, [message.replace("<workdir>", str(workdir))]), name
    assert not (workdir / "trials").exists() and (not workdir.exists() or os.listdir(workdir) == ["sweep.json"]), name
