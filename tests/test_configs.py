"""Every config file and argument: loads, passes the trainer's checks, and its model accepts the
examples its own preprocessing makes (stock datasets through tfds.testing.mock_data)."""

import contextlib
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests.conftest import REPO
from trends_jax import data, models
from trends_jax.data import pipeline, word_windows
from trends_jax.models import word2vec
from trends_jax.training import config as config_lib

CONFIGS = {
    "default": [None, "quick"],
    "optimizer_sweep": [None, "quick"],
    "fashion_mnist": ["cnn", "resnet18", "vgg11_bn", "cnn,cpu", "resnet18,cpu", "vgg11_bn,cpu", "resnet18,augment",
                      "vgg11_bn,cpu,augment"],
    "cifar10": ["resnet18", "vgg11_bn"],
    "imagenette": ["resnet18", "resnet50", "se_resnet50", "vgg11_bn", "googlenet"],
    "imagenet2012": ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "se_resnet50",
                     "vgg16", "alexnet", "googlenet"],
    "bbc_bow": ["binary", "count", "tfidf", "tfidf,quick"],
    "bbc_char_cnn": [None, "quick", "zhang_small"],
    "char_lm": [None, "gru", "rnn", "quick", "rnn,quick"],
    "pixel_sequence": ["mnist5k", "mnist5k,permuted", "digits", "digits,permuted,quick", "fashion_mnist",
                       "fashion_mnist,permuted"],
    "word2vec_skipgram": [None, "small", "quick"],
    "word2vec_cbow": [None, "small", "quick"],
    "finetune": ["resnet50", "resnet18", "googlenet"],
    "lecture/regularization": [None, "quick"],
    "lecture/dropout_ensemble": [None, "quick"],
    "lecture/dense_vs_conv": ["cnn", "mlp", "cnn,quick", "mlp,quick"],
}


def _load(name):
  path = os.path.join(REPO, "configs", f"{name}.py")
  spec = importlib.util.spec_from_file_location(name.replace("/", "."), path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_every_config_file_is_covered():
  files = {os.path.relpath(os.path.join(root, f), os.path.join(REPO, "configs"))[:-3]
           for root, _, names in os.walk(os.path.join(REPO, "configs")) for f in names if f.endswith(".py")}
  assert files == set(CONFIGS)


@pytest.mark.parametrize("name, arg", [(n, a) for n, args in CONFIGS.items() for a in args])
def test_config_builds_its_model_on_its_own_inputs(name, arg, data_dir):
  config = _load(name).get_config(arg)
  if config.get("trainer") == "word2vec":  # Its own trainer, model and checks.
    from trends_jax.training import word2vec as train_word2vec
    train_word2vec.validate(config, num_devices=1)
    fields = {k: config.model[k] for k in train_word2vec.MODEL_FIELDS}
    model = word2vec.Word2Vec(vocab_size=50, architecture=config.model.name, **fields)
    length, window = config.dataset.row_length, config.model.window
    words, valid = jnp.zeros((2, length), jnp.int32), jnp.ones((2, length, 2 * window), bool)
    negatives = model.sample_negatives(jax.random.PRNGKey(0), word_windows.noise_table(np.ones(50)), words.shape,
                                     window)
    params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), method=lambda m: m.vectors()))["params"]
    loss, pairs = jax.eval_shape(lambda: model.apply(
        {"params": jax.tree.map(jnp.zeros_like, params)}, words, valid, negatives))
    assert loss.shape == pairs.shape == ()
    return
  # The lecture experiments' runs are sized for one device (regularization's batch of 100).
  config_lib.validate(config, num_devices=1 if name.startswith("lecture/") else 8)
  assert config.dataset.name
  ds = config.dataset
  offline = ds.name.partition("/")[0] in data.OFFLINE
  with tfds.testing.mock_data(num_examples=4) if not offline else contextlib.nullcontext():
    ds.data_dir = data_dir if offline else ds.data_dir
    spec = data.DatasetSpec.from_config(ds)
    source = (data.examples(spec, ds.train_split) if offline else
              tfds.data_source(ds.name, split=ds.train_split, builder_kwargs={"file_format": "array_record"}))
    example = pipeline.example_batch(source, spec)
    pipeline.example_batch(source, spec.for_eval())
  fields = {k: v for k, v in config.model.items() if k != "name"}
  model = models.create(config.model.name, num_classes=10, dtype=jnp.dtype(config.dtype), **fields)
  logits = jax.eval_shape(lambda: model.init_with_output(jax.random.PRNGKey(0), jnp.asarray(example["inputs"]))[0])
  assert logits.shape == ((1, ds.seq_len, 10) if ds.get("seq_len") else (1, 10))  # A language model: every step.


