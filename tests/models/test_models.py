"""The model registry and the foundation's models: shapes, parameter counts, modes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trends_jax import models
from trends_jax.errors import UserError


def _param_count(model, shape):
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(shape), train=False))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables["params"]))


def test_registry_names():
  assert {"cnn", "mlp", "linear", "logistic", "polynomial"} <= set(models.names())


def test_unknown_model_and_field_are_one_line():
  with pytest.raises(UserError, match="unknown model 'resnet9' in model.name; known: .*cnn"):
    models.create("resnet9")
  with pytest.raises(UserError, match="model 'cnn' has no field\\(s\\) widht; its fields: .*features"):
    models.create("cnn", widht=3)


def test_cnn_parameter_count_is_lenet_arithmetic():
  # conv 5×5×1→32 (+32), conv 5×5×32→64 (+64), dense 7·7·64→128 (+128), dense 128→10 (+10).
  expected = (25 * 32 + 32) + (25 * 32 * 64 + 64) + (7 * 7 * 64 * 128 + 128) + (128 * 10 + 10)
  assert _param_count(models.create("cnn", num_classes=10), (1, 28, 28, 1)) == expected


def test_mlp_and_regressions_parameter_counts():
  assert _param_count(models.create("logistic", num_classes=10), (1, 28, 28, 1)) == 784 * 10 + 10
  assert _param_count(models.create("linear"), (1, 5)) == 6
  assert _param_count(models.create("polynomial", degree=3), (1, 2)) == 7
  assert _param_count(models.create("mlp", depth=2, width=16, num_classes=3), (1, 4)) == (
      4 * 16 + 16) + (16 * 16 + 16) + (16 * 3 + 3)


@pytest.mark.parametrize("name, kwargs", [
    ("cnn", {"batch_norm": True, "dropout_rate": 0.5}),
    ("mlp", {"batch_norm": True, "dropout_rate": 0.5, "residual": True, "activation": "tanh"}),
])
def test_train_and_eval_modes(name, kwargs):
  model = models.create(name, num_classes=10, **kwargs)
  x = jax.random.normal(jax.random.PRNGKey(1), (4, 28, 28, 1))
  variables = model.init(jax.random.PRNGKey(0), x, train=False)
  eval_logits = model.apply(variables, x, train=False)
  assert eval_logits.shape == (4, 10)
  np.testing.assert_array_equal(eval_logits, model.apply(variables, x, train=False))
  train_logits, updates = model.apply(variables, x, train=True, rngs={"dropout": jax.random.PRNGKey(2)},
                                      mutable=["batch_stats"])
  assert not np.allclose(train_logits, eval_logits)
  assert "batch_stats" in updates


def test_bfloat16_compute_keeps_float32_params():
  model = models.create("cnn", num_classes=10, dtype=jnp.bfloat16)
  x = jnp.ones((2, 28, 28, 1))
  variables = model.init(jax.random.PRNGKey(0), x, train=False)
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables["params"]))
  assert model.apply(variables, x, train=False).dtype == jnp.bfloat16
