"""experiments/bench/vs_torch.py (--conv_ops, --profile) and scaling.py write the tables they promise."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _run(script, workdir, *args, timeout=600):
  result = subprocess.run([sys.executable, f"experiments/bench/{script}", f"--workdir={workdir}", "--quick", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "XLA_FLAGS": ""})  # One device, as a user runs it.
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f)


def test_vs_torch_writes_the_step_ratios_the_convolution_table_and_both_profiles(tmp_path):
  pytest.importorskip("torch")
  results = _run("vs_torch.py", tmp_path, "--conv_ops", "--profile=1")
  tables = results["tables"]
  assert [r["step"].split(",")[0] for r in tables["step time"]] == ["resnet18_cifar train step", "lstm forward+backward"]
  for row in tables["step time"]:
    assert row["ratio"] == pytest.approx(row["trends_jax_seconds"] / row["torch_seconds"])

  convolutions = tables["resnet18 convolutions alone, forward + backward"]
  *shapes, total = convolutions
  # ResNet-18 has 20 convolutions: the stem, 16 3×3 in the blocks and 3 strided 1×1 shortcuts.
  assert sum(r["count"] for r in shapes) == total["count"] == 20
  assert len(shapes) == 11 and shapes[0]["convolution"].startswith("3x3/1 3->4 at 32x32")  # --quick: 4 filters.
  for key in ("trends_jax_ms", "torch_ms"):
    assert total[key] == pytest.approx(sum(r["count"] * r[key] for r in shapes))
  assert all(r["trends_jax_ms"] > 0 and r["torch_ms"] > 0 for r in convolutions)

  kinds = tables["resnet18 trends_jax: time by kind"]
  assert sum(r["share"] for r in kinds) == pytest.approx(1.0)
  assert "convolution" in {r["kind"] for r in kinds}
  assert {"op", "kind", "phase", "layer", "ms_per_step", "share"} <= set(tables["resnet18 trends_jax: top ops"][0])
  torch_ops = tables["resnet18 PyTorch: top ops"]
  assert any("conv" in r["op"] for r in torch_ops) and all(r["calls_per_step"] > 0 for r in torch_ops)
  assert any(r["kind"] == "matmul" for r in tables["lstm trends_jax: top ops"])
  assert any("lstm" in r["op"].lower() or "mm" in r["op"] for r in tables["lstm PyTorch: top ops"])


def test_scaling_writes_rates_against_batch_width_vocabulary_and_corpus(tmp_path):
  results = _run("scaling.py", tmp_path, "--models=cnn")  # ResNet-18's compilations would triple the time.
  tables = results["tables"]
  by_batch = tables["examples/s against the batch size"]
  assert [(r["model"].split()[0], r["batch_size"]) for r in by_batch] == [("cnn", 2)]
  assert [(r["model"].split()[0], r["width"]) for r in tables["examples/s against the width"]] == [("cnn", 0.5)]
  for row in by_batch:
    assert row["examples_per_sec"] == pytest.approx(row["batch_size"] / row["step_seconds"])
  vocabulary = tables["word2vec words/s against the vocabulary size"]
  assert [r["vocab_size"] for r in vocabulary] == [500, 2000]
  assert [r["corpus_size"] for r in tables["word2vec words/s against the corpus size"]] == [20_000, 40_000]
  for row in vocabulary:
    assert row["words_per_sec"] == pytest.approx(results["word2vec_words_per_step"] / row["step_seconds"])
  assert os.path.getsize(tmp_path / "scaling.png") > 10_000


def test_scaling_refuses_a_corpus_smaller_than_one_step(tmp_path):
  for flag, message in (("--corpus_sizes=10", "error: --corpus_sizes must be at least the word2vec step"),
                        ("--models=vgg", "error: --models takes cnn and/or resnet18, got vgg")):
    result = subprocess.run([sys.executable, "experiments/bench/scaling.py", f"--workdir={tmp_path / 'out'}", flag],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(message)
    assert not os.path.exists(tmp_path / "out")
