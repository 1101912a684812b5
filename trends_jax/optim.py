"""Optimizers and learning-rate schedules from the config, built from optax pieces.

    tx, schedule = optim.create(config.optimizer, num_train_steps)

`config.optimizer` holds `name`, `learning_rate` and the optimizer's own keyword arguments,
plus the schedule fields `schedule`, `warmup_steps` and, for 'cosine', `end_learning_rate`.
"""

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

SCHEDULES = Registry("schedule", "optimizer.schedule")
SCHEDULES.register("constant", lambda peak, steps: optax.constant_schedule(peak))
SCHEDULES.register("cosine", lambda peak, steps, end_learning_rate=0.0: optax.cosine_decay_schedule(
    peak, max(steps, 1), alpha=end_learning_rate / peak if peak else 0.0))
SCHEDULES.register("linear", lambda peak, steps, end_learning_rate=0.0: optax.linear_schedule(
    peak, end_learning_rate, max(steps, 1)))

_SCHEDULE_FIELDS = ("schedule", "warmup_steps", "end_learning_rate")


def learning_rate_schedule(optimizer_config, num_train_steps: int) -> optax.Schedule:
  """Linear warm-up from 0 over `warmup_steps`, then the named decay over the remaining steps."""
  peak = optimizer_config.learning_rate
  warmup = optimizer_config.get("warmup_steps", 0)
  decay_kwargs = {k: optimizer_config[k] for k in ("end_learning_rate",) if k in optimizer_config}
  decay = SCHEDULES.get(optimizer_config.get("schedule", "constant"))(
      peak, num_train_steps - warmup, **decay_kwargs)
  if not warmup:
    return decay
  return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])


def create(optimizer_config, num_train_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """The optax transformation named in `optimizer_config`, and its learning-rate schedule."""
  make = OPTIMIZERS.get(optimizer_config.name)
  if not optimizer_config.learning_rate > 0:
    raise UserError(f"optimizer.learning_rate must be > 0, got {optimizer_config.learning_rate}; "
                    "pass e.g. --config.optimizer.learning_rate=0.001")
  schedule = learning_rate_schedule(optimizer_config, num_train_steps)
  kwargs = {k: v for k, v in optimizer_config.items()
            if k not in ("name", "learning_rate") + _SCHEDULE_FIELDS}
  try:
    tx = make(learning_rate=schedule, **kwargs)
  except TypeError as e:
    raise UserError(f"optimizer {optimizer_config.name!r} does not take {sorted(kwargs)}: {e}") from None
  return tx, schedule
