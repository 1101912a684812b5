"""The model and variables of a trained run or of imported published weights:

    run = trained.load("runs/fmnist_mlp")            # a trainer's workdir: its latest checkpoint
    run = trained.load("runs/resnet50_torchvision")  # experiments/import_weights.py's workdir
    logits = run.model.apply(run.variables, images, train=False)

The variables come from `run.variables` (both kinds of workdir); the model is rebuilt from the
workdir's config.json as the supervised trainer builds it. Evaluation (experiments/evaluate.py),
text generation and the experiments that probe a trained network read runs through `load`.
"""

from typing import NamedTuple

import flax.linen as nn
import ml_collections

from trends_jax import data, models
from trends_jax.run import variables as run_variables
from trends_jax.training import config as config_lib, supervised


class Run(NamedTuple):
  config: ml_collections.ConfigDict
  model: nn.Module
  variables: dict  # {"params": …}, and "batch_stats" for models with BatchNorm.
  step: int  # The checkpoint's step; 0 for imported weights.


def build_model(config: ml_collections.ConfigDict) -> nn.Module:
  """The config's model, as the supervised trainer builds it (the class count from the dataset
  unless config.model sets it)."""
  num_classes = config.model.get("num_classes")
  if num_classes is None:
    num_classes = data.num_outputs(data.DatasetSpec.from_config(config.dataset))
  return models.create(config.model.name, **supervised.model_kwargs(config, num_classes))


def load(workdir: str, ema: bool = False) -> Run:
  """`ema`: the moving average of the parameters (runs trained with config.ema_decay > 0)."""
  config, variables, step = run_variables.read(workdir, ema)
  config = ml_collections.ConfigDict(config)
  return Run(config, build_model(config), variables, step)


def write_imported(workdir: str, config: ml_collections.ConfigDict, variables: dict, weights_file: str) -> None:
  """Writes a workdir of imported weights (`run.variables`) that `load`, evaluate.py and
  `config.init_from` read; refuses a workdir that already holds a run or weights."""
  run_variables.write_imported(workdir, config_lib.as_json(config), variables, weights_file)
