"""Image preprocessing ops (PIL and numpy, no TensorFlow), registered for `dataset.preprocess`.

ImageNet training:   "inception_crop(224)|flip_lr|value_range(0, 1)|standardize(MEAN, STD)"
ImageNet evaluation: "resize_small(256)|central_crop(224)|value_range(0, 1)|standardize(MEAN, STD)"
CIFAR training:      "random_crop(32, pad=4)|flip_lr|value_range(0, 1)|standardize(MEAN, STD)"
"""

import functools
import io
import math

import numpy as np
import PIL.Image

from trends_jax.data.op_registry import register, register_random
from trends_jax.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _size_pair(size) -> tuple[int, int]:
  h, w = (size, size) if isinstance(size, int) else tuple(size)
  if not (isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0):
    raise ValueError(f"image size must be a positive int or (height, width), got {size!r}")
  return h, w


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """Bilinear resize of an (H, W, C) array; uint8 stays uint8."""
  if image.shape[:2] == (height, width):
    return image
  channels = [PIL.Image.fromarray(image[..., c] if image.dtype == np.uint8 else image[..., c].astype(np.float32))
              for c in range(image.shape[-1])]
  resized = [np.asarray(ch.resize((width, height), PIL.Image.BILINEAR)) for ch in channels]
  return np.stack(resized, axis=-1).astype(image.dtype)


def _decode(example, key, channels):
  value = example[key]
  if isinstance(value, (bytes, np.bytes_)):
    image = PIL.Image.open(io.BytesIO(value)).convert("L" if channels == 1 else "RGB")
    value = np.asarray(image).reshape(image.height, image.width, channels)
  return {**example, key: value}


@register("decode")
def decode(key: str = "image", channels: int = 3):
  """JPEG/PNG bytes → uint8 (H, W, channels); arrays (TFDS already decoded them) pass through."""
  return functools.partial(_decode, key=key, channels=channels)


def _resize_op(example, key, height, width):
  return {**example, key: _resize(np.asarray(example[key]), height, width)}


@register("resize")
def resize(size, key: str = "image"):
  return functools.partial(_resize_op, key=key, **dict(zip(("height", "width"), _size_pair(size))))


def _resize_small(example, key, size):
  image = np.asarray(example[key])
  h, w = image.shape[:2]
  scale = size / min(h, w)
  return {**example, key: _resize(image, max(size, round(h * scale)), max(size, round(w * scale)))}


@register("resize_small")
def resize_small(size: int, key: str = "image"):
  """Shorter side to `size`, aspect ratio kept (ImageNet evaluation: 256 before a 224 crop)."""
  return functools.partial(_resize_small, key=key, size=_size_pair(size)[0])


def _central_crop(example, key, height, width):
  image = np.asarray(example[key])
  top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
  if top < 0 or left < 0:
    raise ValueError(f"central_crop({height}, {width}) of a smaller image {image.shape}")
  return {**example, key: image[top:top + height, left:left + width]}


@register("central_crop")
def central_crop(size, key: str = "image"):
  return functools.partial(_central_crop, key=key, **dict(zip(("height", "width"), _size_pair(size))))


def _inception_crop(example, rng, key, height, width, area_min, area_max):
  image = np.asarray(example[key])
  h, w = image.shape[:2]
  for _ in range(10):  # Inception's sampling: area fraction and log-uniform aspect ratio.
    area = h * w * rng.uniform(area_min, area_max)
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    crop_w, crop_h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
    if 0 < crop_w <= w and 0 < crop_h <= h:
      top, left = rng.integers(0, h - crop_h + 1), rng.integers(0, w - crop_w + 1)
      break
  else:  # No sample fits: the whole image, as torchvision's RandomResizedCrop falls back.
    top, left, crop_h, crop_w = 0, 0, h, w
  return {**example, key: _resize(image[top:top + crop_h, left:left + crop_w], height, width)}


@register_random("inception_crop")
def inception_crop(size, area_min: float = 0.08, area_max: float = 1.0, key: str = "image"):
  """Random-resized crop (Szegedy et al. 2015): 8–100% of the area, aspect 3/4–4/3, to `size`."""
  if not 0 < area_min <= area_max <= 1:
    raise ValueError(f"need 0 < area_min <= area_max <= 1, got {area_min}, {area_max}")
  h, w = _size_pair(size)
  return functools.partial(_inception_crop, key=key, height=h, width=w, area_min=area_min, area_max=area_max)


def _random_crop(example, rng, key, height, width, pad):
  image = np.asarray(example[key])
  if pad:
    image = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))  # Zeros, as torchvision's RandomCrop.
  top = rng.integers(0, image.shape[0] - height + 1)
  left = rng.integers(0, image.shape[1] - width + 1)
  return {**example, key: image[top:top + height, left:left + width]}


@register_random("random_crop")
def random_crop(size, pad: int = 0, key: str = "image"):
  """CIFAR augmentation: zero-pad by `pad`, then a random `size` crop."""
  h, w = _size_pair(size)
  return functools.partial(_random_crop, key=key, height=h, width=w, pad=pad)


def _flip_lr(example, rng, key):
  image = np.asarray(example[key])
  return {**example, key: image[:, ::-1] if rng.random() < 0.5 else image}


@register_random("flip_lr")
def flip_lr(key: str = "image"):
  return functools.partial(_flip_lr, key=key)


def _pixel_sequence(example, key, permutation):
  image = np.asarray(example[key])
  sequence = image.reshape(-1, image.shape[-1])
  if permutation is not None:
    if len(permutation) != len(sequence):
      raise UserError(f"pixel_sequence({len(permutation)}, permutation_seed=…) permutes {len(permutation)} "
                      f"pixels but the images have {len(sequence)}; write pixel_sequence({len(sequence)}, …)")
    sequence = sequence[permutation]
  return {**example, key: sequence}


@register("pixel_sequence")
def pixel_sequence(num_pixels: int = 0, permutation_seed: int | None = None, key: str = "image"):
  """(H, W, C) → (H·W, C) in raster order; with a seed, one fixed permutation (permuted MNIST)."""
  permutation = None
  if permutation_seed is not None:
    if num_pixels <= 0:
      raise ValueError("a permuted pixel_sequence needs num_pixels, e.g. pixel_sequence(784, permutation_seed=0)")
    permutation = np.random.default_rng(permutation_seed).permutation(num_pixels)
  return functools.partial(_pixel_sequence, key=key, permutation=permutation)
