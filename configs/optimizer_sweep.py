r"""The lecture's optimizers over a learning-rate grid: the default CNN on MNIST-5k, 250 steps each.

    python experiments/sweep.py --config=configs/optimizer_sweep.py --workdir=runs/optimizer_sweep

get_sweep: SGD, momentum, Nesterov, Adagrad, Adadelta, RMSProp and Adam × learning rates
1e-4, 1e-3, 1e-2, 1e-1, 1 (35 trials of 250 steps of 64, ≈4 epochs, constant learning rate).
With `--seeds=3` each setting runs over seeds 0, 1, 2 (105 trials) and results.md gives mean ± std.
Measured on a 2-core CPU: see the README's sweep table (time and accuracies).
`:quick` is a 2-trial, 10-step version for tests.
"""

from trends_jax.training.supervised import base_config

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam")


def get_config(arg=None):
  c = base_config()
  c.batch_size = 64
  c.num_train_steps = 10 if arg == "quick" else 250
  c.eval_every_steps = c.num_train_steps
  c.log_every_steps = 50 if arg != "quick" else 5
  c.checkpoint_every_steps = c.num_train_steps
  c.model.name = "cnn"
  c.model.features = (32, 64)
  c.model.hidden = 128
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = 0.01
  c.dataset.name = "mnist5k"
  c.dataset.cache = True  # Decoded once into memory: the loop does not wait for reads.
  if arg not in (None, "quick"):
    raise ValueError(f"configs/optimizer_sweep.py takes no argument or 'quick', got {arg!r}")
  return c


def get_sweep(hyper):
  return hyper.product([hyper.sweep("optimizer.name", OPTIMIZERS),
                        hyper.logspace("optimizer.learning_rate", 1e-4, 1.0, 5)])
