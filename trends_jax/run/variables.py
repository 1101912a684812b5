"""The variables ({"params", "batch_stats"}) a workdir holds, for evaluation and fine-tuning.

A trainer's run keeps them inside its train-state checkpoints (`checkpoints/<step>/state`); they
are read here without the optimizer, so a run whose training data is gone can still be evaluated
or fine-tuned from. A workdir of imported weights (experiments/import_weights.py) holds a
config.json (the config the weights belong to, `model.num_classes` set to the head's size),
`variables/` (an orbax checkpoint of the variables) and a status.json in state "imported".
"""

import os

import jax
import numpy as np
import orbax.checkpoint as ocp

from trends_jax.errors import UserError
from trends_jax.run.workdir import IMPORTED, Workdir


def _as_variables(tree: dict, ema: bool) -> dict:
  variables = {"params": tree["ema_params"] if ema else tree["params"]}
  if tree.get("batch_stats"):
    variables["batch_stats"] = tree["batch_stats"]
  return variables


def read(workdir: str, ema: bool = False) -> tuple[dict, dict, int]:
  """(config.json's dict, host variables, step) of `workdir`'s newest readable checkpoint, or of its
  imported weights (step 0); `ema` picks the moving average of the parameters (ema_decay > 0)."""
  run = Workdir(workdir)
  config = run.read_config()
  if config is None:
    raise UserError(f"{run.path} holds no run (no config.json); pass the workdir of a trainer run "
                    "or of experiments/import_weights.py")
  if ema and not config.get("ema_decay", 0.0):
    raise UserError(f"{run.path} was trained without an EMA of its parameters (ema_decay 0); "
                    "drop the EMA option to use its weights")
  if os.path.isdir(run.variables_dir):
    with ocp.StandardCheckpointer() as checkpointer:
      return config, jax.device_get(checkpointer.restore(run.variables_dir)), 0
  manager = ocp.CheckpointManager(run.checkpoint_dir, item_names=("state", "data"))
  try:
    # Newest first: a checkpoint damaged by a kill is skipped, as the trainer's restore does.
    for step in sorted(manager.all_steps(), reverse=True):
      try:
        state = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore())).state
      except Exception:  # noqa: BLE001, S112 — orbax and tensorstore raise many types for bad files.
        continue
      return config, jax.device_get(_as_variables(state, ema)), int(step)
  finally:
    manager.close()
  raise UserError(f"{run.path} has no readable checkpoint yet; train it first (experiments/train.py)")


def write_imported(workdir: str, config: dict, variables: dict, weights_file: str) -> None:
  """Writes a workdir of imported weights; refuses one that already holds a run or weights."""
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
  run.write_config(config)
  num_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(host["params"]))
  run.write_status(IMPORTED, 0, weights=os.path.abspath(weights_file), num_params=num_params)
