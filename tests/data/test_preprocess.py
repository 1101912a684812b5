"""Image, sequence and text preprocessing: shapes, value ranges, reproducible randomness."""

import io

import numpy as np
import PIL.Image
import pytest
import tensorflow_datasets as tfds

from trends_jax.data import DatasetSpec, pipeline, preprocess, vocab
from trends_jax.data.text_ops import LanguageModelWindows


def _image(h=40, w=60, c=3, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def _run(spec, example, seed=0):
  return preprocess.apply_all(example, preprocess.parse(spec), np.random.default_rng(seed))


def test_imagenet_train_and_eval_shapes_and_ranges():
  train = _run("inception_crop(32)|flip_lr|value_range(0, 1)|standardize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))",
               {"image": _image()})["image"]
  assert train.shape == (32, 32, 3) and train.dtype == np.float32
  assert -2.2 < train.min() and train.max() < 2.7
  evaluation = _run("resize_small(36)|central_crop(32)", {"image": _image()})["image"]
  assert evaluation.shape == (32, 32, 3) and evaluation.dtype == np.uint8


def test_random_ops_are_reproducible_from_the_rng():
  spec = "inception_crop(16)|flip_lr"
  a, b = (_run(spec, {"image": _image()}, seed=7)["image"] for _ in range(2))
  np.testing.assert_array_equal(a, b)
  others = [_run(spec, {"image": _image()}, seed=s)["image"] for s in range(8)]
  assert any(not np.array_equal(a, o) for o in others)


def test_random_crop_pads_with_zeros_and_flip_mirrors():
  image = np.full((32, 32, 3), 255, np.uint8)
  crops = [_run("random_crop(32, pad=4)", {"image": image}, seed=s)["image"] for s in range(20)]
  assert all(c.shape == (32, 32, 3) for c in crops)
  assert any(c.min() == 0 for c in crops)  # Some crops reach into the padding.
  image = _image(4, 5, 1)
  flips = [_run("flip_lr", {"image": image}, seed=s)["image"] for s in range(20)]
  assert any(np.array_equal(f, image[:, ::-1]) for f in flips) and any(np.array_equal(f, image) for f in flips)


def test_decode_jpeg_bytes():
  buffer = io.BytesIO()
  PIL.Image.fromarray(_image(24, 20)).save(buffer, format="JPEG")
  decoded = _run("decode|resize(8)", {"image": buffer.getvalue()})["image"]
  assert decoded.shape == (8, 8, 3) and decoded.dtype == np.uint8


def test_pixel_sequences_with_a_fixed_permutation():
  image = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
  plain = _run("pixel_sequence", {"image": image})["image"]
  np.testing.assert_array_equal(plain[:, 0], np.arange(16))
  permuted = [_run("pixel_sequence(16, permutation_seed=3)", {"image": image})["image"][:, 0] for _ in range(2)]
  np.testing.assert_array_equal(permuted[0], permuted[1])
  assert sorted(permuted[0].tolist()) == list(range(16)) and not np.array_equal(permuted[0], np.arange(16))


def test_augmented_batches_resume_exactly():
  source = [{"image": _image(36, 36, 3, seed=i), "label": i % 10} for i in range(64)]
  spec = DatasetSpec(preprocess="inception_crop(16)|flip_lr|value_range(0, 1)")
  def make():
    return iter(pipeline.train_loader(source, spec, global_batch_size=8, seed=1))
  first, second = make(), make()
  for _ in range(3):
    np.testing.assert_array_equal(next(first)["inputs"], next(second)["inputs"])
  prefetch = pipeline.PrefetchToDevice(first, put=lambda b: b)
  next(prefetch)
  resumed = make()
  pipeline.restore_loader_state(resumed, prefetch.state())
  np.testing.assert_array_equal(next(resumed)["inputs"], next(prefetch)["inputs"])


@pytest.mark.parametrize("name, spec, shape", [
    ("cifar10", "random_crop(32, pad=4)|flip_lr|value_range(0, 1)", (4, 32, 32, 3)),
    ("imagenet2012", "inception_crop(64)|flip_lr|value_range(-1, 1)", (4, 64, 64, 3)),
])
def test_stock_image_datasets_through_mock_data(name, spec, shape):
  with tfds.testing.mock_data(num_examples=8):
    source = tfds.data_source(name, split="train", builder_kwargs={"file_format": "array_record"})
    loader = pipeline.train_loader(source, DatasetSpec(preprocess=spec), global_batch_size=4, seed=0)
    batch = next(iter(loader))
  assert batch["inputs"].shape == shape and batch["inputs"].dtype == np.float32


def test_word_vocabulary(tmp_path):
  texts = ["The cat sat on the mat.", "The dog's bone; the cat's toy!", "A mat"]
  v = vocab.Vocabulary.build((vocab.word_tokens(t) for t in texts), min_count=2)
  assert v.tokens[:3] == ["<pad>", "<unk>", "the"]
  assert v.tokens[3:] == ["mat"]  # "cat" and "cat's" are two words, each seen once: below min_count.
  np.testing.assert_array_equal(v.encode(["the", "zebra"]), [2, 1])
  path = str(tmp_path / "vocab.json")
  v.save(path)
  assert vocab.Vocabulary.load(path).tokens == v.tokens
  ids = _run(f"words_to_ids({path!r}, 5)", {"text": b"the mat the zebra mat the"})["text"]
  np.testing.assert_array_equal(ids, [2, 3, 2, 1, 3])
  padded = _run(f"words_to_ids({path!r}, 4)", {"text": "mat"})["text"]
  np.testing.assert_array_equal(padded, [3, 0, 0, 0])


def test_char_vocabulary_and_language_model_windows(tmp_path):
  text = "to be or not to be"
  v = vocab.Vocabulary.build([list(text)])
  assert v.decode(v.encode(text)) == list(text)
  windows = LanguageModelWindows(v.encode(text), seq_len=5)
  assert len(windows) == (len(text) - 1) // 5
  example = windows[1]
  assert "".join(v.decode(example["inputs"])) == text[5:10]
  assert "".join(v.decode(example["label"])) == text[6:11]
  with pytest.raises(IndexError):
    windows[len(windows)]
