"""The supervised trainer: (input, label) examples through a model, a loss and an optax optimizer.

Plugs into the one loop (training/loop.py) as `config.trainer = 'supervised'` (the default):
it adds the model, loss and dataset fields to the common config, reads the splits through grain,
and supplies the compiled train and eval steps, the grain iterator state as the data position,
and evaluation over the whole evaluation split(s).
"""

import functools
from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from trends_jax import data, losses, models, optim
from trends_jax.data import pipeline, preprocess
from trends_jax.errors import UserError
from trends_jax.training import config as config_lib, finetune, loop, steps


def base_config() -> ml_collections.ConfigDict:
  """The common fields plus the model, loss and dataset fields this trainer reads."""
  c = config_lib.base_config()
  c.eval_batch_size = 0  # 0: same as batch_size.
  c.model = ml_collections.ConfigDict({"name": ""})
  c.loss = ml_collections.ConfigDict({"name": "softmax_xent", "label_smoothing": 0.0})
  c.optimizer.update({
      # Regularization (trends_jax/optim.py): 0 turns each off.
      "weight_decay": 0.0, "l2": 0.0, "l1": 0.0, "grad_clip_norm": 0.0, "decay_mask": "kernels"})
  c.dataset.train_split = "train"
  c.dataset.eval_split = "test"
  c.dataset.train_eval_split = ""  # e.g. "train[:1000]": also evaluated, logged as split "train_eval".
  c.dataset.input_key = "image"
  c.dataset.label_key = "label"
  c.dataset.preprocess = "value_range(0, 1)"
  c.dataset.eval_preprocess = ""  # Empty: the same as preprocess.
  # Decode each split once into memory: for datasets of up to a few hundred MB (MNIST, CIFAR).
  c.dataset.cache = False
  c.dataset.num_workers = 0  # grain worker processes; 0 reads in the training process, a batch at a time.
  c.dataset.read_threads = -1  # Reader threads of each worker process; -1: by core count (pipeline.read_options).
  # Split each global batch into this many micro-batches, run one after another inside the compiled
  # step, and apply one update with their mean gradient: the same steps, schedule and checkpoints
  # with the activations of one micro-batch in memory. Without BatchNorm the result is the full
  # batch's; BatchNorm normalises by each micro-batch's statistics and updates its running
  # averages once per micro-batch, as big_vision and init2winit do. The batch each device holds
  # (batch_size / devices) must be divisible by it.
  c.grad_accum_steps = 1
  # Exponential moving average of the parameters, ema ← d·ema + (1−d)·params after each applied
  # update, saved in the checkpoints; evaluation then also reports the EMA weights (splits
  # "eval_ema", "train_eval_ema"). 0 keeps none. The decay is per update: it averages over about
  # the last 1/(1−d) updates (0.9999: 10,000).
  c.ema_decay = 0.0
  # Fine-tuning (training/finetune.py): a run or imported-weights workdir to start from, and what to keep fixed.
  c.init_from = ""
  c.freeze = ""  # "", "backbone" (all that init_from supplied: a linear probe) or a regex over parameter paths.
  return c


