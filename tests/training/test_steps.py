"""The pure train and eval steps' options that experiments use: per-parameter gradient norms, a
traced auxiliary-loss weight, evaluation over in-memory arrays, and shuffled batches."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from trends_jax import data, losses
from trends_jax.training import steps


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
