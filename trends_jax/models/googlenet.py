"""GoogLeNet (Inception v1, Szegedy et al. 2014) exactly as torchvision builds it.

torchvision differs from the paper in ways its published weights depend on, so they are kept:
BatchNorm after every convolution, and the "5×5" branch of each Inception block uses a 3×3
kernel. Max-pools use ceil mode. Module names follow torchvision's, so its weights map one to one.
`transform_input` is torchvision's re-normalization of ImageNet-standardized inputs to the [-1, 1]
range its published weights were trained on (models.load_pretrained turns it on for them).

Two auxiliary classifiers, after inception4a and inception4d, add to the training loss; the
trainer weights them by 0.3. They are computed only in training, but created at `init` whatever
`train` is, because the trainer initializes with train=False and then trains.

`width` scales the channels of every convolution and the auxiliary heads' hidden layer (rounded,
at least 1), for small machines; the default 1 is torchvision's network.

The smallest input is 15×15: conv1 (7/2, pad 3) and the ceil-mode pools 3/2, 3/2, 3/2 take
15 → 8 → 4 → 2 → 1; at 14 the third pool gets a 1×1 map, smaller than any window it can start.
"""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from trends_jax.models import register
from trends_jax.models.spatial import (
  adaptive_avg_pool,
  check_image_classifier_input,
  flatten_channels_first,
  max_pool_ceil,
)

MIN_INPUT_SIZE = 15
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class BasicConv2d(nn.Module):
  """Convolution without bias → BatchNorm (eps 0.001, torch's momentum 0.1) → ReLU."""
  features: int
  kernel_size: int
  strides: int = 1
  padding: int = 0
  dtype: Any = jnp.float32
  norm_axis_name: str | None = None
  width: float = 1.0  # Multiplies `features`.

  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Conv(scaled(self.features, self.width), (self.kernel_size, self.kernel_size),
                strides=self.strides, padding=self.padding, use_bias=False, dtype=self.dtype,
                name="conv")(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3,
                     axis_name=self.norm_axis_name, dtype=self.dtype, name="bn")(x)
    return nn.relu(x)


def scaled(channels: int, width: float) -> int:
  return max(1, round(channels * width))


class Inception(nn.Module):
  """Four parallel branches concatenated along channels: 1×1; 1×1 → 3×3; 1×1 → "5×5"; pool → 1×1."""
  ch1x1: int
  ch3x3red: int
  ch3x3: int
  ch5x5red: int
  ch5x5: int
  pool_proj: int
  conv: Any  # BasicConv2d with dtype, norm_axis_name and width bound.

  @nn.compact
  def __call__(self, x, train: bool):
    branch1 = self.conv(self.ch1x1, 1, name="branch1")(x, train)
    branch2 = self.conv(self.ch3x3red, 1, name="branch2_0")(x, train)
    branch2 = self.conv(self.ch3x3, 3, padding=1, name="branch2_1")(branch2, train)
    branch3 = self.conv(self.ch5x5red, 1, name="branch3_0")(x, train)
    # 3×3, not the paper's 5×5: torchvision's known deviation, which its weights were trained with.
    branch3 = self.conv(self.ch5x5, 3, padding=1, name="branch3_1")(branch3, train)
    branch4 = max_pool_ceil(x, 3, stride=1, padding=1)
    branch4 = self.conv(self.pool_proj, 1, name="branch4_1")(branch4, train)
    return jnp.concatenate([branch1, branch2, branch3, branch4], axis=-1)


class InceptionAux(nn.Module):
  """Adaptive average pool to 4×4 → 1×1 conv 128 → fc 1024 → ReLU → dropout 0.7 → fc classes."""
  num_classes: int
  conv: Any
  dropout_rate: float = 0.7
  dtype: Any = jnp.float32
  hidden: int = 1024

  @nn.compact
  def __call__(self, x, train: bool):
    x = self.conv(128, 1, name="conv")(adaptive_avg_pool(x, (4, 4)), train)
    x = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name="fc1")(flatten_channels_first(x)))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="fc2")(x)


class GoogLeNet(nn.Module):
  """Returns logits in evaluation and (logits, aux1, aux2) in training (with `aux_logits`)."""
  num_classes: int = 1000
  aux_logits: bool = True
  dropout_rate: float = 0.2
  aux_dropout_rate: float = 0.7
  width: float = 1.0
  transform_input: bool = False
  dtype: Any = jnp.float32
  norm_axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_image_classifier_input("GoogLeNet", x, self.num_classes, MIN_INPUT_SIZE)
    conv = functools.partial(BasicConv2d, dtype=self.dtype, norm_axis_name=self.norm_axis_name,
                             width=self.width)
    inception = functools.partial(Inception, conv=conv)
    aux_head = functools.partial(InceptionAux, self.num_classes, conv, dropout_rate=self.aux_dropout_rate,
                                 dtype=self.dtype, hidden=scaled(1024, self.width))
    with_aux = self.aux_logits and (train or self.is_initializing())

    x = jnp.asarray(x, self.dtype)
    if self.transform_input:  # (x · std + mean - 0.5) / 0.5 per channel, as torchvision computes it.
      std, mean = jnp.asarray(IMAGENET_STD, self.dtype), jnp.asarray(IMAGENET_MEAN, self.dtype)
      x = x * (std / 0.5) + (mean - 0.5) / 0.5
    x = conv(64, 7, strides=2, padding=3, name="conv1")(x, train)
    x = max_pool_ceil(x, 3, stride=2)
    x = conv(64, 1, name="conv2")(x, train)
    x = conv(192, 3, padding=1, name="conv3")(x, train)
    x = max_pool_ceil(x, 3, stride=2)
    x = inception(64, 96, 128, 16, 32, 32, name="inception3a")(x, train)
    x = inception(128, 128, 192, 32, 96, 64, name="inception3b")(x, train)
    x = max_pool_ceil(x, 3, stride=2)
    x = inception(192, 96, 208, 16, 48, 64, name="inception4a")(x, train)
    aux1 = aux_head(name="aux1")(x, train) if with_aux else None
    x = inception(160, 112, 224, 24, 64, 64, name="inception4b")(x, train)
    x = inception(128, 128, 256, 24, 64, 64, name="inception4c")(x, train)
    x = inception(112, 144, 288, 32, 64, 64, name="inception4d")(x, train)
    aux2 = aux_head(name="aux2")(x, train) if with_aux else None
    x = inception(256, 160, 320, 32, 128, 128, name="inception4e")(x, train)
    x = max_pool_ceil(x, 2, stride=2)
    x = inception(256, 160, 320, 32, 128, 128, name="inception5a")(x, train)
    x = inception(384, 192, 384, 48, 128, 128, name="inception5b")(x, train)
    x = x.mean(axis=(1, 2))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(x)
    return (logits, aux1, aux2) if with_aux and train else logits


register("googlenet", GoogLeNet)
