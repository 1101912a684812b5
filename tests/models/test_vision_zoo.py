"""The vision model zoo: published parameter counts, torchvision's pooling arithmetic, train/eval
behaviour, one real training step per family, and one-line errors.

Only small models are compiled; the big ones are checked with jax.eval_shape, which traces
without compiling.
"""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trends_jax import losses, models
from trends_jax.errors import UserError
from trends_jax.models import alexnet, spatial
from trends_jax.training import steps

from conftest import REPO

ZOO = [n for n in models.names() if n.startswith(("alexnet", "vgg", "googlenet", "resnet", "se_resnet"))]
IMAGENET = (1, 224, 224, 3)

# Published counts at 224², 1000 classes: torchvision's model metadata; se_resnet50 is timm's.
PUBLISHED_PARAMS = {
    "alexnet": 61_100_840,
    "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248,
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
    "resnet101": 44_549_160, "resnet152": 60_192_808,
    "se_resnet50": 28_088_024,
}
# The smallest input each family takes (and that the tests use for it).
SMALL_INPUT = {"alexnet": 63, "vgg": 32, "googlenet": 15, "resnet": 1}


def family(name: str) -> str:
  return next(f for f in SMALL_INPUT if name.removeprefix("se_").startswith(f))


def abstract_variables(model, shape, train=False):
  rngs = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)}
  return jax.eval_shape(lambda: model.init(rngs, jnp.zeros(shape), train=train))


# XLA's backend optimizations take most of the compile time of these one-shot programs on tiny
# inputs, and buy nothing there.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def compile_and_run(fn, *args):
  return jax.jit(fn).lower(*args).compile(FAST_COMPILE)(*args)


def count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


# --- Parameter counts -----------------------------------------------------------------------------

def test_the_zoo_is_registered():
  assert set(PUBLISHED_PARAMS) | {"alexnet_2gpu", "googlenet", "se_resnet18", "se_resnet152"} <= set(ZOO)


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_published_parameter_counts(name):
  params = abstract_variables(models.create(name), IMAGENET)["params"]
  print(f"{name}: {count(params):,} (published {PUBLISHED_PARAMS[name]:,})")
  assert count(params) == PUBLISHED_PARAMS[name]


def test_googlenet_without_aux_heads_has_torchvision_count():
  with_aux = abstract_variables(models.create("googlenet"), IMAGENET, train=True)["params"]
  without_aux_subtrees = {k: v for k, v in with_aux.items() if k not in ("aux1", "aux2")}
  built_without_aux = abstract_variables(models.create("googlenet", aux_logits=False), IMAGENET)["params"]
  print(f"googlenet: {count(with_aux):,} with aux heads, {count(without_aux_subtrees):,} without "
        f"({count(built_without_aux):,} built with aux_logits=False; published 6,624,904)")
  assert count(without_aux_subtrees) == count(built_without_aux) == 6_624_904


def test_alexnet_2gpu_parameter_count_is_the_papers_arithmetic():
  # (kernel h·w · input maps per tower · kernels + biases); grouped layers see half the maps.
  expected = ((11 * 11 * 3 * 96 + 96) + (5 * 5 * 48 * 256 + 256) + (3 * 3 * 256 * 384 + 384)
              + (3 * 3 * 192 * 384 + 384) + (3 * 3 * 192 * 256 + 256)
              + (6 * 6 * 256 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000))
  params = abstract_variables(models.create("alexnet_2gpu"), IMAGENET)["params"]
  print(f"alexnet_2gpu: {count(params):,} (paper arithmetic {expected:,})")
  assert count(params) == expected == 60_965_224


