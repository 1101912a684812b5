"""experiments/evaluate.py as a user runs it, on a trained quick run and on imported weights, and
every evaluate.py row of docs/bad_input.md.

A command spends most of its seconds importing jax, TFDS and (where it is installed) torch, which
tensorboardX imports, and this module runs sixteen: `launched` runs them all from one process that imports those once and forks
a child per command, which runs experiments/evaluate.py as `python experiments/evaluate.py …` would
(`__main__`, the same argv, its folder first on sys.path) with its own stdout, stderr and exit code.
"""

import json
import os
import re
import runpy
import shutil
import subprocess

import jax
import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO, assert_one_error_line, bad_input_rows, launch_forked
from trends_jax import data
from trends_jax.run.workdir import Workdir
from trends_jax.training import config as config_lib, loop, supervised, trained


def _config(spec: str):
  path, _, arg = spec.partition(":")
  return runpy.run_path(os.path.join(REPO, path))["get_config"](arg or None)


def _evaluate_all(commands: list[list[str]], tmp) -> list[subprocess.CompletedProcess]:
  """Runs `python experiments/evaluate.py <args>` for each of `commands`, in one forking process."""
  return launch_forked("experiments/evaluate.py", commands, tmp,
                       preload=("sklearn.metrics", "trends_jax.run.plots", "trends_jax.training.trained"))


def _import(workdir, config, variables):
  """An imported workdir, as experiments/import_weights.py writes one (`config.model.num_classes` set)."""
  assert config.model.num_classes
  trained.write_imported(workdir, config, variables, os.path.join(workdir, "weights.pth"))


def _results(workdir, folder="eval_test"):
  with open(os.path.join(workdir, folder, "results.json")) as f:
    return json.load(f)


def _snapshot(path):
  if not os.path.exists(path):
    return None
  return {os.path.join(root, f): os.path.getmtime(os.path.join(root, f)) for root, _, files in os.walk(path)
          for f in files}


def _rows():
  return bad_input_rows("experiments/evaluate.py")


def _bad_input_command(name, tried, run, tmp):
  """The workdir and flags of one bad-input row, its situation created under `tmp`."""
  workdir = run
  saved = Workdir(run).read_config()
  if name == "workdir that does not exist":
    workdir = os.path.join(tmp, "missing")
  elif name == "empty workdir":
    workdir = os.path.join(tmp, "empty")
    os.makedirs(workdir)
  elif name in ("no checkpoint yet", "a language model", "a regression model"):
    workdir = os.path.join(tmp, "config_only")
    if name == "a language model":
      saved = config_lib.as_json(_config("configs/char_lm.py:quick"))
    elif name == "a regression model":
      saved["loss"]["name"] = "mse"
    Workdir(workdir).write_config(saved)
  elif name == "dataset with another class count":
    workdir = os.path.join(tmp, "seven_classes")
    config = trained.load(run).config
    config.model.num_classes = 7
    model = trained.build_model(config)
    _import(workdir, config, model.init(jax.random.PRNGKey(0), np.zeros((1, 28, 28, 1)), train=False))
  flags = [a for span in re.findall(r"`([^`]*)`", tried) if span.startswith("--") and not span.startswith("--workdir")
           for a in span.split()]
  assert flags or workdir != run, f"row {name!r} names no flags and has no setup in this test"
  return workdir, [f"--workdir={workdir}", *flags]


@pytest.fixture(scope="module")
def launched(data_dir, tmp_path_factory):
  """Trains a configs/default.py:quick run (20 steps of a small CNN on mnist5k), then runs every
  command of this module (`_evaluate_all`): {"good": {name: (workdir, result)}, "bad": {row: (workdir,
  result, files before, files after)}}."""
  tmp = tmp_path_factory.mktemp("evaluate")
  run = str(tmp / "quick")
  config = _config("configs/default.py:quick")
  config.dataset.data_dir = data_dir
  assert loop.train_and_evaluate(config, run)["state"] == "done"
  bad_run = str(tmp / "bad_run")  # The bad-input rows' own copy: they must leave it as it was.
  shutil.copytree(run, bad_run)

  commands = {"run": (run, [f"--workdir={run}"]),
              "slice": (run, [f"--workdir={run}", "--split=test[:300]", "--config.eval_batch_size=128"])}
  source = trained.load(run)
  source.config.model.num_classes = 10
  imported = str(tmp / "imported")
  _import(imported, source.config, source.variables)
  # The dataset from a config file, as for published weights whose own config is not the data's.
  commands["imported"] = (imported, [f"--workdir={imported}", "--config=configs/default.py:quick",
                                     f"--config.dataset.data_dir={data_dir}"])
  wide = supervised.base_config()
  wide.model.update({"name": "mlp", "depth": 0, "num_classes": 1000})
  wide.dataset.update({"name": "synthetic:imagenet_resized/8x8", "eval_split": "validation"})
  wide.eval_batch_size = 512
  wide_dir = str(tmp / "wide")
  _import(wide_dir, wide, trained.build_model(wide).init(jax.random.PRNGKey(0), np.zeros((1, 8, 8, 3)), train=False))
  commands["1000 classes"] = (wide_dir, [f"--workdir={wide_dir}"])

  bad = {}
  for row in _rows():
    name, tried, _ = row.values
    os.makedirs(tmp / "rows" / row.id)
    bad[name] = _bad_input_command(name, tried, bad_run, str(tmp / "rows" / row.id))
  before = {name: _snapshot(workdir) for name, (workdir, _) in bad.items()}

  names = list(commands) + list(bad)
  results = _evaluate_all([commands[n][1] for n in commands] + [bad[n][1] for n in bad], tmp)
  results = dict(zip(names, results))
  return {"good": {name: (workdir, results[name]) for name, (workdir, _) in commands.items()},
          "bad": {name: (workdir, results[name], before[name], _snapshot(workdir))
                  for name, (workdir, _) in bad.items()}}


