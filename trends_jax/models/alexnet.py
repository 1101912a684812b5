"""AlexNet: torchvision's single-tower version and the original two-GPU model of Krizhevsky et al. (2012).

Both need images of at least 63×63: conv1 (11/4, pad 2) and three 3/2 max-pools without padding
leave a 1×1 map at 63 and nothing at 62.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from trends_jax.errors import UserError
from trends_jax.models import register
from trends_jax.models.spatial import adaptive_avg_pool, check_image_classifier_input, flatten_channels_first

MIN_INPUT_SIZE = 63
TOWERS = 2


def max_pool_3_2(x):
  return nn.max_pool(x, (3, 3), strides=(2, 2))  # "Overlapping pooling": windows of 3, stride 2.


class AlexNet(nn.Module):
  """torchvision's AlexNet (the single-tower variant of "One weird trick", Krizhevsky 2014).

  conv 11/4 64 → pool → conv 5 192 → pool → conv 3 384 → conv 3 256 → conv 3 256 → pool, then
  adaptive average pooling to 6×6 and the classifier dropout → 4096 → dropout → 4096 → classes.
  `classifier_width` (4096 in the reference) only exists to make small test models.
  """
  num_classes: int = 1000
  classifier_width: int = 4096
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_image_classifier_input("AlexNet", x, self.num_classes, MIN_INPUT_SIZE)
    x = jnp.asarray(x, self.dtype)
    x = max_pool_3_2(nn.relu(nn.Conv(64, (11, 11), strides=4, padding=2, dtype=self.dtype, name="conv1")(x)))
    x = max_pool_3_2(nn.relu(nn.Conv(192, (5, 5), padding=2, dtype=self.dtype, name="conv2")(x)))
    x = nn.relu(nn.Conv(384, (3, 3), padding=1, dtype=self.dtype, name="conv3")(x))
    x = nn.relu(nn.Conv(256, (3, 3), padding=1, dtype=self.dtype, name="conv4")(x))
    x = max_pool_3_2(nn.relu(nn.Conv(256, (3, 3), padding=1, dtype=self.dtype, name="conv5")(x)))
    x = flatten_channels_first(adaptive_avg_pool(x, (6, 6)))
    for name in ("fc6", "fc7"):
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
      x = nn.relu(nn.Dense(self.classifier_width, dtype=self.dtype, name=name)(x))
    return nn.Dense(self.num_classes, dtype=self.dtype, name="fc8")(x)


def local_response_norm(x, groups: int, size: int = 5, k: float = 2.0, alpha: float = 1e-4,
                        beta: float = 0.75):
  """The paper's local response normalization across channels, within each of `groups` towers.

  b_i = a_i / (k + alpha · Σ_j a_j²)^beta over the `size` channels centred on i. As printed in the
  paper alpha is not divided by `size` (torch's LocalResponseNorm and Caffe divide it). Each GPU
  normalized only its own kernel maps, so windows stop at the tower boundary.
  """
  # float32: sums of squares and a fractional power lose too much in bfloat16.
  a = x.astype(jnp.float32)
  squares = jnp.square(a).reshape(x.shape[:-1] + (groups, x.shape[-1] // groups))
  rank = squares.ndim
  window_sums = jax.lax.reduce_window(
      squares, 0.0, jax.lax.add, (1,) * (rank - 1) + (size,), (1,) * rank,
      [(0, 0)] * (rank - 1) + [(size // 2, size // 2)])
  return (a * (k + alpha * window_sums.reshape(x.shape)) ** -beta).astype(x.dtype)


class AlexNet2GPU(nn.Module):
  """The 2012 model as trained on two GPUs: every layer's kernels split into two towers.

  Kernels per layer 96/256/384/384/256, i.e. 48/128/192/192/128 per tower. conv2, conv4 and
  conv5 see only their own tower's maps (grouped convolutions); conv3 and the dense layers see
  both towers. ReLU after every layer; response normalization after conv1 and conv2, then
  overlapping max-pooling; pooling again after conv5. Each dense layer's 4096 neurons are two
  halves of 2048, one per GPU, each connected to the whole previous layer; dropout 0.5 on both.

  Unlike torchvision's version there is no adaptive pooling: fc6 sees the 6×6×256 map of a 224²
  input (9216 inputs), and a different input size changes fc6's size, as in the paper. conv1 pads
  by 2 so that a 224² image gives the paper's 55×55 maps (the paper's 224 and 55 are only
  consistent with such padding; Caffe's port feeds 227² unpadded, which gives the same map).
  """
  num_classes: int = 1000
  classifier_width: int = 4096
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_image_classifier_input("AlexNet2GPU", x, self.num_classes, MIN_INPUT_SIZE)
    if self.classifier_width % TOWERS:
      raise UserError(f"classifier_width must split into {TOWERS} towers, got {self.classifier_width}")
    x = jnp.asarray(x, self.dtype)

    def conv(x, features, kernel, name, towers_talk, strides=1, padding=None):
      groups = 1 if towers_talk else TOWERS
      return nn.relu(nn.Conv(features, (kernel, kernel), strides=strides,
                             padding=kernel // 2 if padding is None else padding,
                             feature_group_count=groups, dtype=self.dtype, name=name)(x))

    # conv1 sees the 3 input channels from both GPUs; its output channels 0-47 are tower 0.
    x = conv(x, 96, 11, "conv1", towers_talk=True, strides=4, padding=2)
    x = max_pool_3_2(local_response_norm(x, TOWERS))
    x = conv(x, 256, 5, "conv2", towers_talk=False)
    x = max_pool_3_2(local_response_norm(x, TOWERS))
    x = conv(x, 384, 3, "conv3", towers_talk=True)
    x = conv(x, 384, 3, "conv4", towers_talk=False)
    x = max_pool_3_2(conv(x, 256, 3, "conv5", towers_talk=False))
    x = x.reshape(x.shape[0], -1)
    for layer in ("fc6", "fc7"):
      halves = [nn.Dense(self.classifier_width // TOWERS, dtype=self.dtype, name=f"{layer}_tower{t}")(x)
                for t in range(TOWERS)]
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(nn.relu(jnp.concatenate(halves, -1)))
    return nn.Dense(self.num_classes, dtype=self.dtype, name="fc8")(x)


register("alexnet", AlexNet)
register("alexnet_2gpu", AlexNet2GPU)
