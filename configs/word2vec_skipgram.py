r"""word2vec skip-gram with negative sampling (Mikolov et al., 2013) on the offline English corpus.

Trains 100-d vectors on `w2v_corpus/large` (Wikipedia sample + BBC News + WordNet glosses +
GCIDE, 7.85M words) with word2vec.c's recipe: window 5 (dynamic), 5 negatives from the
unigram^0.75 distribution, subsampling 1e-3, min count 5, 5 epochs, SGD from 0.025 decaying
linearly. Each pair's 5 negatives are picked from 64 noise words drawn for each block of 100
centres (`model.negative_pool`, `model.pool_block`: still noise-distributed and independent per
pair; scoring a block against its pool is one small matrix product, see docs/performance.md);
`--config.model.negative_pool=0` draws them straight from the noise distribution as word2vec.c.
Steps of 1,000 words; a row read more than `max_row_repeats` = 16 times in a step moves by 16×
its mean gradient (plain sums diverged on this corpus). Evaluated on the Google analogies,
WordSim-353 and SimLex-999; vectors.txt / vectors.bin in the workdir load with gensim's
KeyedVectors.load_word2vec_format.

    python experiments/train.py --config=configs/word2vec_skipgram.py --workdir=runs/skipgram

Arguments: `small` (w2v_corpus/small, 1.34M words), `quick` (30 steps on `small`, for tests).
Measured (2026-12-02, 2-core Intel Xeon CPU, 1 XLA device): 145 s in all at 287,800 words/s;
analogy accuracy 23.7% (46.3% of questions covered), WordSim-353 0.660, SimLex-999 0.392
(gensim on the same corpus and settings, same day: 21.1%, 0.608, 0.370 at 595,100 words/s;
docs/results.md "word2vec").
experiments/bench/word2vec.py measures it next to gensim.
"""

from trends_jax.training.word2vec import base_config


def get_config(arg=None):
  c = base_config()
  c.model.name = "skipgram"
  c.model.negative_pool = 64
  c.model.pool_block = 100
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
    raise ValueError(f"configs/word2vec_skipgram.py takes no argument, 'small' or 'quick', got {arg!r}")
  return c
