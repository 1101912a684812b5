r"""The dense-vs-conv experiment's runs: a LeNet-style CNN or an MLP of the same size on Fashion-MNIST.

    python experiments/lecture/dense_vs_conv.py --workdir=runs/dense_vs_conv [--quick]
    python experiments/train.py --config=configs/lecture/dense_vs_conv.py:cnn --workdir=runs/medium_cnn
    python experiments/train.py --config=configs/lecture/dense_vs_conv.py:mlp --workdir=runs/medium_mlp

`cnn`: convolutions of 16 and 32 3×3 filters, dense 64 (105,866 parameters; the experiment's
`medium` budget); `mlp`: two ReLU layers of 116, the width whose parameter count is nearest the
CNN's (the experiment fits it for each budget and sets the model fields itself). Adam 2e-3 with a
cosine schedule (50 warm-up steps), batch 128, 500 steps, one evaluation on the 10,000 test images
at the end. A few minutes on a 2-core CPU. `:<model>,quick`: 10 steps on 1,000 training and 300
test images (for tests).
"""

from trends_jax.training.supervised import base_config

MODELS = {
    "cnn": {"name": "cnn", "features": (16, 32), "kernel_size": 3, "hidden": 64},
    "mlp": {"name": "mlp", "depth": 2, "width": 116},
}


def get_config(arg=None):
  model, _, size = (arg or "cnn").partition(",")
  if model not in MODELS or size not in ("", "quick"):
    raise ValueError(f"configs/lecture/dense_vs_conv.py takes cnn or mlp, optionally with ',quick'; "
                     f"got {arg!r}")
  quick = size == "quick"
  c = base_config()
  c.batch_size = 128
  c.num_train_steps = 10 if quick else 500
  c.eval_every_steps = c.num_train_steps  # Evaluating 10,000 images costs as much as ~40 steps.
  c.log_every_steps = 10 if quick else 50
  c.checkpoint_every_steps = c.num_train_steps
  c.eval_batch_size = 1000
  c.model.update(MODELS[model])
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 2e-3
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_steps = 2 if quick else 50
  c.dataset.name = "fashion_mnist"
  if quick:
    c.dataset.train_split = "train[:1000]"
    c.dataset.eval_split = "test[:300]"
  return c