def validate(config: ml_collections.ConfigDict, num_devices: int = 1) -> None:
  """Raises UserError naming the first bad supervised field (the common ones: config.validate)."""
  for field in ("model", "loss"):
    if field not in config:
      raise UserError(f"config has no field {field!r}; start task configs from "
                      "trends_jax.training.supervised.base_config()")
  if "init_from" in config and config.init_from is None:  # A fine-tuning config leaves it to be set.
    raise UserError("this config fine-tunes from other weights: set --config.init_from=DIR (a trained run, or "
                    "a workdir of experiments/import_weights.py)")
  if config.get("freeze") and not config.get("init_from"):
    raise UserError("config.freeze needs config.init_from: the weights to keep fixed come from another workdir")
  models.MODELS.get(config.model.name)
  losses.LOSSES.get(config.loss.name)
  accum = config.get("grad_accum_steps", 1)
  if not (isinstance(accum, int) and accum >= 1):
    raise UserError(f"grad_accum_steps must be an integer >= 1 (1: no accumulation), got {accum!r}")
  per_device = config.batch_size // num_devices
  if per_device % accum:
    raise UserError(f"grad_accum_steps {accum} does not divide the batch of {per_device} each of the {num_devices} "
                    f"device(s) holds (batch_size {config.batch_size}); use a divisor of {per_device}, e.g. "
                    f"--config.grad_accum_steps={_largest_divisor(per_device, accum)}")
  if not 0.0 <= config.get("ema_decay", 0.0) < 1.0:
    raise UserError(f"ema_decay must be in [0, 1) (0: no EMA), got {config.ema_decay}; e.g. --config.ema_decay=0.9999")
  if config.get("eval_batch_size", 0) < 0:
    raise UserError(f"eval_batch_size must be >= 0 (0: batch_size), got {config.eval_batch_size}")
  if config.dataset.get("seq_len", 0) < 0:
    raise UserError(f"dataset.seq_len must be > 0 for a language model (0: not one), "
                    f"got {config.dataset.get('seq_len')}")


def model_kwargs(config, num_classes: int) -> dict:
  """What models.create receives: config.model's fields, the data's class count unless the config
  sets one, and the compute dtype."""
  kwargs = {k: v for k, v in config.model.items() if k != "name"}
  kwargs.setdefault("num_classes", num_classes)
  kwargs["dtype"] = jnp.dtype(config.dtype)
  return kwargs


class Program(NamedTuple):
  """What a config compiles to: the model, its state's constructor and the two compiled steps."""
  model: nn.Module
  make_state: Callable[..., steps.TrainState]  # Optionally given the variables to start from (Program.start).
  state_shapes: steps.TrainState  # jax.ShapeDtypeStructs of the state make_state builds.
  train_step: Callable
  eval_step: Callable
  start: finetune.Start | None  # What config.init_from supplies.


def build_program(config: ml_collections.ConfigDict, strategy, example_inputs, num_classes: int,
                  num_steps: int) -> Program:
  """Model, loss and optimizer of `config`, wired into steps compiled for `strategy`.

  Model errors (an input too small for it…) surface here, through eval_shape, before anything
  is written; the steps compile lazily, at their first call."""
  model = strategy.adapt_model(models.create(config.model.name, **model_kwargs(config, num_classes)))
  loss_fn = losses.create(config.loss.name, **{k: v for k, v in config.loss.items() if k != "name"})
  tx, learning_rate_fn = optim.create(config.optimizer, num_steps)
  example_inputs = jnp.asarray(example_inputs)
  start = None
  if config.get("init_from"):
    shapes, order = models.init_shapes(model, example_inputs)
    start = finetune.start_from(config.init_from, shapes, config.get("freeze", ""),
                                output_layer=order[-1].rpartition("/")[0])
    if start.frozen:
      tx = optim.freeze(tx, finetune.frozen_mask(start.frozen))
  ema_decay = config.get("ema_decay", 0.0)
  make_state = functools.partial(steps.create_train_state, model, tx, jax.random.PRNGKey(config.seed), example_inputs,
                                 ema=ema_decay > 0)
  state_shapes = jax.eval_shape(make_state, start and start.variables)
  train_step = strategy.compile_train_step(
      steps.make_train_step(model, loss_fn, learning_rate_fn, strategy.axis_name,
                            skip_nonfinite=config.get("nonfinite_steps", "stop") == "skip",
                            grad_accum_steps=config.get("grad_accum_steps", 1), ema_decay=ema_decay))
  eval_step = strategy.compile_eval_step(steps.make_eval_step(model, loss_fn, strategy.axis_name))
  return Program(model, make_state, state_shapes, train_step, eval_step, start)


