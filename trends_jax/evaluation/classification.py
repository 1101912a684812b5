"""Classification metrics over a whole split, accumulated batch by batch on the host:

    metrics = classification.Accumulator(num_classes=10)
    for batch in batches:
      metrics.update(logits, batch["label"], batch["mask"])   # numpy arrays; mask 0 = padding
    metrics.results()  # accuracy, top5_accuracy, loss, per-class counts, confusion matrix

Plain numpy, below training: the evaluation launcher (experiments/evaluate.py) uses it, and a
trainer can. Ties between logits are broken towards the lower class index, as `argmax` and
`jax.lax.top_k` do, so top-1 here is the trainer's `accuracy` and top-k never falls below top-1.
"""

import numpy as np


def _log_softmax(logits: np.ndarray) -> np.ndarray:
  shifted = logits - logits.max(axis=-1, keepdims=True)
  return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def label_ranks(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """Each example's label's place in its logits' descending order (0: the top-1 prediction),
  ties going to the lower class index."""
  label_logits = np.take_along_axis(logits, labels[:, None], axis=-1)
  above = (logits > label_logits).sum(axis=-1)
  tied_before = ((logits == label_logits) & (np.arange(logits.shape[-1]) < labels[:, None])).sum(axis=-1)
  return above + tied_before


class Accumulator:
  """Counts over batches of (logits [B, C], labels [B], mask [B]) for top-1/top-k accuracy, mean
  softmax cross-entropy, per-class accuracy and the confusion matrix (rows: true class)."""

  def __init__(self, num_classes: int, top_k: int = 5):
    self.num_classes = num_classes
    self.top_k = top_k
    self.confusion = np.zeros((num_classes, num_classes), np.int64)
    self.top_k_correct = 0
    self.loss_sum = 0.0

  def update(self, logits, labels, mask=None) -> None:
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels).astype(np.int64)
    if logits.ndim != 2 or logits.shape[-1] != self.num_classes:
      raise ValueError(f"logits of shape {logits.shape}; expected [batch, {self.num_classes}]")
    if mask is not None:
      keep = np.asarray(mask) > 0
      logits, labels = logits[keep], labels[keep]
    if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
      raise ValueError(f"labels must be in [0, {self.num_classes}), got {labels.min()} … {labels.max()}")
    predictions = logits.argmax(axis=-1)
    self.confusion += np.bincount(labels * self.num_classes + predictions,
                                  minlength=self.num_classes**2).reshape(self.num_classes, self.num_classes)
    self.top_k_correct += int((label_ranks(logits, labels) < self.top_k).sum())
    self.loss_sum += float(-np.take_along_axis(_log_softmax(logits), labels[:, None], axis=-1).sum())

  @property
  def count(self) -> int:
    return int(self.confusion.sum())

  def results(self) -> dict:
    """accuracy (top-1), top{k}_accuracy (only with more than k classes), loss (mean
    cross-entropy in nats), count, per_class_count / per_class_correct / per_class_accuracy
    (NaN for a class with no examples) and confusion_matrix ([true, predicted] counts)."""
    count = self.count
    if count == 0:
      raise ValueError("no examples: every update was empty or masked out")
    per_class_count = self.confusion.sum(axis=1)
    per_class_correct = np.diag(self.confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
      per_class_accuracy = per_class_correct / per_class_count
    results = {"accuracy": float(per_class_correct.sum() / count), "loss": self.loss_sum / count, "count": count}
    if self.num_classes > self.top_k:
      results[f"top{self.top_k}_accuracy"] = self.top_k_correct / count
    results.update(per_class_count=per_class_count, per_class_correct=per_class_correct,
                   per_class_accuracy=per_class_accuracy, confusion_matrix=self.confusion.copy())
    return results


def most_confused(confusion: np.ndarray, n: int = 20) -> list[tuple[int, int, int]]:
  """The `n` largest off-diagonal cells of a confusion matrix as (true, predicted, count),
  largest first (ties in row-major order); cells with no examples are left out."""
  off_diagonal = confusion.copy()
  np.fill_diagonal(off_diagonal, 0)
  flat = off_diagonal.reshape(-1)
  order = np.argsort(-flat, kind="stable")[:n]
  size = confusion.shape[1]
  return [(int(i // size), int(i % size), int(flat[i])) for i in order if flat[i] > 0]
