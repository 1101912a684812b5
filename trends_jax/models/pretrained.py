"""Published ImageNet weights (torchvision `.pth`, timm / Hugging Face `.safetensors`) as flax variables.

    model, variables = trends_jax.models.load_pretrained("resnet50", "resnet50-0676ba61.pth")
    logits = model.apply(variables, images, train=False)  # images NHWC, ImageNet-normalized

Every tensor is mapped by name: each family's table turns a flax module path into the torch
module name it mirrors (`layer1_0/downsample_bn` → `layer1.0.downsample.1`), and the parameter
leaf gives the torch suffix (`kernel` → `weight`, BatchNorm `mean` → `running_mean`, …).
Convolutions go OIHW → HWIO and dense layers (out, in) → (in, out). The classifiers flatten in
torch's channel-first order (spatial.flatten_channels_first), so no dense weight is permuted.
The expected names come from the model itself (jax.eval_shape of its init), and a file must hold
exactly those tensors, with their shapes; `num_batches_tracked` is ignored.

`num_classes` follows the file's head unless the caller passes it; GoogLeNet's `aux_logits`
follows the file too, and its `transform_input` defaults to True, as torchvision builds it for
its published weights. Reading `.pth` needs torch and uses `torch.load(weights_only=True)`, so a
weights file cannot run code; `.safetensors` needs only the `safetensors` package.
"""

import dataclasses
import functools
import os
import pickle
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from trends_jax import models
from trends_jax.errors import UserError
from trends_jax.models import alexnet, googlenet, vgg

# (variable collection, flax leaf) → the torch tensor's last name.
LEAVES = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}
IGNORED_SUFFIX = ".num_batches_tracked"  # A training counter torch keeps in every BatchNorm.
# Checkpoint dicts of training scripts (torchvision's references, timm's train.py) nest the weights.
NESTED_STATE_KEYS = ("state_dict", "model")
DATA_PARALLEL_PREFIX = "module."


# --- Per-family name tables: flax module path → torch module name ------------------------------

def resnet_module(model, path: tuple[str, ...]) -> str:
  """torchvision's and timm's ResNets: `layer2_0/downsample_conv` → `layer2.0.downsample.0`."""
  del model
  renames = {"downsample_conv": "downsample.0", "downsample_bn": "downsample.1"}
  # Blocks are named layer<stage>_<index> for torch's layer<stage>.<index> (Sequential children).
  return ".".join(part.replace("_", ".") if part.startswith("layer") else renames.get(part, part)
                  for part in path)


@functools.cache
def _vgg_table(depth: int, batch_norm: bool) -> dict[str, str]:
  """Our conv<i>/bn<i>/fc<k> → the indices of torchvision's `features` and `classifier` Sequentials."""
  table, index, convs = {}, 0, 0
  for layer in vgg.LAYERS[depth]:
    if layer == vgg.POOL:
      index += 1
      continue
    table[f"conv{convs}"] = f"features.{index}"
    if batch_norm:
      index += 1
      table[f"bn{convs}"] = f"features.{index}"
    index += 2  # The convolution (or BatchNorm) and its ReLU.
    convs += 1
  # classifier: Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear.
  return {**table, "fc1": "classifier.0", "fc2": "classifier.3", "fc3": "classifier.6"}


def vgg_module(model, path: tuple[str, ...]) -> str:
  return _vgg_table(model.depth, model.batch_norm)[path[0]]


# torchvision's AlexNet: features = conv, ReLU, pool, conv, ReLU, pool, conv, ReLU, conv, ReLU, conv,
# ReLU, pool; classifier = Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear.
ALEXNET = {"conv1": "features.0", "conv2": "features.3", "conv3": "features.6", "conv4": "features.8",
           "conv5": "features.10", "fc6": "classifier.1", "fc7": "classifier.4", "fc8": "classifier.6"}


def alexnet_module(model, path: tuple[str, ...]) -> str:
  del model
  return ALEXNET[path[0]]


