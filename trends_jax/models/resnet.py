"""ResNets (He et al. 2015) as torchvision builds them, and their squeeze-and-excitation variants.

torchvision's "v1.5": a bottleneck block downsamples in its 3×3 convolution, not its first 1×1.
BatchNorm uses torch's constants (momentum 0.1, i.e. flax's 0.9; eps 1e-5) and convolutions
torch's He initialization (fan_out). `zero_init_residual` starts the last BatchNorm of every block
at scale 0, so each block starts as the identity (Goyal et al. 2017). `cifar_stem` replaces the
7×7/2 convolution and the max-pool by one 3×3/1 convolution, for 32×32 images.

SE-ResNets (Hu et al. 2018) rescale the channels of every block's residual branch, before the
addition, by gates computed from a global squeeze (`squeeze='avg'` as in the paper, or 'max').
The two gate layers are 1×1 convolutions with bias, reducing by 16, as timm's SEModule; with
timm's layout se_resnet50 has 28,088,024 parameters. (timm rounds the reduced width up to a
multiple of 8, which changes only the basic-block nets, whose narrowest blocks have 64/16 = 4.)
The gates are sown as intermediates 'se_gate', shape [batch, channels], for inspection.

`shortcut=False` drops every shortcut, projections included: each block is then its residual
branch alone followed by ReLU, the "plain" network of He et al.'s degradation experiment.

Every padding is explicit because XLA's 'SAME' pads a strided convolution differently from torch.
"""

import functools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from trends_jax.errors import UserError
from trends_jax.models import register
from trends_jax.models.spatial import check_image_classifier_input

ModuleDef = Any
SQUEEZES = {"avg": jnp.mean, "max": jnp.max}


class SqueezeExcite(nn.Module):
  reduction: int = 16
  squeeze: str = "avg"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    squeezed = SQUEEZES[self.squeeze](x, axis=(1, 2), keepdims=True)
    # At least one hidden unit, so that the narrow widths of test models still work.
    hidden = nn.relu(nn.Conv(max(channels // self.reduction, 1), (1, 1), dtype=self.dtype,
                             name="fc1")(squeezed))
    gates = nn.sigmoid(nn.Conv(channels, (1, 1), dtype=self.dtype, name="fc2")(hidden))
    self.sow("intermediates", "se_gate", gates.reshape(x.shape[0], channels))
    return x * gates


class ResNetBlock(nn.Module):
  """3×3 → BN → ReLU → 3×3 → BN [→ SE], plus the (projected) input, → ReLU."""
  filters: int
  conv: ModuleDef
  norm: ModuleDef
  strides: int = 1
  excite: ModuleDef | None = None
  zero_init_residual: bool = False
  shortcut: bool = True
  expansion = 1

  @nn.compact
  def __call__(self, x):
    y = nn.relu(self.norm(name="bn1")(self.conv(self.filters, (3, 3), self.strides, padding=1,
                                                name="conv1")(x)))
    y = self.conv(self.filters, (3, 3), padding=1, name="conv2")(y)
    y = self.norm(name="bn2", scale_init=last_scale_init(self.zero_init_residual))(y)
    return nn.relu(add_shortcut(self, x, y if self.excite is None else self.excite(name="se")(y)))


class BottleneckResNetBlock(nn.Module):
  """1×1 → BN → ReLU → 3×3 (strided) → BN → ReLU → 1×1 (4× wider) → BN [→ SE], plus input, → ReLU."""
  filters: int
  conv: ModuleDef
  norm: ModuleDef
  strides: int = 1
  excite: ModuleDef | None = None
  zero_init_residual: bool = False
  shortcut: bool = True
  expansion = 4

  @nn.compact
  def __call__(self, x):
    y = nn.relu(self.norm(name="bn1")(self.conv(self.filters, (1, 1), name="conv1")(x)))
    y = nn.relu(self.norm(name="bn2")(self.conv(self.filters, (3, 3), self.strides, padding=1,
                                                name="conv2")(y)))
    y = self.conv(self.filters * self.expansion, (1, 1), name="conv3")(y)
    y = self.norm(name="bn3", scale_init=last_scale_init(self.zero_init_residual))(y)
    return nn.relu(add_shortcut(self, x, y if self.excite is None else self.excite(name="se")(y)))


def last_scale_init(zero: bool) -> Callable:
  return nn.initializers.zeros if zero else nn.initializers.ones


def add_shortcut(block: nn.Module, x, y):
  """The residual branch's output y plus the block's input x; y alone in a plain network."""
  return y + projected_input(block, x) if block.shortcut else y


def projected_input(block: nn.Module, x):
  """The block's input, through a strided 1×1 convolution and BN where the shape changes."""
  out_channels = block.filters * block.expansion
  if block.strides == 1 and x.shape[-1] == out_channels:
    return x
  x = block.conv(out_channels, (1, 1), block.strides, name="downsample_conv")(x)
  return block.norm(name="downsample_bn")(x)


class ResNet(nn.Module):
  stage_sizes: Sequence[int]
  block_cls: ModuleDef
  num_classes: int = 1000
  num_filters: int = 64
  cifar_stem: bool = False
  zero_init_residual: bool = False
  squeeze: str | None = None  # 'avg' or 'max' makes an SE-ResNet.
  shortcut: bool = True  # False: the plain network, no shortcuts.
  se_reduction: int = 16
  dtype: Any = jnp.float32
  norm_axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_image_classifier_input("ResNet", x, self.num_classes, min_size=1)  # Padding keeps ≥ 1×1.
    if self.squeeze is not None and self.squeeze not in SQUEEZES:
      raise UserError(f"squeeze must be one of {sorted(SQUEEZES)} (or None for no SE), got {self.squeeze!r}")
    conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype,
                             kernel_init=nn.initializers.variance_scaling(2.0, "fan_out", "normal"))
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5,
                             axis_name=self.norm_axis_name, dtype=self.dtype)
    excite = None if self.squeeze is None else functools.partial(
        SqueezeExcite, reduction=self.se_reduction, squeeze=self.squeeze, dtype=self.dtype)

    x = jnp.asarray(x, self.dtype)
    if self.cifar_stem:
      x = nn.relu(norm(name="bn1")(conv(self.num_filters, (3, 3), padding=1, name="conv1")(x)))
    else:
      x = nn.relu(norm(name="bn1")(conv(self.num_filters, (7, 7), 2, padding=3, name="conv1")(x)))
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for i, num_blocks in enumerate(self.stage_sizes):
      for j in range(num_blocks):
        x = self.block_cls(self.num_filters * 2 ** i, conv=conv, norm=norm, excite=excite,
                           strides=2 if i > 0 and j == 0 else 1,
                           zero_init_residual=self.zero_init_residual, shortcut=self.shortcut,
                           name=f"layer{i + 1}_{j}")(x)
    x = x.mean(axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(x)


ResNet18 = functools.partial(ResNet, stage_sizes=(2, 2, 2, 2), block_cls=ResNetBlock)
ResNet34 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block_cls=ResNetBlock)
ResNet50 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block_cls=BottleneckResNetBlock)
ResNet101 = functools.partial(ResNet, stage_sizes=(3, 4, 23, 3), block_cls=BottleneckResNetBlock)
ResNet152 = functools.partial(ResNet, stage_sizes=(3, 8, 36, 3), block_cls=BottleneckResNetBlock)

for _depth, _constructor in ((18, ResNet18), (34, ResNet34), (50, ResNet50), (101, ResNet101),
                             (152, ResNet152)):
  register(f"resnet{_depth}", _constructor)
  register(f"se_resnet{_depth}", functools.partial(_constructor, squeeze="avg"))
