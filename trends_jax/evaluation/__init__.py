"""Measuring what a model learned, on plain arrays: word vectors (analogies, word-pair
correlations, the word2vec formats) and per-layer gradient flow. Below training: the word2vec
trainer evaluates with it."""
