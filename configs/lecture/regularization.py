r"""The regularization experiment's base run: a 2×1024 ReLU MLP that memorizes 1,000 MNIST digits.

    python experiments/lecture/regularization.py --workdir=runs/regularization [--quick]
    python experiments/train.py --config=configs/lecture/regularization.py --workdir=runs/reg_none \
        [--config.optimizer.l2=2e-3 | --config.model.dropout_rate=0.5 …]

SGD with momentum 0.9 (lr 0.05), batch 100, 3,000 steps on the first 1,000 training digits of
MNIST-5k, evaluated on those 1,000 (train_eval) and on the 1,000 test digits: big enough to reach
100% training accuracy, so the experiment can show what L1/L2 penalties and dropout do to the
gap. A few minutes on a 2-core CPU. `:quick`: 128 wide, 30 steps (for tests).
"""

from trends_jax.training.supervised import base_config


def get_config(arg=None):
  if arg not in (None, "", "quick"):
    raise ValueError(f"configs/lecture/regularization.py takes no argument or 'quick'; got {arg!r}")
  quick = arg == "quick"
  c = base_config()
  c.batch_size = 100
  c.num_train_steps = 30 if quick else 3000
  c.eval_every_steps = 15 if quick else 150
  c.log_every_steps = 15 if quick else 150
  c.checkpoint_every_steps = c.num_train_steps
  c.model.name = "mlp"
  c.model.depth = 2
  c.model.width = 128 if quick else 1024
  c.model.dropout_rate = 0.0
  c.optimizer.name = "momentum"
  c.optimizer.learning_rate = 0.05
  c.dataset.name = "mnist5k"
  c.dataset.train_split = "train[:1000]"
  c.dataset.train_eval_split = "train[:1000]"
  c.eval_batch_size = 500
  return c
