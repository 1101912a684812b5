r"""Images read pixel by pixel: an LSTM classifies the sequence of grey values (sequential MNIST).

    python experiments/train.py --config=configs/pixel_sequence.py:mnist5k --workdir=runs/seq_mnist5k
    python experiments/train.py --config=configs/pixel_sequence.py:mnist5k,permuted --workdir=runs/pseq_mnist5k
    python experiments/train.py --config=configs/pixel_sequence.py:digits --workdir=runs/seq_digits
    python experiments/train.py --config=configs/pixel_sequence.py:fashion_mnist --workdir=runs/seq_fmnist

Each image becomes a sequence of its pixels in raster order, one grey value in [0, 1] per step
(`pixel_sequence()`): 784 steps for MNIST-5k and Fashion-MNIST, 64 for the 8×8 digits. `,permuted`
shuffles the pixels with one fixed random permutation (the same for every image, train and test;
Le et al. 2015's permuted sequential MNIST), which spreads each stroke over the whole sequence.
Model: `sequence_classifier`, one LSTM layer of 128 (forget-gate bias 1) → its last hidden state →
10 logits; Adam 1e-3 with a cosine schedule, gradients clipped to norm 1. `,quick` is a 10-step
version for tests. Time: a step of 64 sequences of 784 pixels took 0.56 s on the shared 2-core
CPU (forward and backward, 2026-11-29), so MNIST-5k's 1,250 steps take about 12 min, Fashion-MNIST's
1,000 steps of 128 about 20 min, the digits' 700 steps of 64 pixels about a minute.

Published with the full 60,000 MNIST digits: LSTM ≈98–99% sequential, ≈92–95% permuted. Here
MNIST-5k has 4,000 training digits, so expect less. Measured (2026-11-29, 2-core AMD EPYC):
`:digits` 93.9% test accuracy in 28 s; `:mnist5k` 42.9% in 549 s (still rising at the end);
`:mnist5k,permuted` 66.2% in 548 s; `:fashion_mnist` 62.0% (10,000 test images) after its
1,000 steps, in 3,719 s on that CPU while four other jobs shared it (load average 7–12).
"""

from trends_jax.training.supervised import base_config

DATASETS = {
    # name: (pixels per image, steps, batch size)
    "mnist5k": (784, 1250, 64),  # 20 epochs of 4,000 digits.
    "digits": (64, 700, 64),  # 31 epochs of 1,437 digits.
    "fashion_mnist": (784, 1000, 128),  # 2.1 epochs of 60,000 images.
}
OPTIONS = ("permuted", "quick")


def get_config(arg="mnist5k"):
  name, *options = (arg or "mnist5k").split(",")
  if name not in DATASETS or any(o not in OPTIONS for o in options):
    raise ValueError(f"configs/pixel_sequence.py takes one of {', '.join(DATASETS)}, optionally with "
                     f"',permuted' and/or ',quick'; got {arg!r}")
  num_pixels, steps, batch = DATASETS[name]
  c = base_config()
  c.batch_size = batch
  c.num_train_steps = steps
  c.eval_every_steps = max(10, steps // 5)
  c.log_every_steps = 25
  c.checkpoint_every_steps = max(10, steps // 5)
  c.eval_batch_size = 500

  c.model.name = "sequence_classifier"
  c.model.cell = "lstm"
  c.model.hidden = 128
  c.model.num_layers = 1

  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_steps = 50
  c.optimizer.grad_clip_norm = 1.0

  c.dataset.name = name
  c.dataset.cache = True  # Decoded once into memory: the loop does not wait for reads.
  order = f"{num_pixels}, permutation_seed=0" if "permuted" in options else ""
  c.dataset.preprocess = f"value_range(0, 1)|pixel_sequence({order})"

  if "quick" in options:
    c.num_train_steps = 10
    c.batch_size = 32
    c.eval_every_steps = c.log_every_steps = c.checkpoint_every_steps = 5
    c.optimizer.warmup_steps = 2
    c.model.hidden = 16
  return c
