r"""Evaluates a trained classifier (its latest readable checkpoint) or imported weights on a whole split:

    python experiments/evaluate.py --workdir=runs/default [--split=test] [--ema]
    python experiments/evaluate.py --workdir=runs/resnet50_torchvision \
        --config=configs/imagenet2012.py:resnet50 --config.dataset.data_dir=/data/tfds --split='validation[:1000]'

Reads the split with the run's evaluation preprocessing (`dataset.eval_preprocess`, else
`dataset.preprocess`), in order, and writes `<workdir>/eval_<split>/` (`eval_<split>_ema/` with
`--ema`; slicing characters spelled out, so `validation[:1000]` is `eval_validation_to1000/`):
results.json and results.md with top-1, top-5 (more than 5 classes), the mean softmax
cross-entropy (no label smoothing), per-class accuracy and the most confused (true, predicted)
pairs; the confusion matrix in results.json and confusion_matrix.png (up to 100 classes) and
always in confusion_matrix.csv. Ties between logits go to the lower class index.

The model always comes from the workdir. The data comes from the run's config, or with
`--config=<file>` from that file's `dataset` block and evaluation batch size (e.g. imported
ImageNet weights on a folder dataset prepared under another name); `--config.dataset.<field>=…`
and `--config.eval_batch_size=…` override either. Exit code 2 with one `error:` line for bad input,
before anything is written.
"""

import os
import re
import time

import jax
import jax.numpy as jnp
import launch
import ml_collections
import numpy as np
from absl import flags
from ml_collections import config_flags

from trends_jax import data
from trends_jax.data import pipeline, synthetic
from trends_jax.errors import UserError
from trends_jax.evaluation import classification
from trends_jax.run import plots, results
from trends_jax.run.workdir import Workdir
from trends_jax.training import trained

FLAGS = flags.FLAGS
# Without --config, a supervised config types the --config.<field>=… overrides (ml_collections
# defines those flags from a parsed config); only the overrides are read from it.
OVERRIDE_TYPES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "configs", "default.py")
config_flags.DEFINE_config_file(
    "config", OVERRIDE_TYPES, "Config file whose dataset block and eval batch size are used instead of the run's, "
    "e.g. configs/imagenet2012.py; --config.dataset.<field>=v overrides either.", lock_config=True)
flags.DEFINE_string("workdir", None, "Workdir of a trainer run or of experiments/import_weights.py.")
flags.mark_flag_as_required("workdir")
flags.DEFINE_string("split", None, "Split to evaluate, slices included (default: the config's dataset.eval_split).")
flags.DEFINE_bool("ema", False, "Evaluate the exponential moving average of the parameters (config.ema_decay > 0).")

MAX_PLOTTED_CLASSES = 100
NUM_CONFUSED_PAIRS = 20
PROGRESS_EVERY_SECONDS = 10.0
OVERRIDABLE = ("dataset.", "eval_batch_size")


def output_dir(workdir: str, split: str, ema: bool) -> str:
  """`<workdir>/eval_<split>[_ema]`, the split's slicing written out in filename-safe characters."""
  name = re.sub(r"[^\w.+-]", "_", split.replace("[", "_").replace("]", "").replace(":", "to").replace("%", "pct"))
  return os.path.join(workdir, f"eval_{name}{'_ema' if ema else ''}")


def check_classifier(config: ml_collections.ConfigDict, where: str, hint: str = "") -> None:
  """Refuses a config that trains something other than a softmax classifier (`where` names it)."""
  trainer = config.get("trainer", "supervised")
  seq_len = config.get("dataset", {}).get("seq_len", 0)
  loss = config.get("loss", {}).get("name", "softmax_xent")
  kind = (f"a {trainer} run (config.trainer)" if trainer != "supervised"
          else f"a language model (dataset.seq_len {seq_len})" if seq_len
          else f"a model trained with loss {loss!r}, not a classifier's softmax_xent" if loss != "softmax_xent"
          else None)
  if kind:
    raise UserError(f"evaluate.py is for classifiers; {where} is {kind}{hint}")


def check_overrides() -> None:
  for path in config_flags.get_override_values(FLAGS["config"]):
    if not path.startswith(OVERRIDABLE):
      raise UserError(f"--config.{path}: evaluate.py takes the model and training fields from the workdir; "
                      "override only --config.dataset.<field> or --config.eval_batch_size")


def data_config(run_config: ml_collections.ConfigDict) -> tuple[ml_collections.ConfigDict, int]:
  """The dataset block and evaluation batch size: --config's, or the run's with the overrides."""
  if FLAGS["config"].present:
    source = FLAGS.config
    check_classifier(source, f"--config={FLAGS['config'].config_filename}")
  else:
    source = ml_collections.ConfigDict(run_config.to_dict())
    source.update_from_flattened_dict(config_flags.get_override_values(FLAGS["config"]))
  batch_size = source.get("eval_batch_size") or source.batch_size
  if batch_size <= 0:
    raise UserError(f"eval_batch_size must be > 0, got {batch_size}")
  return source.dataset, batch_size


