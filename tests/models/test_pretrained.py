"""Published weights: torchvision / timm models with random weights, saved as their files, load by name
and give torch's forward pass; bad files fail in one line that names the tensor.

Parity tests need torch, torchvision and timm (skipped without them) and build the full
architectures, except that VGG's and AlexNet's 4096-wide classifiers are narrowed to keep the
files small (same module names, same channel-first flatten). Error tests write safetensors with
numpy and need no torch.
"""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from trends_jax import models
from trends_jax.errors import UserError
from trends_jax.models import pretrained

from conftest import REPO

CLASSES = 10
SAFETENSORS_TOO = ("resnet50", "se_resnet50")  # Also saved as safetensors, which must load the same.
# name → (builder, input size, kwargs for load_pretrained, tolerance on the relative L2 error).
# ResNet-152's torch float32 forward is itself ~2e-4 from float64 (DESIGN.md).
# GoogLeNet's reference has torchvision's transform_input=True, as its published weights: it matches
# only because load_pretrained turns ours on. ResNet-50 is also checked at ImageNet's size.
PARITY = {
    **{f"resnet{d}": (("torchvision", f"resnet{d}"), 224 if d == 50 else 64, {}, 3e-4 if d == 152 else 1e-4)
       for d in (18, 34, 50, 101, 152)},
    **{f"vgg{d}{bn}": (("torchvision", f"vgg{d}{bn}"), 64, {"classifier_width": 64, "pooled_size": 2}, 1e-4)
       for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    "alexnet": (("torchvision", "alexnet"), 224, {"classifier_width": 64}, 1e-4),
    "googlenet": (("torchvision", "googlenet"), 64, {}, 1e-4),
    "se_resnet50": (("timm", "seresnet50"), 64, {}, 1e-4),
}


def relative_error(a, b) -> float:
  return float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b))


def forward(model, variables, images_nchw):
  images = images_nchw.transpose(0, 2, 3, 1)
  apply = jax.jit(lambda v, x: model.apply(v, x, train=False))
  return np.asarray(apply.lower(variables, images).compile(models.FAST_COMPILE)(variables, images))


def torch_model(builder, kwargs):
  """The reference model with random weights and random BatchNorm statistics, in eval mode."""
  torch = pytest.importorskip("torch", reason="parity with torchvision needs torch (pip install torch)")
  library, name = builder
  torch.manual_seed(0)
  # Built on the meta device, then initialized once below: the libraries' own initialization of
  # VGG's 25088×4096 layer, replaced at once, would take most of the test's time.
  with torch.device("meta"):
    if library == "timm":
      timm = pytest.importorskip("timm", reason="se_resnet50's reference is timm's seresnet50 (pip install timm)")
      model = timm.create_model(name, pretrained=False, num_classes=CLASSES)
    else:
      torchvision = pytest.importorskip("torchvision", reason="the references are torchvision's models")
      extra = {"aux_logits": True, "transform_input": True, "init_weights": False} if name == "googlenet" else {}
      model = getattr(torchvision.models, name)(weights=None, num_classes=CLASSES, **extra)
    if "classifier_width" in kwargs:
      nn, width = torch.nn, kwargs["classifier_width"]
      pooled = kwargs.get("pooled_size", 6)
      if "pooled_size" in kwargs:
        model.avgpool = nn.AdaptiveAvgPool2d(pooled)
      fc1, fc2, fc3 = (1, 4, 6) if name == "alexnet" else (0, 3, 6)
      channels = 256 if name == "alexnet" else 512  # The last convolution's width.
      model.classifier[fc1] = nn.Linear(channels * pooled * pooled, width)
      model.classifier[fc2] = nn.Linear(width, width)
      model.classifier[fc3] = nn.Linear(width, CLASSES)
  model = model.to_empty(device="cpu")
  for module in model.modules():
    if hasattr(module, "reset_parameters"):
      module.reset_parameters()  # torch's defaults; BatchNorm's statistics to 0 and 1.
    # torchvision's ResNet and VGG initialization everywhere: its GoogLeNet's (std 0.01) leaves
    # logits that are the BatchNorm shifts alone, whatever the input.
    if isinstance(module, torch.nn.Conv2d):
      torch.nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    # Random statistics, not measured ones: measured ones make the residual stream grow additively
    # in the deep ResNets, where torch's own float32 error reaches 4e-4.
    if isinstance(module, torch.nn.BatchNorm2d):
      module.running_mean.normal_(0.0, 0.2)
      module.running_var.uniform_(0.5, 1.5)
      module.weight.data.uniform_(0.5, 1.5)
      module.bias.data.normal_(0.0, 0.2)
  return model.eval()


def torch_logits(model, images):
  import torch
  with torch.no_grad():
    return model(torch.from_numpy(images)).numpy()


