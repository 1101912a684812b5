"""Both data-parallel modes give the same step as one device on the same global batch."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trends_jax import losses, models
from trends_jax.training import parallel, steps

BATCH = 32


def _batch(seed=0):
  rng = np.random.default_rng(seed)
  return {"inputs": rng.normal(size=(BATCH, 8, 8, 1)).astype(np.float32),
          "label": rng.integers(0, 10, BATCH).astype(np.int32),
          "mask": np.ones(BATCH, np.float32)}


def _run(mode, devices, num_steps=3):
  strategy = parallel.create(mode, devices)
  model = strategy.adapt_model(models.create(
      "cnn", num_classes=10, features=(4, 8), kernel_size=3, hidden=16, batch_norm=True))
  loss_fn = losses.create("softmax_xent")
  tx = optax.sgd(0.1, momentum=0.9)

  def make_state():
    return steps.create_train_state(model, tx, jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)))

  state = strategy.init_state(make_state)
  train_step = strategy.compile_train_step(steps.make_train_step(model, loss_fn, axis_name=strategy.axis_name))
  eval_step = strategy.compile_eval_step(steps.make_eval_step(model, loss_fn, strategy.axis_name))
  for i in range(num_steps):
    state, metrics = train_step(state, strategy.put_batch(_batch(i)))
  sums = strategy.fetch(eval_step(state, strategy.put_batch(_batch(99))))
  return jax.device_get(strategy.checkpointable(state)), strategy.fetch(metrics), sums


@pytest.fixture(scope="module")
def single():
  return _run("jit", jax.devices()[:1])


def test_eight_devices_are_visible():
  assert jax.device_count() == 8


@pytest.mark.parametrize("mode", ["jit", "pmap"])
def test_matches_single_device_step(single, mode):
  state, metrics, sums = _run(mode, None)
  ref_state, ref_metrics, ref_sums = single
  assert state.batch_stats is not None
  for tree, ref in [(state.params, ref_state.params), (state.batch_stats, ref_state.batch_stats),
                    (metrics, ref_metrics), (sums, ref_sums)]:
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), tree, ref)
  assert int(state.step) == 3


def _max_diff(tree, ref):
  return max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(ref)))


def test_with_dropout_jit_still_matches_one_device_but_pmap_does_not():
  """jit draws one mask over the global batch from the step's key (the same bits however the batch
  is sharded), pmap one mask per device from that key folded with the device index."""
  def params_after_one_step(mode, devices=None):
    strategy = parallel.create(mode, devices)
    model = models.create("cnn", num_classes=10, features=(4,), kernel_size=3, hidden=16, dropout_rate=0.5)
    state = strategy.init_state(lambda: steps.create_train_state(
        model, optax.sgd(0.1), jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1))))
    step = strategy.compile_train_step(
        steps.make_train_step(model, losses.create("softmax_xent"), axis_name=strategy.axis_name))
    state, _ = step(state, strategy.put_batch(_batch()))
    return jax.device_get(strategy.checkpointable(state).params)

  ref = params_after_one_step("jit", jax.devices()[:1])
  assert _max_diff(params_after_one_step("jit"), ref) < 1e-5
  assert _max_diff(params_after_one_step("pmap"), ref) > 1e-4


def test_pmap_state_round_trips_without_flax_jax_utils(monkeypatch):
  """flax.jax_utils.replicate has called JAX functions that JAX removed; the strategy must not need it."""
  import flax.jax_utils

  def removed(*args, **kwargs):
    raise AssertionError("flax.jax_utils used")

  for name in ("replicate", "unreplicate", "prefetch_to_device"):
    monkeypatch.setattr(flax.jax_utils, name, removed)
  strategy = parallel.create("pmap")
  host = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "step": np.int32(7), "none": None}
  state = strategy.put_state(host)
  assert state["w"].shape == (8, 2, 3) and len(state["w"].sharding.device_set) == 8
  assert state["none"] is None
  for back in (strategy.checkpointable(state), strategy.fetch(state)):
    np.testing.assert_array_equal(back["w"], host["w"])
    assert int(back["step"]) == 7 and back["w"].dtype == np.float32
  # A state made on a device (init_state's path) replicates too, and pmap takes it.
  state = strategy.init_state(lambda: {"w": jax.numpy.ones(3)})
  doubled = jax.pmap(lambda s: jax.tree.map(lambda x: 2 * x, s), devices=strategy.devices)(state)
  np.testing.assert_array_equal(strategy.fetch(doubled)["w"], np.full(3, 2.0))


def test_batchnorm_without_axis_name_differs_under_pmap(single):
  """The pmap mode's axis name is what makes its statistics global: without it they drift."""
  strategy = parallel.create("pmap")
  strategy.adapt_model = lambda model: model  # Per-device statistics, as a naive port would have.
  model = models.create("cnn", num_classes=10, features=(4, 8), kernel_size=3, hidden=16, batch_norm=True)
  tx = optax.sgd(0.1, momentum=0.9)
  state = strategy.init_state(
      lambda: steps.create_train_state(model, tx, jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1))))
  step = strategy.compile_train_step(
      steps.make_train_step(model, losses.create("softmax_xent"), axis_name=strategy.axis_name))
  for i in range(3):
    state, _ = step(state, strategy.put_batch(_batch(i)))
  ref_state = single[0]
  drift = max(float(np.max(np.abs(a - b))) for a, b in zip(
      jax.tree.leaves(jax.device_get(strategy.checkpointable(state)).params), jax.tree.leaves(ref_state.params)))
  assert drift > 1e-4


def test_jit_batch_is_sharded_over_all_devices():
  strategy = parallel.create("jit")
  batch = strategy.put_batch(_batch())
  assert batch["inputs"].shape == (BATCH, 8, 8, 1)
  assert len(batch["inputs"].sharding.device_set) == 8
  assert batch["inputs"].addressable_shards[0].data.shape == (BATCH // 8, 8, 8, 1)


def test_pmap_batch_has_a_device_axis():
  batch = parallel.create("pmap").put_batch(_batch())
  assert batch["inputs"].shape == (8, BATCH // 8, 8, 8, 1)
