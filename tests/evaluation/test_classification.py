"""The classification accumulator against sklearn and jax on random logits: batches, padding, ties."""

import jax
import numpy as np
import pytest
from sklearn import metrics as sk

from trends_jax.evaluation import classification


def _random(num_examples=300, num_classes=12, seed=0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(num_examples, num_classes)).astype(np.float32), rng.integers(0, num_classes, num_examples)


def _softmax(logits):
  e = np.exp(logits - logits.max(axis=1, keepdims=True))
  return e / e.sum(axis=1, keepdims=True)


def test_batches_with_padding_match_sklearn_on_the_real_examples():
  logits, labels = _random()
  num_classes = logits.shape[1]
  acc = classification.Accumulator(num_classes)
  real = []
  # Batches of 64 as eval_batches gives them: the last one padded with zero examples, mask 0.
  for start in range(0, len(labels), 64):
    batch_logits, batch_labels = logits[start:start + 64], labels[start:start + 64]
    pad = 64 - len(batch_labels)
    mask = np.concatenate([np.ones(len(batch_labels)), np.zeros(pad)])
    acc.update(np.concatenate([batch_logits, np.full((pad, num_classes), 5.0)]),
               np.concatenate([batch_labels, np.zeros(pad, int)]), mask)
    real.append(len(batch_labels))
  r = acc.results()
  everything = list(range(num_classes))

  assert r["count"] == len(labels) == sum(real)
  np.testing.assert_array_equal(r["confusion_matrix"], sk.confusion_matrix(labels, logits.argmax(1), labels=everything))
  assert r["accuracy"] == pytest.approx(sk.accuracy_score(labels, logits.argmax(1)), abs=1e-12)
  assert r["top5_accuracy"] == pytest.approx(sk.top_k_accuracy_score(labels, logits, k=5, labels=everything), abs=1e-12)
  assert r["loss"] == pytest.approx(sk.log_loss(labels, _softmax(logits.astype(np.float64)), labels=everything), rel=1e-9)
  np.testing.assert_allclose(r["per_class_accuracy"],
                             sk.recall_score(labels, logits.argmax(1), labels=everything, average=None))
  np.testing.assert_array_equal(r["per_class_count"], np.bincount(labels, minlength=num_classes))
  assert np.dot(r["per_class_accuracy"], r["per_class_count"]) / r["count"] == pytest.approx(r["accuracy"])


def test_a_masked_example_counts_nowhere():
  logits, labels = _random(40, 8)
  mask = (np.arange(40) % 3 != 0).astype(np.float32)
  masked = classification.Accumulator(8)
  masked.update(logits, labels, mask)
  kept = classification.Accumulator(8)
  kept.update(logits[mask > 0], labels[mask > 0])
  a, b = masked.results(), kept.results()
  assert a["count"] == int(mask.sum())
  for key in ("accuracy", "top5_accuracy", "loss"):
    assert a[key] == pytest.approx(b[key], rel=1e-12)
  np.testing.assert_array_equal(a["confusion_matrix"], b["confusion_matrix"])


def test_ties_go_to_the_lower_class_index_as_jax_top_k():
  num_classes = 9
  labels = np.arange(num_classes)
  acc = classification.Accumulator(num_classes)
  acc.update(np.zeros((num_classes, num_classes)), labels)  # Every class tied.
  r = acc.results()
  assert r["accuracy"] == pytest.approx(1 / 9)  # Class 0 is everyone's prediction.
  assert r["top5_accuracy"] == pytest.approx(5 / 9)  # Classes 0…4 are everyone's top 5.
  np.testing.assert_array_equal(r["confusion_matrix"][:, 0], np.ones(num_classes))

  # Many ties among random small integers: the same hits as jax.lax.top_k (lower index first on ties).
  rng = np.random.default_rng(1)
  logits = rng.integers(0, 3, size=(500, num_classes)).astype(np.float32)
  labels = rng.integers(0, num_classes, 500)
  acc = classification.Accumulator(num_classes)
  acc.update(logits, labels)
  r = acc.results()
  _, top = jax.lax.top_k(logits, 5)
  top = np.asarray(top)
  assert r["top5_accuracy"] == pytest.approx((top == labels[:, None]).any(axis=1).mean())
  assert r["accuracy"] == pytest.approx((top[:, 0] == labels).mean())
  assert r["accuracy"] == pytest.approx((np.asarray(jax.numpy.argmax(logits, -1)) == labels).mean())
  assert r["top5_accuracy"] >= r["accuracy"]


def test_top5_only_with_more_than_5_classes_and_empty_classes_are_nan():
  acc = classification.Accumulator(5)
  acc.update(np.eye(5)[[0, 1, 1]], np.array([0, 1, 2]))
  r = acc.results()
  assert "top5_accuracy" not in r
  assert r["accuracy"] == pytest.approx(2 / 3)
  assert np.isnan(r["per_class_accuracy"][3]) and r["per_class_count"][3] == 0


def test_bad_batches_and_no_examples_are_refused():
  acc = classification.Accumulator(4)
  with pytest.raises(ValueError, match="expected"):
    acc.update(np.zeros((2, 3)), np.array([0, 1]))
  with pytest.raises(ValueError, match=r"labels must be in \[0, 4\)"):
    acc.update(np.zeros((2, 4)), np.array([0, 4]))
  acc.update(np.zeros((2, 4)), np.array([0, 1]), np.zeros(2))
  with pytest.raises(ValueError, match="no examples"):
    acc.results()


def test_most_confused_are_the_largest_off_diagonal_cells():
  confusion = np.array([[50, 3, 0],
                        [7, 40, 7],
                        [1, 0, 90]])
  assert classification.most_confused(confusion, 3) == [(1, 0, 7), (1, 2, 7), (0, 1, 3)]
  assert classification.most_confused(confusion, 20) == [(1, 0, 7), (1, 2, 7), (0, 1, 3), (2, 0, 1)]