def images(size, seed=0):
  return np.random.default_rng(seed).normal(size=(2, 3, size, size)).astype(np.float32)


# --- Parity with torchvision and timm ------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PARITY))
def test_forward_pass_matches_the_reference(name, tmp_path):
  builder, size, kwargs, tolerance = PARITY[name]
  reference = torch_model(builder, kwargs)
  import torch
  path = tmp_path / f"{name}.pth"
  torch.save(reference.state_dict(), path)
  x = images(size)
  model, variables = models.load_pretrained(name, path, **kwargs)
  assert model.num_classes == CLASSES  # Taken from the file's head.
  expected = torch_logits(reference, x)
  error = relative_error(forward(model, variables, x), expected)
  sensitivity = relative_error(torch_logits(reference, images(size, seed=1)), expected)
  print(f"{name}: relative L2 error {error:.2e} at {size}² (another input moves the logits by {sensitivity:.2e})")
  assert error <= tolerance
  # The comparison means something only if the logits depend on the input, 100× more than that.
  assert sensitivity > 1e-2
  if name in SAFETENSORS_TOO:
    safetensors_torch = pytest.importorskip("safetensors.torch", reason="needs safetensors")
    safetensors_torch.save_file(reference.state_dict(), tmp_path / f"{name}.safetensors")
    _, from_safetensors = models.load_pretrained(name, tmp_path / f"{name}.safetensors", **kwargs)
    jax.tree.map(np.testing.assert_array_equal, variables, from_safetensors)


# --- torch files: checkpoint dicts, DataParallel, and nothing that runs code ---------------------

def small_resnet_tensors(seed=0, **kwargs):
  """Random tensors with exactly the names and torch shapes of a narrow resnet18."""
  rng = np.random.default_rng(seed)
  shapes = pretrained.expected_tensors("resnet18", num_filters=4, num_classes=3, **kwargs)
  return {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}


def test_checkpoint_dicts_and_data_parallel_prefixes_load(tmp_path):
  torch = pytest.importorskip("torch", reason="reading .pth needs torch")
  tensors = small_resnet_tensors()
  state = {f"module.{k}": torch.from_numpy(v) for k, v in tensors.items()}
  state["module.bn1.num_batches_tracked"] = torch.tensor(7)
  torch.save({"model": state, "epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "checkpoint.pth")
  model, variables = models.load_pretrained("resnet18", tmp_path / "checkpoint.pth", num_filters=4)
  np.testing.assert_array_equal(variables["params"]["fc"]["kernel"], tensors["fc.weight"].T)
  np.testing.assert_array_equal(variables["params"]["layer2_0"]["downsample_conv"]["kernel"],
                                tensors["layer2.0.downsample.0.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(variables["batch_stats"]["bn1"]["var"], tensors["bn1.running_var"])


def test_a_pth_holding_code_is_refused_and_the_code_does_not_run(tmp_path):
  torch = pytest.importorskip("torch", reason="reading .pth needs torch")
  marker = tmp_path / "ran"

  class Payload:
    def __reduce__(self):
      return os.system, (f"touch {marker}",)

  state = {k: torch.from_numpy(v) for k, v in small_resnet_tensors().items()}
  torch.save({"state_dict": state, "payload": Payload()}, tmp_path / "evil.pth")
  with pytest.raises(UserError, match=r"refusing .*evil.pth: it holds Python objects besides tensors") as error:
    models.load_pretrained("resnet18", tmp_path / "evil.pth", num_filters=4)
  assert "\n" not in str(error.value)
  assert not marker.exists()


def test_without_torch_a_pth_asks_for_pip_install_torch(tmp_path, monkeypatch):
  (tmp_path / "w.pth").write_bytes(b"not read")
  monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError.
  with pytest.raises(UserError, match="needs PyTorch: pip install torch"):
    models.load_pretrained("resnet18", tmp_path / "w.pth")


def test_importing_the_models_imports_neither_torch_nor_safetensors():
  code = "import sys, trends_jax.models; print(sorted({'torch', 'safetensors'} & set(sys.modules)))"
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == "[]"


# --- safetensors without torch: round trip and one-line errors ----------------------------------

def save_safetensors(path, tensors):
  safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="needs safetensors")
  safetensors_numpy.save_file(tensors, str(path))
  return path


def one_line_error(name, path, match, **kwargs):
  with pytest.raises(UserError, match=match) as error:
    models.load_pretrained(name, path, **kwargs)
  assert "\n" not in str(error.value)
  return str(error.value)


def test_safetensors_round_trip_builds_the_models_own_tree(tmp_path):
  tensors = small_resnet_tensors()
  path = save_safetensors(tmp_path / "w.safetensors", tensors)
  model, variables = models.load_pretrained("resnet18", path, num_filters=4)
  assert model.num_classes == 3
  expected = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), np.zeros((1, 32, 32, 3)), train=False))
  assert jax.tree.structure(variables) == jax.tree.structure(expected)
  assert jax.tree.map(lambda a: a.shape, variables) == jax.tree.map(lambda a: a.shape, expected)
  np.testing.assert_array_equal(variables["params"]["layer1_0"]["bn2"]["scale"], tensors["layer1.0.bn2.weight"])


