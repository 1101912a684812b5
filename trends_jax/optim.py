"""Optimizers, schedules and regularization from the config, composed from optax pieces.

    tx, schedule = optim.create(config.optimizer, num_train_steps)

The transformation is one optax chain, each piece present only when its field is set:

    clip_by_global_norm(grad_clip_norm)          gradient clipping
    add_decayed_weights(l2)                      L2 penalty: the gradient of (l2 / 2)·‖w‖² in the loss
    l1 sign term (l1)                            L1 penalty: the subgradient of l1·‖w‖₁
    <optimizer>(learning_rate=1)                 the update direction (sgd, momentum, adam, …)
    add_decayed_weights(-weight_decay)           decoupled weight decay (Loshchilov & Hutter)
    scale_by_schedule(learning_rate schedule)    warm-up + decay

Penalties and decay touch only the parameters selected by `decay_mask`: 'kernels' (default:
parameters with two or more dimensions, so no biases and no BatchNorm scales or offsets) or 'all'.
For adamw, lamb and lars the decay is the optimizer's own (it sits inside LAMB's and LARS's trust
ratio), fed the same value and mask.
"""

from typing import Any

import jax
import jax.numpy as jnp
import optax

from trends_jax.errors import UserError
from trends_jax.registry import Registry

OPTIMIZERS = Registry("optimizer", "optimizer.name")
OPTIMIZERS.register("sgd", optax.sgd)
OPTIMIZERS.register("momentum", lambda learning_rate, momentum=0.9: optax.sgd(learning_rate, momentum))
OPTIMIZERS.register("nesterov", lambda learning_rate, momentum=0.9: optax.sgd(learning_rate, momentum, nesterov=True))
OPTIMIZERS.register("adagrad", optax.adagrad)
OPTIMIZERS.register("adadelta", optax.adadelta)
OPTIMIZERS.register("rmsprop", optax.rmsprop)
OPTIMIZERS.register("adam", optax.adam)
OPTIMIZERS.register("adamw", optax.adamw)
OPTIMIZERS.register("lamb", optax.lamb)
OPTIMIZERS.register("lars", optax.lars)

# Optimizers whose own weight decay is decoupled (or part of their trust ratio): name → mask kwarg.
NATIVE_DECAY = {"adamw": "mask", "lamb": "mask", "lars": "weight_decay_mask"}

SCHEDULES = Registry("schedule", "optimizer.schedule")
SCHEDULES.register("constant", lambda peak, steps: optax.constant_schedule(peak))
SCHEDULES.register("cosine", lambda peak, steps, end_learning_rate=0.0: optax.cosine_decay_schedule(
    peak, steps, alpha=end_learning_rate / peak))
SCHEDULES.register("linear", lambda peak, steps, end_learning_rate=0.0: optax.linear_schedule(
    peak, end_learning_rate, steps))
SCHEDULES.register("exponential", lambda peak, steps, decay_rate=0.1: optax.exponential_decay(
    peak, transition_steps=steps, decay_rate=decay_rate))
SCHEDULES.register("step", lambda peak, steps, step_boundaries=(0.5, 0.75), step_factor=0.1:
                   optax.piecewise_constant_schedule(
                       peak, {int(b * steps): step_factor for b in step_boundaries}))

# Config fields read here rather than passed to the optimizer.
SCHEDULE_FIELDS = ("schedule", "warmup_steps", "end_learning_rate", "decay_rate", "step_boundaries",
                   "step_factor")
REGULARIZATION_FIELDS = ("weight_decay", "l1", "l2", "grad_clip_norm", "decay_mask")


def decay_mask(rule: str):
  """Which parameters penalties and weight decay apply to."""
  rules = {"kernels": lambda params: jax.tree.map(lambda p: p.ndim > 1, params),
           "all": lambda params: jax.tree.map(lambda p: True, params)}
  if rule not in rules:
    raise UserError(f"unknown optimizer.decay_mask {rule!r}; known: {', '.join(rules)}")
  return rules[rule]


