"""Per-example losses and metrics: top-5 accuracy where there are more than 5 classes."""

import jax.numpy as jnp
import numpy as np

from trends_jax import losses


def test_top5_accuracy_is_whether_the_label_is_among_the_five_largest_logits():
  logits = jnp.asarray([np.arange(10.0), np.arange(10.0)[::-1], np.arange(10.0)])  # Ranks: 9…5, 0…4, 9…5.
  batch = {"label": jnp.asarray([5, 5, 4])}
  metrics = losses.create("softmax_xent")(logits, batch)
  assert metrics.keys() == {"loss", "accuracy", "top5_accuracy"}
  np.testing.assert_array_equal(metrics["top5_accuracy"], [1.0, 0.0, 0.0])
  np.testing.assert_array_equal(metrics["accuracy"], [0.0, 0.0, 0.0])
  smoothed = losses.create("softmax_xent", label_smoothing=0.1)(logits, batch)
  np.testing.assert_array_equal(smoothed["top5_accuracy"], metrics["top5_accuracy"])


def test_five_classes_or_fewer_and_other_losses_have_no_top5():
  five = losses.create("softmax_xent")(jnp.zeros((3, 5)), {"label": jnp.asarray([0, 1, 4])})
  assert five.keys() == {"loss", "accuracy"}
  sequence = losses.create("sequence_xent")(jnp.zeros((2, 4, 30)), {"label": jnp.zeros((2, 4), jnp.int32)})
  assert sequence.keys() == {"loss", "bits_per_char", "accuracy"}
  assert losses.create("mse")(jnp.zeros((3, 1)), {"label": jnp.zeros(3)}).keys() == {"loss"}