def test_se_adds_the_squeeze_excitation_layers_to_every_block():
  # Bottleneck blocks: C→C/16 and C/16→C 1×1 convs with bias, C = 256, 512, 1024, 2048.
  expected = sum(blocks * (2 * c * (c // 16) + c // 16 + c)
                 for blocks, c in ((3, 256), (4, 512), (6, 1024), (3, 2048)))
  plain = count(abstract_variables(models.create("resnet50"), IMAGENET)["params"])
  se = count(abstract_variables(models.create("se_resnet50"), IMAGENET)["params"])
  assert se - plain == expected


# --- torchvision's pooling arithmetic -------------------------------------------------------------

def reference_adaptive_avg_pool(x, out):
  """torch.nn.AdaptiveAvgPool2d's definition, one window at a time."""
  n, h, w, c = x.shape
  y = np.zeros((n, out[0], out[1], c), x.dtype)
  for i in range(out[0]):
    for j in range(out[1]):
      rows = slice(i * h // out[0], -(-(i + 1) * h // out[0]))
      cols = slice(j * w // out[1], -(-(j + 1) * w // out[1]))
      y[:, i, j] = x[:, rows, cols].mean(axis=(1, 2))
  return y


@pytest.mark.parametrize("in_size, out", [((1, 1), (7, 7)), ((14, 14), (7, 7)), ((13, 5), (6, 6)),
                                          ((5, 10), (4, 3)), ((3, 3), (4, 4))])
def test_adaptive_avg_pool_is_torchvision_exact(in_size, out):
  x = np.random.default_rng(0).normal(size=(2, *in_size, 3)).astype(np.float32)
  np.testing.assert_allclose(spatial.adaptive_avg_pool(jnp.asarray(x), out),
                             reference_adaptive_avg_pool(x, out), rtol=1e-6, atol=1e-6)


def reference_max_pool_ceil(x, window, stride, padding):
  """torch.nn.MaxPool2d(..., ceil_mode=True): windows may run off the far edge."""
  size = x.shape[1]
  out = -(-(size + 2 * padding - window) // stride) + 1
  if (out - 1) * stride >= size + padding:
    out -= 1
  padded = np.pad(x, ((0, 0), (padding, padding + window), (padding, padding + window), (0, 0)),
                  constant_values=-np.inf)
  return np.stack([np.stack([padded[:, i * stride:i * stride + window, j * stride:j * stride + window]
                             .max(axis=(1, 2)) for j in range(out)], 1) for i in range(out)], 1)


@pytest.mark.parametrize("size, window, stride, padding", [(112, 3, 2, 0), (7, 3, 2, 0), (2, 3, 2, 0),
                                                           (7, 2, 2, 0), (9, 3, 1, 1)])
def test_ceil_mode_max_pool_is_torchvision_exact(size, window, stride, padding):
  x = np.random.default_rng(0).normal(size=(1, size, size, 2)).astype(np.float32)
  np.testing.assert_array_equal(spatial.max_pool_ceil(jnp.asarray(x), window, stride, padding),
                                reference_max_pool_ceil(x, window, stride, padding))


def test_resnet50_is_v1_5_and_stems_have_torchvision_sizes():
  def layer_outputs(model, size):
    def trace():
      x = jnp.zeros((1, size, size, 3))
      variables = model.init(jax.random.PRNGKey(0), x)
      return model.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])[1]
    return jax.eval_shape(trace)["intermediates"]

  block = layer_outputs(models.create("resnet50"), 224)["layer2_0"]
  # v1.5: the first 1×1 keeps 56×56 and the 3×3 strides to 28×28 (v1 would stride the 1×1).
  assert block["conv1"]["__call__"][0].shape[1:3] == (56, 56)
  assert block["conv2"]["__call__"][0].shape[1:3] == (28, 28)
  cifar = layer_outputs(models.create("resnet18", cifar_stem=True, num_filters=8), 32)
  assert cifar["layer1_0"]["__call__"][0].shape[1:3] == (32, 32)
  imagenet = layer_outputs(models.create("resnet18", num_filters=8), 32)
  assert imagenet["layer1_0"]["__call__"][0].shape[1:3] == (8, 8)


# --- Every model: forward shapes (traced), modes, dtypes, errors --------------------------------

@pytest.mark.parametrize("name", ZOO)
def test_forward_shapes_at_the_smallest_input(name):
  size = SMALL_INPUT[family(name)]
  model = models.create(name, num_classes=7)
  shape = (2, size, size, 3)
  variables = abstract_variables(model, shape)
  logits = jax.eval_shape(lambda v: model.apply(v, jnp.zeros(shape), train=False), variables)
  assert logits.shape == (2, 7)


@pytest.mark.parametrize("name", ["alexnet", "alexnet_2gpu", "vgg11", "googlenet", "resnet18"])
def test_minimum_input_size_works_and_one_pixel_less_is_a_user_error(name):
  model = models.create(name, num_classes=3)
  smallest = SMALL_INPUT[family(name)]
  assert abstract_variables(model, (1, smallest, smallest, 3))["params"]
  if smallest > 1:
    with pytest.raises(UserError, match=rf"at least {smallest}×{smallest} pixels, got {smallest - 1}×"):
      abstract_variables(model, (1, smallest - 1, smallest + 5, 3))


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "googlenet", "resnet50"])
def test_bad_num_classes_and_image_rank_are_one_line_user_errors(name):
  with pytest.raises(UserError, match="num_classes must be at least 1, got 0") as error:
    abstract_variables(models.create(name, num_classes=0), (1, 64, 64, 3))
  assert "\n" not in str(error.value)
  with pytest.raises(UserError, match=r"expects images shaped \[batch, height, width, channels\]"):
    abstract_variables(models.create(name), (64, 64, 3))


@pytest.mark.parametrize("name", ["alexnet", "alexnet_2gpu", "vgg11_bn", "googlenet", "se_resnet18"])
def test_bfloat16_compute_keeps_float32_params(name):
  model = models.create(name, num_classes=5, dtype=jnp.bfloat16)
  size = max(SMALL_INPUT[family(name)], 32)
  variables = abstract_variables(model, (2, size, size, 3))
  assert {x.dtype for x in jax.tree.leaves(variables["params"])} == {jnp.dtype(jnp.float32)}
  logits = jax.eval_shape(lambda v: model.apply(v, jnp.zeros((2, size, size, 3))), variables)
  assert logits.dtype == jnp.bfloat16


# --- Architecture-specific behaviour --------------------------------------------------------------

def test_alexnet_2gpu_towers_connect_only_where_the_paper_connects_them():
  params = abstract_variables(models.create("alexnet_2gpu"), IMAGENET)["params"]
  inputs = {"conv2": 96, "conv3": 256, "conv4": 384, "conv5": 384}  # Channels entering each conv.
  for layer in ("conv2", "conv4", "conv5"):  # Each tower sees only its own half.
    assert params[layer]["kernel"].shape[2] == inputs[layer] // 2, layer
  assert params["conv3"]["kernel"].shape[2] == inputs["conv3"]  # Both towers.
  assert params["conv1"]["kernel"].shape == (11, 11, 3, 96)
  for layer in ("fc6", "fc7"):  # 2 × 2048 neurons, each seeing the whole previous layer.
    width_in = 6 * 6 * 256 if layer == "fc6" else 4096
    assert [params[f"{layer}_tower{t}"]["kernel"].shape for t in (0, 1)] == [(width_in, 2048)] * 2
  # Response normalization is per GPU: tower 1's output ignores tower 0's maps.
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 2, 2, 96))
  x_changed = x.at[..., 40:48].multiply(50.0)
  y, y_changed = alexnet.local_response_norm(x, 2), alexnet.local_response_norm(x_changed, 2)
  np.testing.assert_array_equal(y[..., 48:], y_changed[..., 48:])
  assert not np.allclose(y[..., 44:48], y_changed[..., 44:48] / 50.0)


