"""Folder datasets: ImageFolder's labels and files, stored bytes, skipped files, refusals, the launcher."""

import io
import os
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
import tensorflow_datasets as tfds

from tests.conftest import REPO
from trends_jax import data
from trends_jax.data import DatasetSpec, image_folder, pipeline
from trends_jax.errors import UserError

CLASSES = ("n02_tench", "b_dog", "a_cat")  # Not in sorted order, so the order is the rule's.


def _jpeg(path, seed, size=(40, 30), **save):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  image = PIL.Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
  image.save(path, format=save.pop("format", "JPEG"), **save)


def _tree(root, splits=("train", "val"), per_class=2):
  seed = 0
  for split in splits:
    for c in CLASSES:
      for i in range(per_class):
        seed += 1
        _jpeg(os.path.join(root, split, c, f"{i}.jpg"), seed)
  return root


@pytest.fixture
def imagenet_like(tmp_path):
  """train/ and val/ of three classes, with every kind of file a real folder has."""
  root = _tree(str(tmp_path / "images"))
  train = os.path.join(root, "train")
  _jpeg(os.path.join(train, "a_cat", "nested", "deep.JPEG"), 90)  # ImageFolder walks sub-folders.
  PIL.Image.open(os.path.join(train, "a_cat", "0.jpg")).convert("CMYK").save(os.path.join(train, "a_cat", "cmyk.jpg"))
  _jpeg(os.path.join(train, "b_dog", "grey.jpg"), 91)
  PIL.Image.open(os.path.join(train, "b_dog", "grey.jpg")).convert("L").save(os.path.join(train, "b_dog", "grey.jpg"))
  rgba = np.random.default_rng(92).integers(0, 256, (20, 24, 4), dtype=np.uint8)
  PIL.Image.fromarray(rgba, "RGBA").save(os.path.join(train, "b_dog", "alpha.png"))
  with open(os.path.join(train, "b_dog", "README.txt"), "w") as f:
    f.write("not an image")
  with open(os.path.join(train, "n02_tench", "0.jpg"), "rb") as f:
    truncated = f.read()[:400]
  with open(os.path.join(train, "n02_tench", "truncated.jpg"), "wb") as f:
    f.write(truncated)
  return root


def _records(name, split, data_dir, **kwargs):
  source = data.data_source(name, split, data_dir, **kwargs)
  return {source[i]["file_name"].decode(): source[i] for i in range(len(source))}


def test_split_layout_labels_files_and_stored_bytes(imagenet_like, tmp_path):
  data_dir = str(tmp_path / "tfds")
  builder, skipped = data.prepare_image_folder(imagenet_like, "pets", data_dir)
  assert sorted(builder.info.splits) == ["train", "validation"]  # val/ is TFDS's 'validation'.
  names = sorted(CLASSES)
  assert data.builder("pets", data_dir).info.features["label"].names == names
  assert data.num_classes("pets", data_dir) == 3
  assert skipped == (f"skipped 2 files in {imagenet_like}: 1 not images by extension (e.g. "
                     f"{imagenet_like}/train/b_dog/README.txt); 1 that do not decode (e.g. "
                     f"{imagenet_like}/train/n02_tench/truncated.jpg)")

  train = os.path.join(imagenet_like, "train")
  decoded = _records("pets", "train", data_dir)
  assert len(decoded) == 6 + 4 and "a_cat/nested/deep.JPEG" in decoded
  for file_name, record in decoded.items():
    assert record["label"] == names.index(file_name.split("/")[0])
    # Every record decodes to what ImageFolder's loader gives: RGB, CMYK and alpha converted.
    expected = np.asarray(PIL.Image.open(os.path.join(train, file_name)).convert("RGB"))
    np.testing.assert_array_equal(record["image"], expected)
  encoded = _records("pets", "train", data_dir, encoded="image")
  for file_name in ("a_cat/0.jpg", "b_dog/grey.jpg", "a_cat/nested/deep.JPEG"):
    with open(os.path.join(train, file_name), "rb") as f:
      assert encoded[file_name]["image"] == f.read()  # JPEGs byte for byte, not re-encoded.
  assert PIL.Image.open(io.BytesIO(encoded["a_cat/cmyk.jpg"]["image"])).format == "PNG"  # Lossless.
  assert len(_records("pets", "validation", data_dir)) == 6