def googlenet_module(model, path: tuple[str, ...]) -> str:
  """Our names are torchvision's, with branch<k>_<i> for its Sequential children branch<k>.<i>."""
  del model
  return ".".join(part.replace("_", ".") for part in path)


def googlenet_kwargs(tensors: Mapping[str, np.ndarray]) -> dict:
  # torchvision's published GoogLeNet weights were trained on inputs in [-1, 1]: its builder turns
  # transform_input on for them, and files saved from it keep the auxiliary heads.
  return {"aux_logits": "aux1.fc2.weight" in tensors, "transform_input": True}


@dataclasses.dataclass(frozen=True)
class Family:
  module_name: Callable  # (model, flax module path) → torch module name.
  head: str  # The torch name of the classifier's weight, whose rows are the classes.
  probe_size: int  # An input size the models accept; parameter shapes do not depend on it.
  file_kwargs: Callable[[Mapping[str, np.ndarray]], dict] = lambda tensors: {}


FAMILIES = {
    "resnet": Family(resnet_module, "fc.weight", 32),
    "vgg": Family(vgg_module, "classifier.6.weight", vgg.MIN_INPUT_SIZE),
    "alexnet": Family(alexnet_module, "classifier.6.weight", alexnet.MIN_INPUT_SIZE),
    "googlenet": Family(googlenet_module, "fc.weight", googlenet.MIN_INPUT_SIZE, googlenet_kwargs),
}
SUPPORTED = {
    **{f"resnet{d}": "resnet" for d in (18, 34, 50, 101, 152)},
    "se_resnet50": "resnet",  # timm's seresnet50.
    **{f"vgg{d}{bn}": "vgg" for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    "alexnet": "alexnet",
    "googlenet": "googlenet",
}


# --- The tensors a model expects ---------------------------------------------------------------

def check_supported(name: str) -> Family:
  """The family of `name`; a model without a weights mapping is a one-line UserError."""
  if name not in SUPPORTED:
    raise UserError(f"no published-weights mapping for model {name!r}; supported: {', '.join(SUPPORTED)}")
  return FAMILIES[SUPPORTED[name]]


def _flax_leaves(model, size: int) -> list[tuple[str, tuple[str, ...], tuple[int, ...]]]:
  """(collection, path, shape) of every variable, in the order the network creates them (pytree
  flattening sorts dict keys, so the dicts are walked by hand while tracing)."""
  leaves = []

  def walk(collection, tree, path):
    for key, value in tree.items():
      if isinstance(value, Mapping):
        walk(collection, value, path + (key,))
      else:
        leaves.append((collection, path + (key,), tuple(value.shape)))

  def init():
    variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, size, size, 3)), train=False)
    for collection, tree in variables.items():
      walk(collection, tree, ())
    return variables

  jax.eval_shape(init)
  return leaves


def _torch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
  """The torch layout of a flax kernel shape: HWIO → OIHW, (in, out) → (out, in)."""
  if len(shape) == 4:
    return (shape[3], shape[2], shape[0], shape[1])
  return shape[::-1] if len(shape) == 2 else shape


def _from_torch(array: np.ndarray) -> np.ndarray:
  if array.ndim == 4:
    return np.ascontiguousarray(array.transpose(2, 3, 1, 0))
  return np.ascontiguousarray(array.T) if array.ndim == 2 else array


@dataclasses.dataclass(frozen=True)
class Slot:
  collection: str
  path: tuple[str, ...]  # Module path and leaf name.
  shape: tuple[int, ...]  # In the torch layout.


def _slots(name: str, model) -> dict[str, Slot]:
  family = check_supported(name)
  slots = {}
  for collection, path, shape in _flax_leaves(model, family.probe_size):
    key = f"{family.module_name(model, path[:-1])}.{LEAVES[collection, path[-1]]}"
    slots[key] = Slot(collection, path, _torch_shape(shape))
  return slots


