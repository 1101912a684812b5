r"""Fine-tunes ImageNet weights (published or trained) on another image dataset, e.g. your own folders.

    python experiments/import_weights.py --model=resnet50 --weights=resnet50-0676ba61.pth --workdir=runs/resnet50_tv
    python experiments/prepare_data.py --image_folder=~/data/flowers --name=flowers
    python experiments/train.py --config=configs/finetune.py:resnet50 --workdir=runs/flowers_resnet50 \
        --config.init_from=runs/resnet50_tv --config.dataset.name=flowers
    # A linear probe instead: add --config.freeze=backbone

`init_from` is required. The default dataset is TFDS's Imagenette at 320 px (a network once);
any folder dataset (experiments/prepare_data.py --image_folder, `val/` read as split
"validation") takes its place by name. Everything whose shape fits is taken from the weights and
the head is new, sized by the dataset's classes. The preprocessing is ImageNet's (the weights were
trained on its normalization): an inception crop of 224 decoded at reduced size, flips, and
torchvision's 256→224 centre crop for evaluation.

Recipe: SGD with momentum 0.9, learning rate 0.01 per 64 images (it follows --config.batch_size),
cosine decay over 10 epochs, no warm-up, L2 1e-4 on kernels. Hardware: one GPU (about 2 minutes
per Imagenette epoch on a 2-core CPU host feeding it is the JPEG decoding, docs/performance.md).
Expected result: not yet measured (the published weights need a network).
"""

import ml_collections

from trends_jax.data.image_ops import IMAGENET_MEAN, IMAGENET_STD
from trends_jax.training import config as config_lib
from trends_jax.training.supervised import base_config

MODELS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "se_resnet50", "vgg16", "vgg16_bn",
          "alexnet", "googlenet")
NORMALIZE = f"normalize({IMAGENET_MEAN}, {IMAGENET_STD})"


def get_config(arg="resnet50"):
  model = arg or "resnet50"
  if model not in MODELS:
    raise ValueError(f"configs/finetune.py takes one of {', '.join(MODELS)}, got {arg!r}")
  c = base_config()
  c.init_from = ml_collections.config_dict.placeholder(str)  # Required: the weights' workdir.
  c.batch_size = 64
  c.num_epochs = 10.0
  c.eval_every_steps = 500
  c.log_every_steps = 50
  c.checkpoint_every_steps = 500
  c.dtype = "bfloat16"
  c.model.name = model
  c.optimizer.update({"name": "momentum", "momentum": 0.9, "l2": 1e-4, "schedule": "cosine", "warmup_steps": 0})
  config_lib.scale_learning_rate(c, 0.01, reference_batch_size=64)
  c.dataset.name = "imagenette/320px-v2"
  c.dataset.eval_split = "validation"
  c.dataset.preprocess = f"decode_jpeg_and_inception_crop(224)|flip_lr|{NORMALIZE}"
  c.dataset.eval_preprocess = f"decode|resize_small(256)|central_crop(224)|{NORMALIZE}"
  c.dataset.num_workers = 4
  c.eval_batch_size = 256
  return c
