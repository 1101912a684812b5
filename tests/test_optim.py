"""Optimizers and schedules from config fields."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from trends_jax import optim
from trends_jax.errors import UserError


def _config(**fields):
  return ml_collections.ConfigDict({"name": "sgd", "learning_rate": 0.1, **fields})


def test_warmup_then_cosine():
  schedule = optim.learning_rate_schedule(_config(schedule="cosine", warmup_steps=10), 110)
  np.testing.assert_allclose([schedule(0), schedule(5), schedule(10), schedule(60), schedule(110)],
                             [0.0, 0.05, 0.1, 0.05, 0.0], atol=1e-6)


def test_constant_schedule_and_optimizer_kwargs():
  tx, schedule = optim.create(_config(name="momentum", momentum=0.5), 100)
  assert float(schedule(50)) == pytest.approx(0.1)
  params = {"w": jnp.ones(3)}
  state = tx.init(params)
  updates, _ = tx.update({"w": jnp.ones(3)}, state, params)
  np.testing.assert_allclose(updates["w"], -0.1)


@pytest.mark.parametrize("name", optim.OPTIMIZERS.names())
def test_every_optimizer_decreases_a_quadratic(name):
  tx, _ = optim.create(_config(name=name, learning_rate=0.05 if name != "adadelta" else 1.0), 100)
  params = jnp.array([3.0, -2.0])
  state = tx.init(params)
  for _ in range(50):
    grads = 2 * params
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  assert float(jnp.sum(params ** 2)) < 13.0 * 0.9


def test_bad_optimizer_fields():
  with pytest.raises(UserError, match="unknown optimizer 'adamm'.*known: adadelta"):
    optim.create(_config(name="adamm"), 10)
  with pytest.raises(UserError, match="learning_rate must be > 0"):
    optim.create(_config(learning_rate=-0.1), 10)
  with pytest.raises(UserError, match="does not take"):
    optim.create(_config(name="adam", momentum=0.9), 10)
  with pytest.raises(UserError, match="unknown schedule 'cosin'"):
    optim.create(_config(schedule="cosin"), 10)


def _one_update(config, params, grads, steps=100):
  tx, _ = optim.create(config, steps)
  updates, _ = tx.update(grads, tx.init(params), params)
  return updates


PARAMS = {"dense": {"kernel": jnp.full((2, 3), 2.0), "bias": jnp.full((3,), 2.0)},
          "bn": {"scale": jnp.full((3,), 2.0), "bias": jnp.full((3,), -2.0)}}
ZERO_GRADS = jax.tree.map(jnp.zeros_like, PARAMS)


def test_l2_and_l1_change_the_gradient_as_their_formulas_say():
  # SGD with lr 0.1: update = -0.1 · (grad + l2·w) and -0.1 · (grad + l1·sign(w)), kernels only.
  grads = jax.tree.map(lambda p: jnp.full_like(p, 0.3), PARAMS)
  l2 = _one_update(_config(l2=0.5), PARAMS, grads)
  np.testing.assert_allclose(l2["dense"]["kernel"], -0.1 * (0.3 + 0.5 * 2.0))
  l1 = _one_update(_config(l1=0.5), PARAMS, grads)
  np.testing.assert_allclose(l1["dense"]["kernel"], -0.1 * (0.3 + 0.5 * 1.0))
  for updates in (l2, l1):
    for path in (("dense", "bias"), ("bn", "scale"), ("bn", "bias")):
      np.testing.assert_allclose(updates[path[0]][path[1]], -0.1 * 0.3)


def test_decay_mask_all_includes_biases_and_norms():
  updates = _one_update(_config(l2=0.5, decay_mask="all"), PARAMS, ZERO_GRADS)
  np.testing.assert_allclose(updates["bn"]["bias"], -0.1 * 0.5 * -2.0)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "momentum"])  # LAMB/LARS rescale it by design.
def test_decoupled_weight_decay_is_not_rescaled_by_the_optimizer(name):
  """With zero gradients the direction is zero, so only lr·wd·w remains (kernels only)."""
  updates = _one_update(_config(name=name, weight_decay=0.5), PARAMS, ZERO_GRADS)
  np.testing.assert_allclose(updates["dense"]["kernel"], -0.1 * 0.5 * 2.0, rtol=1e-6)
  np.testing.assert_array_equal(updates["dense"]["bias"], 0.0)
  np.testing.assert_array_equal(updates["bn"]["scale"], 0.0)


def test_l2_penalty_differs_from_decoupled_decay_under_adam():
  grads = jax.tree.map(lambda p: jnp.full_like(p, 0.1), PARAMS)
  coupled = _one_update(_config(name="adam", l2=0.5), PARAMS, grads)
  decoupled = _one_update(_config(name="adam", weight_decay=0.5), PARAMS, grads)
  # Adam normalizes the L2 gradient away on the first step; decoupled decay survives it.
  np.testing.assert_allclose(coupled["dense"]["kernel"], -0.1, rtol=1e-4)
  np.testing.assert_allclose(decoupled["dense"]["kernel"], -0.1 - 0.1 * 0.5 * 2.0, rtol=1e-4)


def test_gradient_clipping_bounds_the_global_norm():
  grads = jax.tree.map(lambda p: jnp.full_like(p, 10.0), PARAMS)
  updates = _one_update(_config(grad_clip_norm=1.0), PARAMS, grads)
  assert float(optax.tree.norm(updates)) == pytest.approx(0.1, rel=1e-5)


@pytest.mark.parametrize("fields, at, expected", [
    ({"schedule": "step", "step_boundaries": (0.5, 0.75), "step_factor": 0.1}, [0, 49, 50, 75, 99], [0.1, 0.1, 0.01, 0.001, 0.001]),
    ({"schedule": "exponential", "decay_rate": 0.01}, [0, 50, 100], [0.1, 0.01, 0.001]),
    ({"schedule": "linear", "end_learning_rate": 0.0}, [0, 50, 100], [0.1, 0.05, 0.0]),
    ({"schedule": "cosine", "end_learning_rate": 0.01}, [0, 100], [0.1, 0.01]),
])
def test_schedule_values(fields, at, expected):
  schedule = optim.learning_rate_schedule(_config(**fields), 100)
  np.testing.assert_allclose([float(schedule(s)) for s in at], expected, rtol=1e-5, atol=1e-7)


def test_logged_learning_rate_is_the_applied_one():
  tx, schedule = optim.create(_config(schedule="cosine", warmup_steps=3), 10)
  params = jnp.zeros(())
  state = tx.init(params)
  for step in range(6):
    updates, state = tx.update(jnp.ones(()), state, params)
    np.testing.assert_allclose(-updates, schedule(step), rtol=1e-6)


def test_bad_regularization_and_schedule_fields():
  with pytest.raises(UserError, match="warmup_steps \\(100\\) must be shorter than training \\(100 steps\\)"):
    optim.create(_config(warmup_steps=100), 100)
  with pytest.raises(UserError, match="weight_decay must be >= 0"):
    optim.create(_config(weight_decay=-1.0), 10)
  with pytest.raises(UserError, match="unknown optimizer.decay_mask 'biases'"):
    optim.create(_config(l2=0.1, decay_mask="biases"), 10)
  with pytest.raises(UserError, match="schedule 'constant' does not take decay_rate"):
    optim.create(_config(decay_rate=0.5), 10)


def test_label_smoothing_and_loss_options():
  from trends_jax import losses
  batch = {"label": jnp.array([0])}
  logits = jnp.array([[10.0, -10.0]])
  plain = losses.create("softmax_xent")(logits, batch)["loss"]
  smoothed = losses.create("softmax_xent", label_smoothing=0.2)(logits, batch)["loss"]
  # Targets (0.9, 0.1): the loss gains 0.1 · 20 nats for the confident wrong class.
  np.testing.assert_allclose(smoothed - plain, 0.1 * 20.0, rtol=1e-3)
  with pytest.raises(UserError, match="loss 'mse' does not take label_smoothing"):
    losses.create("mse", label_smoothing=0.1)
