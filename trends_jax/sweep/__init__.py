"""Hyperparameter sweeps: pieces that expand to trials, local and Ray runners, the results table."""
