"""VGG (Simonyan & Zisserman 2014) as torchvision builds it, with and without BatchNorm.

3×3 convolutions with padding 1 (and a bias, also before BatchNorm, as in torchvision), 2×2
max-pools, adaptive average pooling to 7×7, then 4096 → 4096 → classes with dropout 0.5. Five
pools halve the image five times, so the smallest input is 32×32; there the 1×1 map is
replicated to 7×7 by the adaptive pool, exactly as torchvision does.
"""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from trends_jax.errors import UserError
from trends_jax.models import register
from trends_jax.models.spatial import adaptive_avg_pool, check_image_classifier_input, flatten_channels_first

POOL = "M"
# Configurations A, B, D, E of the paper (torchvision's cfgs), keyed by weight-layer count.
LAYERS = {
    11: (64, POOL, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL),
    13: (64, 64, POOL, 128, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL),
    16: (64, 64, POOL, 128, 128, POOL, 256, 256, 256, POOL, 512, 512, 512, POOL, 512, 512, 512, POOL),
    19: (64, 64, POOL, 128, 128, POOL, 256, 256, 256, 256, POOL, 512, 512, 512, 512, POOL,
         512, 512, 512, 512, POOL),
}
MIN_INPUT_SIZE = 32


class VGG(nn.Module):
  """`classifier_width` (4096 in the reference) and `pooled_size` (7) exist for small inputs.

  On 32×32 images the adaptive pool copies the 1×1 map 49 times, so the first dense layer sees
  each feature 49 times and its effective learning rate is 49× too: a CIFAR-style VGG uses
  `pooled_size=1` and a 512-wide classifier instead.
  """
  depth: int = 16
  batch_norm: bool = False
  num_classes: int = 1000
  classifier_width: int = 4096
  dropout_rate: float = 0.5
  pooled_size: int = 7
  dtype: Any = jnp.float32
  norm_axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.depth not in LAYERS:
      raise UserError(f"VGG depth must be one of {sorted(LAYERS)}, got {self.depth}")
    check_image_classifier_input(f"VGG-{self.depth}", x, self.num_classes, MIN_INPUT_SIZE)
    x = jnp.asarray(x, self.dtype)
    convs = 0
    for layer in LAYERS[self.depth]:
      if layer == POOL:
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        continue
      x = nn.Conv(layer, (3, 3), padding=1, dtype=self.dtype, name=f"conv{convs}")(x)
      if self.batch_norm:
        # torch's BatchNorm2d defaults: momentum 0.1 (flax counts it the other way), eps 1e-5.
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         axis_name=self.norm_axis_name, dtype=self.dtype, name=f"bn{convs}")(x)
      x = nn.relu(x)
      convs += 1
    x = flatten_channels_first(adaptive_avg_pool(x, (self.pooled_size, self.pooled_size)))
    for name in ("fc1", "fc2"):
      x = nn.relu(nn.Dense(self.classifier_width, dtype=self.dtype, name=name)(x))
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="fc3")(x)


register("vgg11", functools.partial(VGG, depth=11))
register("vgg13", functools.partial(VGG, depth=13))
register("vgg16", functools.partial(VGG, depth=16))
register("vgg19", functools.partial(VGG, depth=19))
register("vgg11_bn", functools.partial(VGG, depth=11, batch_norm=True))
register("vgg13_bn", functools.partial(VGG, depth=13, batch_norm=True))
register("vgg16_bn", functools.partial(VGG, depth=16, batch_norm=True))
register("vgg19_bn", functools.partial(VGG, depth=19, batch_norm=True))
