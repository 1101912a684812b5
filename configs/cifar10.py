r"""CIFAR-10 (50,000 train / 10,000 test, 32×32 colour) with ResNet-18 (CIFAR stem) or VGG-11-BN.

    python experiments/train.py --config=configs/cifar10.py:resnet18 --workdir=runs/cifar10_resnet18

Needs a network once (`python experiments/prepare_data.py --datasets=cifar10` with
`pip install 'trends_jax[prepare]'`) and an accelerator: 200 epochs of batch 128 is ~78k steps
(DESIGN.md measured 2.7 s per ResNet-18 step of 128 on this 2-core CPU: days). Recipe: pad-4 random crop + flip,
per-channel normalization, SGD Nesterov 0.9, lr 0.1 per 128 images after 1 warm-up epoch (both
follow --config.batch_size), cosine, L2 5e-4 on kernels.
Expected (published for this recipe): ResNet-18 ≈ 95% test accuracy; VGG-11-BN ≈ 92%.
Not yet run by trends_jax.
"""

from trends_jax.training import config as config_lib
from trends_jax.training.supervised import base_config

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
TRAIN_IMAGES = 50_000
MODELS = {"resnet18": {"name": "resnet18", "cifar_stem": True},
          "vgg11_bn": {"name": "vgg11_bn", "classifier_width": 512, "pooled_size": 1}}


def get_config(arg="resnet18"):
  model = arg or "resnet18"
  if model not in MODELS:
    raise ValueError(f"configs/cifar10.py takes one of {', '.join(MODELS)}, got {arg!r}")
  c = base_config()
  c.batch_size = 128
  c.num_epochs = 200.0
  c.eval_every_steps = 2000
  c.log_every_steps = 100
  c.checkpoint_every_steps = 2000
  c.model.update(MODELS[model])
  c.optimizer.update({"name": "nesterov", "momentum": 0.9, "l2": 5e-4, "schedule": "cosine"})
  config_lib.scale_learning_rate(c, 0.1, reference_batch_size=128)
  config_lib.warmup_epochs(c, 1, TRAIN_IMAGES)
  c.dataset.name = "cifar10"
  c.dataset.cache = True  # Decoded once into memory: the loop does not wait for reads.
  c.dataset.preprocess = f"random_crop(32, pad=4)|flip_lr|value_range(0, 1)|standardize({MEAN}, {STD})"
  c.dataset.eval_preprocess = f"value_range(0, 1)|standardize({MEAN}, {STD})"
  return c
