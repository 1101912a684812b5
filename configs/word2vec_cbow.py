r"""word2vec CBOW (continuous bag of words) with negative sampling (Mikolov et al., 2013) on the offline English corpus.

Trains 100-d vectors on `w2v_corpus/large` (Wikipedia sample + BBC News + WordNet glosses +
GCIDE, 7.85M words) with word2vec.c's recipe: window 5 (dynamic), 5 negatives per centre from the
unigram^0.75 distribution, subsampling 1e-3, min count 5, 5 epochs, SGD from 0.05 (word2vec.c's CBOW rate) decaying
linearly. The context vectors are averaged (word2vec.c's cbow_mean=1), each
receiving the hidden vector's full gradient as in word2vec.c. Evaluated on the Google analogies, WordSim-353 and SimLex-999;
vectors.txt / vectors.bin in the workdir load with gensim's KeyedVectors.load_word2vec_format.

    python experiments/train.py --config=configs/word2vec_cbow.py --workdir=runs/cbow

Arguments: `small` (w2v_corpus/small, 1.34M words), `quick` (30 steps on `small`, for tests).
Measured (2026-12-02, 2-core Intel Xeon CPU, 1 XLA device): 75 s in all at 608,800 words/s;
analogy accuracy 23.3% (46.3% covered), WordSim-353 0.614, SimLex-999 0.330 (gensim on the
same corpus and settings, same day: 21.1%, 0.598, 0.306 at 2,283,000 words/s; docs/results.md
"word2vec").
experiments/bench/word2vec.py measures it next to gensim.
"""

from trends_jax.training.word2vec import base_config


def get_config(arg=None):
  c = base_config()
  c.model.name = "cbow"
  c.model.negative_pool = 0  # One target per centre: straight per-pair negatives cost little.
  c.optimizer.learning_rate = 0.05
  c.optimizer.end_learning_rate = 5e-6
  c.batch_size = 1000  # Words per step: small steps keep batched SGD close to word2vec.c's.
  c.dataset.name = "w2v_corpus/large"
  c.eval_every_steps = 10_000
  c.log_every_steps = 1000
  c.checkpoint_every_steps = 10_000
  if arg in ("small", "quick"):
    c.dataset.name = "w2v_corpus/small"
  if arg == "quick":
    c.num_epochs = 0.0
    c.num_train_steps = 30
    c.eval_every_steps = c.log_every_steps = c.checkpoint_every_steps = 15
  elif arg not in (None, "small"):
    raise ValueError(f"configs/word2vec_cbow.py takes no argument, 'small' or 'quick', got {arg!r}")
  return c
