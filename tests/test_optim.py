"""Optimizers and schedules from config fields."""

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
