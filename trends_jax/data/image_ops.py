"""Image preprocessing ops (PIL and numpy, no TensorFlow), registered for `dataset.preprocess`.

ImageNet training:   "decode_jpeg_and_inception_crop(224)|flip_lr|normalize(MEAN, STD)"
ImageNet evaluation: "decode|resize_small(256)|central_crop(224)|value_range(0, 1)|standardize(MEAN, STD)"
CIFAR training:      "random_crop(32, pad=4)|flip_lr|value_range(0, 1)|standardize(MEAN, STD)"

`resize_small` and `central_crop` are torchvision's `Resize` and `CenterCrop` on PIL images
(sizes, offsets and PIL's antialiased bilinear filter), so that evaluation matches torchvision's
reference evaluation pixel for pixel. Where the training and the evaluation spec both start with
a decoding op (`DECODING_OPS`), images arrive as their stored bytes (`trends_jax.data.reads_encoded`).
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


_PIL_MODES = {1: "L", 3: "RGB"}  # uint8 images PIL resizes whole; others go channel by channel.


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """PIL's bilinear (antialiased) resize of an (H, W, C) array; uint8 stays uint8."""
  if image.shape[:2] == (height, width):
    return image
  channels = image.shape[-1]
  if image.dtype == np.uint8 and channels in _PIL_MODES:
    # The whole RGB image at once, as torchvision resizes a PIL image (PIL rounds per mode).
    resized = PIL.Image.fromarray(image.reshape(image.shape[:2]) if channels == 1 else image, _PIL_MODES[channels])
    return np.asarray(resized.resize((width, height), PIL.Image.BILINEAR)).reshape(height, width, channels)
  planes = [PIL.Image.fromarray(image[..., c] if image.dtype == np.uint8 else image[..., c].astype(np.float32))
            for c in range(channels)]
  resized = [np.asarray(p.resize((width, height), PIL.Image.BILINEAR)) for p in planes]
  return np.stack(resized, axis=-1).astype(image.dtype)


DECODING_OPS = frozenset({"decode", "decode_jpeg_and_inception_crop"})


def decodes_first(spec: str) -> bool:
  """Whether preprocessing `spec` starts with an op that decodes image bytes itself."""
  first = spec.split("|", 1)[0]
  return first.split("(", 1)[0].strip() in DECODING_OPS


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
  # torchvision's _compute_resized_output_size: the long side truncated, not rounded.
  short, long = min(h, w), max(h, w)
  new_long = int(size * long / short)
  new_h, new_w = (new_long, size) if h > w else (size, new_long)
  return {**example, key: _resize(image, new_h, new_w)}


@register("resize_small")
def resize_small(size: int, key: str = "image"):
  """Shorter side to `size`, aspect ratio kept, as torchvision's `Resize(size)` (ImageNet
  evaluation: 256 before a 224 crop)."""
  return functools.partial(_resize_small, key=key, size=_size_pair(size)[0])


def _central_crop(example, key, height, width):
  image = np.asarray(example[key])
  # torchvision's CenterCrop offsets: rounded halves (Python rounds .5 to even), not floored.
  top, left = int(round((image.shape[0] - height) / 2.0)), int(round((image.shape[1] - width) / 2.0))
  if top < 0 or left < 0:
    raise ValueError(f"central_crop({height}, {width}) of a smaller image {image.shape}")
  return {**example, key: image[top:top + height, left:left + width]}


@register("central_crop")
def central_crop(size, key: str = "image"):
  return functools.partial(_central_crop, key=key, **dict(zip(("height", "width"), _size_pair(size))))


def crop_box(h: int, w: int, rng: np.random.Generator, area_min: float, area_max: float) -> tuple[int, int, int, int]:
  """(top, left, height, width) of an Inception crop of an h×w image, drawn from `rng`."""
  for _ in range(10):  # Inception's sampling: area fraction and log-uniform aspect ratio.
    area = h * w * rng.uniform(area_min, area_max)
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    crop_w, crop_h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
    if 0 < crop_w <= w and 0 < crop_h <= h:
      return int(rng.integers(0, h - crop_h + 1)), int(rng.integers(0, w - crop_w + 1)), crop_h, crop_w
  return 0, 0, h, w  # No sample fits: the whole image, as torchvision's RandomResizedCrop falls back.


def _inception_crop(example, rng, key, height, width, area_min, area_max):
  image = np.asarray(example[key])
  top, left, crop_h, crop_w = crop_box(*image.shape[:2], rng, area_min, area_max)
  return {**example, key: _resize(image[top:top + crop_h, left:left + crop_w], height, width)}


