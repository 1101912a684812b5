"""The config fields every trainer shares, and their checks, which run before anything else.

A trainer's `base_config()` (training/supervised.py, training/word2vec.py) starts from
`base_config()` here and adds only its own fields; `validate` turns a bad common value into one
`UserError` line before data is read or a step compiled, and the trainer checks its own fields.
"""

import json
import math

import ml_collections

from trends_jax import optim
from trends_jax.errors import UserError
from trends_jax.run import compilation_cache
from trends_jax.training import parallel

DTYPES = ("float32", "bfloat16")

# Fields that may change when a run is resumed: how long and how often, not what is trained.
# (Not dataset.num_workers: grain's worker processes each batch their own share of the records,
# so the batches depend on how many there are.)
RESUMABLE_CHANGES = frozenset({
    "num_train_steps", "num_epochs", "eval_every_steps", "log_every_steps",
    "checkpoint_every_steps", "keep_checkpoints", "parallel", "dataset.data_dir",
    "dataset.read_threads", "dataset.cache", "eval_batch_size", "dataset.train_eval_split",
    "nonfinite_steps",  # A run that diverged may be resumed with 'skip'.
    "compilation_cache_dir", "profile_steps",
})
NONFINITE_STEPS = ("stop", "skip")


def base_config() -> ml_collections.ConfigDict:
  """The fields the loop reads, with defaults; a trainer adds its own and a task overrides."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.batch_size = 128  # Global, over all devices and processes.
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
  # (first, last): a jax.profiler trace of those steps (1-based, inclusive) under the run's
  # tensorboard/ directory (trends_jax.run.profiler); () traces nothing.
  c.profile_steps = ()
  c.optimizer = ml_collections.ConfigDict({
      "name": "adam", "learning_rate": 1e-3, "schedule": "constant", "warmup_steps": 0})
  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = ""
  c.dataset.data_dir = ml_collections.config_dict.placeholder(str)  # None: TFDS default.
  return c


def _require(ok: bool, message: str) -> None:
  if not ok:
    raise UserError(message)


def validate(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """Raises UserError naming the first bad common field and how to fix it."""
  for field in ("seed", "batch_size", "num_train_steps", "num_epochs", "eval_every_steps",
                "log_every_steps", "checkpoint_every_steps", "parallel", "dtype", "optimizer", "dataset"):
    _require(field in config, f"config has no field {field!r}; start task configs from a trainer's "
             "base_config(), e.g. trends_jax.training.supervised.base_config()")
  # PRNGKey takes a uint32 seed: anything else fails inside JAX, after the workdir is written.
  _require(isinstance(config.seed, int) and 0 <= config.seed < 2**32,
           f"seed must be an integer in [0, 2**32), got {config.seed!r}; e.g. --config.seed=0")
  _require(config.batch_size > 0, f"batch_size must be > 0, got {config.batch_size}")
  _require(config.batch_size % num_devices == 0,
           f"batch_size {config.batch_size} is not divisible by the {num_devices} devices; "
           f"use a multiple of {num_devices}, e.g. --config.batch_size="
           f"{max(num_devices, config.batch_size // num_devices * num_devices)}")
  _require(config.batch_size % num_processes == 0,
           f"batch_size {config.batch_size} is not divisible by the {num_processes} processes")
  for field in ("num_train_steps", "num_epochs"):
    _require(config[field] >= 0, f"{field} must be >= 0 (0: derived from the other), got {config[field]}")
  _require(config.num_train_steps > 0 or config.num_epochs > 0,
           "set num_train_steps or num_epochs > 0, e.g. --config.num_train_steps=1000")
  for field in ("eval_every_steps", "log_every_steps", "checkpoint_every_steps"):
    _require(config[field] > 0, f"{field} must be > 0, got {config[field]}")
  _require(config.get("keep_checkpoints", 1) > 0, "keep_checkpoints must be > 0")
  _require(config.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, got {config.dtype!r}")
  _require(config.get("nonfinite_steps", "stop") in NONFINITE_STEPS,
           f"nonfinite_steps must be one of {', '.join(NONFINITE_STEPS)}, got {config.get('nonfinite_steps')!r}")
  steps = config.get("profile_steps", ())
  _require(steps == () or (isinstance(steps, (tuple, list)) and len(steps) == 2
                           and all(isinstance(s, int) and not isinstance(s, bool) for s in steps)
                           and 1 <= steps[0] <= steps[1]),
           f"profile_steps must be () or (first, last) with 1 <= first <= last, got {steps!r}; "
           "e.g. --config.profile_steps='(20, 25)' (step 1 includes compilation)")
  parallel.STRATEGIES.get(config.parallel)
  optim.OPTIMIZERS.get(config.optimizer.name)
  optim.SCHEDULES.get(config.optimizer.get("schedule", "constant"))
  _require(config.optimizer.learning_rate > 0,
           f"optimizer.learning_rate must be > 0, got {config.optimizer.learning_rate}")
  _require(bool(config.dataset.name), "dataset.name is empty; set it, e.g. --config.dataset.name=mnist5k")


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


# Fields added after runs were made: a config.json without one was trained as its default says.
ADDED_FIELDS = {"grad_accum_steps": 1, "ema_decay": 0.0, "init_from": "", "freeze": ""}


def identity_differences(saved: dict, current: dict) -> list[str]:
  """Fields (other than RESUMABLE_CHANGES) whose values differ between two resolved configs."""
  a, b = ({**ADDED_FIELDS, **_flatten(tree)} for tree in (saved, current))
  return [f"{k}: {a.get(k)!r} in the workdir, {b.get(k)!r} now"
          for k in sorted(set(a) | set(b)) if k not in RESUMABLE_CHANGES and a.get(k) != b.get(k)]


# --- Recipes that follow the batch size ---
# Task configs derive the learning rate and the warm-up from `batch_size` as ml_collections
# FieldReferences, so `--config.batch_size=256` rescales them; an explicit
# `--config.optimizer.learning_rate=…` replaces the derived value, and config.json holds the numbers.


def scale_learning_rate(c: ml_collections.ConfigDict, base_learning_rate: float, reference_batch_size: int) -> None:
  """optimizer.learning_rate = base_learning_rate × batch_size / reference_batch_size (the linear
  scaling rule of Goyal et al. 2017); the two recipe numbers become config fields of their own."""
  c.base_learning_rate = float(base_learning_rate)
  c.reference_batch_size = int(reference_batch_size)
  c.optimizer.learning_rate = (c.get_ref("base_learning_rate") * c.get_ref("batch_size").to_float()
                               / c.get_ref("reference_batch_size"))


def warmup_epochs(c: ml_collections.ConfigDict, epochs: float, num_train_examples: int) -> None:
  """optimizer.warmup_steps = epochs × the steps of one epoch at batch_size (whole batches)."""
  c.warmup_epochs = float(epochs)
  c.optimizer.warmup_steps = (c.get_ref("warmup_epochs") * (num_train_examples // c.get_ref("batch_size"))).to_int()
