"""Text from a trained character language model: restore a run, feed it a prime, sample characters.

`load(workdir)` rebuilds a `char_lm` run's model and vocabulary from its config.json and restores
the parameters of its latest checkpoint. `sample` runs the prime through the model, then draws one
character at a time from softmax(logits / temperature), feeding each back in with the recurrent
state carried along; the whole loop is one jit-compiled `lax.scan`, seeded, so the same seed gives
the same text.
"""

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from trends_jax.data import language_model, vocab as vocab_lib
from trends_jax.data.spec import DatasetSpec
from trends_jax.errors import UserError
from trends_jax.run.workdir import Workdir
from trends_jax.training import trained


@dataclasses.dataclass
class LanguageModel:
  config: ml_collections.ConfigDict
  model: object
  params: dict
  vocabulary: vocab_lib.Vocabulary
  step: int


def check_options(length: int, temperature: float) -> None:
  if length < 1:
    raise UserError(f"--length must be at least 1 character, got {length}")
  if not temperature > 0:
    raise UserError(f"--temperature must be > 0 (1 samples the model as trained, lower is more "
                    f"conservative), got {temperature}")


def encode_prime(vocabulary: vocab_lib.Vocabulary, prime: str) -> np.ndarray:
  """The prime's ids; characters the model never saw in training are refused, by name."""
  if not prime:
    raise UserError("--prime is empty; give at least one character, e.g. --prime='ROMEO:'")
  unknown = sorted({ch for ch in prime if ch not in vocabulary.index or vocabulary.index[ch] < 2})
  if unknown:
    raise UserError(f"--prime has characters the model's vocabulary lacks: {', '.join(map(repr, unknown))}; "
                    "use only characters of the training text")
  return vocabulary.encode(prime)


def load(workdir: str) -> LanguageModel:
  """The run's model, vocabulary and the parameters of its latest checkpoint."""
  config = Workdir(workdir).read_config()
  if config is not None and not config["dataset"].get("seq_len", 0):
    raise UserError(f"{os.path.abspath(workdir)} is a {config['model']['name']!r} run, not a language model; "
                    "pass a run of configs/char_lm.py")
  run = trained.load(workdir)
  return LanguageModel(run.config, run.model, run.variables["params"],
                       language_model.vocabulary(DatasetSpec.from_config(run.config.dataset)), run.step)


@functools.partial(jax.jit, static_argnames=("model", "length"))
def _sample(model, params, prime_ids, length: int, temperature, rng):
  carries, logits = model.apply({"params": params}, prime_ids[None], return_carries=True)

  def next_character(carry, key):
    carries, last_logits = carry
    # Never padding or "unknown" (ids 0 and 1): they stand for no character.
    scores = (last_logits / temperature).at[:, :2].set(-jnp.inf)
    ids = jax.random.categorical(key, scores)
    carries, logits = model.apply({"params": params}, ids[:, None], carries=carries, return_carries=True)
    return (carries, logits[:, -1]), ids[0]

  _, ids = jax.lax.scan(next_character, (carries, logits[:, -1]), jax.random.split(rng, length))
  return ids


def sample(lm: LanguageModel, prime: str, length: int, temperature: float = 1.0, seed: int = 0) -> str:
  """`length` characters following `prime` (the prime itself not included)."""
  check_options(length, temperature)
  prime_ids = jnp.asarray(encode_prime(lm.vocabulary, prime))
  ids = _sample(lm.model, lm.params, prime_ids, length, jnp.float32(temperature), jax.random.PRNGKey(seed))
  return "".join(lm.vocabulary.decode(np.asarray(ids)))
