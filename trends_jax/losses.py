"""Losses as per-example metrics: fn(outputs, batch) → {"loss": [B], other metrics: [B]}.

Per-example values let one reduction serve training (mean over the batch) and evaluation
(masked sums over a padded split).
"""

import functools

import jax
import jax.numpy as jnp
import optax

from trends_jax.registry import Registry

LOSSES = Registry("loss", "loss")


@LOSSES.register("softmax_xent")
def softmax_cross_entropy(outputs, batch, label_smoothing: float = 0.0):
  """Cross-entropy of integer labels, with optional label smoothing; plus top-1 accuracy."""
  logits = outputs.astype(jnp.float32)
  labels = batch["label"]
  targets = jax.nn.one_hot(labels, logits.shape[-1])
  if label_smoothing:
    targets = optax.smooth_labels(targets, label_smoothing)
  return {"loss": optax.softmax_cross_entropy(logits, targets),
          "accuracy": (jnp.argmax(logits, -1) == labels).astype(jnp.float32)}


@LOSSES.register("mse")
def mean_squared_error(outputs, batch):
  predictions = outputs.astype(jnp.float32).reshape(batch["label"].shape)
  return {"loss": jnp.square(predictions - batch["label"].astype(jnp.float32))}


def create(name: str, **kwargs):
  return functools.partial(LOSSES.get(name), **kwargs)