class Evaluation:
  """Everything evaluate.py reads, checked: nothing has been written when this is built."""

  def __init__(self, workdir: str, split: str | None, ema: bool):
    if not os.path.isdir(workdir):
      raise UserError(f"workdir {os.path.abspath(workdir)} does not exist or is not a directory; pass the workdir "
                      "of a trainer run or of experiments/import_weights.py")
    check_overrides()
    saved = Workdir(workdir).read_config()
    if saved is not None:  # Else trained.load says what is missing.
      check_classifier(ml_collections.ConfigDict(saved), os.path.abspath(workdir),
                       "; its own evaluation is in the run's metrics.jsonl (split 'eval')")
    self.run = trained.load(workdir, ema=ema)
    dataset, self.batch_size = data_config(self.run.config)
    self.workdir, self.ema = os.path.abspath(workdir), ema
    self.spec = data.DatasetSpec.from_config(dataset)
    self.split = split or dataset.eval_split
    try:
      # The trainer's own reader: JPEG bytes for a preprocessing that decodes them, the cache.
      self.source = data.examples(self.spec, self.split)
    except UserError:
      raise
    except ValueError as e:  # TFDS's own message for a malformed slice.
      raise UserError(f"bad split {self.split!r}: {str(e).splitlines()[0]}") from None
    self.class_names = _class_names(self.spec)
    self.num_classes = len(self.class_names)
    self.out_dir = output_dir(self.workdir, self.split, ema)

    example = pipeline.example_batch(self.source, self.spec.for_eval())["inputs"]
    try:
      logits = jax.eval_shape(self.forward_fn, self.run.variables, example)
    except Exception as e:  # noqa: BLE001 — flax and XLA raise many types for an input the model cannot take.
      reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      raise UserError(f"the model of {self.workdir} ({self.run.config.model.name}) cannot take the inputs of "
                      f"dataset {self.spec.name!r} (shape {example.shape[1:]} after evaluation preprocessing): "
                      f"{reason}") from None
    if logits.ndim != 2:
      raise UserError(f"evaluate.py is for classifiers; the model of {self.workdir} gives outputs of shape "
                      f"{logits.shape[1:]} per example, not one logit per class")
    if logits.shape[-1] != self.num_classes:
      raise UserError(f"dataset {self.spec.name!r} has {self.num_classes} classes but the model of {self.workdir} "
                      f"has {logits.shape[-1]} outputs; evaluate on a dataset with {logits.shape[-1]} classes "
                      "(--config=<file> or --config.dataset.name=…), or fine-tune it first (config.init_from)")

  def forward_fn(self, variables, inputs):
    outputs = self.run.model.apply(variables, inputs, train=False)
    outputs = outputs[0] if isinstance(outputs, tuple) else outputs  # Auxiliary heads come after the main one.
    return outputs.astype(jnp.float32)


def _class_names(spec: data.DatasetSpec) -> list[str]:
  label = data.builder(synthetic.real_name(spec.name) or spec.name, spec.data_dir).info.features
  if spec.label_key not in label:
    raise UserError(f"dataset {spec.name!r} has no feature {spec.label_key!r} (dataset.label_key); "
                    f"its features: {', '.join(sorted(label))}")
  label = label[spec.label_key]
  if not hasattr(label, "names"):
    raise UserError(f"evaluate.py is for classifiers; {spec.label_key!r} of dataset {spec.name!r} is not a class "
                    f"label but {type(label).__name__}")
  return list(label.names)


def evaluate(ev: Evaluation) -> tuple[dict, float]:
  """Runs the whole split through the model; returns the accumulator's results and the seconds taken."""
  forward = jax.jit(ev.forward_fn)
  variables = jax.device_put(ev.run.variables)
  metrics = classification.Accumulator(ev.num_classes)
  total, done = len(ev.source), 0
  start = last_report = time.perf_counter()
  pending = None
  for batch in pipeline.eval_batches(ev.source, ev.spec, global_batch_size=ev.batch_size):
    logits = forward(variables, batch["inputs"])  # Dispatched: the next batch is read while it runs.
    if pending is not None:
      metrics.update(*pending)
    pending = (logits, batch["label"], batch["mask"])
    done += int(batch["mask"].sum())
    now = time.perf_counter()
    if now - last_report >= PROGRESS_EVERY_SECONDS:
      print(f"eval {done:,}/{total:,} examples | {done / (now - start):.0f} examples/s", flush=True)
      last_report = now
  metrics.update(*pending)
  seconds = time.perf_counter() - start
  print(f"eval {total:,}/{total:,} examples | {total / seconds:.0f} examples/s", flush=True)
  return metrics.results(), seconds


