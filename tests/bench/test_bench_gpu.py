"""experiments/bench/bench_gpu.sh's plumbing: a part that overruns its cap is recorded with its log
and the next part still runs; the merged JSON compares what it should; a training run stops at its
target; the carried Fashion-MNIST files become the dataset. (The whole QUICK run takes minutes:
docs/gpu.md gives its time.)"""

import gzip
import json
import lzma
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, assert_one_error_line, bad_input_rows

sys.path.insert(0, os.path.join(REPO, "experiments", "bench"))
import gpu_summary  # noqa: E402


def write_part(out, name, code, seconds, results=None, log=""):
  with open(os.path.join(out, f"{name}.status"), "w") as f:
    f.write(f"{code} {seconds} 100\n")
  with open(os.path.join(out, f"{name}.log"), "w") as f:
    f.write(log)
  if results is not None:
    os.makedirs(os.path.join(out, name))
    with open(os.path.join(out, name, "results.json"), "w") as f:
      json.dump(results, f)


def test_summary_compares_and_records_failures(tmp_path):
  out = str(tmp_path)
  write_part(out, "resnet50", 0, 60, {"examples_per_sec": 3000.0, "mfu": 0.3, "peak_flops_per_second": 989.5e12,
                                      "device_kind": "NVIDIA H200", "tables": {"big": []}})
  write_part(out, "torch_resnet50", 0, 80, {"images_per_sec": 2500.0, "best_variant": "compiled",
                                            "compiled": {"status": "compiled"}})
  write_part(out, "fashion_mnist", 124, 100, log="x" * 5000 + "the end of the log")
  write_part(out, "jpeg_input", 0, 30, {"rows": [{"pipeline": "jpeg_old", "workers": 0, "examples_per_sec": 300.0},
                                                 {"pipeline": "jpeg_pytorch", "workers": 4, "examples_per_sec": 1500.0},
                                                 {"pipeline": "jpeg_old", "workers": 4, "examples_per_sec": 1200.0}]})
  gpu_summary.main(out, ["resnet50", "torch_resnet50", "fashion_mnist", "char_lm", "jpeg_input"])
  with open(os.path.join(out, "bench_gpu.json")) as f:
    merged = json.load(f)
  assert merged["parts_failed"] == ["fashion_mnist", "char_lm"]
  assert merged["environment"] == {"error": "not recorded (no environment.json)"}
  failed = merged["parts"]["fashion_mnist"]
  assert failed["timed_out"] and failed["exit_code"] == 124 and failed["error"].endswith("the end of the log")
  assert len(failed["error"]) == gpu_summary.LOG_TAIL
  assert merged["parts"]["char_lm"]["error"] == "the part did not run (no status file)"
  assert "tables" not in merged["parts"]["resnet50"]["results"]
  r50 = merged["summary"]["resnet50"]
  assert r50["ratio_trends_jax_over_pytorch"] == pytest.approx(1.2) and r50["meets_goal"] is True
  assert r50["best_public_images_per_sec"] == 7950 and r50["arithmetic_ceiling_images_per_sec_h200"] == 40000
  assert r50["arithmetic_ceiling_images_per_sec_this_device"] == pytest.approx(989.5e12 / 24.5e9)
  assert merged["summary"]["fashion_mnist"]["accuracy_reached"] is None
  assert merged["summary"]["fashion_mnist"]["published_accuracy"] == 0.949
  jpeg = merged["summary"]["jpeg_input"]
  assert jpeg["best_images_per_sec_by_workers"] == {"0": 300.0, "4": 1500.0}
  assert jpeg["input_over_consumption_by_workers"] == {"0": 0.1, "4": 0.5}


