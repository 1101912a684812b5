"""The pure train and eval steps' options: per-parameter gradient norms, a traced auxiliary-loss
weight, gradient accumulation, the EMA of the parameters, evaluation over in-memory arrays, and
shuffled batches."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trends_jax import data, losses, models
from trends_jax.training import parallel, steps


class TwoHeads(nn.Module):
  """A main head and, in training, an auxiliary one (GoogLeNet's layout in miniature)."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    hidden = nn.relu(nn.Dense(8, name="body")(x))
    logits = nn.Dense(3, name="head")(hidden)
    return (logits, nn.Dense(3, name="aux")(hidden)) if train else logits


def _state(model, x, learning_rate=0.1):
  params = model.init(jax.random.PRNGKey(0), x, train=True)["params"]
  return steps.TrainState.create(apply_fn=model.apply, params=params, tx=optax.sgd(learning_rate),
                                 rng=jax.random.PRNGKey(1))


def _batch(n=12, seed=0):
  rng = np.random.default_rng(seed)
  return {"inputs": jnp.asarray(rng.normal(size=(n, 5)), jnp.float32), "label": jnp.asarray(rng.integers(0, 3, n))}


def test_parameter_grad_norms_are_each_parameters_gradient_norm():
  model, batch = TwoHeads(), _batch()
  state = _state(model, batch["inputs"])
  _, metrics = steps.make_train_step(model, losses.softmax_cross_entropy, aux_loss_weight=0.5,
                                     parameter_grad_norms=True)(state, batch)

  def objective(params):
    logits, aux = model.apply({"params": params}, batch["inputs"], train=True)
    return (losses.softmax_cross_entropy(logits, batch)["loss"].mean()
            + 0.5 * losses.softmax_cross_entropy(aux, batch)["loss"].mean())

  expected = jax.tree.map(jnp.linalg.norm, jax.grad(objective)(state.params))
  for got, want in zip(jax.tree.leaves(metrics["grad_norms"]), jax.tree.leaves(expected)):
    np.testing.assert_allclose(got, want, rtol=1e-5)
  assert jax.tree.structure(metrics["grad_norms"]) == jax.tree.structure(state.params)


def test_a_traced_aux_weight_compiles_once_and_zero_leaves_the_aux_head_alone():
  model, batch = TwoHeads(), _batch()
  state = _state(model, batch["inputs"])
  step = jax.jit(lambda state, batch, weight: steps.make_train_step(
      model, losses.softmax_cross_entropy, aux_loss_weight=weight)(state, batch))
  without, _ = step(state, batch, jnp.float32(0.0))
  with_aux, _ = step(state, batch, jnp.float32(0.3))
  assert step._cache_size() == 1
  np.testing.assert_array_equal(without.params["aux"]["kernel"], state.params["aux"]["kernel"])
  assert not np.allclose(with_aux.params["aux"]["kernel"], state.params["aux"]["kernel"])
  np.testing.assert_array_equal(without.params["head"]["kernel"], with_aux.params["head"]["kernel"])  # Main head: main loss only.
  assert not np.allclose(without.params["body"]["kernel"], with_aux.params["body"]["kernel"])


def test_evaluate_arrays_averages_over_every_example_with_a_short_last_batch():
  model, batch = TwoHeads(), _batch(n=23, seed=3)
  state = _state(model, batch["inputs"])
  eval_step = jax.jit(steps.make_eval_step(model, losses.softmax_cross_entropy))
  got = steps.evaluate_arrays(eval_step, state, np.asarray(batch["inputs"]), np.asarray(batch["label"]), batch_size=10)
  per_example = losses.softmax_cross_entropy(model.apply({"params": state.params}, batch["inputs"]), batch)
  assert got.keys() == {"loss", "accuracy"}
  np.testing.assert_allclose(got["loss"], per_example["loss"].mean(), rtol=1e-5)
  np.testing.assert_allclose(got["accuracy"], per_example["accuracy"].mean())


def test_shuffled_batches_walk_reshuffled_epochs():
  batches = data.shuffled_batches(10, 4, 7, seed=0)  # 28 indices: two whole epochs and 8 of a third.
  assert batches.shape == (7, 4)
  flat = batches.reshape(-1)
  assert sorted(flat[:10]) == sorted(flat[10:20]) == list(range(10)) and len(set(flat[20:])) == 8
  assert not np.array_equal(flat[:10], flat[10:20])
  np.testing.assert_array_equal(batches, data.shuffled_batches(10, 4, 7, seed=0))


# --- Gradient accumulation ---

def _cnn(batch_norm=False):
  return models.create("cnn", num_classes=10, features=(4,), kernel_size=3, hidden=16, batch_norm=batch_norm)


def _image_batch(step, n=32):
  rng = np.random.default_rng(step)
  return {"inputs": rng.normal(size=(n, 8, 8, 1)).astype(np.float32), "label": rng.integers(0, 10, n).astype(np.int32)}


def _train(mode, num_devices, grad_accum_steps, model=None, num_steps=2, **step_kwargs):
  strategy = parallel.create(mode, jax.devices()[:num_devices])
  model = strategy.adapt_model(model or _cnn())
  state = strategy.init_state(lambda: steps.create_train_state(
      model, optax.adam(0.01), jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)), ema=bool(step_kwargs.get("ema_decay"))))
  step = strategy.compile_train_step(steps.make_train_step(
      model, losses.create("softmax_xent"), axis_name=strategy.axis_name, grad_accum_steps=grad_accum_steps,
      **step_kwargs))
  for i in range(num_steps):
    state, metrics = step(state, strategy.put_batch(_image_batch(i)))
  return jax.device_get(strategy.checkpointable(state)), strategy.fetch(metrics)


