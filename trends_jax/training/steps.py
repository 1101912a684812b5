"""Train state and the pure train/eval step functions.

The steps are pure: (state, batch) → (new state, metrics). All mutable things (parameters,
optimizer state, BatchNorm statistics, the EMA of the parameters, the step counter) live in the
returned `TrainState`. With `axis_name` set, the steps run under `jax.pmap` and average gradients,
metrics and batch statistics over that axis; without it they are meant for `jax.jit` over a
sharded global batch, where XLA inserts the cross-device reductions itself.
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import traverse_util
from flax.training import train_state


class TrainState(train_state.TrainState):
  batch_stats: Any = None
  rng: jax.Array | None = None  # Base key; each step folds in its own number.
  # Exponential moving average of `params` (float32), or None when the run keeps none.
  ema_params: Any = None


def create_train_state(model: nn.Module, tx: optax.GradientTransformation, rng: jax.Array,
                       example_inputs: jax.Array, initial_variables: dict | None = None,
                       ema: bool = False) -> TrainState:
  """A new state: model.init's variables, with the leaves of `initial_variables` (a sub-tree of
  the same collections: weights to start from, training/finetune.py) in their place; with `ema`,
  `ema_params` starts as a copy of the parameters."""
  params_rng, dropout_rng, state_rng = jax.random.split(rng, 3)
  variables = model.init({"params": params_rng, "dropout": dropout_rng}, example_inputs, train=False)
  variables = overlay(variables, initial_variables)
  params = variables["params"]
  # A copy, not the same arrays: a donated state must not hold one buffer twice.
  ema_params = jax.tree.map(lambda p: jnp.array(p, jnp.float32, copy=True), params) if ema else None
  return TrainState.create(apply_fn=model.apply, params=params, tx=tx,
                           batch_stats=variables.get("batch_stats"), rng=state_rng, ema_params=ema_params)


def overlay(variables: dict, start: dict | None) -> dict:
  """`variables` with the leaves of `start` (a sub-tree of the same collections) in their place."""
  if not start:
    return variables
  flat = traverse_util.flatten_dict(variables, sep="/")
  flat.update(traverse_util.flatten_dict(start, sep="/"))
  return traverse_util.unflatten_dict(flat, sep="/")


def _variables(params, batch_stats) -> dict:
  if batch_stats is None:
    return {"params": params}
  return {"params": params, "batch_stats": batch_stats}


def _main_output(outputs):
  """Models with auxiliary heads return (logits, aux logits…); metrics use the main head."""
  return outputs[0] if isinstance(outputs, tuple) else outputs


def micro_batches(batch: dict, k: int) -> dict:
  """Each leaf (B, …) → (k, B/k, …), micro-batch i holding examples i, i+k, i+2k, …

  Strided rather than contiguous: the global batch is sharded over devices along B in contiguous
  blocks, and with each device's share divisible by k every micro-batch takes B/(k·devices)
  examples from every device, so the split moves no data between devices."""
  return jax.tree.map(lambda x: jnp.swapaxes(x.reshape((x.shape[0] // k, k) + x.shape[1:]), 0, 1), batch)


def make_train_step(model: nn.Module, loss_fn: Callable, learning_rate_fn: Callable | None = None,
                    axis_name: str | None = None, aux_loss_weight: float = 0.3, skip_nonfinite: bool = False,
                    parameter_grad_norms: bool = False, grad_accum_steps: int = 1, ema_decay: float = 0.0):
  """Returns train_step(state, batch) -> (state, metrics), with metrics averaged over the batch.

  With `grad_accum_steps` = k > 1, the batch is split into k micro-batches (`micro_batches`) that
  a `lax.scan` runs one after another, and one optimizer update applies the mean of their
  gradients: without BatchNorm the same update as the whole batch, with the activations of only
  one micro-batch in memory at a time. BatchNorm normalises each micro-batch by its own statistics
  and updates its running averages once per micro-batch, in order (as big_vision and init2winit
  do); dropout draws each micro-batch's mask from its own key. Metrics are the whole batch's.
  Under pmap the gradients are averaged over devices once, after the scan; under jit XLA places
  that reduction inside the loop, once per micro-batch (measured on 8 CPU devices, 2026-12).

  With `ema_decay` d > 0 (the state made with `create_train_state(..., ema=True)`), each applied
  update also sets ema_params ← d·ema_params + (1−d)·params.

  With `skip_nonfinite`, a step whose loss or gradient is NaN or Inf leaves parameters, optimizer
  state, BatchNorm statistics and the EMA as they were (the step counter still advances, so the
  next step reads the next batch) and reports `skipped` = 1. With `parameter_grad_norms`, metrics
  also hold `grad_norms`: each parameter's gradient norm, in the params' tree
  (`gradient_flow.layer_norms` groups them by layer). `aux_loss_weight` may be traced, so that one
  compiled step serves any weight.
  """
  if grad_accum_steps < 1:
    raise ValueError(f"grad_accum_steps must be >= 1, got {grad_accum_steps}")

  def objective(params, batch_stats, batch, rng):
    outputs, updates = model.apply(
        _variables(params, batch_stats), batch["inputs"], train=True, rngs={"dropout": rng},
        mutable=["batch_stats"] if batch_stats is not None else [])
    per_example = loss_fn(_main_output(outputs), batch)
    loss = per_example["loss"].mean()
    if isinstance(outputs, tuple):  # GoogLeNet-style auxiliary classifiers.
      loss += aux_loss_weight * sum(loss_fn(aux, batch)["loss"].mean() for aux in outputs[1:])
    metrics = {k: v.mean() for k, v in per_example.items()}
    return loss, (metrics, updates.get("batch_stats"))

  grad_fn = jax.value_and_grad(objective, has_aux=True)

  def accumulated(params, batch_stats, batch, rng):
    """grad_fn's outputs for the whole batch, as means over its micro-batches."""

    def micro_step(carry, micro):
      batch_stats, grad_sum = carry
      index, micro_batch = micro
      (value, (metrics, batch_stats)), grads = grad_fn(params, batch_stats, micro_batch,
                                                       jax.random.fold_in(rng, index))
      return (batch_stats, jax.tree.map(jnp.add, grad_sum, grads)), (value, metrics)

    zeros = jax.tree.map(jnp.zeros_like, params)
    (batch_stats, grad_sum), (values, metrics) = jax.lax.scan(
        micro_step, (batch_stats, zeros), (jnp.arange(grad_accum_steps), micro_batches(batch, grad_accum_steps)))
    # Micro-batches are equally large, so the mean of their means is the batch's mean.
    mean = lambda tree: jax.tree.map(lambda x: x.mean(axis=0), tree)  # noqa: E731
    grads = jax.tree.map(lambda g: g / grad_accum_steps, grad_sum)
    return (values.mean(), (mean(metrics), batch_stats)), grads

  def train_step(state: TrainState, batch: dict):
    rng = jax.random.fold_in(state.rng, state.step)
    if axis_name is not None:
      rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))

    gradients = grad_fn if grad_accum_steps == 1 else accumulated
    (objective_value, (metrics, batch_stats)), grads = gradients(state.params, state.batch_stats, batch, rng)
    if axis_name is not None:
      grads = jax.lax.pmean(grads, axis_name)
      metrics = jax.lax.pmean(metrics, axis_name)
      batch_stats = jax.lax.pmean(batch_stats, axis_name)
      objective_value = jax.lax.pmean(objective_value, axis_name)
    if learning_rate_fn is not None:
      metrics["learning_rate"] = learning_rate_fn(state.step)
    metrics["grad_norm"] = optax.tree.norm(grads)
    if parameter_grad_norms:
      metrics["grad_norms"] = jax.tree.map(lambda g: jnp.sqrt(jnp.sum(jnp.square(g))), grads)
    new_state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
    if ema_decay:
      if state.ema_params is None:
        raise ValueError("ema_decay > 0 needs a state with ema_params: create_train_state(..., ema=True)")
      new_state = new_state.replace(
          ema_params=optax.incremental_update(new_state.params, state.ema_params, step_size=1.0 - ema_decay))
    if skip_nonfinite:
      new_state, metrics["skipped"] = skip_if_nonfinite(state, new_state, objective_value, metrics["grad_norm"])
    return new_state, metrics

  return train_step