def _check_areas(area_min, area_max):
  if not 0 < area_min <= area_max <= 1:
    raise ValueError(f"need 0 < area_min <= area_max <= 1, got {area_min}, {area_max}")


@register_random("inception_crop")
def inception_crop(size, area_min: float = 0.08, area_max: float = 1.0, key: str = "image"):
  """Random-resized crop (Szegedy et al. 2015): 8–100% of the area, aspect 3/4–4/3, to `size`."""
  _check_areas(area_min, area_max)
  h, w = _size_pair(size)
  return functools.partial(_inception_crop, key=key, height=h, width=w, area_min=area_min, area_max=area_max)


DCT_SCALES = (8, 4, 2)  # The reductions libjpeg decodes at, through PIL's draft.


@functools.cache
def fast_jpeg_codecs():
  """(simplejpeg, cv2) where the `fast_jpeg` extra is installed, else None."""
  try:
    import cv2
    import simplejpeg
  except ImportError:
    return None
  # One core per decoding process, as the benchmark counts them (and as torch.set_num_threads(1)
  # in DataLoader's workers): OpenCV's pool would otherwise spread each resize over the trainer's cores.
  cv2.setNumThreads(1)
  return simplejpeg, cv2


def _dct_scale(crop_h, crop_w, height, width):
  # The largest DCT reduction at which the crop still has the target's pixels each way, so that
  # the resize only ever shrinks it.
  return next((s for s in DCT_SCALES if crop_w >= s * width and crop_h >= s * height), 1)