def test_labels_are_torchvision_image_folders(imagenet_like, tmp_path):
  datasets = pytest.importorskip("torchvision.datasets", reason="torchvision is an optional extra")
  data_dir = str(tmp_path / "tfds")
  data.prepare_image_folder(imagenet_like, "pets", data_dir)
  for folder, split in (("train", "train"), ("val", "validation")):
    reference = datasets.ImageFolder(os.path.join(imagenet_like, folder))
    assert reference.class_to_idx == {c: i for i, c in enumerate(data.builder("pets", data_dir).info.features[
        "label"].names)}
    root = os.path.join(imagenet_like, folder)
    theirs = {os.path.relpath(path, root): label for path, label in reference.samples}
    theirs.pop("n02_tench/truncated.jpg", None)  # torchvision would fail on it at its first read.
    ours = {name: int(r["label"]) for name, r in _records("pets", split, data_dir).items()}
    assert ours == theirs
    for name, record in _records("pets", split, data_dir).items():
      image, _ = reference[reference.samples.index((os.path.join(root, name), theirs[name]))]
      np.testing.assert_array_equal(record["image"], np.asarray(image))


def test_flat_folder_trains_by_name_with_the_fast_jpeg_path(tmp_path):
  root = str(tmp_path / "flat")
  for i, c in enumerate(CLASSES):
    for j in range(3):
      _jpeg(os.path.join(root, c, f"{j}.jpg"), 10 * i + j, size=(48, 36))
  data_dir = str(tmp_path / "tfds")
  builder, skipped = data.prepare_image_folder(root, "flat_pets", data_dir)
  assert list(builder.info.splits) == ["train"] and skipped is None
  fast = DatasetSpec(name="flat_pets", data_dir=data_dir, preprocess="decode_jpeg_and_inception_crop(16)|flip_lr",
                     eval_preprocess="decode|resize_small(20)|central_crop(16)")
  assert data.reads_encoded(fast) and isinstance(data.examples(fast, "train")[0]["image"], bytes)
  batch = next(iter(pipeline.train_loader(data.examples(fast, "train"), fast, global_batch_size=4, seed=0)))
  assert batch["inputs"].shape == (4, 16, 16, 3) and batch["inputs"].dtype == np.uint8
  # An evaluation spec that does not decode first gets TFDS's decoded arrays, for both splits.
  mixed = DatasetSpec(name="flat_pets", data_dir=data_dir, preprocess="decode_jpeg_and_inception_crop(16)",
                      eval_preprocess="resize_small(20)|central_crop(16)")
  source = data.examples(mixed, "train")
  assert not data.reads_encoded(mixed) and source[0]["image"].shape == (36, 48, 3)
  evaluation = next(pipeline.eval_batches(source, mixed, global_batch_size=4))
  assert evaluation["inputs"].shape == (4, 16, 16, 3)
  assert next(iter(pipeline.train_loader(source, mixed, global_batch_size=4, seed=0)))["inputs"].shape == (4, 16, 16, 3)


def _one_class(root):
  _jpeg(os.path.join(root, "only", "0.jpg"), 0)


def _val_only_class(root):
  _tree(root)
  _jpeg(os.path.join(root, "val", "z_new", "0.jpg"), 0)


def _no_images(root):
  for c in CLASSES:
    os.makedirs(os.path.join(root, c))
    with open(os.path.join(root, c, "notes.txt"), "w") as f:
      f.write("x")


