"""The table of preprocessing ops that `dataset.preprocess` names.

A leaf: the op modules (`image_ops`, `text_ops`, `text_features`, and `preprocess`'s own generic
ops) register into it, and `preprocess` imports them all before it parses a spec, so no op module
needs the parser.
"""

from trends_jax.registry import Registry

OPS = Registry("preprocessing op", "dataset.preprocess")
RANDOM_OPS: set[str] = set()  # Names of ops whose functions take (example, rng).
FITTED_OPS: set[str] = set()  # Names of ops whose constructors take `source=` (the data read).


def register(name: str):
  return OPS.register(name)


def register_random(name: str):
  RANDOM_OPS.add(name)
  return OPS.register(name)


def register_fitted(name: str):
  FITTED_OPS.add(name)
  return OPS.register(name)