def test_bad_config_argument_is_refused():
  with pytest.raises(ValueError, match="takes one of cnn, resnet18, vgg11_bn"):
    _load("fashion_mnist").get_config("resnet9")



# --- Recipes follow the batch size -------------------------------------------------------------------


def _parsed(argv):
  """The config as the launchers get it: config_flags parses --config and its --config.* overrides."""
  from absl import flags
  from ml_collections import config_flags
  values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=values, lock_config=True,
                                  sys_argv=["prog", *argv])
  values(["prog", *argv])
  return values.config


def test_imagenet_recipe_follows_the_batch_size_from_the_command_line():
  path = os.path.join(REPO, "configs", "imagenet2012.py")
  full = _parsed([f"--config={path}:resnet50"])
  assert (full.optimizer.learning_rate, full.optimizer.warmup_steps) == (0.4, 6255)
  config = _parsed([f"--config={path}:resnet50", "--config.batch_size=256"])
  assert config.optimizer.learning_rate == pytest.approx(0.1)
  assert config.optimizer.warmup_steps == 25_020  # 5 epochs of 1,281,167 // 256 = 5,004 steps.
  recorded = config_lib.as_json(config)  # What config.json holds: the numbers, not references.
  assert recorded["optimizer"]["learning_rate"] == pytest.approx(0.1)
  assert recorded["optimizer"]["warmup_steps"] == 25_020
  longer = _parsed([f"--config={path}:resnet50", "--config.warmup_epochs=2", "--config.batch_size=512"])
  assert longer.optimizer.warmup_steps == 2 * (1_281_167 // 512)


@pytest.mark.parametrize("order", ["rate_first", "batch_first"])
def test_an_explicit_learning_rate_wins_over_the_derived_one(order):
  path = os.path.join(REPO, "configs", "cifar10.py")
  overrides = ["--config.optimizer.learning_rate=0.05", "--config.batch_size=512"]
  config = _parsed([f"--config={path}:resnet18", *(overrides if order == "rate_first" else overrides[::-1])])
  assert config.optimizer.learning_rate == 0.05
  assert config.optimizer.warmup_steps == 50_000 // 512  # Still derived: only the rate was set.


@pytest.mark.parametrize("name, arg, reference_batch", [
    ("imagenette", "resnet18", 128), ("cifar10", "resnet18", 128), ("fashion_mnist", "resnet18", 128),
    ("fashion_mnist", "vgg11_bn", 128), ("imagenet2012", "alexnet", 256)])
def test_sgd_recipes_scale_linearly_with_the_batch(name, arg, reference_batch):
  config = _load(name).get_config(arg)
  base, warmup_epochs = config.base_learning_rate, config.warmup_epochs
  config.batch_size = 4 * reference_batch
  assert config.optimizer.learning_rate == pytest.approx(4 * base)
  examples_per_epoch = {"imagenette": 9_469, "cifar10": 50_000, "fashion_mnist": 60_000,
                        "imagenet2012": 1_281_167}[name]
  assert config.optimizer.warmup_steps == int(warmup_epochs * (examples_per_epoch // config.batch_size))


def test_adam_and_cpu_budget_rates_stay_fixed():
  adam = _load("fashion_mnist").get_config("cnn")
  adam.batch_size = 512
  assert adam.optimizer.learning_rate == 2e-3 and adam.optimizer.warmup_steps == 60_000 // 512
  budget = _load("fashion_mnist").get_config("resnet18,cpu")
  budget.batch_size = 128
  assert (budget.optimizer.learning_rate, budget.optimizer.warmup_steps) == (0.1, 30)


def test_the_fine_tuning_config_asks_for_its_weights():
  from trends_jax.errors import UserError
  from trends_jax.training import supervised
  config = _load("finetune").get_config("resnet50")
  with pytest.raises(UserError, match=r"set --config.init_from=DIR"):
    supervised.validate(config)
  config.init_from = "runs/resnet50_imported"
  supervised.validate(config)
  config.batch_size = 256
  assert config.optimizer.learning_rate == pytest.approx(0.04)
