"""The input benchmark's tiny mode: every JPEG loader runs and the JSON has the fields docs quote."""

import importlib.util
import json
import os
import subprocess
import sys

from tests.conftest import REPO

ROW_FIELDS = {"pipeline", "batch_size", "workers", "examples_per_sec", "examples_per_sec_per_core", "rounds"}


def test_input_bench_quick_writes_every_field(tmp_path):
  result = subprocess.run([sys.executable, "experiments/bench/input.py", "--quick", f"--workdir={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(tmp_path, "results.json")) as f:
    results = json.load(f)
  has_torch = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("torchvision") is not None
  expected = ["jpeg_old", "jpeg_fast_pil", "jpeg_fast"] + ["jpeg_pytorch"] * has_torch
  assert [r["pipeline"] for r in results["rows"]] == expected
  assert all(ROW_FIELDS <= set(r) and r["examples_per_sec"] > 0 and r["workers"] == 0 for r in results["rows"])
  assert results["jpeg_count"] == 16 and results["jpeg_shape"] == [500, 375]
  assert 80_000 < results["jpeg_mean_bytes"] < 140_000  # ImageNet-sized files, ~110 KB.
  assert results["jpeg_specs"]["jpeg_fast"].startswith("decode_jpeg_and_inception_crop(224)|")
  assert results["jpeg_specs"]["jpeg_fast_pil"].startswith("decode_jpeg_and_inception_crop(224, fast=False)|")
  has_fast = all(importlib.util.find_spec(m) is not None for m in ("simplejpeg", "cv2"))
  codecs = results["codecs"]
  assert codecs["pillow"] and (codecs["simplejpeg"] is not None) == has_fast and (codecs["cv2"] is not None) == has_fast
  summary = results["summary"]
  assert summary["accelerator_images_per_sec"] == 3000.0
  assert set(summary["host_cores_per_accelerator"]) == {p[len("jpeg_"):] for p in expected}
  assert ("fast_vs_pytorch_per_core" in summary) == has_torch and results["torch_installed"] == has_torch
  assert ("fast_pil_vs_pytorch_per_core" in summary) == has_torch
  with open(os.path.join(tmp_path, "results.md")) as f:
    assert f.read().startswith("| pipeline | batch | workers | images/s | images/s per core |")
  if not has_torch:
    assert "pytorch: skipped (torch and torchvision are not installed" in result.stdout