@pytest.fixture(scope="module")
def full_batch():
  return _train("jit", 1, 1)


@pytest.mark.parametrize("mode, num_devices, grad_accum_steps", [
    ("jit", 1, 2), ("jit", 1, 4), ("jit", 8, 4), ("pmap", 2, 2)])
def test_accumulated_steps_match_the_full_batch_without_batchnorm(full_batch, mode, num_devices, grad_accum_steps):
  state, metrics = _train(mode, num_devices, grad_accum_steps)
  ref_state, ref_metrics = full_batch
  assert int(state.step) == 2 and int(state.opt_state[0].count) == 2  # One update per global batch.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), state.params, ref_state.params)
  assert metrics.keys() == ref_metrics.keys() == {"loss", "accuracy", "top5_accuracy", "grad_norm"}
  for key in ref_metrics:  # The whole global batch's, not the last micro-batch's.
    np.testing.assert_allclose(metrics[key], ref_metrics[key], rtol=1e-5)


def test_micro_batches_take_every_kth_example():
  batch = {"inputs": jnp.arange(12).reshape(6, 2), "label": jnp.arange(6)}
  micro = steps.micro_batches(batch, 3)
  np.testing.assert_array_equal(micro["label"], [[0, 3], [1, 4], [2, 5]])
  np.testing.assert_array_equal(micro["inputs"][1], [[2, 3], [8, 9]])


def test_batchnorm_normalises_each_micro_batch_and_updates_its_averages_once_per_micro_batch():
  model = _cnn(batch_norm=True)
  batch = _image_batch(0, n=16)
  state = steps.create_train_state(model, optax.sgd(0.1), jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)))
  new_state, _ = jax.jit(steps.make_train_step(model, losses.create("softmax_xent"), grad_accum_steps=2))(state, batch)
  # The running averages after the micro-batches (examples 0, 2, … then 1, 3, …) in order.
  stats = state.batch_stats
  apply = jax.jit(functools.partial(model.apply, train=True, mutable=["batch_stats"]))
  for micro in (jax.tree.map(lambda x: x[0::2], batch), jax.tree.map(lambda x: x[1::2], batch)):
    _, updates = apply({"params": state.params, "batch_stats": stats}, micro["inputs"])
    stats = updates["batch_stats"]
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), new_state.batch_stats, stats)
  full_state, _ = jax.jit(steps.make_train_step(model, losses.create("softmax_xent")))(state, batch)
  assert not np.allclose(full_state.batch_stats["bn0"]["mean"], stats["bn0"]["mean"])


