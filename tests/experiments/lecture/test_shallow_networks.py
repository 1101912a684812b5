"""The lecture experiments of issue 9 (activations, linear_vs_mlp, dense_vs_conv, dropout_ensemble) in
--quick mode, and the library pieces they added: per-layer gradient norms, polynomial cross terms."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.conftest import REPO
from trends_jax import models
from trends_jax.evaluation import gradient_flow


def _claims(results, markdown, count):
  """results.json's {sentence: bool}, each also a "holds" / "does NOT hold" line of results.md."""
  claims = results["claims"]
  assert len(claims) == count and all(isinstance(v, bool) for v in claims.values()), claims
  for claim, holds in claims.items():
    assert f"- {'holds' if holds else 'does NOT hold'}: {claim}" in markdown
  return claims


def _figures(workdir, *names):
  for name in names:
    assert os.path.getsize(workdir / name) > 10_000, name


def test_layer_norms_in_network_order():
  model = models.create("mlp", depth=11, width=4, batch_norm=True)
  x = jnp.linspace(-1, 1, 12).reshape(2, 6)
  variables = model.init(jax.random.PRNGKey(0), x)

  def loss(params):
    logits, _ = model.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"])
    return jnp.sum(logits ** 2)

  grads = jax.grad(loss)(variables["params"])
  assert list(grads)[:2] == ["bn0", "bn1"]  # jax.grad sorts the keys: the order must come from elsewhere.
  kernels = gradient_flow.layer_norms(grads, order=variables["params"], leaves=("kernel",))
  assert [name for name, _ in kernels] == [f"dense{i}" for i in range(11)] + ["head"]
  assert kernels[0][1] == pytest.approx(float(jnp.linalg.norm(grads["dense0"]["kernel"])), rel=1e-6)
  natural = gradient_flow.layer_norms(grads, leaves=("kernel",))
  assert natural == kernels  # Natural order: dense2 before dense10.
  every = dict(gradient_flow.layer_norms(grads))
  assert list(every)[:3] == ["bn0", "bn1", "bn2"] and len(every) == 23
  head = grads["head"]
  head_norm = np.sqrt(np.sum(head["kernel"] ** 2) + np.sum(head["bias"] ** 2))
  assert every["head"] == pytest.approx(float(head_norm), rel=1e-6)


def test_polynomial_cross_terms():
  x = jnp.array([[2.0, 3.0]])
  plain = models.create("polynomial", degree=3)
  crossed = models.create("polynomial", degree=3, cross_terms=True)
  assert plain.init(jax.random.PRNGKey(0), x)["params"]["head"]["kernel"].shape == (6, 1)  # Unchanged default.
  params = crossed.init(jax.random.PRNGKey(0), x)["params"]
  assert params["head"]["kernel"].shape == (9, 1)  # C(2 + 3, 3) - 1 monomials.
  ones = {"head": {"kernel": jnp.ones((9, 1)), "bias": jnp.zeros(1)}}
  # 2 + 3 + 4 + 6 + 9 + 8 + 12 + 18 + 27: every monomial of degree 1 to 3 of (2, 3).
  assert float(crossed.apply({"params": ones}, x)[0, 0]) == pytest.approx(89.0)


def test_activations(tmp_path, data_dir, run_experiment):
  results, markdown = run_experiment("lecture/activations", tmp_path, f"--data_dir={data_dir}")
  rows = results["tables"]["networks"]
  assert [(r["activation"], r["variant"]) for r in rows] == [
      (a, v) for a in ("sigmoid", "tanh", "relu") for v in ("plain", "batchnorm", "residual", "batchnorm+residual")]
  assert all(0 <= r["test_accuracy"] <= 1 and r["first_over_last_initial"] > 0 for r in rows)
  sigmoid = results["gradient_norms"]["sigmoid/plain"]
  assert sigmoid["layers"] == ["dense0", "dense1", "dense2", "dense3", "head"]
  assert len(sigmoid["trained"]) == 5 and all(n > 0 for n in sigmoid["initial"])
  assert sigmoid["initial"][0] < sigmoid["initial"][3] / 3  # Vanishing already in 4 sigmoid layers.
  assert rows[0]["first_over_last_initial"] == pytest.approx(sigmoid["initial"][0] / sigmoid["initial"][3])
  assert [step for step, _ in results["accuracy_curves"]["relu/plain"]] == [0, 10, 20]
  claims = _claims(results, markdown, 7)
  assert claims["ReLU's gradients explode: at initialization the first hidden layer's gradient is over 10× the "
                "last's"] == (rows[8]["first_over_last_initial"] > 10)
  _figures(tmp_path, "gradient_norms.png", "training_curves.png")