def expected_tensors(name: str, **model_kwargs) -> dict[str, tuple[int, ...]]:
  """The torch names and shapes a weights file for `models.create(name, **model_kwargs)` must
  hold, in network order."""
  return {key: slot.shape for key, slot in _slots(name, models.create(name, **model_kwargs)).items()}


@functools.cache
def _key_set(name: str, kwargs: tuple) -> frozenset[str]:
  return frozenset(_slots(name, models.create(name, **dict(kwargs))))


def _fitting_model(name: str, tensors: Mapping[str, np.ndarray]) -> str | None:
  """Another supported model whose tensor names are exactly the file's, for a hint."""
  same_family_first = sorted(SUPPORTED, key=lambda n: SUPPORTED[n] != SUPPORTED[name])
  for other in same_family_first:
    if other == name or FAMILIES[SUPPORTED[other]].head not in tensors:
      continue
    if _key_set(other, tuple(sorted(FAMILIES[SUPPORTED[other]].file_kwargs(tensors).items()))) == set(tensors):
      return other
  return None


# --- Reading files -----------------------------------------------------------------------------

def _first_line(error: Exception) -> str:
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  return lines[0] if lines else type(error).__name__


def _read_safetensors(path: str) -> Mapping:
  try:
    from safetensors.numpy import load_file
  except ImportError:
    raise UserError(f"reading {path} needs the safetensors package: pip install safetensors") from None
  try:
    return load_file(path)
  except Exception as e:  # noqa: BLE001 — safetensors raises its own and OS errors for bad files.
    raise UserError(f"cannot read {path} as safetensors: {_first_line(e)}") from None


def _read_torch(path: str) -> Mapping:
  try:
    import torch
  except ImportError:
    raise UserError(f"reading {path} (a torch file) needs PyTorch: pip install torch "
                    "(or convert it to .safetensors, which needs only pip install safetensors)") from None
  try:
    loaded = torch.load(path, map_location="cpu", weights_only=True)
  except pickle.UnpicklingError as e:
    reason = next((line.strip() for line in str(e).splitlines() if "Unsupported global" in line),
                  _first_line(e))
    raise UserError(f"refusing {path}: it holds Python objects besides tensors, and unpickling them could "
                    f"run code (torch.load weights_only=True: {reason}); if you trust the file, save its state "
                    "dict alone: torch.save(torch.load(path, weights_only=False)['state_dict'], 'weights.pth')") from None
  except Exception as e:  # noqa: BLE001 — torch raises RuntimeError, EOFError, … for damaged files.
    raise UserError(f"cannot read {path} with torch.load: {_first_line(e)}") from None
  return _state_dict(path, loaded, torch.Tensor)


def _state_dict(path: str, loaded, tensor_type) -> Mapping:
  """The name → tensor dict in what torch.load returned: a state dict, or a checkpoint holding one."""
  if isinstance(loaded, Mapping) and not all(isinstance(v, tensor_type) for v in loaded.values()):
    nested = next((loaded[k] for k in NESTED_STATE_KEYS if isinstance(loaded.get(k), Mapping)), None)
    if nested is None:
      raise UserError(f"{path} is a dict but not a state dict (keys: {', '.join(map(str, list(loaded)[:8]))}); "
                      f"save model.state_dict(), or a checkpoint holding it under {' or '.join(NESTED_STATE_KEYS)!r}")
    loaded = nested
  if not isinstance(loaded, Mapping) or not all(isinstance(v, tensor_type) for v in loaded.values()):
    raise UserError(f"{path} holds a {type(loaded).__name__}, not a state dict of tensors; "
                    "save model.state_dict() with torch.save")
  # torch tensors → float32 numpy (numpy has no bfloat16; the models keep float32 parameters).
  return {k: (v.float() if v.is_floating_point() else v).numpy() for k, v in loaded.items()}


READERS = {".safetensors": _read_safetensors, ".pth": _read_torch, ".pt": _read_torch, ".bin": _read_torch}


