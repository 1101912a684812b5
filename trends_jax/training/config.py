"""The common config fields of every trainable task, and the checks that run before anything else.

Task configs (`configs/<task>.py`) start from `base_config()` and set their own model, data and
optimizer. `validate` turns every bad value into one `UserError` line before data is read or a
step compiled.
"""

import json
import math

import ml_collections

from trends_jax.run import compilation_cache
from trends_jax import losses, models, optim
from trends_jax.training import parallel
from trends_jax.errors import UserError

DTYPES = ("float32", "bfloat16")

# Fields that may change when a run is resumed: how long and how often, not what is trained.
# (Not dataset.num_workers: grain's worker processes each batch their own share of the records,
# so the batches depend on how many there are.)
RESUMABLE_CHANGES = frozenset({
    "num_train_steps", "num_epochs", "eval_every_steps", "log_every_steps",
    "checkpoint_every_steps", "keep_checkpoints", "parallel", "dataset.data_dir",
    "dataset.read_threads", "dataset.cache", "eval_batch_size", "dataset.train_eval_split",
    "nonfinite_steps",  # A run that diverged may be resumed with 'skip'.
    "compilation_cache_dir",
})
NONFINITE_STEPS = ("stop", "skip")


def base_config() -> ml_collections.ConfigDict:
  """Every field the trainer reads, with defaults; a task overrides what it needs."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.batch_size = 128  # Global, over all devices and processes.
  c.eval_batch_size = 0  # 0: same as batch_size.
  c.num_train_steps = 0  # 0: derived from num_epochs.
  c.num_epochs = 0.0
  c.eval_every_steps = 500
  c.log_every_steps = 50
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 3
  c.parallel = "jit"  # 'jit' (sharded global batch) or 'pmap'.
  c.dtype = "float32"  # Compute dtype; parameters and optimizer state stay float32.
  # Compiled steps are kept here (trends_jax.run.compilation_cache), so a relaunch does not recompile; '' turns it off.
  c.compilation_cache_dir = compilation_cache.DEFAULT_DIR
  # A NaN/Inf loss or gradient: 'stop' the run as "diverged" (the last good checkpoint stays), or
  # 'skip' that step's update and count it in the train metrics as `skipped_steps`.
  c.nonfinite_steps = "stop"

  c.model = ml_collections.ConfigDict({"name": ""})
  c.loss = ml_collections.ConfigDict({"name": "softmax_xent", "label_smoothing": 0.0})
  c.optimizer = ml_collections.ConfigDict({
      "name": "adam", "learning_rate": 1e-3, "schedule": "constant", "warmup_steps": 0,
      # Regularization (trends_jax/optim.py): 0 turns each off.
      "weight_decay": 0.0, "l2": 0.0, "l1": 0.0, "grad_clip_norm": 0.0, "decay_mask": "kernels"})

  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = ""
  c.dataset.data_dir = ml_collections.config_dict.placeholder(str)  # None: TFDS default.
  c.dataset.train_split = "train"
  c.dataset.eval_split = "test"
  c.dataset.train_eval_split = ""  # e.g. "train[:1000]": also evaluated, logged as split "train_eval".
  c.dataset.input_key = "image"
  c.dataset.label_key = "label"
  c.dataset.preprocess = "value_range(0, 1)"
  c.dataset.eval_preprocess = ""  # Empty: the same as preprocess.
  # Decode each split once into memory: for datasets of up to a few hundred MB (MNIST, CIFAR).
  c.dataset.cache = False
  c.dataset.num_workers = 0  # grain worker processes; 0 reads in the training process, a batch at a time.
  c.dataset.read_threads = -1  # Reader threads of each worker process; -1: by core count (pipeline.read_options).
  return c


def _require(ok: bool, message: str) -> None:
  if not ok:
    raise UserError(message)


def validate(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """Raises UserError naming the first bad field and how to fix it."""
  for field in ("seed", "batch_size", "num_train_steps", "num_epochs", "eval_every_steps",
                "log_every_steps", "checkpoint_every_steps", "parallel", "dtype", "model",
                "optimizer", "dataset"):
    _require(field in config, f"config has no field {field!r}; start task configs from "
             "trends_jax.training.config.base_config()")
  _require(config.batch_size > 0, f"batch_size must be > 0, got {config.batch_size}")
  _require(config.batch_size % num_devices == 0,
           f"batch_size {config.batch_size} is not divisible by the {num_devices} devices; "
           f"use a multiple of {num_devices}, e.g. --config.batch_size="
           f"{max(num_devices, config.batch_size // num_devices * num_devices)}")
  _require(config.batch_size % num_processes == 0,
           f"batch_size {config.batch_size} is not divisible by the {num_processes} processes")
  _require(config.num_train_steps > 0 or config.num_epochs > 0,
           "set num_train_steps or num_epochs > 0, e.g. --config.num_train_steps=1000")
  for field in ("eval_every_steps", "log_every_steps", "checkpoint_every_steps"):
    _require(config[field] > 0, f"{field} must be > 0, got {config[field]}")
  _require(config.get("keep_checkpoints", 1) > 0, "keep_checkpoints must be > 0")
  _require(config.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, got {config.dtype!r}")
  _require(config.get("nonfinite_steps", "stop") in NONFINITE_STEPS,
           f"nonfinite_steps must be one of {', '.join(NONFINITE_STEPS)}, got {config.get('nonfinite_steps')!r}")
  parallel.STRATEGIES.get(config.parallel)
  models.MODELS.get(config.model.name)
  losses.LOSSES.get(config.loss.name)
  optim.OPTIMIZERS.get(config.optimizer.name)
  optim.SCHEDULES.get(config.optimizer.get("schedule", "constant"))
  _require(config.optimizer.learning_rate > 0,
           f"optimizer.learning_rate must be > 0, got {config.optimizer.learning_rate}")
  _require(bool(config.dataset.name), "dataset.name is empty; set it, e.g. --config.dataset.name=mnist5k")
  _require(config.dataset.get("seq_len", 0) >= 0,
           f"dataset.seq_len must be > 0 for a language model (0: not one), got {config.dataset.get('seq_len')}")


def num_train_steps(config: ml_collections.ConfigDict, num_train_examples: int) -> int:
  if config.num_train_steps > 0:
    return config.num_train_steps
  return math.ceil(config.num_epochs * num_train_examples / config.batch_size)


def as_json(config: ml_collections.ConfigDict) -> dict:
  """The resolved config as plain JSON values: what config.json holds."""
  return json.loads(json.dumps(config.to_dict(), default=str))


def _flatten(tree: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def identity_differences(saved: dict, current: dict) -> list[str]:
  """Fields (other than RESUMABLE_CHANGES) whose values differ between two resolved configs."""
  a, b = _flatten(saved), _flatten(current)
  return [f"{k}: {a.get(k)!r} in the workdir, {b.get(k)!r} now"
          for k in sorted(set(a) | set(b)) if k not in RESUMABLE_CHANGES and a.get(k) != b.get(k)]
