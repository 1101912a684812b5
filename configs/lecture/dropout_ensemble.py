r"""The dropout-ensemble experiment's run: a 2×256 ReLU MLP with dropout 0.5 on Fashion-MNIST.

    python experiments/lecture/dropout_ensemble.py --workdir=runs/dropout_ensemble [--quick]
    python experiments/train.py --config=configs/lecture/dropout_ensemble.py --workdir=runs/mlp_dropout

Adam 1e-3 with a cosine schedule (50 warm-up steps), batch 128, 1,000 steps; dropout after each
hidden layer, so that the experiment can compare the full network at test time with averages of
sampled thinned networks. A few minutes on a 2-core CPU. `:quick`: 32 wide, 20 steps on 2,000
training and 500 test images (for tests).
"""

from trends_jax.training.supervised import base_config

DROPOUT_RATE = 0.5


def get_config(arg=None):
  if arg not in (None, "", "quick"):
    raise ValueError(f"configs/lecture/dropout_ensemble.py takes no argument or 'quick'; got {arg!r}")
  quick = arg == "quick"
  c = base_config()
  c.batch_size = 128
  c.num_train_steps = 20 if quick else 1000
  c.eval_every_steps = 10 if quick else 250
  c.log_every_steps = 10 if quick else 50
  c.checkpoint_every_steps = c.num_train_steps
  c.eval_batch_size = 1000
  c.model.name = "mlp"
  c.model.depth = 2
  c.model.width = 32 if quick else 256
  c.model.dropout_rate = DROPOUT_RATE
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_steps = 2 if quick else 50
  c.dataset.name = "fashion_mnist"
  if quick:
    c.dataset.train_split = "train[:2000]"
    c.dataset.eval_split = "test[:500]"
  return c
