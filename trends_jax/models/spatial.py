"""What the image classifiers share: torchvision's exact pooling and flattening, and the input check.

Matching torchvision's pooling arithmetic (not XLA's 'SAME'/'VALID' conventions) is what makes
feature maps the same size and the same values as in the reference models, so that published
weights load and give the published numbers.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from trends_jax.errors import UserError


def check_image_classifier_input(model: str, images, num_classes: int, min_size: int) -> None:
  """Raises a one-line UserError for a class count or an image size the model cannot work with.

  Shapes are static under jit, so this runs once at trace time, before anything is compiled.
  """
  if num_classes < 1:
    raise UserError(f"{model}: num_classes must be at least 1, got {num_classes}")
  if images.ndim != 4:
    raise UserError(f"{model} expects images shaped [batch, height, width, channels], "
                    f"got shape {tuple(images.shape)}")
  height, width = images.shape[1:3]
  if min(height, width) < min_size:
    raise UserError(f"{model} needs images of at least {min_size}×{min_size} pixels, "
                    f"got {height}×{width}: resize the inputs or pick a model that downsamples less")


def flatten_channels_first(x):
  """Flattens NHWC maps in torch's (C, H, W) order, so a torch Linear weight loads as its transpose."""
  return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)


def _adaptive_mean(x, axis: int, out_size: int):
  size = x.shape[axis]
  if size % out_size == 0:  # Equal, non-overlapping windows: a reshape and a mean.
    return x.reshape(x.shape[:axis] + (out_size, size // out_size) + x.shape[axis + 1:]).mean(axis + 1)
  # Otherwise windows overlap or repeat (e.g. a 1×1 map replicated to 7×7): average with a matrix
  # whose row i is uniform over [floor(i·size/out), ceil((i+1)·size/out)).
  weights = np.zeros((out_size, size), np.float32)
  for i in range(out_size):
    start, end = (i * size) // out_size, -(-(i + 1) * size // out_size)
    weights[i, start:end] = 1.0 / (end - start)
  # HIGHEST: accelerators otherwise multiply float32 in reduced precision, and this is an average.
  pooled = jnp.tensordot(jnp.asarray(weights, x.dtype), jnp.moveaxis(x, axis, 0), axes=1,
                         precision=jax.lax.Precision.HIGHEST)
  return jnp.moveaxis(pooled, 0, axis)


def adaptive_avg_pool(x, output_size: tuple[int, int]):
  """torch.nn.AdaptiveAvgPool2d on NHWC input.

  A 2-D window is a product of a row range and a column range, so averaging rows, then columns,
  gives the same mean as torch's rectangular windows.
  """
  return _adaptive_mean(_adaptive_mean(x, 1, output_size[0]), 2, output_size[1])


def _ceil_mode_output_size(size: int, window: int, stride: int, padding: int) -> int:
  out = (size + 2 * padding - window + stride - 1) // stride + 1
  if (out - 1) * stride >= size + padding:  # torch drops a last window that starts in the padding.
    out -= 1
  return out


def max_pool_ceil(x, window: int, stride: int, padding: int = 0):
  """torch.nn.MaxPool2d(window, stride, padding, ceil_mode=True) on NHWC input.

  Ceil mode keeps a last, partial window; padding the far side with -inf (flax's max_pool pads
  with its -inf init value) until that window fits reproduces it.
  """
  pads = []
  for size in x.shape[1:3]:
    out = _ceil_mode_output_size(size, window, stride, padding)
    pads.append((padding, (out - 1) * stride + window - size - padding))
  return nn.max_pool(x, (window, window), strides=(stride, stride), padding=pads)
