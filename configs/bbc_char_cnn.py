r"""BBC News topics (5 classes) by a character-level CNN (Zhang, Zhao & LeCun 2015; Kim 2014).

    python experiments/train.py --config=configs/bbc_char_cnn.py --workdir=runs/bbc_char_cnn
    python experiments/train.py --config=configs/bbc_char_cnn.py:zhang_small --workdir=runs/bbc_zhang_small

Data: `bbc_news` (1,781 training / 444 test articles), built offline on first use. Input: the
first 1,014 characters of each article, lowercased, as ids of the 70 most frequent training
characters (`chars_to_ids(max_len=1014, max_size=72, lowercase=True)`: + padding and unknown;
the vocabulary is fit on the training split and cached next to the dataset on first use).
Model (default): `char_cnn`, 16-d character embeddings → conv 64×7, max-pool 3 → conv 64×3,
max-pool 3 → conv 64×3 → max over time → dense 128, dropout 0.5 → 5 logits (42,053 parameters);
Adam 4e-3 with a cosine schedule, 1,200 steps of 64 (43 epochs), sized to a 2-core CPU.
`:zhang_small` is Zhang et al.'s small model layer for layer (`char_cnn_zhang_small`, 11,340,805
parameters with 5 classes, one-hot characters) and training recipe (SGD momentum 0.9, 0.01 halved
every 3 epochs, 30 epochs of 128): 36 examples/s (3.5 s per step) measured on the 2-core CPU, so
its 420 steps take about 25 min there. `:quick` is a 20-step version for smoke tests.

Measured (default) on a 2-core AMD EPYC CPU, 2026-11-29 (`experiments/lecture/text_classification.py`):
test accuracy 64.19% (444 articles), 100% on the training articles, 220 s. It memorizes the
1,781 articles (test loss 1.17 at step 300, 2.78 at step 1,200) where bag-of-words logistic
regression reaches 97.3% (configs/bbc_bow.py), as Zhang et al. found: n-gram TF-IDF stays ahead up
to several hundred thousand training documents, character CNNs pull ahead only at millions.
Also tried: 600 steps at 2e-3, 60.14%; the same with 2,048 characters, 61.26%.
`:zhang_small`: accuracy not yet measured.
"""

from trends_jax.training.supervised import base_config

VOCAB_SIZE = 72  # 70 characters, as Zhang et al.'s alphabet, + padding and unknown.
ADAM = {"name": "adam", "learning_rate": 4e-3, "schedule": "cosine", "warmup_steps": 50}
VARIANTS = {
    # variant: (model fields, max_len, steps, batch, optimizer fields)
    "default": ({"name": "char_cnn"}, 1014, 1200, 64, ADAM),
    # Zhang et al.: SGD, momentum 0.9, step size 0.01 halved every 3 epochs 10 times (30 epochs).
    "zhang_small": ({"name": "char_cnn_zhang_small"}, 1014, 420, 128,
                    {"name": "momentum", "learning_rate": 0.01, "schedule": "step", "warmup_steps": 0,
                     "step_boundaries": tuple(i / 10 for i in range(1, 10)), "step_factor": 0.5}),
    "quick": ({"name": "char_cnn", "embed_dim": 8, "convs": ((16, 5, 3), (16, 3, 0)), "hidden": (16,)},
              256, 20, 32, {**ADAM, "warmup_steps": 2}),
}


def get_config(arg=None):
  variant = arg or "default"
  if variant not in VARIANTS:
    raise ValueError(f"configs/bbc_char_cnn.py takes no argument or one of {', '.join(VARIANTS)}; got {arg!r}")
  model_fields, max_len, steps, batch, optimizer_fields = VARIANTS[variant]
  c = base_config()
  c.batch_size = batch
  c.num_train_steps = steps
  c.eval_every_steps = max(10, steps // 4)
  c.log_every_steps = min(25, steps // 2)
  c.checkpoint_every_steps = max(10, steps // 4)
  c.eval_batch_size = 128

  c.model.update(model_fields)
  c.model.vocab_size = VOCAB_SIZE
  c.optimizer.update(optimizer_fields)

  c.dataset.name = "bbc_news"
  c.dataset.input_key = "text"
  c.dataset.preprocess = f"chars_to_ids(max_len={max_len}, max_size={VOCAB_SIZE}, lowercase=True)"
  return c
