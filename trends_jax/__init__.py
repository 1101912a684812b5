"""trends_jax: the ideas of modern deep learning as pure Flax modules trained data-parallel in JAX."""

__version__ = "0.1.0"
