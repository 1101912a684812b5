"""Every config file and argument: loads, passes the trainer's checks, and its model accepts the
examples its own preprocessing makes (stock datasets through tfds.testing.mock_data)."""

import contextlib
import importlib.util
import os

import jax
import jax.numpy as jnp
import pytest
import tensorflow_datasets as tfds

from tests.conftest import REPO
from trends_jax import data, models
from trends_jax.data import pipeline
from trends_jax.models import word2vec
from trends_jax.training import config as config_lib

CONFIGS = {
    "default": [None, "quick"],
    "optimizer_sweep": [None, "quick"],
    "fashion_mnist": ["cnn", "resnet18", "vgg11_bn", "cnn,cpu", "resnet18,cpu", "vgg11_bn,cpu"],
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
    negatives = model.sample_negatives(jax.random.PRNGKey(0), jnp.linspace(0.02, 1, 50), words.shape, window)
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