@pytest.mark.parametrize("make, name, message", [
    (None, "pets", "is not a folder; pass a folder of class sub-folders"),
    (os.makedirs, "pets", "has no class folders; a classification dataset needs at least two class sub-folders"),
    (_one_class, "pets", "has only the class folder 'only'; a classification dataset needs at least two"),
    (_no_images, "pets", "has no image files (.jpg, .jpeg,"),
    (_val_only_class, "pets", "val/z_new has no counterpart in"),
    (_tree, "mnist", "--name=mnist is already the name of a TFDS or offline dataset; pick another, e.g. --name=my_mnist"),
    (_tree, "digits", "--name=digits is already the name of a TFDS or offline dataset"),
    (_tree, "imagenette", "already the name of a TFDS"),
    (_tree, "My-Pets", "--name='My-Pets': a folder dataset's name is lower-case letters"),
])
def test_bad_folders_and_names_fail_in_one_line_before_writing(tmp_path, make, name, message):
  root = str(tmp_path / "images")
  if make is not None:
    make(root)
  data_dir = tmp_path / "tfds"
  with pytest.raises(UserError) as error:
    data.prepare_image_folder(root, name, str(data_dir))
  assert message in str(error.value) and "\n" not in str(error.value)
  assert not data_dir.exists()


def test_a_prepared_name_is_never_overwritten(tmp_path):
  root = _tree(str(tmp_path / "images"), splits=("train",), per_class=1)
  data_dir = str(tmp_path / "tfds")
  data.prepare_image_folder(root, "pets", data_dir)
  files = sorted(os.listdir(os.path.join(data_dir, "pets", image_folder.VERSION)))
  with pytest.raises(UserError, match=rf"dataset 'pets' is already prepared in {data_dir}/pets; pick another "
                                      rf"--name, or delete that folder to replace it \(rm -r {data_dir}/pets\)"):
    data.prepare_image_folder(root, "pets", data_dir)
  assert sorted(os.listdir(os.path.join(data_dir, "pets", image_folder.VERSION))) == files


def test_an_unprepared_folder_name_says_how_to_prepare_it(tmp_path):
  with pytest.raises(UserError, match=rf"a folder dataset prepared in {tmp_path} \(python experiments/prepare_data.py "
                                      rf"--image_folder=DIR --name=my_pets --data_dir={tmp_path}\), any TFDS"):
    data.data_source("my_pets", "train", str(tmp_path))


def _prepare_data(*args):
  return subprocess.run([sys.executable, "experiments/prepare_data.py", *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def test_launcher_writes_a_folder_and_refuses_a_second_time(tmp_path):
  root = _tree(str(tmp_path / "images"), splits=("train", "val"), per_class=1)
  with open(os.path.join(root, "train", "a_cat", "x.jpg"), "wb") as f:
    f.write(b"not a jpeg")
  args = [f"--image_folder={root}", "--name=pets", f"--data_dir={tmp_path / 'tfds'}"]
  first = _prepare_data(*args)
  assert first.returncode == 0, first.stderr[-2000:]
  assert f"pets: 3 classes, train 3, validation 3 in {tmp_path / 'tfds'}/pets/1.0.0" in first.stdout
  warnings = [line for line in first.stderr.splitlines() if line.startswith("warning:")]
  assert warnings == [f"warning: skipped 1 file in {root}: 1 that do not decode (e.g. {root}/train/a_cat/x.jpg)"]
  assert len(tfds.data_source("pets", split="validation", data_dir=str(tmp_path / "tfds"),
                              builder_kwargs=data.READ_KWARGS)) == 3
  again = _prepare_data(*args)
  assert again.returncode == 2 and again.stderr.strip().startswith("error: dataset 'pets' is already prepared")
  assert len(again.stderr.strip().splitlines()) == 1
  alone = _prepare_data(f"--image_folder={root}")
  assert alone.returncode == 2 and alone.stderr.strip() == (
      "error: --image_folder and --name go together, e.g. --image_folder=~/flowers --name=flowers")