def _succeeded(launched, name):
  workdir, result = launched["good"][name]
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir, result.stdout


def test_evaluation_matches_the_runs_final_eval_row(launched):
  run, stdout = _succeeded(launched, "run")
  r = _results(run)
  final = [row for row in Workdir(run).read_metrics() if row["split"] == "eval"][-1]
  assert final["step"] == r["step"] == 20
  assert r["accuracy"] == pytest.approx(final["accuracy"], abs=1e-6)
  assert r["loss"] == pytest.approx(final["loss"], rel=1e-5)
  assert r["split"] == "test" and r["num_examples"] == 1000 and r["num_classes"] == 10
  assert 1.0 >= r["top5_accuracy"] >= r["accuracy"]

  confusion = np.array(r["confusion_matrix"])
  counts = confusion.sum(axis=1)
  assert confusion.sum() == 1000 and np.trace(confusion) == round(r["accuracy"] * 1000)
  assert np.dot(r["per_class_accuracy"], counts) / counts.sum() == pytest.approx(r["accuracy"])
  np.testing.assert_array_equal(
      confusion, np.loadtxt(os.path.join(run, "eval_test", "confusion_matrix.csv"), delimiter=",", dtype=int))
  assert [row["examples"] for row in r["tables"]["per-class accuracy"]] == counts.tolist() == [100] * 10
  assert r["tables"]["metrics"][0]["top-1"] == r["accuracy"]

  png = os.path.join(run, "eval_test", "confusion_matrix.png")
  with Image.open(png) as image:
    image.verify()
  with Image.open(png) as image:
    width, height = image.size
  assert 400 < width < 1100 and 400 < height < 1000, (width, height)  # 10 classes: a screen-sized figure.
  markdown = open(os.path.join(run, "eval_test", "results.md")).read()
  assert "| examples | top-1 | top-5 | loss |" in markdown and "## per-class accuracy" in markdown
  assert re.search(r"^eval 1,000/1,000 examples \| \d+ examples/s$", stdout, re.M), stdout
  assert f"top-1 {r['accuracy']:.4f}, top-5 {r['top5_accuracy']:.4f}" in stdout


def test_imported_weights_evaluate_as_the_run_they_came_from(launched):
  imported, _ = _succeeded(launched, "imported")
  run, _ = _succeeded(launched, "run")
  r, expected = _results(imported), _results(run)
  assert r["step"] == 0
  for key in ("accuracy", "top5_accuracy", "confusion_matrix", "per_class_accuracy", "num_examples"):
    assert r[key] == expected[key], key
  assert r["loss"] == pytest.approx(expected["loss"], rel=1e-6)


def test_a_sliced_split_in_padded_batches(launched, data_dir):
  run, _ = _succeeded(launched, "slice")
  r = _results(run, "eval_test_to300")
  assert r["split"] == "test[:300]" and r["num_examples"] == 300
  source = data.data_source("mnist5k", "test[:300]", data_dir)
  labels = np.array([source[i]["label"] for i in range(len(source))])
  np.testing.assert_array_equal(np.array(r["confusion_matrix"]).sum(axis=1), np.bincount(labels, minlength=10))


def test_beyond_100_classes_the_most_confused_pairs_and_no_image(launched):
  workdir, _ = _succeeded(launched, "1000 classes")
  folder = os.path.join(workdir, "eval_validation")
  r = _results(workdir, "eval_validation")
  assert r["num_classes"] == 1000 and "confusion_matrix" not in r
  assert not os.path.exists(os.path.join(folder, "confusion_matrix.png"))
  confusion = np.loadtxt(os.path.join(folder, "confusion_matrix.csv"), delimiter=",", dtype=int)
  assert confusion.shape == (1000, 1000) and confusion.sum() == r["num_examples"]
  pairs = r["most_confused"]
  assert 0 < len(pairs) <= 20
  assert [p["count"] for p in pairs] == sorted((p["count"] for p in pairs), reverse=True)
  off_diagonal = confusion - np.diag(np.diag(confusion))
  assert pairs[0]["count"] == off_diagonal.max() == confusion[pairs[0]["true"], pairs[0]["predicted"]]
  markdown = open(os.path.join(folder, "results.md")).read()
  assert "## most confused pairs (top 20)" in markdown and r["class_names"][0] == "n02119789"


def test_the_table_covers_what_issue_18_names():
  names = {row.values[0] for row in _rows()}
  assert {"workdir that does not exist", "empty workdir", "no checkpoint yet", "unknown split",
          "EMA of a run trained without it", "dataset with another class count", "a language model",
          "a regression model"} <= names


@pytest.mark.parametrize("name, tried, message", _rows())
def test_bad_input_row(name, tried, message, launched, data_dir):
  workdir, result, before, after = launched["bad"][name]
  assert_one_error_line(result, message, {"<workdir>": workdir, "<data_dir>": data_dir})
  assert after == before