def skip_if_nonfinite(state, new_state, loss, grad_norm):
  """(new_state, 0.0), or (state with new_state's step, 1.0) where the loss or the gradient is
  NaN or Inf: a skipped step changes nothing but the step count, so the next one reads new data."""
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  kept = state.replace(step=new_state.step)
  return (jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, kept),
          1.0 - finite.astype(jnp.float32))


def make_eval_step(model: nn.Module, loss_fn: Callable, axis_name: str | None = None):
  """Returns eval_step(state, batch) -> sums of per-example metrics over `mask`, and `count`."""

  def eval_step(state: TrainState, batch: dict):
    outputs = model.apply(_variables(state.params, state.batch_stats), batch["inputs"], train=False)
    per_example = loss_fn(_main_output(outputs), batch)
    mask = batch["mask"]
    sums = {k: jnp.sum(v * mask) for k, v in per_example.items()}
    sums["count"] = jnp.sum(mask)
    if axis_name is not None:
      sums = jax.lax.psum(sums, axis_name)
    return sums

  return eval_step


def evaluate_arrays(eval_step: Callable, state: TrainState, inputs, labels, batch_size: int = 500) -> dict:
  """Means of `eval_step`'s metrics over in-memory arrays, `batch_size` examples per call."""
  totals = None
  for start in range(0, len(inputs), batch_size):
    batch = {"inputs": inputs[start:start + batch_size], "label": labels[start:start + batch_size]}
    batch["mask"] = jnp.ones(len(batch["label"]), jnp.float32)
    sums = eval_step(state, batch)
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
  count = totals.pop("count")
  return {k: float(v / count) for k, v in totals.items()}