def write(ev: Evaluation, r: dict, seconds: float) -> None:
  names = ev.class_names
  top5 = r.get("top5_accuracy")
  pairs = classification.most_confused(r["confusion_matrix"], NUM_CONFUSED_PAIRS)

  def label(i: int) -> str:
    return str(i) if names[i] == str(i) else f"{i} {names[i]}"

  summary = {"examples": r["count"], "top-1": r["accuracy"], **({"top-5": top5} if top5 is not None else {}),
             "loss": r["loss"]}
  per_class = [{"class": label(i), "examples": int(n), "correct": int(c), "accuracy": float(a)}
               for i, (n, c, a) in enumerate(zip(r["per_class_count"], r["per_class_correct"], r["per_class_accuracy"]))
               if n > 0]
  confused = [{"true": label(t), "predicted": label(p), "count": n, "share of true class": n / r["per_class_count"][t]}
              for t, p, n in pairs]
  tables = {"metrics": [summary], "per-class accuracy": per_class}
  if confused:
    tables[f"most confused pairs (top {NUM_CONFUSED_PAIRS})"] = confused

  notes = [f"Model {ev.run.config.model.name} from `{ev.workdir}` (step {ev.run.step}"
           f"{', EMA parameters' if ev.ema else ''}) on dataset `{ev.spec.name}` split `{ev.split}`, "
           f"{r['count']:,} examples, {ev.num_classes} classes, preprocessing "
           f"`{ev.spec.for_eval().preprocess or 'none'}`; {seconds:.1f} s ({r['count'] / seconds:.0f} examples/s)."]
  empty = int((r["per_class_count"] == 0).sum())
  if empty:
    notes.append(f"{empty} classes have no examples in this split and are left out of the per-class table.")
  if ev.run.config.get("loss", {}).get("label_smoothing", 0.0):
    notes.append("The loss is plain cross-entropy; the run's own eval rows are label-smoothed "
                 f"({ev.run.config.loss.label_smoothing}).")
  plotted = ev.num_classes <= MAX_PLOTTED_CLASSES
  notes.append("Confusion matrix: confusion_matrix.png and confusion_matrix.csv (rows: true class)." if plotted else
               f"Confusion matrix: confusion_matrix.csv (rows: true class); no image beyond {MAX_PLOTTED_CLASSES} "
               "classes.")

  os.makedirs(ev.out_dir, exist_ok=True)
  np.savetxt(os.path.join(ev.out_dir, "confusion_matrix.csv"), r["confusion_matrix"], fmt="%d", delimiter=",")
  values = {
      "workdir": ev.workdir, "step": ev.run.step, "ema": ev.ema, "dataset": ev.spec.name, "split": ev.split,
      "preprocess": ev.spec.for_eval().preprocess, "num_examples": r["count"], "num_classes": ev.num_classes,
      "accuracy": r["accuracy"], "top5_accuracy": top5, "loss": r["loss"], "seconds": seconds,
      "class_names": names,
      "per_class_accuracy": [None if n == 0 else float(a) for n, a in zip(r["per_class_count"], r["per_class_accuracy"])],
      "most_confused": [{"true": t, "predicted": p, "count": n} for t, p, n in pairs],
  }
  if plotted:
    values["confusion_matrix"] = r["confusion_matrix"].tolist()
    plot_confusion(r["confusion_matrix"], names, os.path.join(ev.out_dir, "confusion_matrix.png"),
                   f"{ev.run.config.model.name} on {ev.spec.name} {ev.split}: top-1 {r['accuracy']:.4f}")
  results.write(ev.out_dir, f"Evaluation on {ev.spec.name} {ev.split}", values, tables, notes="\n\n".join(notes))


def plot_confusion(confusion: np.ndarray, names: list[str], path: str, title: str) -> None:
  from sklearn.metrics import ConfusionMatrixDisplay

  num_classes = len(names)
  side = 3.0 + 0.25 * num_classes  # Room for each class's row and tick label.
  fig, ax = plots.pyplot().subplots(figsize=(side + 1.0, side))
  ConfusionMatrixDisplay(confusion, display_labels=names).plot(
      ax=ax, include_values=num_classes <= 20, cmap="Blues", colorbar=True, xticks_rotation="vertical")
  if num_classes > 30:
    ax.tick_params(labelsize=6)
  ax.set_title(title, fontsize=9)
  plots.save(fig, path)


def main(argv):
  del argv
  ev = launch.run_user_code(Evaluation, FLAGS.workdir, FLAGS.split, FLAGS.ema)
  launch.run_user_code(Workdir(ev.out_dir).check_writable)  # Before the pass over the split, not after it.
  r, seconds = evaluate(ev)
  write(ev, r, seconds)
  top5 = f", top-5 {r['top5_accuracy']:.4f}" if "top5_accuracy" in r else ""
  print(f"Done: {ev.split} of {ev.spec.name}, {r['count']:,} examples: top-1 {r['accuracy']:.4f}{top5}, "
        f"loss {r['loss']:.4f}\nResults: {ev.out_dir}/results.md", flush=True)


if __name__ == "__main__":
  launch.run(main)