def test_googlenet_aux_heads_only_in_training():
  model = models.create("googlenet", num_classes=4)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 32, 32, 3))
  variables = abstract_variables(model, x.shape)
  assert {"aux1", "aux2"} <= set(variables["params"])  # The trainer inits with train=False.
  train_params = abstract_variables(model, x.shape, train=True)["params"]
  assert jax.tree.structure(variables["params"]) == jax.tree.structure(train_params)
  # Evaluation needs no aux parameters at all: it does not compute the heads.
  eval_only = {c: {k: v for k, v in tree.items() if k not in ("aux1", "aux2")}
               for c, tree in variables.items()}
  eval_out = jax.eval_shape(lambda v: model.apply(v, x, train=False), eval_only)
  assert eval_out.shape == (2, 4)
  train_out, _ = jax.eval_shape(lambda v: model.apply(v, x, train=True, mutable=["batch_stats"],
                                                      rngs={"dropout": jax.random.PRNGKey(1)}),
                                variables)
  assert isinstance(train_out, tuple) and [o.shape for o in train_out] == [(2, 4)] * 3


def test_batch_norm_uses_batch_statistics_in_training_and_running_averages_in_eval():
  model = models.create("resnet18", num_classes=3, num_filters=4, cifar_stem=True, stage_sizes=(1, 1))
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 8, 8, 3)) * 3 + 1
  variables = compile_and_run(model.init, jax.random.PRNGKey(1), x)

  def both_modes(variables, x):
    def train(batch):
      return model.apply(variables, batch, train=True, mutable=["batch_stats"])
    (train_full, updates), (train_half, _) = train(x), train(x[:2])
    return train_full, train_half, updates, model.apply(variables, x), model.apply(variables, x[:2])

  train_full, train_half, updates, eval_full, eval_half = compile_and_run(both_modes, variables, x)
  # In training an example's logits depend on the rest of its batch; in evaluation they do not.
  assert not np.allclose(train_full[:2], train_half, atol=1e-5)
  np.testing.assert_allclose(eval_full[:2], eval_half, atol=1e-5)
  assert not np.allclose(train_full, eval_full, atol=1e-3)
  # Running averages move towards the batch statistics (by torch's 10%).
  assert not np.allclose(variables["batch_stats"]["bn1"]["mean"], updates["batch_stats"]["bn1"]["mean"])


def test_zero_init_residual_zeroes_the_last_norm_of_every_block():
  for name, last in (("resnet18", "bn2"), ("resnet50", "bn3")):
    for zero in (False, True):
      model = models.create(name, num_filters=4, zero_init_residual=zero, stage_sizes=(1, 2))
      params = compile_and_run(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 3)))["params"]
      blocks = [v for k, v in params.items() if k.startswith("layer")]
      assert len(blocks) == 3
      assert all(np.all(b[last]["scale"] == (0.0 if zero else 1.0)) for b in blocks)
      assert all(np.all(b["bn1"]["scale"] == 1.0) for b in blocks)