def test_script_records_an_overrun_and_goes_on(tmp_path):
  out = tmp_path / "out"
  # The carried data cannot be prepared (its Fashion-MNIST file is no xz file): said, and the parts go on.
  broken = tmp_path / "carry" / "data" / "fashion-mnist"
  broken.mkdir(parents=True)
  (broken / "train-images-idx3-ubyte.xz").write_bytes(b"not xz")
  # resnet50 cannot even import JAX within 1 s.
  env = {**os.environ, "QUICK": "1", "PARTS": "resnet50 char_lm", "LIMITS": "resnet50=1",
         "PYTHON": sys.executable}
  result = subprocess.run(["bash", "experiments/bench/bench_gpu.sh", str(out), str(tmp_path / "carry")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stderr.strip().splitlines() == [
      f"error: cannot prepare the carried data (see {out}/data.log); the parts that read it will fail"]
  with open(out / "bench_gpu.json") as f:
    merged = json.load(f)
  assert merged["quick"] and merged["parts_failed"] == ["resnet50"]
  assert merged["parts"]["resnet50"]["timed_out"] and merged["parts"]["resnet50"]["limit_seconds"] == 1
  char_lm = merged["summary"]["char_lm"]
  assert merged["parts"]["char_lm"]["ok"] and char_lm["steps"] == 20 and char_lm["stopped_by"] == "finished"
  assert char_lm["steps_per_sec"] > 0 and 0 < char_lm["bits_per_char"] < 8
  import jax
  environment = merged["environment"]
  assert environment["packages"]["jax"] == jax.__version__
  assert environment["packages"]["jax-cuda13-plugin"] == "missing"  # This CPU's JAX has no CUDA plugin.
  assert environment["jax"] == {"backend": "cpu", "device_count": jax.device_count(), "device_kinds": ["cpu"]}


def test_a_run_for_the_gpu_stops_where_jax_sees_none(tmp_path):
  """Without QUICK, the CPU's JAX ends the run with one line before any part starts."""
  out = tmp_path / "out"
  env = {**os.environ, "PARTS": "char_lm", "PYTHON": sys.executable}
  env.pop("QUICK", None)
  result = subprocess.run(["bash", "experiments/bench/bench_gpu.sh", str(out), str(tmp_path / "no_carry")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      "error: JAX sees no GPU (its backend is cpu); check the machine's jax CUDA plugin (environment.json), "
      "or run with QUICK=1 on a CPU"]
  assert sorted(os.listdir(out)) == ["environment.json"]  # No part ran.
  with open(out / "environment.json") as f:
    assert json.load(f)["python"] == ".".join(map(str, sys.version_info[:3]))


def run_bad_input(script, tried, tmp_path):
  """One row of docs/bad_input.md: the row's command with its placeholders made real."""
  command = tried.split("`")[1]
  places = {"<out>": tmp_path / "out", "<carry>": tmp_path / "carry",
            "<python without packages>": tmp_path / "python-without-packages"}
  places["<python without packages>"].write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
  places["<python without packages>"].chmod(0o755)
  if "holds an earlier run's bench_gpu.json" in tried:
    places["<out>"].mkdir()
    (places["<out>"] / "bench_gpu.json").write_text("{}")
  if "holds a file named like a wheel" in tried:
    (places["<carry>"] / "wheels").mkdir(parents=True)
    (places["<carry>"] / "wheels" / "junk-1.0-py3-none-any.whl").write_text("not a wheel")
  if "holds notes.txt beside wheels/" in tried:
    (places["<carry>"] / "wheels").mkdir(parents=True)
    (places["<carry>"] / "notes.txt").write_text("mine")
  if "where `<carry>` is a file" in tried:
    places["<carry>"].write_text("mine")
  for place, path in places.items():
    command = command.replace(place, str(path))
  words = shlex.split(command)
  env = {k: v for k, v in os.environ.items() if k not in ("QUICK", "PARTS", "LIMITS", "FMNIST_EPOCHS")}
  env["PYTHON"] = sys.executable
  while "=" in words[0]:
    name, value = words.pop(0).split("=", 1)
    env[name] = value
  assert words[0] == os.path.basename(script)
  before = {p: sorted(os.listdir(p)) if p.is_dir() else p.exists() for p in (places["<out>"], places["<carry>"])}
  result = subprocess.run(["bash", script, *words[1:]], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
  after = {p: sorted(os.listdir(p)) if p.is_dir() else p.exists() for p in before}
  return result, places, before, after


@pytest.mark.parametrize("script,name,tried,message", [
    pytest.param(script, *row.values, id=f"{os.path.basename(script)}-{row.id}")
    for script in ("experiments/bench/bench_gpu.sh", "experiments/bench/gpu_wheels.sh")
    for row in bad_input_rows(script)])
def test_bad_input(script, name, tried, message, tmp_path):
  result, places, before, after = run_bad_input(script, tried, tmp_path)
  assert_one_error_line(result, message, places)
  assert after == before  # Nothing written, nothing removed.


def test_train_run_seconds_to_target():
  import train_run
  rows = [{"step": 10, "split": "train", "examples_per_sec": 50.0, "seconds": 5.0},
          {"step": 20, "split": "train", "examples_per_sec": 100.0, "seconds": 6.0},
          {"step": 20, "split": "eval", "accuracy": 0.90, "seconds": 6.5},
          {"step": 30, "split": "train", "examples_per_sec": 120.0, "seconds": 7.0},
          {"step": 30, "split": "eval", "accuracy": 0.95, "seconds": 7.5},
          {"step": 40, "split": "eval", "accuracy": 0.96, "seconds": 8.5}]
  s = train_run.summarize(rows, 10, "accuracy", 0.949)
  assert s["target_reached"] and s["seconds_to_target"] == 7.5 and s["step_at_target"] == 30
  assert s["best_eval_accuracy"] == 0.96 and s["last_step"] == 40
  assert s["train_rate_per_sec"] == 110.0 and s["steps_per_sec"] == 11.0  # The first row (compile) is left out.
  assert train_run.summarize(rows, 10, "accuracy", 0.99)["seconds_to_target"] is None


def test_carried_fashion_mnist_becomes_the_dataset(tmp_path):
  carried = tmp_path / "carry" / "data" / "fashion-mnist"
  carried.mkdir(parents=True)
  rng = np.random.default_rng(0)
  for split, count in (("train", 12), ("t10k", 5)):
    images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, count, dtype=np.uint8)
    with lzma.open(carried / f"{split}-images-idx3-ubyte.xz", "wb") as f:
      f.write(bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in images.shape) + images.tobytes())
    with lzma.open(carried / f"{split}-labels-idx1-ubyte.xz", "wb") as f:
      f.write(bytes([0, 0, 8, 1]) + count.to_bytes(4, "big") + labels.tobytes())
  data_dir = tmp_path / "tfds"
  result = subprocess.run([sys.executable, "experiments/bench/gpu_data.py", f"--carry={tmp_path / 'carry'}",
                           f"--data_dir={data_dir}"], cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"fashion_mnist: test 5, train 12 in {data_dir}" in result.stdout
  with gzip.open(tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz") as f:
    assert f.read()[8:] == labels.tobytes()


def test_carry_holds_only_what_the_machine_lacks(tmp_path):
  import gpu_missing
  report = {"install": [{"metadata": {"name": n, "version": v}} for n, v in
                        (("tensorflow_datasets", "4.9.10"), ("jax", "0.11.2"), ("Typing_Extensions", "4.15.0"),
                         ("simplejpeg", "1.9.0"), ("opencv-python-headless", "5.1.0"))]}
  machine = tmp_path / "machine.txt"
  machine.write_text("# the image's packages\njax\ntyping-extensions\nopencv_python_headless\n")
  assert gpu_missing.missing(report, gpu_missing.read_names(str(machine))) == [
      "simplejpeg==1.9.0", "tensorflow-datasets==4.9.10"]
  # The list the real script uses names the packages the parts import from the machine as they are.
  listed = {gpu_missing.normalized(n) for n in gpu_missing.read_names(
      os.path.join(REPO, "experiments", "bench", "gpu_machine_packages.txt"))}
  assert {"jax", "flax", "optax", "orbax-checkpoint", "torch", "torchvision", "timm", "numpy"} <= listed