def test_a_missing_tensor_is_named(tmp_path):
  tensors = small_resnet_tensors()
  del tensors["layer3.1.bn1.running_mean"]
  path = save_safetensors(tmp_path / "w.safetensors", tensors)
  one_line_error("resnet18", path, r"does not fit resnet18: tensor layer3\.1\.bn1\.running_mean is missing "
                 r"\(1 missing, 0 unexpected of 102 expected\)", num_filters=4)


def test_an_unexpected_tensor_is_named(tmp_path):
  tensors = small_resnet_tensors()
  tensors["layer1.0.se.fc1.weight"] = np.zeros((1, 4, 1, 1), np.float32)
  path = save_safetensors(tmp_path / "w.safetensors", tensors)
  one_line_error("resnet18", path, r"tensor layer1\.0\.se\.fc1\.weight is unexpected \(0 missing, 1 unexpected",
                 num_filters=4)


def test_a_mis_shaped_tensor_is_named_with_both_shapes(tmp_path):
  tensors = small_resnet_tensors()
  tensors["layer3.0.conv2.weight"] = np.zeros((16, 16, 5, 5), np.float32)
  path = save_safetensors(tmp_path / "w.safetensors", tensors)
  one_line_error("resnet18", path, r"tensor layer3\.0\.conv2\.weight has shape \(16, 16, 5, 5\), "
                 r"but resnet18 expects \(16, 16, 3, 3\)", num_filters=4)


def test_weights_of_another_architecture_name_it(tmp_path):
  shapes = pretrained.expected_tensors("resnet50", num_filters=4, num_classes=3)
  path = save_safetensors(tmp_path / "resnet50.safetensors", {k: np.zeros(s, np.float32) for k, s in shapes.items()})
  one_line_error("resnet18", path, r"does not fit resnet18: .* it fits resnet50: load it with name 'resnet50'",
                 num_filters=4)


def test_num_classes_follows_the_file_and_a_different_one_is_refused(tmp_path):
  path = save_safetensors(tmp_path / "w.safetensors", small_resnet_tensors())
  one_line_error("resnet18", path, r"its head fc\.weight has 3 classes but num_classes=5 was asked",
                 num_filters=4, num_classes=5)
  model, _ = models.load_pretrained("resnet18", path, num_filters=4, num_classes=3)
  assert model.num_classes == 3


@pytest.mark.parametrize("aux_logits", [True, False])
def test_googlenet_aux_heads_follow_the_file_and_the_input_transform_is_on(tmp_path, aux_logits):
  shapes = pretrained.expected_tensors("googlenet", aux_logits=aux_logits, width=0.25, num_classes=4)
  assert any(k.startswith("aux1.") for k in shapes) == aux_logits
  path = save_safetensors(tmp_path / "g.safetensors", {k: np.ones(s, np.float32) for k, s in shapes.items()})
  model, variables = models.load_pretrained("googlenet", path, width=0.25)
  assert model.aux_logits == aux_logits and model.transform_input and model.num_classes == 4
  assert ("aux1" in variables["params"]) == aux_logits
  plain, _ = models.load_pretrained("googlenet", path, width=0.25, transform_input=False)
  assert not plain.transform_input


@pytest.mark.parametrize("content, name, match", [
    (None, "w.safetensors", r"weights file .*w\.safetensors does not exist"),
    (b"\x00garbage", "w.safetensors", r"cannot read .*w\.safetensors as safetensors: "),
    (b"", "w.h5", r"unknown extension '\.h5'; pass a torch state dict \(\.pth, \.pt, \.bin\) or a \.safetensors"),
])
def test_unreadable_files_are_one_line_errors(tmp_path, content, name, match):
  if content is not None:
    (tmp_path / name).write_bytes(content)
  pytest.importorskip("safetensors", reason="needs safetensors")
  one_line_error("resnet18", tmp_path / name, match)


def test_an_unsupported_model_lists_the_supported_ones(tmp_path):
  one_line_error("alexnet_2gpu", tmp_path / "w.safetensors", r"no published-weights mapping for model "
                 r"'alexnet_2gpu'; supported: resnet18, .*se_resnet50, vgg11, .*googlenet")
