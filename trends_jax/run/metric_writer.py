"""Metrics to metrics.jsonl, TensorBoard (tensorboardX, no TensorFlow) and a console progress line."""

import json
import math
import sys
import time

import numpy as np


def _import_summary_writer():
  """tensorboardX's SummaryWriter, imported without torch: tensorboardX imports torch whenever it is
  installed, only to accept torch tensors, and that import costs every launch about 1.8 s
  (measured, torch 2.14 on a 2-core CPU). Where torch is already imported, nothing is hidden."""
  if "torch" in sys.modules:
    from tensorboardX import SummaryWriter
    return SummaryWriter
  sys.modules["torch"] = None  # Makes `import torch` raise ImportError, which tensorboardX handles.
  try:
    from tensorboardX import SummaryWriter
  finally:
    del sys.modules["torch"]
  return SummaryWriter


SummaryWriter = _import_summary_writer()


class MetricWriter:
  """Appends {"step", "split", metrics…} lines to metrics.jsonl and scalars `split/name` to TensorBoard."""

  def __init__(self, metrics_path: str, tensorboard_dir: str, enabled: bool = True):
    self.enabled = enabled
    if enabled:
      self._jsonl = open(metrics_path, "a")
      self._tensorboard = SummaryWriter(tensorboard_dir)

  def write(self, step: int, split: str, metrics: dict) -> None:
    if not self.enabled:
      return
    values = {k: float(np.asarray(v)) for k, v in metrics.items()}
    self._jsonl.write(json.dumps({"step": int(step), "split": split, **values}) + "\n")
    self._jsonl.flush()
    for name, value in values.items():
      self._tensorboard.add_scalar(f"{split}/{name}", value, step)

  def close(self) -> None:
    if self.enabled:
      self._jsonl.close()
      self._tensorboard.close()


def _duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class Progress:
  """Console line per log step: step, loss, examples/sec and the time left."""

  def __init__(self, num_steps: int, start_step: int, enabled: bool = True, stream=None):
    self.num_steps = num_steps
    self.enabled = enabled
    self.stream = stream
    self._first_step = start_step
    self._first_time = None

  def started(self, step: int) -> None:
    """Call once the first step has run (and compiled): the rate excludes compile time."""
    self._first_step, self._first_time = step, time.perf_counter()

  def report(self, step: int, split: str, metrics: dict) -> None:
    if not self.enabled:
      return
    parts = [f"{split:5s} step {step}/{self.num_steps}"]  # split: train, eval, train_eval
    # Evaluations print every metric they have (word2vec's are analogy accuracy, Spearman …).
    parts += [f"{k} {v:.4g}" for k, v in metrics.items() if k in ("loss", "accuracy") or split != "train"]
    for key, unit in (("examples_per_sec", "ex/s"), ("words_per_sec", "words/s")):
      if key in metrics:
        parts.append(f"{metrics[key]:.0f} {unit}")
    if split == "train" and self._first_time is not None and step > self._first_step:
      per_step = (time.perf_counter() - self._first_time) / (step - self._first_step)
      parts.append(f"ETA {_duration(per_step * (self.num_steps - step))}")
    print(" | ".join(parts), file=self.stream or sys.stdout, flush=True)

  def say(self, message: str) -> None:
    if self.enabled:
      print(message, file=self.stream or sys.stdout, flush=True)