def test_dropout_draws_a_new_mask_for_each_micro_batch():
  """Two identical micro-batches: with one mask for both, the accumulated update would be each one's."""
  model = models.create("cnn", num_classes=10, features=(4,), kernel_size=3, hidden=16, dropout_rate=0.5)
  half = _image_batch(0, n=8)
  doubled = jax.tree.map(lambda x: np.repeat(x, 2, axis=0), half)  # Examples 0, 0, 1, 1, …: micro-batches equal.
  state = steps.create_train_state(model, optax.sgd(0.1), jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)))
  loss_fn = losses.create("softmax_xent")
  accumulated, _ = jax.jit(steps.make_train_step(model, loss_fn, grad_accum_steps=2))(state, doubled)
  one, _ = jax.jit(steps.make_train_step(model, loss_fn))(state, half)
  assert not np.allclose(accumulated.params["fc"]["kernel"], one.params["fc"]["kernel"])


def test_grad_accum_steps_must_divide_the_batch_it_splits():
  with pytest.raises(ValueError, match="grad_accum_steps must be >= 1"):
    steps.make_train_step(_cnn(), losses.create("softmax_xent"), grad_accum_steps=0)


# --- EMA of the parameters ---

def test_ema_follows_each_update_and_a_skipped_step_leaves_it(tmp_path):
  model, decay = _cnn(), 0.8
  loss_fn = losses.create("softmax_xent")
  state = steps.create_train_state(model, optax.sgd(0.1), jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)), ema=True)
  assert jax.tree.structure(state.ema_params) == jax.tree.structure(state.params)
  step = jax.jit(steps.make_train_step(model, loss_fn, skip_nonfinite=True, grad_accum_steps=2, ema_decay=decay),
                 donate_argnums=0)  # A donated state must not hold one buffer twice.
  expected = jax.tree.map(np.asarray, state.params)
  for i in range(3):
    state, metrics = step(state, _image_batch(i))
    assert float(metrics["skipped"]) == 0
    expected = jax.tree.map(lambda e, p: decay * e + (1 - decay) * np.asarray(p), expected, state.params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), state.ema_params, expected)
  assert {x.dtype for x in jax.tree.leaves(state.ema_params)} == {jnp.dtype(jnp.float32)}
  assert not np.allclose(state.ema_params["fc"]["kernel"], state.params["fc"]["kernel"])

  poisoned = _image_batch(3)
  poisoned["inputs"][5, 0, 0, 0] = np.nan  # In the second micro-batch only.
  before = jax.device_get(state)
  state, metrics = step(state, poisoned)
  assert float(metrics["skipped"]) == 1 and int(state.step) == 4
  for name in ("params", "opt_state", "ema_params"):
    for a, b in zip(jax.tree.leaves(getattr(state, name)), jax.tree.leaves(getattr(before, name))):
      np.testing.assert_array_equal(a, b)


def test_the_ema_starts_from_the_weights_a_fine_tuned_run_starts_from():
  model, x = _cnn(), jnp.zeros((1, 8, 8, 1))
  source = steps.create_train_state(model, optax.sgd(0.1), jax.random.PRNGKey(5), x)
  state = steps.create_train_state(model, optax.sgd(0.1), jax.random.PRNGKey(0), x, {"params": source.params}, ema=True)
  for a, b in zip(jax.tree.leaves(state.ema_params), jax.tree.leaves(source.params)):
    np.testing.assert_array_equal(a, b)


def test_no_ema_keeps_none_and_a_decay_needs_a_state_with_one():
  model = _cnn()
  state = steps.create_train_state(model, optax.sgd(0.1), jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)))
  assert state.ema_params is None
  with pytest.raises(ValueError, match="ema_params"):
    jax.eval_shape(steps.make_train_step(model, losses.create("softmax_xent"), ema_decay=0.9), state, _image_batch(0))