def add_l1_penalty(l1: float, mask) -> optax.GradientTransformation:
  """Adds l1·sign(w): the subgradient of an l1·‖w‖₁ loss term."""
  penalty = optax.stateless(lambda grads, params: jax.tree.map(lambda g, p: g + l1 * jnp.sign(p), grads, params))
  return optax.masked(penalty, mask) if mask is not None else penalty


def learning_rate_schedule(optimizer_config, num_train_steps: int) -> optax.Schedule:
  """Linear warm-up from 0 over `warmup_steps`, then the named decay over the remaining steps."""
  peak = optimizer_config.learning_rate
  warmup = optimizer_config.get("warmup_steps", 0)
  if warmup >= num_train_steps:
    raise UserError(f"optimizer.warmup_steps ({warmup}) must be shorter than training "
                    f"({num_train_steps} steps); lower it, e.g. --config.optimizer.warmup_steps={num_train_steps // 10}")
  decay_kwargs = {k: optimizer_config[k] for k in SCHEDULE_FIELDS[2:] if k in optimizer_config}
  make = SCHEDULES.get(optimizer_config.get("schedule", "constant"))
  try:
    decay = make(peak, num_train_steps - warmup, **decay_kwargs)
  except TypeError:
    raise UserError(f"schedule {optimizer_config.get('schedule', 'constant')!r} does not take "
                    f"{', '.join(sorted(decay_kwargs))}") from None
  if not warmup:
    return decay
  return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])


def _option(config, name: str, default: Any = 0.0):
  return config[name] if name in config and config[name] is not None else default


def create(optimizer_config, num_train_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """The optax chain described in the module docstring, and its learning-rate schedule."""
  name = optimizer_config.name
  make = OPTIMIZERS.get(name)
  if not optimizer_config.learning_rate > 0:
    raise UserError(f"optimizer.learning_rate must be > 0, got {optimizer_config.learning_rate}; "
                    "pass e.g. --config.optimizer.learning_rate=0.001")
  schedule = learning_rate_schedule(optimizer_config, num_train_steps)
  mask = decay_mask(_option(optimizer_config, "decay_mask", "kernels"))
  weight_decay, l1, l2, clip = (_option(optimizer_config, f)
                                for f in ("weight_decay", "l1", "l2", "grad_clip_norm"))
  for field, value in (("weight_decay", weight_decay), ("l1", l1), ("l2", l2), ("grad_clip_norm", clip)):
    if value < 0:
      raise UserError(f"optimizer.{field} must be >= 0, got {value}")

  kwargs = {k: v for k, v in optimizer_config.items()
            if k not in ("name", "learning_rate") + SCHEDULE_FIELDS + REGULARIZATION_FIELDS}
  if name in NATIVE_DECAY:
    kwargs.update({"weight_decay": weight_decay, NATIVE_DECAY[name]: mask})
    if name == "lars":
      kwargs["trust_ratio_mask"] = mask  # No trust ratio for biases and norms, as in the paper.
  try:
    direction = make(learning_rate=1.0, **kwargs)
  except TypeError as e:
    raise UserError(f"optimizer {name!r} does not take {', '.join(sorted(kwargs))}: {e}") from None

  pieces = []
  if clip:
    pieces.append(optax.clip_by_global_norm(clip))
  if l2:
    pieces.append(optax.add_decayed_weights(l2, mask))
  if l1:
    pieces.append(add_l1_penalty(l1, mask))
  pieces.append(direction)
  if weight_decay and name not in NATIVE_DECAY:
    pieces.append(optax.add_decayed_weights(-weight_decay, mask))
  pieces.append(optax.scale_by_schedule(schedule))
  return optax.chain(*pieces), schedule


def freeze(tx: optax.GradientTransformation, frozen) -> optax.GradientTransformation:
  """`tx` with the parameters `frozen` (a params → bool tree function) held fixed: their gradients
  are zeroed before `tx` (so clipping and optimizer statistics ignore them) and their updates
  after it (so weight decay does not move them either)."""
  return optax.chain(optax.masked(optax.set_to_zero(), frozen), tx, optax.masked(optax.set_to_zero(), frozen))
