"""A finished (or running) trainer run's model and variables, for what the trainer does not do:

    run = trained.load("runs/fmnist_mlp")
    logits = run.model.apply(run.variables, images, train=False)

Rebuilds the run's program from its config.json exactly as the trainer built it and restores
its latest checkpoint (the whole train state, whose shapes need the optimizer too) on one device.
Used by experiments that probe a trained network and by text generation.
"""

from typing import NamedTuple

import flax.linen as nn
import jax
import ml_collections

from trends_jax import data
from trends_jax.data import pipeline
from trends_jax.errors import UserError
from trends_jax.run.checkpoint import Checkpointer
from trends_jax.run.workdir import Workdir
from trends_jax.training import parallel, supervised as train


class Run(NamedTuple):
  config: ml_collections.ConfigDict
  model: nn.Module
  variables: dict  # {"params": …}, and "batch_stats" for models with BatchNorm.
  step: int


def load(workdir: str) -> Run:
  run = Workdir(workdir)
  saved = run.read_config()
  if saved is None:
    raise UserError(f"{run.path} holds no run (no config.json); pass the workdir of a trainer run")
  config = ml_collections.ConfigDict(saved)
  checkpointer = Checkpointer(run.checkpoint_dir, config.get("keep_checkpoints", 3))
  step = checkpointer.latest_step()
  if step is None:
    checkpointer.close()
    raise UserError(f"{run.path} has no checkpoint yet; train it first (experiments/train.py)")
  ds = config.dataset
  spec = data.DatasetSpec.from_config(ds)
  example = pipeline.example_batch(data.examples(spec, ds.train_split), spec)["inputs"]
  num_steps = (run.read_status() or {}).get("num_train_steps") or config.num_train_steps or 1
  strategy = parallel.create("jit", jax.devices()[:1])
  program = train.build_program(config, strategy, example, data.num_outputs(spec), num_steps)
  state, _ = checkpointer.restore(step, strategy.abstract_state(program.state_shapes))
  checkpointer.close()
  variables = {"params": state.params}
  if state.batch_stats is not None:
    variables["batch_stats"] = state.batch_stats
  return Run(config, program.model, variables, step)