def read_tensors(path: str) -> dict[str, np.ndarray]:
  """The file's name → array dict, without `num_batches_tracked` and DataParallel's `module.` prefix."""
  path = os.fspath(path)
  extension = os.path.splitext(path)[1].lower()
  if extension not in READERS:
    raise UserError(f"weights file {path}: unknown extension {extension or '(none)'!r}; pass a torch "
                    f"state dict (.pth, .pt, .bin) or a .safetensors file")
  if not os.path.isfile(path):
    raise UserError(f"weights file {path} does not exist")
  tensors = {k: v for k, v in READERS[extension](path).items() if not k.endswith(IGNORED_SUFFIX)}
  if tensors and all(k.startswith(DATA_PARALLEL_PREFIX) for k in tensors):
    tensors = {k.removeprefix(DATA_PARALLEL_PREFIX): v for k, v in tensors.items()}
  return {k: v.astype(np.float32, copy=False) if np.issubdtype(v.dtype, np.floating) else v
          for k, v in tensors.items()}


# --- Loading -----------------------------------------------------------------------------------

def _model_kwargs(name: str, path: str, tensors: Mapping[str, np.ndarray], model_kwargs: dict) -> dict:
  family = FAMILIES[SUPPORTED[name]]
  kwargs = family.file_kwargs(tensors)
  head = tensors.get(family.head)
  if head is not None and head.ndim == 2:
    classes = head.shape[0]
    asked = model_kwargs.get("num_classes", classes)
    if asked != classes:
      raise UserError(f"{path}: its head {family.head} has {classes} classes but num_classes={asked} was asked; "
                      "leave num_classes out to load it, and fine-tune to another class count with "
                      "config.init_from, which re-initialises the head")
    kwargs["num_classes"] = classes
  return {**kwargs, **model_kwargs}


def _mismatch(name: str, path: str, slots: Mapping[str, Slot], tensors: Mapping[str, np.ndarray]) -> str | None:
  missing = [k for k in slots if k not in tensors]
  unexpected = [k for k in tensors if k not in slots]
  if not missing and not unexpected:
    for key, slot in slots.items():
      if tuple(tensors[key].shape) != slot.shape:
        return (f"{path}: tensor {key} has shape {tuple(tensors[key].shape)}, but {name} expects {slot.shape} "
                "(check the model name and its kwargs)")
    return None
  first = f"tensor {missing[0]} is missing" if missing else f"tensor {unexpected[0]} is unexpected"
  other = _fitting_model(name, tensors)
  hint = (f"; it fits {other}: load it with name {other!r}" if other else
          "; is it a torchvision or timm state dict of this architecture?")
  return (f"{path} does not fit {name}: {first} ({len(missing)} missing, {len(unexpected)} unexpected "
          f"of {len(slots)} expected){hint}")


def _nest(pairs) -> dict:
  tree = {}
  for path, value in pairs:
    node = tree
    for part in path[:-1]:
      node = node.setdefault(part, {})
    node[path[-1]] = value
  return tree


def load_pretrained(name: str, path: str, **model_kwargs) -> tuple:
  """(module, variables) for the weights in `path` (torchvision `.pth`/`.pt`, timm `.safetensors`).

  `model_kwargs` go to models.create; `num_classes` defaults to the file's head size. Any
  missing, unexpected or mis-shaped tensor is a one-line UserError naming the first one."""
  check_supported(name)
  tensors = read_tensors(path)
  model = models.create(name, **_model_kwargs(name, os.fspath(path), tensors, model_kwargs))
  slots = _slots(name, model)
  problem = _mismatch(name, os.fspath(path), slots, tensors)
  if problem:
    raise UserError(problem)
  variables = {}
  for key, slot in slots.items():
    variables.setdefault(slot.collection, []).append((slot.path, _from_torch(tensors[key])))
  return model, {collection: _nest(pairs) for collection, pairs in variables.items()}
