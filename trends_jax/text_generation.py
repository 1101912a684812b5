"""Text from a trained character language model: restore a run, feed it a prime, sample characters.

`load(workdir)` rebuilds a `char_lm` run's model and vocabulary from its config.json and restores
the parameters of its latest checkpoint. `sample` runs the prime through the model, then draws one
character at a time from softmax(logits / temperature), feeding each back in with the recurrent
state carried along; the whole loop is one jit-compiled `lax.scan`, seeded, so the same seed gives
the same text.
"""

import dataclasses
import functools
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from trends_jax import models, optim, parallel, steps
from trends_jax.checkpoint import Checkpointer
from trends_jax.data import language_model
from trends_jax.data import vocab as vocab_lib
from trends_jax.errors import UserError
from trends_jax.workdir import Workdir


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
  run = Workdir(workdir)
  if not os.path.exists(run.config_path):
    raise UserError(f"{run.path} holds no run (no config.json); pass the --workdir of a trained char_lm run")
  with open(run.config_path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  if not config.dataset.get("seq_len", 0):
    raise UserError(f"{run.path} is a {config.model.name!r} run, not a language model; "
                    "pass a run of configs/char_lm.py")
  checkpointer = Checkpointer(run.checkpoint_dir, config.get("keep_checkpoints", 3))
  step = checkpointer.latest_step()
  if step is None:
    checkpointer.close()
    raise UserError(f"{run.path} has no checkpoint yet; train it first (experiments/train.py)")
  vocabulary = language_model.vocabulary(config.dataset)
  fields = {k: v for k, v in config.model.items() if k != "name"}
  model = models.create(config.model.name, **{**fields, "num_classes": len(vocabulary)})
  # The checkpoint holds the whole train state: rebuild its shapes (optimizer state too) to restore it.
  num_steps = (run.read_status() or {}).get("num_train_steps") or config.num_train_steps or 1
  tx, _ = optim.create(config.optimizer, num_steps)
  make_state = functools.partial(steps.create_train_state, model, tx, jax.random.PRNGKey(0),
                                 jnp.zeros((1, config.dataset.seq_len), jnp.int32))
  strategy = parallel.create("jit", jax.devices()[:1])
  state, _ = checkpointer.restore(step, strategy.abstract_state(make_state))
  checkpointer.close()
  return LanguageModel(config, model, state.params, vocabulary, step)


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
