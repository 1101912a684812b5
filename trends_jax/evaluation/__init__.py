"""Evaluation and analysis of trained models: word vectors, gradient flow, text generation."""
