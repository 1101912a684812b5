r"""Imports published weights into a workdir that evaluation and fine-tuning read:

    python experiments/import_weights.py --model=resnet50 --weights=resnet50-0676ba61.pth \
        --workdir=runs/resnet50_torchvision [--config=configs/imagenet2012.py:resnet50]

Reads torchvision `.pth` files (needs torch) and timm / Hugging Face `.safetensors` files (needs
only safetensors) through models.load_pretrained, and writes config.json, variables/ and a
status.json in state "imported" (training/trained.py). The config defaults to
configs/imagenet2012.py's recipe for the model (VGG-11/13/19 and the BN variants take VGG-16's)
in float32, with `model.num_classes` and any other model field the file decides (GoogLeNet's aux heads and
input transform) recorded in it. Then:

    python experiments/evaluate.py --workdir=runs/resnet50_torchvision
    python experiments/train.py --config=… --config.init_from=runs/resnet50_torchvision --workdir=…

Bad input (a missing or unreadable file, weights of another architecture, a workdir that holds a
run) is one `error:` line and exit code 2, with nothing written.
"""

import dataclasses
import importlib.util
import os

import jax
import launch
import numpy as np
from absl import flags

from trends_jax import models
from trends_jax.errors import UserError
from trends_jax.models import pretrained

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, f"Architecture of the weights: {', '.join(pretrained.SUPPORTED)}.")
flags.DEFINE_string("weights", None, "torchvision .pth/.pt or timm / Hugging Face .safetensors file.")
flags.DEFINE_string("workdir", None, "New directory for the imported weights and their config.")
for _name in ("model", "weights", "workdir"):
  flags.mark_flag_as_required(_name)
launch.define_config_flag()

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "imagenet2012.py")
# Models that configs/imagenet2012.py has no recipe of borrow their family's.
BORROWED_RECIPES = {name: "vgg16" for name in pretrained.SUPPORTED if name.startswith("vgg") and name != "vgg16"}
# Fields that belong to the run's config, not to the weights.
RUN_FIELDS = {"parent", "name", "dtype", "norm_axis_name"}


def default_config(model: str):
  spec = importlib.util.spec_from_file_location("imagenet2012_config", DEFAULT_CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(BORROWED_RECIPES.get(model, model))
  config.model.name = model
  return config


def weights_fields(module, name: str) -> dict:
  """The model fields whose values differ from the registered defaults (num_classes always)."""
  default = models.create(name)
  fields = {"num_classes": module.num_classes}
  for field in dataclasses.fields(module):
    if field.name not in RUN_FIELDS and getattr(module, field.name) != getattr(default, field.name):
      fields[field.name] = getattr(module, field.name)
  return fields


def import_weights(model: str, weights: str, workdir: str, config) -> str:
  pretrained.check_supported(model)
  if config is None:
    config = default_config(model)
    # The published top-1 numbers are float32 evaluations; fine-tuning configs set their own dtype.
    config.dtype = "float32"
  elif config.model.name != model:
    raise UserError(f"--config's model.name is {config.model.name!r} but --model={model}; pass a config "
                    f"of {model} (or leave --config out for configs/imagenet2012.py's)")
  module, variables = models.load_pretrained(model, weights, **{k: v for k, v in config.model.items() if k != "name"})
  with config.unlocked():
    config.model.update(weights_fields(module, model))
  # Imported here: the training modules take seconds to import, and a file that does not load
  # should fail before that.
  from trends_jax.training import trained
  trained.write_imported(workdir, config, variables, weights)
  num_params = sum(int(np.size(x)) for x in jax.tree.leaves(variables["params"]))
  return (f"imported {model}: {num_params:,} params, {module.num_classes} classes, from {weights} "
          f"into {os.path.abspath(workdir)}")


def main(argv):
  del argv
  print(launch.run_user_code(import_weights, FLAGS.model, FLAGS.weights, FLAGS.workdir, FLAGS.config))


if __name__ == "__main__":
  launch.run(main)
