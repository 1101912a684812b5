"""Image ops against torchvision's evaluation transforms, and the fused JPEG decode-and-crop."""

import io

import numpy as np
import PIL.Image
import PIL.JpegImagePlugin
import pytest

from trends_jax.data import image_ops, preprocess

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
NORMALIZE = f"value_range(0, 1)|standardize({MEAN}, {STD})"
EVAL = "decode|resize_small(256)|central_crop(224)"
# (width, height): ImageNet's common shapes, and two where truncating the long side (500×330 → 387,
# not 388) and rounding the crop offset (402×300 → 343 wide, offset 60, not 59) matter.
SIZES = [(500, 375), (333, 500), (640, 480), (500, 330), (402, 300)]


def _jpeg(width, height, seed=0, fmt="JPEG"):
  """A smooth photo-like image, JPEG-encoded as a camera would."""
  rng = np.random.default_rng(seed)
  small = rng.integers(0, 256, (height // 40 + 2, width // 40 + 2, 3), dtype=np.uint8)
  buffer = io.BytesIO()
  PIL.Image.fromarray(small).resize((width, height), PIL.Image.BICUBIC).save(buffer, format=fmt, quality=90)
  return buffer.getvalue()


def _gradient_jpeg(width, height):
  """Red rises left to right, green top to bottom: a crop's mean colour says where it is."""
  x, y = np.meshgrid(np.linspace(0, 255, width), np.linspace(0, 255, height))
  image = np.stack([x, y, np.full_like(x, 128)], axis=-1).astype(np.uint8)
  buffer = io.BytesIO()
  PIL.Image.fromarray(image).save(buffer, format="JPEG", quality=95)
  return buffer.getvalue()


def _run(spec, example, seed=0):
  return preprocess.apply_all(example, preprocess.parse(spec), np.random.default_rng(seed))["image"]


@pytest.mark.parametrize("width, height", SIZES)
def test_evaluation_is_torchvisions_resize_and_centre_crop(width, height):
  transforms = pytest.importorskip("torchvision.transforms", reason="torchvision is an optional extra")
  raw = _jpeg(width, height)
  image = PIL.Image.open(io.BytesIO(raw)).convert("RGB")  # ImageFolder's loader.
  theirs = np.asarray(transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])(image))
  ours = _run(EVAL, {"image": raw})
  assert ours.shape == (224, 224, 3) and ours.dtype == np.uint8
  np.testing.assert_array_equal(ours, theirs)
  normalized = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                   transforms.Normalize(MEAN, STD)])(image).permute(1, 2, 0).numpy()
  # x * (1/255) against x / 255 in float32: a rounding of the last bit, 7e-7 at most here.
  np.testing.assert_allclose(_run(f"{EVAL}|{NORMALIZE}", {"image": raw}), normalized, rtol=0, atol=2e-6)


@pytest.mark.parametrize("width, height", SIZES)
def test_evaluation_sizes_follow_torchvisions_rule(width, height):
  """The same rule, written out, where torchvision is not installed."""
  image = np.asarray(PIL.Image.open(io.BytesIO(_jpeg(width, height))))
  short, long = min(width, height), max(width, height)
  resized = _run("resize_small(256)", {"image": image})
  new_long = int(256 * long / short)
  assert resized.shape[:2] == ((new_long, 256) if height > width else (256, new_long))
  expected = np.asarray(PIL.Image.fromarray(image).resize(resized.shape[1::-1], PIL.Image.BILINEAR))
  np.testing.assert_array_equal(resized, expected)
  top, left = int(round((resized.shape[0] - 224) / 2.0)), int(round((resized.shape[1] - 224) / 2.0))
  np.testing.assert_array_equal(_run("central_crop(224)", {"image": resized}), resized[top:top + 224, left:left + 224])


def test_grey_and_float_images_still_resize():
  grey = np.random.default_rng(0).integers(0, 256, (30, 40, 1), dtype=np.uint8)
  out = _run("resize_small(20)|central_crop(16)", {"image": grey})
  assert out.shape == (16, 16, 1) and out.dtype == np.uint8
  floats = np.random.default_rng(0).random((30, 40, 3), dtype=np.float32)
  out = _run("resize_small(20)", {"image": floats})
  assert out.shape == (20, 26, 3) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


def _fused(size, **kwargs):
  args = ", ".join([str(size)] + [f"{k}={v}" for k, v in kwargs.items()])
  return f"decode_jpeg_and_inception_crop({args})"


HAS_FAST = image_ops.fast_jpeg_codecs() is not None
needs_fast = pytest.mark.skipif(not HAS_FAST, reason="the fast_jpeg extra (simplejpeg, opencv-python-headless) "
                                "is not installed")
# The op's two branches: PIL (draft + antialiased resize) and the fast_jpeg extra's decoders.
BRANCHES = [pytest.param(False, id="pil"), pytest.param(True, id="fast", marks=needs_fast)]


