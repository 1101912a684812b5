"""Starting a run from another workdir's weights: `config.init_from` and `config.freeze`.

`init_from` names a trainer run or a workdir of imported weights (experiments/import_weights.py).
Every parameter and BatchNorm statistic whose path and shape match the new model's is taken from
it; the rest (a head for another number of classes, layers the source lacks) keep the new run's
initialization. Only a new run starts this way: a resume restores its own checkpoint.

`freeze` keeps parameters fixed: "backbone" freezes everything taken from `init_from` but the output
layer (the last layer the network creates: trained as a linear probe), any other non-empty value is a regular expression over parameter paths
("/"-joined, e.g. "^(conv1|bn1|layer1)/"). Frozen parameters get no update and no weight decay
and do not count in gradient clipping; BatchNorm still normalizes with batch statistics in
training and its running averages still move, as in PyTorch with `requires_grad=False` under
`model.train()`.
"""

import re
from typing import NamedTuple

import jax
import numpy as np
from flax import traverse_util

from trends_jax.errors import UserError
from trends_jax.run import variables as run_variables

BACKBONE = "backbone"


class Start(NamedTuple):
  variables: dict  # The matched leaves only, in the model's collections ("params", "batch_stats").
  frozen: frozenset[str]  # "/"-joined parameter paths that get no update.
  summary: str  # One line for the run's log.


def _flat(tree: dict) -> dict:
  return traverse_util.flatten_dict(tree, sep="/")


def frozen_mask(frozen: frozenset[str]):
  """params → a tree of bools, True where the parameter is frozen (for optax.masked)."""
  def mask(params):
    return jax.tree_util.tree_map_with_path(
        lambda path, _: "/".join(str(getattr(k, "key", k)) for k in path) in frozen, params)
  return mask


def start_from(workdir: str, target: dict, freeze: str = "", output_layer: str = "") -> Start:
  """The leaves of `workdir`'s variables that fit `target` (the new model's variables, arrays or
  ShapeDtypeStructs), cast to the target's dtypes, and the parameters `freeze` selects;
  `output_layer` is the module path ("head") that "backbone" leaves to train."""
  _, loaded, step = run_variables.read(workdir)
  source, wanted = _flat(loaded), _flat(target)
  matched, reshaped = {}, []
  for path, leaf in wanted.items():
    if path not in source:
      continue
    if tuple(source[path].shape) != tuple(leaf.shape):
      reshaped.append(f"{path} {tuple(source[path].shape)} → {tuple(leaf.shape)}")
      continue
    matched[path] = np.asarray(source[path], leaf.dtype)
  if not any(path.startswith("params/") for path in matched):
    example = next(iter(source), "none")
    raise UserError(f"config.init_from={workdir}: none of its {len(source)} tensors fits this model (its first: "
                    f"{example}; the model's first: {next(iter(wanted))}); start from a workdir of the same "
                    "architecture (config.model.name)")
  params = [path[len("params/"):] for path in wanted if path.startswith("params/")]
  if freeze == BACKBONE:
    frozen = frozenset(p for p in params if f"params/{p}" in matched and not p.startswith(f"{output_layer}/"))
  elif freeze:
    try:
      pattern = re.compile(freeze)
    except re.error as e:
      raise UserError(f"config.freeze {freeze!r} is neither {BACKBONE!r} nor a valid regular expression ({e})") from None
    frozen = frozenset(p for p in params if pattern.search(p))
    if not frozen:
      raise UserError(f"config.freeze {freeze!r} matches no parameter; paths look like {params[0]!r}")
  else:
    frozen = frozenset()
  if len(frozen) == len(params):
    raise UserError(f"config.freeze {freeze!r} freezes every parameter: nothing would train")
  fresh = [path for path in wanted if path not in matched]
  loaded_params = sum(int(np.prod(v.shape)) for path, v in matched.items() if path.startswith("params/"))
  summary = (f"Initialized from {workdir} (step {step}): {len(matched)} of {len(wanted)} tensors, "
             f"{loaded_params:,} parameters"
             + (f"; new: {', '.join(fresh[:3])}{' …' if len(fresh) > 3 else ''}" if fresh else "")
             + (f" (other shape there: {'; '.join(reshaped[:2])})" if reshaped else "")
             + (f"; frozen: {len(frozen)} of {len(params)} parameter tensors" if frozen else ""))
  return Start(traverse_util.unflatten_dict(matched, sep="/"), frozen, summary)
