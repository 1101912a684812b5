"""Losses as per-example metrics: fn(outputs, batch) → {"loss": [B], other metrics: [B]}.

Per-example values let one reduction serve training (mean over the batch) and evaluation
(masked sums over a padded split).
"""

import functools
import inspect

import jax
import jax.numpy as jnp
import optax

from trends_jax.errors import UserError
from trends_jax.registry import Registry

LOSSES = Registry("loss", "loss")


@LOSSES.register("softmax_xent")
def softmax_cross_entropy(outputs, batch, label_smoothing: float = 0.0):
  """Cross-entropy of integer labels, with optional label smoothing; plus top-1 accuracy, and
  top-5 accuracy where there are more than 5 classes (with 5 or fewer it would always be 1)."""
  logits = outputs.astype(jnp.float32)
  labels = batch["label"]
  targets = jax.nn.one_hot(labels, logits.shape[-1])
  if label_smoothing:
    targets = optax.smooth_labels(targets, label_smoothing)
  metrics = {"loss": optax.softmax_cross_entropy(logits, targets),
             "accuracy": (jnp.argmax(logits, -1) == labels).astype(jnp.float32)}
  if logits.shape[-1] > 5:
    metrics["top5_accuracy"] = top_k_accuracy(logits, labels, 5)
  return metrics


def top_k_accuracy(logits, labels, k: int):
  """1.0 where the label is among the k largest logits (ties: the lower class index first)."""
  _, top = jax.lax.top_k(logits, k)
  return jnp.any(top == labels[..., None], axis=-1).astype(jnp.float32)


@LOSSES.register("sequence_xent")
def sequence_cross_entropy(outputs, batch):
  """Cross-entropy at every step of (B, T, V) logits against (B, T) next ids, averaged over T.

  Also bits per character (the loss in nats / ln 2) and next-character accuracy. Every sequence has
  the same length, so the mean over examples is the mean over all characters.
  """
  logits = outputs.astype(jnp.float32)
  labels = batch["label"]
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(axis=-1)
  return {"loss": loss, "bits_per_char": loss / jnp.log(2.0),
          "accuracy": (jnp.argmax(logits, -1) == labels).astype(jnp.float32).mean(axis=-1)}


@LOSSES.register("mse")
def mean_squared_error(outputs, batch):
  predictions = outputs.astype(jnp.float32).reshape(batch["label"].shape)
  return {"loss": jnp.square(predictions - batch["label"].astype(jnp.float32))}


def create(name: str, **kwargs):
  fn = LOSSES.get(name)
  accepted = set(inspect.signature(fn).parameters) - {"outputs", "batch"}
  unknown = sorted(set(kwargs) - accepted)
  if unknown:
    raise UserError(f"loss {name!r} does not take {', '.join(unknown)}; it takes: "
                    f"{', '.join(sorted(accepted)) or 'no options'} (set config.loss to just the fields it takes)")
  return functools.partial(fn, **kwargs)
