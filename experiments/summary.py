r"""Prints a model's layers (output shape, parameters), its forward FLOPs and its parameter count:

    python experiments/summary.py --model=resnet50 [--input_shape=224,224,3] [--num_classes=1000]

Nothing is initialized for real: shapes come from jax.eval_shape, FLOPs from XLA's cost analysis
of the compiled forward pass for one example. The last line is `params: <int>`.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import launch
import numpy as np
from absl import flags

from trends_jax import models
from trends_jax.bench import timing as benchmark
from trends_jax.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Registered model name, e.g. resnet50.")
flags.mark_flag_as_required("model")
flags.DEFINE_string("input_shape", "224,224,3", "Shape of one input example, e.g. H,W,C.")
flags.DEFINE_integer("num_classes", None, "Number of classes (default: the model's own default).")


def parse_shape(text: str) -> tuple[int, ...]:
  try:
    shape = tuple(int(part) for part in text.split(","))
  except ValueError:
    shape = ()
  if not shape or min(shape) < 1:
    raise UserError(f"--input_shape must be positive integers separated by commas, e.g. 224,224,3; "
                    f"got {text!r}")
  return shape


def describe(value) -> str:
  if isinstance(value, (tuple, list)):
    return ", ".join(describe(v) for v in value if v is not None)
  return f"{tuple(value.shape)} {value.dtype}" if hasattr(value, "shape") else str(value)


def trace_layers(model, inputs):
  """Initializes `model` abstractly, recording each module call: [path, output], in call order.

  Calls are recorded as they start, so a block comes before its layers; `init` runs every
  branch a model has (GoogLeNet's auxiliary heads included).
  """
  calls = {}

  def record(next_fun, args, kwargs, context):
    if context.method_name != "__call__" or not context.module.path:
      return next_fun(*args, **kwargs)
    path = context.module.path
    calls.setdefault(path, "")
    output = next_fun(*args, **kwargs)
    calls[path] = describe(output)
    return output

  def init(x):
    with nn.intercept_methods(record):
      return model.init(jax.random.PRNGKey(0), x, train=False)

  return jax.eval_shape(init, inputs), calls


def parameter_count(tree) -> int:
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def summarize(model_name: str, input_shape: tuple[int, ...], num_classes: int | None) -> None:
  if num_classes is not None and num_classes < 1:
    raise UserError(f"--num_classes must be at least 1, got {num_classes}")
  kwargs = {} if num_classes is None else {"num_classes": num_classes}
  model = models.create(model_name, **kwargs)
  inputs = jax.ShapeDtypeStruct((1,) + input_shape, jnp.float32)
  variables, calls = trace_layers(model, inputs)
  params = variables.get("params", {})

  def subtree(path):
    tree = params
    for name in path:
      tree = tree.get(name, {}) if isinstance(tree, dict) else {}
    return tree

  rows = [("  " * (len(path) - 1) + path[-1], output, parameter_count(subtree(path)))
          for path, output in calls.items()]
  header = ("layer", "output", "params")
  widths = [max([len(header[i])] + [len(row[i]) for row in rows]) for i in range(2)]
  print(f"{header[0]:<{widths[0]}}  {header[1]:<{widths[1]}}  {header[2]:>12}")
  for name, output, count in rows:
    print(f"{name:<{widths[0]}}  {output:<{widths[1]}}  {count:>12,}")

  forward = jax.jit(lambda v, x: model.apply(v, x, train=False))
  flops = benchmark.flops(forward.lower(variables, inputs).compile())
  print(f"input {describe(inputs)} → {describe(jax.eval_shape(forward, variables, inputs))}")
  print("forward FLOPs (batch 1, XLA cost analysis): "
        + ("unavailable" if flops is None else f"{int(flops):,} ({flops / 1e9:.2f} GFLOP)"))
  print(f"params: {parameter_count(params)}")


def main(argv):
  del argv
  launch.run_user_code(lambda: summarize(FLAGS.model, parse_shape(FLAGS.input_shape), FLAGS.num_classes))


if __name__ == "__main__":
  launch.run(main)