def _pil_decode_and_crop(raw, rng, height, width, area_min, area_max, channels, box=None):
  image = PIL.Image.open(io.BytesIO(raw))  # Reads the header only: the crop is drawn on its size.
  w, h = image.size
  top, left, crop_h, crop_w = box or crop_box(h, w, rng, area_min, area_max)
  scale = _dct_scale(crop_h, crop_w, height, width)
  drafted = image.draft(None, (w // scale, h // scale)) if scale > 1 else None
  if drafted is not None:
    scale = w / drafted[1][2]  # The box of the full image in the reduced one: exactly 1/scale.
  else:
    scale = 1  # Not a JPEG: PIL decodes at full size.
  mode = _PIL_MODES[channels]
  if image.mode != mode:
    image = image.convert(mode)
  # Cropped as part of the resize: only the box is filtered, nothing is copied first.
  resized = image.resize((width, height), PIL.Image.BILINEAR,
                         box=(left / scale, top / scale, (left + crop_w) / scale, (top + crop_h) / scale))
  return np.asarray(resized).reshape(height, width, channels)


def _fast_decode_and_crop(raw, rng, height, width, area_min, area_max, channels, codecs):
  simplejpeg, cv2 = codecs
  try:
    h, w, colorspace, _ = simplejpeg.decode_jpeg_header(raw)
  except ValueError:  # Not a JPEG (PNG, GIF, …): PIL decodes it.
    return _pil_decode_and_crop(raw, rng, height, width, area_min, area_max, channels)
  box = crop_box(h, w, rng, area_min, area_max)
  if colorspace not in ("YCbCr", "Gray", "RGB"):  # CMYK and YCCK: PIL's conversion, as torchvision's loader.
    return _pil_decode_and_crop(raw, rng, height, width, area_min, area_max, channels, box)
  top, left, crop_h, crop_w = box
  scale = _dct_scale(crop_h, crop_w, height, width)
  # libjpeg-turbo's default (accurate) IDCT and upsampling, the pixels PIL decodes: its fast IDCT and
  # nearest chroma upsampling were measured no faster here (2026-12-02, within the machine's noise).
  try:
    image = simplejpeg.decode_jpeg(raw, "GRAY" if channels == 1 else "RGB", min_height=-(-h // scale),
                                   min_width=-(-w // scale))
  except ValueError:  # What libjpeg only warns about (extraneous bytes, …): PIL decodes it, as torchvision's loader.
    return _pil_decode_and_crop(raw, rng, height, width, area_min, area_max, channels, box)
  if scale > 1:  # libjpeg's reduced pixel i is full pixels [i·s, (i+1)·s): the box to the nearest reduced pixel.
    dh, dw = image.shape[:2]
    top, left = min(round(top / scale), dh - 1), min(round(left / scale), dw - 1)
    crop_h, crop_w = max(1, min(round(crop_h / scale), dh - top)), max(1, min(round(crop_w / scale), dw - left))
  crop = image[top:top + crop_h, left:left + crop_w]
  # Bilinear without antialiasing (as TensorFlow's tf.image.resize, which big_vision's and TF's
  # ImageNet recipes train with): ~8× faster than PIL's filter. A shrink of 2× or more on either
  # axis (the DCT scale follows the tighter one: 3% of crops of 500×375 photos, 14–19% of 1000×750
  # and 640×480 ones) gets OpenCV's area filter instead, against aliasing.
  shrink_2x = crop_h >= 2 * height or crop_w >= 2 * width
  resized = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA if shrink_2x else cv2.INTER_LINEAR)
  return resized.reshape(height, width, channels)


def _decode_and_inception_crop(example, rng, key, height, width, area_min, area_max, channels, fast):
  value = example[key]
  if not isinstance(value, (bytes, np.bytes_)):  # Decoded already (TFDS decoded it): the plain crop.
    value = np.asarray(value)
    if channels == 3 and value.shape[-1] == 1:
      value = np.repeat(value, 3, axis=-1)
    return _inception_crop({**example, key: value}, rng, key, height, width, area_min, area_max)
  codecs = fast_jpeg_codecs() if fast else None
  if codecs is None:
    image = _pil_decode_and_crop(value, rng, height, width, area_min, area_max, channels)
  else:
    image = _fast_decode_and_crop(value, rng, height, width, area_min, area_max, channels, codecs)
  return {**example, key: image}


@register_random("decode_jpeg_and_inception_crop")
def decode_jpeg_and_inception_crop(size, area_min: float = 0.08, area_max: float = 1.0, key: str = "image",
                                   channels: int = 3, fast: bool = True):
  """`decode|inception_crop(size, …)` in one op, for JPEG bytes: the crop is drawn (as
  `inception_crop` draws it) on the header's size, the JPEG decoded at a reduced DCT scale where
  the crop allows, and only the crop resized. With the `fast_jpeg` extra (and `fast`), libjpeg-turbo
  decodes through simplejpeg and OpenCV resizes bilinearly without antialiasing; otherwise PIL's
  draft and antialiased bilinear resize. Arrays get the plain inception crop."""
  _check_areas(area_min, area_max)
  if channels not in _PIL_MODES:
    raise ValueError(f"channels must be 1 or 3, got {channels}")
  h, w = _size_pair(size)
  return functools.partial(_decode_and_inception_crop, key=key, height=h, width=w, area_min=area_min,
                           area_max=area_max, channels=channels, fast=bool(fast))


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


@functools.lru_cache(maxsize=64)
def _mirrored_columns(width: int, channels: int) -> np.ndarray:
  return (np.arange(width)[::-1, None] * channels + np.arange(channels)).reshape(-1)


def _flip_lr(example, rng, key):
  image = np.asarray(example[key])
  if rng.random() >= 0.5:
    return example
  if image.ndim == 3 and image.flags.c_contiguous:
    # A gather of whole rows: a reversed view costs the next op a strided copy, ~5× slower at 224².
    h, w, c = image.shape
    return {**example, key: image.reshape(h, w * c)[:, _mirrored_columns(w, c)].reshape(h, w, c)}
  return {**example, key: image[:, ::-1]}


@register_random("flip_lr")
def flip_lr(key: str = "image"):
  return functools.partial(_flip_lr, key=key)


def _normalize(example, key, scale, offset):
  image = np.asarray(example[key])
  h, w, c = image.shape
  # Rows of w·c values against tiled constants: broadcasting over a last axis of 3 runs numpy's
  # inner loop 3 elements at a time, 8× slower at 224².
  out = image.astype(np.float32).reshape(h, w * c)
  out *= np.tile(np.broadcast_to(scale, (c,)), w)
  out += np.tile(np.broadcast_to(offset, (c,)), w)
  return {**example, key: out.reshape(h, w, c)}


@register("normalize")
def normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD, in_max: float = 255.0, key: str = "image"):
  """(x / in_max - mean) / std per channel, as float32, in one pass: torchvision's ToTensor +
  Normalize, and `value_range(0, 1)|standardize(mean, std)` to float32 rounding."""
  mean, std = np.asarray(mean, np.float64).reshape(-1), np.asarray(std, np.float64).reshape(-1)
  if mean.shape != std.shape or (std <= 0).any():
    raise ValueError(f"normalize needs per-channel mean and positive std of one length, got {mean}, {std}")
  return functools.partial(_normalize, key=key, scale=(1 / (in_max * std)).astype(np.float32),
                           offset=(-mean / std).astype(np.float32))


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
