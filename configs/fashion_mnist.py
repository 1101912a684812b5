r"""Fashion-MNIST (60,000 train / 10,000 test, 28×28 grey, 10 classes) with the lecture's CNNs.

    python experiments/train.py --config=configs/fashion_mnist.py:cnn --workdir=runs/fmnist_cnn
    python experiments/train.py --config=configs/fashion_mnist.py:resnet18 --workdir=runs/fmnist_resnet18
    python experiments/train.py --config=configs/fashion_mnist.py:vgg11_bn --workdir=runs/fmnist_vgg11_bn

Offline data: Debian's `dataset-fashion-mnist`, written under TFDS's own name on first use.
Models: `cnn` (LeNet-style 32-64-128), `resnet18` with the CIFAR stem (3×3, no max-pool) on
28×28×1, `vgg11_bn` on images resized to 32×32 with a 512-wide classifier (the CIFAR-style VGG).
The full recipes (`num_epochs`) are sized for an accelerator: SGD's learning rate (per 128 images)
and the one-epoch warm-up follow `--config.batch_size`. `:<model>,cpu` is a budget version that
fits a 2-core CPU, with the fixed numbers it was measured with. `:<model>,augment` trains on
random crops (4-pixel zero padding) and horizontal flips before the same normalization, and
evaluates without them (experiments/bench/bench_gpu.sh's run to Zalando's 0.949).

Measured with `:<model>,cpu` on a 2-core AMD EPYC CPU, 2026-11-29 (test accuracy on 10,000 images):
  cnn       1,400 steps of 128 (3 epochs)     91.35%   298 s
  resnet18    250 steps of 64 (0.27 epoch)    76.71%   562 s
  vgg11_bn    250 steps of 64 (0.27 epoch)    85.12%   863 s
The full recipes have not been run yet.
"""

from trends_jax.training import config as config_lib
from trends_jax.training.supervised import base_config

TRAIN_IMAGES = 60_000
MODELS = {
    # name: (model fields, preprocess, optimizer fields, learning rate, scaled with the batch (per 128)?,
    #        epochs, CPU budget: (steps, batch))
    "cnn": ({"name": "cnn", "features": (32, 64), "hidden": 128, "dropout_rate": 0.25},
            "value_range(0, 1)", {"name": "adam"}, 2e-3, False, 15, (1400, 128)),
    "resnet18": ({"name": "resnet18", "cifar_stem": True},
                 "value_range(0, 1)|standardize((0.286,), (0.353,))",
                 {"name": "nesterov", "l2": 5e-4}, 0.1, True, 30, (250, 64)),
    "vgg11_bn": ({"name": "vgg11_bn", "classifier_width": 512, "pooled_size": 1},
                 "resize(32)|value_range(0, 1)|standardize((0.286,), (0.353,))",
                 {"name": "nesterov", "l2": 5e-4}, 0.02, True, 30, (250, 64)),
}


def get_config(arg="cnn"):
  model, *options = (arg or "cnn").split(",")
  if model not in MODELS or not set(options) <= {"cpu", "augment"}:
    raise ValueError(f"configs/fashion_mnist.py takes one of {', '.join(MODELS)}, optionally with ',cpu' and/or "
                     f"',augment'; got {arg!r}")
  budget = "cpu" if "cpu" in options else ""
  model_fields, preprocess, optimizer_fields, learning_rate, scaled, epochs, (cpu_steps, cpu_batch) = MODELS[model]
  c = base_config()
  c.batch_size = cpu_batch if budget == "cpu" else 128
  c.num_epochs = float(epochs)
  c.num_train_steps = cpu_steps if budget == "cpu" else 0
  c.eval_every_steps = cpu_steps if budget == "cpu" else 2000
  c.log_every_steps = 25
  c.checkpoint_every_steps = 50 if budget == "cpu" else 2000
  c.eval_batch_size = 500
  c.model.update(model_fields)
  c.optimizer.update(optimizer_fields)
  c.optimizer.schedule = "cosine"
  if budget == "cpu":  # The numbers measured above: fixed, whatever the batch.
    c.optimizer.learning_rate = learning_rate
    c.optimizer.warmup_steps = 30
  else:
    if scaled:
      config_lib.scale_learning_rate(c, learning_rate, reference_batch_size=128)
    else:  # Adam's step size does not scale linearly with the batch.
      c.optimizer.learning_rate = learning_rate
    config_lib.warmup_epochs(c, 1, TRAIN_IMAGES)
  c.dataset.name = "fashion_mnist"
  c.dataset.cache = True  # Decoded once into memory: the loop does not wait for reads.
  c.dataset.preprocess = preprocess
  if "augment" in options:  # Crops and flips of the (resized) image, before the normalization.
    resize = "resize(32)|" if preprocess.startswith("resize(32)|") else ""
    c.dataset.preprocess = (f"{resize}random_crop({32 if resize else 28}, pad=4)|flip_lr|"
                            f"{preprocess[len(resize):]}")
    c.dataset.eval_preprocess = preprocess
  return c