def test_se_gates_are_sown_per_block_and_the_squeeze_choice_matters():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 3))
  avg, mx = (models.create("se_resnet18", num_classes=3, num_filters=16, cifar_stem=True, squeeze=s)
             for s in ("avg", "max"))
  variables = compile_and_run(avg.init, jax.random.PRNGKey(1), x)

  def gates_and_logits(variables, x):
    logits, state = avg.apply(variables, x, mutable=["intermediates"])
    return state["intermediates"], logits, mx.apply(variables, x)

  intermediates, avg_logits, max_logits = compile_and_run(gates_and_logits, variables, x)
  gates = {k: v["se"]["se_gate"][0] for k, v in intermediates.items() if k.startswith("layer")}
  assert len(gates) == 8
  assert gates["layer1_0"].shape == (2, 16) and gates["layer4_1"].shape == (2, 128)
  assert all(np.all((g > 0) & (g < 1)) for g in gates.values())
  assert not np.allclose(avg_logits, max_logits)
  with pytest.raises(UserError, match="squeeze must be one of"):
    abstract_variables(models.create("se_resnet18", squeeze="mean"), x.shape)


# --- One real training step per family, on the smallest variant ----------------------------------

TRAINABLE = [  # name, small knobs, image size
    ("alexnet", {"classifier_width": 32}, 63),
    ("alexnet_2gpu", {"classifier_width": 32}, 63),
    ("vgg11", {"classifier_width": 32}, 32),
    ("vgg11_bn", {"classifier_width": 32}, 32),
    ("googlenet", {}, 32),
    ("resnet18", {"num_filters": 8, "cifar_stem": True}, 16),
    ("se_resnet18", {"num_filters": 16, "squeeze": "max"}, 32),
    ("se_resnet50", {"num_filters": 4}, 32),  # Also stands for resnet50: the same blocks plus SE.
]


@pytest.mark.parametrize("name, knobs, size", TRAINABLE, ids=[t[0] for t in TRAINABLE])
def test_forward_and_one_training_step(name, knobs, size):
  model = models.create(name, num_classes=5, **knobs)
  batch = {"inputs": jax.random.normal(jax.random.PRNGKey(0), (4, size, size, 3)),
           "label": jnp.array([0, 1, 2, 3])}
  state = compile_and_run(
      lambda x: steps.create_train_state(model, optax.sgd(0.01, momentum=0.9), jax.random.PRNGKey(1), x),
      batch["inputs"])
  train_step = steps.make_train_step(model, losses.create("softmax_xent"))

  def evaluate_then_train(state, batch):
    variables = {"params": state.params}
    if state.batch_stats is not None:
      variables["batch_stats"] = state.batch_stats
    return model.apply(variables, batch["inputs"], train=False), train_step(state, batch)

  logits, (new_state, metrics) = compile_and_run(evaluate_then_train, state, batch)
  assert logits.shape == (4, 5) and np.all(np.isfinite(logits))
  assert np.isfinite(metrics["loss"]) and metrics["grad_norm"] > 0
  assert int(new_state.step) == 1
  moved = jax.tree.map(lambda a, b: bool(np.any(a != b)), state.params, new_state.params)
  assert sum(jax.tree.leaves(moved)) > 0.9 * len(jax.tree.leaves(moved))
  if state.batch_stats is not None:
    assert not np.allclose(jax.tree.leaves(state.batch_stats)[0], jax.tree.leaves(new_state.batch_stats)[0])


# --- The summary launcher -------------------------------------------------------------------------

def test_summary_prints_table_flops_and_params():
  result = subprocess.run([sys.executable, "experiments/summary.py", "--model=resnet18"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  lines = result.stdout.strip().splitlines()
  assert lines[-1] == "params: 11689512"
  assert any(line.startswith("layer4_1") and "(1, 7, 7, 512)" in line for line in lines)
  assert "forward FLOPs (batch 1, XLA cost analysis): " in lines[-2]


def test_summary_reports_bad_input_in_one_line():
  result = subprocess.run([sys.executable, "experiments/summary.py", "--model=vgg16", "--input_shape=16,16,3"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  assert result.stderr.strip() == ("error: VGG-16 needs images of at least 32×32 pixels, got 16×16: "
                                   "resize the inputs or pick a model that downsamples less")


def test_cifar_style_vgg_pools_to_one_by_one():
  """pooled_size=1 feeds the classifier each feature once (7×7 would copy a 1×1 map 49 times)."""
  model = models.create("vgg11_bn", num_classes=10, classifier_width=512, pooled_size=1)
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 1))))
  assert variables["params"]["fc1"]["kernel"].shape == (512, 512)
