"""The model and variables of a trained run or of imported published weights:

    run = trained.load("runs/fmnist_mlp")            # a trainer's workdir: its latest checkpoint
    run = trained.load("runs/resnet50_torchvision")  # experiments/import_weights.py's workdir
    logits = run.model.apply(run.variables, images, train=False)

Two kinds of workdir hold variables. A trainer's run keeps them inside its train-state
checkpoints (`checkpoints/<step>/state`); they are read without rebuilding the optimizer, so a run
whose training data is gone can still be evaluated or fine-tuned from. An imported workdir holds
a config.json (the config the weights belong to, with `model.num_classes` set to the head's size),
`variables/` (an orbax checkpoint of {"params", "batch_stats"}) and a status.json in state
"imported" naming the weights file. Evaluation (experiments/evaluate.py) and fine-tuning
(`config.init_from`) read both through `load`.
"""

import os
from typing import NamedTuple

import flax.linen as nn
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from trends_jax import data, models
from trends_jax.errors import UserError
from trends_jax.run.workdir import IMPORTED, Workdir
from trends_jax.training import config as config_lib, supervised


class Run(NamedTuple):
  config: ml_collections.ConfigDict
  model: nn.Module
  variables: dict  # {"params": …}, and "batch_stats" for models with BatchNorm.
  step: int  # The checkpoint's step; 0 for imported weights.


def _as_variables(tree: dict, ema: bool) -> dict:
  params = tree.get("ema_params") if ema else tree["params"]
  variables = {"params": params}
  if tree.get("batch_stats"):
    variables["batch_stats"] = tree["batch_stats"]
  return variables


def read_variables(workdir: str, ema: bool = False) -> tuple[ml_collections.ConfigDict, dict, int]:
  """(config, variables, step) of `workdir`'s latest checkpoint or imported weights, as host
  arrays; `ema` picks the exponential moving average of the parameters (config.ema_decay > 0)."""
  run = Workdir(workdir)
  saved = run.read_config()
  if saved is None:
    raise UserError(f"{run.path} holds no run (no config.json); pass the workdir of a trainer run "
                    "or of experiments/import_weights.py")
  config = ml_collections.ConfigDict(saved)
  if ema and not config.get("ema_decay", 0.0):
    raise UserError(f"{run.path} was trained without an EMA of its parameters (ema_decay 0); "
                    "drop the EMA option to use its weights")
  if os.path.isdir(run.variables_dir):
    with ocp.StandardCheckpointer() as checkpointer:
      tree = checkpointer.restore(run.variables_dir)
    return config, jax.device_get(tree), 0
  manager = ocp.CheckpointManager(run.checkpoint_dir, item_names=("state", "data"))
  try:
    # Newest first: a checkpoint damaged by a kill is skipped here, as the trainer's restore does.
    for step in sorted(manager.all_steps(), reverse=True):
      try:
        state = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore())).state
      except Exception:  # noqa: BLE001, S112 — orbax and tensorstore raise many types for bad files.
        continue
      return config, jax.device_get(_as_variables(state, ema)), int(step)
  finally:
    manager.close()
  raise UserError(f"{run.path} has no readable checkpoint yet; train it first (experiments/train.py)")


def build_model(config: ml_collections.ConfigDict) -> nn.Module:
  """The config's model, as the supervised trainer builds it (the class count from the dataset
  unless config.model sets it)."""
  num_classes = config.model.get("num_classes")
  if num_classes is None:
    num_classes = data.num_outputs(data.DatasetSpec.from_config(config.dataset))
  return models.create(config.model.name, **supervised.model_kwargs(config, num_classes))


def load(workdir: str, ema: bool = False) -> Run:
  config, variables, step = read_variables(workdir, ema)
  return Run(config, build_model(config), variables, step)


def write_imported(workdir: str, config: ml_collections.ConfigDict, variables: dict, weights_file: str) -> None:
  """Writes an imported workdir: config.json, `variables/` and status.json ("imported").

  Refuses a workdir that already holds a run or imported weights: nothing there is replaced."""
  run = Workdir(workdir)
  if os.path.exists(run.path) and not os.path.isdir(run.path):
    raise UserError(f"workdir {run.path} is a file; pass a directory to --workdir")
  if os.path.exists(run.config_path) or os.path.exists(run.variables_dir):
    raise UserError(f"workdir {run.path} already holds a run or imported weights; "
                    "pass a new --workdir (nothing was changed)")
  run.check_writable()
  host = jax.tree.map(np.asarray, variables)
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(run.variables_dir, host)
  run.write_config(config_lib.as_json(config))
  num_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(host["params"]))
  run.write_status(IMPORTED, 0, weights=os.path.abspath(weights_file), num_params=num_params)