def _cmyk_jpeg(width, height):
  buffer = io.BytesIO()
  PIL.Image.open(io.BytesIO(_jpeg(width, height))).convert("CMYK").save(buffer, format="JPEG", quality=90)
  return buffer.getvalue()


def _junk_jpeg(width, height):
  """Junk before the end marker: libjpeg warns (and PIL decodes); simplejpeg raises only once decoding."""
  raw = _jpeg(width, height)
  return raw[:-2] + b"\x12\x34" * 8 + raw[-2:]


@pytest.mark.parametrize("fast", BRANCHES)
def test_fused_crop_draws_inception_crops_box(fast, monkeypatch):
  raw = _gradient_jpeg(500, 375)
  drafts = []
  real_draft = PIL.JpegImagePlugin.JpegImageFile.draft
  monkeypatch.setattr(PIL.JpegImagePlugin.JpegImageFile, "draft",
                      lambda self, mode, size: drafts.append(size) or real_draft(self, mode, size))
  for seed in range(8):
    fused = _run(_fused(224, fast=fast), {"image": raw}, seed).astype(np.float32)
    plain = _run("decode|inception_crop(224)", {"image": raw}, seed).astype(np.float32)
    assert fused.shape == (224, 224, 3)
    # The same box: on a gradient a box a pixel away would shift the mean; the two differ only
    # in how the box's edge is filtered (and, fast, in the IDCT's rounding).
    np.testing.assert_allclose(fused.mean(axis=(0, 1)), plain.mean(axis=(0, 1)), atol=1.0)
    assert np.abs(fused - plain).mean() < 1.0
  assert drafts == []  # No crop of a 375-pixel-high image holds 2 × 224 rows: full-size decoding.


@pytest.mark.parametrize("fast", BRANCHES)
def test_fused_crop_takes_as_many_draws_as_inception_crop(fast):
  """The rng is left where `decode|inception_crop` leaves it, so flip_lr and later ops draw alike."""
  for raw in (_jpeg(500, 375), _jpeg(120, 90, fmt="PNG"), _cmyk_jpeg(200, 150), _junk_jpeg(200, 150)):
    for seed in range(6):
      ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
      preprocess.apply_all({"image": raw}, preprocess.parse(_fused(64, fast=fast)), ours)
      preprocess.apply_all({"image": raw}, preprocess.parse("decode|inception_crop(64)"), theirs)
      assert ours.bit_generator.state == theirs.bit_generator.state


def test_fused_crop_decodes_at_a_reduced_scale_where_the_crop_allows(monkeypatch):
  raw = _gradient_jpeg(640, 480)
  drafts = []
  real_draft = PIL.JpegImagePlugin.JpegImageFile.draft
  monkeypatch.setattr(PIL.JpegImagePlugin.JpegImageFile, "draft",
                      lambda self, mode, size: drafts.append(real_draft(self, mode, size)) or drafts[-1])
  for seed in range(4):
    fused = _run(_fused(32, area_min=0.5, fast=False), {"image": raw}, seed).astype(np.float32)
    plain = _run("decode|inception_crop(32, area_min=0.5)", {"image": raw}, seed).astype(np.float32)
    assert np.abs(fused - plain).mean() < 2.0
  # Crops of at least half the area are over 256 pixels a side: decoded at 1/8 (80×60).
  assert len(drafts) == 4 and all(box == (0, 0, 80.0, 60.0) for _, box in drafts)


@needs_fast
def test_fast_branch_decodes_at_a_reduced_scale_and_resizes_bilinearly(monkeypatch):
  simplejpeg, cv2 = image_ops.fast_jpeg_codecs()
  decoded, resized = [], []
  real_decode, real_resize = simplejpeg.decode_jpeg, cv2.resize
  monkeypatch.setattr(simplejpeg, "decode_jpeg", lambda *a, **k: decoded.append(real_decode(*a, **k).shape) or
                      real_decode(*a, **k))
  monkeypatch.setattr(cv2, "resize", lambda image, size, interpolation: resized.append((image.shape, interpolation))
                      or real_resize(image, size, interpolation=interpolation))
  raw = _gradient_jpeg(640, 480)
  for seed in range(8):
    fused = _run(_fused(32, area_min=0.5), {"image": raw}, seed).astype(np.float32)
    plain = _run("decode|inception_crop(32, area_min=0.5)", {"image": raw}, seed).astype(np.float32)
    assert np.abs(fused - plain).mean() < 2.0  # The same box, to the nearest pixel at 1/8.
  # Crops of at least half the area are over 256 pixels a side: decoded at 1/8 (80×60).
  assert decoded == [(60, 80, 3)] * 8
  # Bilinear where the reduced crop shrinks by under 2× each way, the area filter where it does not.
  assert all(f == (cv2.INTER_AREA if max(shape[0], shape[1]) >= 64 else cv2.INTER_LINEAR) for shape, f in resized)
  assert {f for _, f in resized} == {cv2.INTER_LINEAR, cv2.INTER_AREA}


