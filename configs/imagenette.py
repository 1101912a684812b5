r"""Imagenette (10 easy ImageNet classes, 9,469 train / 3,925 validation) at 160 pixels.

    python experiments/train.py --config=configs/imagenette.py:resnet18 --workdir=runs/imagenette

A small ImageNet-style task for one GPU: TFDS `imagenette/160px-v2` (needs a network once and
`pip install 'trends_jax[prepare]'`). Inception crop 128 + flip, 146→128 centre-crop evaluation,
SGD Nesterov with learning rate 0.1 per 128 images and 4 warm-up epochs (both follow
`--config.batch_size`), cosine, 40 epochs, bfloat16. Expected result: not yet measured (no published
number is checked in here), and not yet run by trends_jax.
"""

from trends_jax.training import config as config_lib
from trends_jax.training.supervised import base_config

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# One pass: torchvision's ToTensor + Normalize (data/image_ops.py).
NORMALIZE = f"normalize({MEAN}, {STD})"
TRAIN_IMAGES = 9_469
MODELS = ("resnet18", "resnet50", "se_resnet50", "vgg11_bn", "googlenet")


def get_config(arg="resnet18"):
  model = arg or "resnet18"
  if model not in MODELS:
    raise ValueError(f"configs/imagenette.py takes one of {', '.join(MODELS)}, got {arg!r}")
  c = base_config()
  c.batch_size = 128
  c.num_epochs = 40.0
  c.eval_every_steps = 500
  c.log_every_steps = 50
  c.checkpoint_every_steps = 1000
  c.dtype = "bfloat16"
  c.model.name = model
  c.optimizer.update({"name": "nesterov", "momentum": 0.9, "l2": 5e-5, "schedule": "cosine"})
  config_lib.scale_learning_rate(c, 0.1, reference_batch_size=128)
  config_lib.warmup_epochs(c, 4, TRAIN_IMAGES)
  c.dataset.name = "imagenette/160px-v2"
  c.dataset.eval_split = "validation"
  c.dataset.preprocess = f"decode_jpeg_and_inception_crop(128, area_min=0.35)|flip_lr|{NORMALIZE}"
  c.dataset.eval_preprocess = f"decode|resize_small(146)|central_crop(128)|{NORMALIZE}"
  return c
