"""The deep-architecture experiments (GoogLeNet's auxiliary heads, residual vs plain, BatchNorm vs
batch size, squeeze-and-excitation) in --quick mode on MNIST-5k: their files and the numbers in them."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _claims_are_reported(results, markdown, count):
  assert len(results["claims"]) == count and all(isinstance(v, bool) for v in results["claims"].values())
  for claim, holds in results["claims"].items():
    assert f"- {'holds' if holds else 'does NOT hold'}: {claim}" in markdown


def test_googlenet_aux(tmp_path, data_dir, run_experiment):
  results, markdown = run_experiment("lecture/googlenet_aux", tmp_path, f"--data_dir={data_dir}", "--dataset=mnist5k")
  rows = {r["variant"]: r for r in results["tables"]["runs"]}
  assert list(rows) == ["with_aux", "without_aux"]
  assert rows["with_aux"]["aux_weight"] == 0.3 and rows["without_aux"]["aux_weight"] == 0
  for r in rows.values():
    assert 0 <= r["test_accuracy"] <= 1 and r["conv1_grad_step0"] > 0 and r["conv1_grad_training"] > 0
  # Same initialization and batch: at step 0 the layers after the last auxiliary head get the same gradient.
  layers = {r["layer"]: r for r in results["tables"]["gradient by layer"]}
  assert layers["fc"]["with_aux_step0"] == pytest.approx(layers["fc"]["without_aux_step0"], rel=1e-4)
  assert layers["conv1/conv"]["with_aux_step0"] != layers["conv1/conv"]["without_aux_step0"]
  assert list(layers)[0] == "conv1/conv" and list(layers)[-1] == "fc"  # Network order.
  assert results["parameters"]["auxiliary_heads"] > 0
  assert len(results["train_loss"]["with_aux"]) == results["steps"]
  _claims_are_reported(results, markdown, 2)
  for figure in ("gradient_flow.png", "training.png"):
    assert os.path.getsize(tmp_path / figure) > 10_000


def test_residual(tmp_path, data_dir, run_experiment):
  results, markdown = run_experiment("lecture/residual", tmp_path, f"--data_dir={data_dir}", "--dataset=mnist5k")
  rows = results["tables"]["runs"]
  assert [(r["network"], r["depth"]) for r in rows] == [("resnet", 8), ("plain", 8), ("resnet", 14), ("plain", 14)]
  by = {(r["network"], r["depth"]): r for r in rows}
  # The plain twin lacks only the projection shortcuts' convolutions and BatchNorms.
  assert 0 < by[("resnet", 14)]["parameters"] - by[("plain", 14)]["parameters"] < by[("plain", 14)]["parameters"]
  assert by[("resnet", 14)]["parameters"] > by[("resnet", 8)]["parameters"]
  for r in rows:
    assert 0 < r["final_train_loss"] < 10 and 0 <= r["test_accuracy"] <= 1
    assert r["first_to_last_block_grad_step0"] > 0
  flow = [r for r in results["tables"]["gradient by layer"] if r["network"] == "plain"]
  assert len(flow) == 14 - 1  # Every convolution but the classifier: the stem and two per block.
  assert len(results["train_loss"]["plain-14"]) == results["steps"]
  _claims_are_reported(results, markdown, 5)
  for figure in ("training_loss.png", "gradient_flow.png"):
    assert os.path.getsize(tmp_path / figure) > 10_000


def test_residual_rejects_bad_depths(tmp_path):
  result = subprocess.run([sys.executable, "experiments/lecture/residual.py", f"--workdir={tmp_path}", "--depths=8,30"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "XLA_FLAGS": ""})
  assert result.returncode == 2 and result.stderr.strip().startswith("error: --depths")


def test_batchnorm_batch_size(tmp_path, data_dir, run_experiment):
  results, markdown = run_experiment("lecture/batchnorm_batch_size", tmp_path, f"--data_dir={data_dir}", "--dataset=mnist5k")
  rows = results["tables"]["runs"]
  assert [(r["norm"], r["batch_size"]) for r in rows] == [(n, b) for n in ("batchnorm", "none") for b in (2, 32)]
  for r in rows:
    assert r["steps"] * r["batch_size"] == results["examples_per_run"]  # A fixed number of examples.
    assert 0 <= r["test_accuracy"] <= 1
  bn = {r["batch_size"]: r for r in rows if r["norm"] == "batchnorm"}
  assert all(0 <= r["test_accuracy_batch_stats"] <= 1 and r["mean_gap"] > 0 and r["std_gap"] > 0 for r in bn.values())
  assert bn[2]["mean_gap"] > bn[32]["mean_gap"]  # Fewer images, noisier means: sampling, whatever was learned.
  assert "std_gap" not in rows[-1]
  _claims_are_reported(results, markdown, 4)
  for figure in ("accuracy.png", "statistics_gap.png"):
    assert os.path.getsize(tmp_path / figure) > 10_000


def test_se_attention(tmp_path, data_dir, run_experiment):
  results, markdown = run_experiment("lecture/se_attention", tmp_path, f"--data_dir={data_dir}", "--dataset=mnist5k")
  rows = {r["variant"]: r for r in results["tables"]["accuracy"]}
  assert list(rows) == ["resnet", "se_avg", "se_max"]
  assert rows["se_avg"]["parameters"] == rows["se_max"]["parameters"] > rows["resnet"]["parameters"]
  gates = results["tables"]["gates"]
  assert [(g["variant"], g["block"]) for g in gates] == [
      (v, b) for v in ("se_avg", "se_max") for b in ("layer1_0", "layer2_0", "layer3_0")]
  for g in gates:
    assert 0 < g["mean_gate"] < 1 and 0 <= g["class_share"] <= 1
  heatmap = results["gates_by_class"]["se_avg"]["layer3_0"]
  assert len(heatmap) == 10 and len(heatmap[0]) == 4 * results["width"]  # Classes × channels of the last stage.
  _claims_are_reported(results, markdown, 3)
  for figure in ("training.png", "gates_by_class.png"):
    assert os.path.getsize(tmp_path / figure) > 10_000


def test_googlenet_width_scales_every_convolution_and_the_aux_hidden_layer():
  import jax
  import jax.numpy as jnp
  import numpy as np

  from trends_jax import models

  def kernels(width):
    model = models.create("googlenet", num_classes=10, width=width)
    variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)), train=True))
    return {jax.tree_util.keystr(path): leaf.shape for path, leaf in
            jax.tree_util.tree_leaves_with_path(variables["params"]) if "kernel" in jax.tree_util.keystr(path)}

  full, quarter = kernels(1.0), kernels(0.25)
  assert full.keys() == quarter.keys()
  for name, shape in full.items():
    if len(shape) == 4 or "fc1" in name:  # Convolutions and the auxiliary heads' hidden layer.
      assert quarter[name][-1] == max(1, round(shape[-1] / 4)), name
  assert quarter["['fc']['kernel']"] == (256, 10)  # inception5b's 1,024 channels, a quarter.
  assert sum(np.prod(s) for s in quarter.values()) < sum(np.prod(s) for s in full.values()) / 10
