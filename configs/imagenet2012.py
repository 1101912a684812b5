r"""ImageNet-1k (ILSVRC 2012) with the lecture's architectures, on their published recipes.

    python experiments/train.py --config=configs/imagenet2012.py:resnet50 --workdir=runs/in1k_resnet50

Needs `imagenet2012` prepared by TFDS (the archives are downloaded by hand from image-net.org,
then `pip install 'trends_jax[prepare]'` and `python experiments/prepare_data.py
--datasets=imagenet2012`) and accelerators: bfloat16 compute, batch 1024 (e.g. 8 GPUs or a TPU
v3-8). On fewer devices lower --config.batch_size: the learning rate (0.1 per 256 images) and the
warm-up (5 epochs) follow it, so batch 256 trains at 0.1 with 25,020 warm-up steps; or keep the
batch and accumulate gradients (--config.grad_accum_steps=4 makes 4 micro-batches of 256).

Recipe (ResNet, after Goyal et al. 2017 and Flax's ImageNet example): SGD with Nesterov momentum
0.9, learning rate 0.1 × batch/256, 5 warm-up epochs then cosine decay, L2 1e-4 on kernels only
(no decay of biases and BatchNorm), inception crop 224 + flip, 256→224 centre-crop evaluation.
AlexNet and VGG16 use their papers' plain momentum, lr 0.01 × batch/256 and 90 epochs.

Expected top-1 (published; trends_jax has not been run on ImageNet yet):
  resnet18 69.8, resnet34 73.3, resnet50 76.1 (torchvision V1; Flax example: 76.3–76.7 in 100
  epochs, 4.4 h on TPU v3-8), resnet101 77.4, resnet152 78.3, se_resnet50 77.6 (Hu et al.),
  vgg16 71.6, alexnet 56.5, googlenet 69.8 (torchvision's reference weights).
"""

from trends_jax.training import config as config_lib
from trends_jax.training.supervised import base_config

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# One pass: torchvision's ToTensor + Normalize (data/image_ops.py).
NORMALIZE = f"normalize({MEAN}, {STD})"

RESNET = {"epochs": 100, "optimizer": {"name": "nesterov", "momentum": 0.9, "base_lr": 0.1, "l2": 1e-4},
          "warmup_epochs": 5}
PAPER_SGD = {"epochs": 90, "optimizer": {"name": "momentum", "momentum": 0.9, "base_lr": 0.01, "l2": 5e-4},
             "warmup_epochs": 0}
RECIPES = {
    **{name: RESNET for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "se_resnet50")},
    "vgg16": PAPER_SGD,
    "alexnet": PAPER_SGD,
    "googlenet": {**RESNET, "epochs": 90},  # torchvision's reference recipe for its GoogLeNet weights.
}
TRAIN_IMAGES = 1_281_167


def get_config(arg="resnet50"):
  model = arg or "resnet50"
  if model not in RECIPES:
    raise ValueError(f"configs/imagenet2012.py takes one of {', '.join(RECIPES)}, got {arg!r}")
  recipe = RECIPES[model]
  c = base_config()
  c.batch_size = 1024
  c.num_epochs = float(recipe["epochs"])
  c.eval_every_steps = 5000
  c.log_every_steps = 100
  c.checkpoint_every_steps = 5000
  c.dtype = "bfloat16"
  c.model.name = model
  optimizer = dict(recipe["optimizer"])
  c.optimizer.update({k: v for k, v in optimizer.items() if k != "base_lr"})
  c.optimizer.schedule = "cosine"
  config_lib.scale_learning_rate(c, optimizer["base_lr"], reference_batch_size=256)
  config_lib.warmup_epochs(c, recipe["warmup_epochs"], TRAIN_IMAGES)
  c.dataset.name = "imagenet2012"
  c.dataset.eval_split = "validation"
  c.dataset.preprocess = f"decode_jpeg_and_inception_crop(224)|flip_lr|{NORMALIZE}"
  c.dataset.eval_preprocess = f"decode|resize_small(256)|central_crop(224)|{NORMALIZE}"
  c.dataset.num_workers = 8
  c.eval_batch_size = 1000
  return c