@needs_fast
def test_fast_branch_decodes_pils_pixels_and_falls_back_to_pil(monkeypatch):
  _, cv2 = image_ops.fast_jpeg_codecs()
  crops, real_resize = [], cv2.resize
  monkeypatch.setattr(cv2, "resize", lambda image, size, interpolation: crops.append(image.copy()) or
                      real_resize(image, size, interpolation=interpolation))
  raw = _jpeg(500, 375)
  decoded = np.asarray(PIL.Image.open(io.BytesIO(raw)).convert("RGB"))  # ImageFolder's loader.
  for seed in range(4):
    fast = _run(_fused(224, area_min=0.6), {"image": raw}, seed).astype(np.float32)
    pil = _run(_fused(224, area_min=0.6, fast=False), {"image": raw}, seed).astype(np.float32)
    # Decoded at full size, PIL's pixels exactly, and the crop's box exactly.
    top, left, h, w = image_ops.crop_box(375, 500, np.random.default_rng(seed), 0.6, 1.0)
    np.testing.assert_array_equal(crops[-1], decoded[top:top + h, left:left + w])
    # A smooth image shrunk by under 1.5×: the unfiltered resize moves pixels by about a level.
    assert np.abs(fast - pil).mean() < 1.5
  # PNGs, CMYK JPEGs and JPEGs that libjpeg warns about (junk before the end marker, as in some of
  # ImageNet's files) go to PIL whole, with the same box.
  simplejpeg, _ = image_ops.fast_jpeg_codecs()
  junk = _junk_jpeg(200, 150)
  with pytest.raises(ValueError, match="extraneous bytes"):
    simplejpeg.decode_jpeg(junk)
  for other in (_jpeg(120, 90, fmt="PNG"), _cmyk_jpeg(200, 150), junk):
    np.testing.assert_array_equal(_run(_fused(32), {"image": other}, 5), _run(_fused(32, fast=False), {"image": other}, 5))
  # Without the extra, fast=True is the PIL branch, pixel for pixel.
  monkeypatch.setattr(image_ops, "fast_jpeg_codecs", lambda: None)
  np.testing.assert_array_equal(_run(_fused(64), {"image": raw}, 3), _run(_fused(64, fast=False), {"image": raw}, 3))


@pytest.mark.parametrize("fast", BRANCHES)
def test_fused_crop_is_reproducible_and_takes_arrays_and_pngs(fast):
  raw = _jpeg(120, 90)
  spec = _fused(32, fast=fast)
  a, b = (_run(spec + "|flip_lr", {"image": raw}, seed=3) for _ in range(2))
  np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, _run(spec + "|flip_lr", {"image": raw}, seed=s)) for s in range(4, 8))
  decoded = np.asarray(PIL.Image.open(io.BytesIO(raw)))
  np.testing.assert_array_equal(_run(spec, {"image": decoded}, seed=5), _run("inception_crop(32)", {"image": decoded}, seed=5))
  png = _run(spec, {"image": _jpeg(120, 90, fmt="PNG")}, seed=5)
  assert png.shape == (32, 32, 3) and png.dtype == np.uint8
  grey = _run(_fused(16, channels=1, fast=fast), {"image": raw})
  assert grey.shape == (16, 16, 1) and grey.dtype == np.uint8
  assert _run(_fused(16, fast=fast), {"image": np.bytes_(raw)}).shape == (16, 16, 3)


def test_which_specs_decode_first():
  assert image_ops.decodes_first("decode_jpeg_and_inception_crop(224)|flip_lr")
  assert image_ops.decodes_first(" decode |resize_small(256)")
  assert not image_ops.decodes_first("inception_crop(224)|decode") and not image_ops.decodes_first("")


def test_flip_mirrors_rows_and_normalize_is_value_range_then_standardize():
  image = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
  flips = [_run("flip_lr", {"image": image}, seed=s) for s in range(8)]
  assert all(np.array_equal(f, image[:, ::-1]) or np.array_equal(f, image) for f in flips)
  assert any(np.array_equal(f, image[:, ::-1]) for f in flips) and any(np.array_equal(f, image) for f in flips)
  one = _run("normalize", {"image": image})
  assert one.dtype == np.float32 and one.shape == image.shape
  np.testing.assert_allclose(one, _run(NORMALIZE, {"image": image}), rtol=0, atol=2e-6)
  grey = _run("normalize(0.5, 0.25)", {"image": image[..., :1]})
  np.testing.assert_allclose(grey, (image[..., :1] / 255 - 0.5) / 0.25, rtol=0, atol=2e-6)