class SupervisedTrainer(loop.Trainer):

  def validate(self) -> None:
    validate(self.config, self.strategy.num_devices)

  def setup(self) -> None:
    config, ds = self.config, self.config.dataset
    self.spec = spec = data.DatasetSpec.from_config(ds)
    self.train_source = data.examples(spec, ds.train_split)
    self.eval_sources = {"eval": data.examples(spec, ds.eval_split)}
    if ds.get("train_eval_split"):
      self.eval_sources["train_eval"] = data.examples(spec, ds.train_eval_split)
    # A batch larger than the split would be padded from the same examples over and over, and at
    # that size it may not even fit in memory: it is always a typo.
    if config.batch_size > len(self.train_source):
      raise UserError(f"batch_size {config.batch_size} is larger than the {len(self.train_source):,} examples "
                      f"of dataset.train_split {ds.train_split!r}; use a batch of at most that, e.g. "
                      f"--config.batch_size={_largest_batch(len(self.train_source), self.strategy.num_devices)}")
    self.num_steps = config_lib.num_train_steps(config, len(self.train_source))
    example = pipeline.example_batch(self.train_source, spec)
    preprocess.parse(ds.eval_preprocess)  # A bad evaluation spec fails now, not at the first eval.
    self.program = build_program(config, self.strategy, example["inputs"], data.num_outputs(spec), self.num_steps)
    self.state_shapes, self.make_state = self.program.state_shapes, self.program.make_state

  def initial_state(self):
    start = self.program.start
    if start is None:
      return super().initial_state()
    if self.lead:
      print(start.summary, flush=True)
    return self.strategy.init_state(self.make_state, start.variables)

  def describe(self, state) -> str:
    config = self.config
    params = jax.tree.leaves(self.strategy.checkpointable(state).params)
    accum, ema_decay = config.get("grad_accum_steps", 1), config.get("ema_decay", 0.0)
    return (f"{config.model.name}: {sum(int(np.prod(x.shape)) for x in params):,} parameters; "
            f"{self.num_steps} steps of {config.batch_size}"
            + (f" ({accum} micro-batches of {config.batch_size // accum})" if accum > 1 else "")
            + f" on {self.strategy.num_devices} {jax.devices()[0].platform} device(s), "
            f"parallel={config.parallel}, dtype={config.dtype}"
            + (f", EMA of the parameters (decay {ema_decay})" if ema_decay else ""))

  def start(self, data_state: dict | None) -> None:
    loader = pipeline.train_loader(self.train_source, self.spec, global_batch_size=self.config.batch_size,
                                   seed=self.config.seed)
    loader_iterator = iter(loader)
    if data_state is not None:
      pipeline.restore_loader_state(loader_iterator, data_state)
    self.batches = pipeline.PrefetchToDevice(loader_iterator, self.strategy.put_batch)

  def step(self, state, step: int):
    return self.program.train_step(state, next(self.batches))

  def data_state(self, step: int) -> dict:
    return self.batches.state()

  def evaluate(self, state) -> dict[str, dict]:
    """{split: metrics} of every evaluation split; with an EMA, also {split}_ema: the same split
    through the EMA weights (with the running BatchNorm statistics, which have no EMA of their own)."""
    results = {}
    for split, source in self.eval_sources.items():
      results[split] = self._evaluate_split(state, source)
      if state.ema_params is not None:
        results[f"{split}_ema"] = self._evaluate_split(state.replace(params=state.ema_params), source)
    return results

  def _evaluate_split(self, state, source) -> dict:
    """Mean loss and metrics over a whole evaluation split."""
    totals = None
    batch_size = self.config.eval_batch_size or self.config.batch_size
    for batch in pipeline.eval_batches(source, self.spec, global_batch_size=batch_size):
      sums = self.program.eval_step(state, self.strategy.put_batch(batch))
      totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    totals = self.strategy.fetch(totals)
    count = totals.pop("count")
    return {k: float(v) / float(count) for k, v in totals.items()}

  def plot_title(self) -> str:
    return f"{self.config.model.name} on {self.config.dataset.name}"


def _largest_divisor(n: int, at_most: int) -> int:
  return max(d for d in range(1, min(n, at_most) + 1) if n % d == 0)


def _largest_batch(num_examples: int, num_devices: int) -> int:
  return max(num_devices, num_examples // num_devices * num_devices)