def test_linear_vs_mlp(tmp_path, data_dir, run_experiment):
  results, markdown = run_experiment("lecture/linear_vs_mlp", tmp_path, f"--data_dir={data_dir}")
  rows = {(r["problem"], r["classifier"]): r for r in results["tables"]["accuracy"]}
  assert list(rows) == [(p, c) for p in ("moons", "circles", "digits") for c in ("linear", "polynomial", "mlp")]
  assert rows[("moons", "linear")]["parameters"] == 2 * 2 + 2
  assert rows[("moons", "polynomial")]["parameters"] == 9 * 2 + 2  # Monomials of degree ≤ 3 of 2 inputs.
  assert rows[("digits", "polynomial")]["parameters"] == (64 + 64 * 65 // 2) * 10 + 10
  assert all(0 <= r["test_accuracy"] <= 1 and 0 <= r["train_accuracy"] <= 1 for r in rows.values())
  assert rows[("digits", "linear")]["test_accuracy"] > 0.5  # 30 full-batch steps already learn digits.
  claims = _claims(results, markdown, 4)
  assert claims["on digits the MLP is more accurate than the linear classifier"] == (
      rows[("digits", "mlp")]["test_accuracy"] > rows[("digits", "linear")]["test_accuracy"])
  _figures(tmp_path, "boundaries.png", "accuracy.png")


def test_dense_vs_conv(tmp_path, data_dir, run_experiment):
  results, markdown = run_experiment("lecture/dense_vs_conv", tmp_path, f"--data_dir={data_dir}")
  layers = {r["layer"]: r for r in results["tables"]["one layer on a 1024×768 RGB image"]}
  assert layers["dense 32 units"]["parameters"] == 1024 * 768 * 3 * 32 + 32
  assert layers["conv 3×3, 32 filters"]["parameters"] == 3 * 3 * 3 * 32 + 32
  assert layers["conv 5×5, 32 filters"]["multiply_adds"] == 1024 * 768 * 5 * 5 * 3 * 32
  runs = results["tables"]["Fashion-MNIST"]
  assert [(r["budget"], r["model"]) for r in runs] == [("small", "cnn"), ("small", "mlp")]
  for r in runs:
    assert abs(r["parameters"] / r["cnn_parameters"] - 1) < 0.05 and r["steps"] == 10
    assert 0 <= r["test_accuracy"] <= 1
  claims = _claims(results, markdown, 3)
  assert claims["the dense layer has over 1000× the parameters of a 3×3 convolution with 32 filters"]
  assert os.path.exists(tmp_path / "runs" / "small_mlp" / "status.json")
  _figures(tmp_path, "layer_parameters.png", "accuracy.png")


def test_dropout_ensemble(tmp_path, data_dir, run_experiment):
  results, markdown = run_experiment("lecture/dropout_ensemble", tmp_path, f"--data_dir={data_dir}")
  assert results["ensemble_sizes"] == [1, 2, 5, 8] and len(results["single_network_accuracies"]) == 8
  rows = results["tables"]["test accuracy"]
  assert all(0 <= r["test_accuracy"] <= 1 for r in rows)
  first = [r["test_accuracy"] for r in rows if r["networks"] == 1 and r["prediction"].startswith("average")]
  assert first == [results["single_network_accuracies"][0]] * 2  # An average of one network is that network.
  _claims(results, markdown, 3)
  assert os.path.exists(tmp_path / "runs" / "mlp_dropout" / "checkpoints")
  _figures(tmp_path, "mc_dropout.png")


@pytest.mark.parametrize("name,flag", [("activations", "--depth=1"), ("dropout_ensemble", "--samples=0")])
def test_bad_input_is_one_line(tmp_path, name, flag):
  result = subprocess.run([sys.executable, f"experiments/lecture/{name}.py", f"--workdir={tmp_path}", flag],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "XLA_FLAGS": ""})
  assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
  assert not os.listdir(tmp_path)  # Nothing trained or written.
