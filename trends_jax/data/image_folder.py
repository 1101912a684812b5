"""A folder of class sub-folders (torchvision `ImageFolder`'s layout) as a TFDS array_record dataset.

Layouts: `DIR/train/<class>/…` beside `DIR/val/<class>/…` (ImageNet's; `val` and `validation`
become the `validation` split, `test` the `test` split), or `DIR/<class>/…` (one `train` split).
Classes are the sub-folders in `sorted(os.listdir)` order, as `ImageFolder.find_classes`, so label
i is ImageFolder's class i (an ImageNet head's synset i); files are `ImageFolder`'s (its extensions,
sub-folders walked). The dataset is written as `<data_dir>/<name>/1.0.0` and read by name with no
builder class (TFDS reads a prepared dataset from its files).

Storage: RGB and greyscale JPEG (MPO included) and PNG files are stored byte for byte; every other
image (CMYK JPEGs, palette or alpha PNGs, BMP, TIFF, WebP…) is converted to RGB as `ImageFolder`'s
loader does and stored as a lossless PNG, so that every record decodes to the pixels `ImageFolder`
gives.
Files that are not images, by extension or by failing to decode, are skipped and counted.
"""

import concurrent.futures
import dataclasses
import io
import os
import re

import PIL.Image
import tensorflow_datasets as tfds

from trends_jax.errors import UserError

VERSION = "1.0.0"
SPLIT_FOLDERS = {"train": "train", "val": "validation", "validation": "validation", "test": "test"}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # ImageFolder's.
_STORED_AS_IS = {(f, m) for f in ("JPEG", "MPO", "PNG") for m in ("RGB", "L")}  # MPO: a camera JPEG.
_CHUNK = 256  # Files read per round of the reader threads: bounds the bytes held in memory.


@dataclasses.dataclass(frozen=True)
class Folder:
  """What a folder holds: class names, and per split its image files as (path, label)."""
  root: str
  classes: list[str]
  splits: dict[str, list[tuple[str, int]]]
  split_dirs: dict[str, str]
  not_images: list[str]


def find_classes(directory: str) -> list[str]:
  """Class folder names in label order: torchvision's `find_classes` rule."""
  return sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())


def _walk(class_dir: str) -> list[str]:
  # ImageFolder's order: sorted walk (links followed), files sorted within each folder.
  return [os.path.join(root, f) for root, _, files in sorted(os.walk(class_dir, followlinks=True))
          for f in sorted(files)]


def scan(root: str) -> Folder:
  """Finds the layout, classes and files of `root`; a folder that cannot make a dataset is a UserError."""
  if not os.path.isdir(root):
    raise UserError(f"--image_folder {root} is not a folder; pass a folder of class sub-folders "
                    "(DIR/<class>/*.jpg, or DIR/train/<class>/*.jpg beside DIR/val/<class>/*.jpg)")
  top = find_classes(root)
  if "train" in top:
    others = [d for d in top if d not in SPLIT_FOLDERS]
    if others:
      raise UserError(f"{root} has a train/ folder beside {others[0]}/, which is not a split folder; "
                      "use only split folders (train/, val/ or validation/, test/) or only class folders")
    if {"val", "validation"} <= set(top):
      raise UserError(f"{root} has both val/ and validation/; keep one of them (either becomes split 'validation')")
    split_dirs = {SPLIT_FOLDERS[d]: os.path.join(root, d) for d in top}
  else:
    split_dirs = {"train": root}
  classes = find_classes(split_dirs["train"])
  if len(classes) < 2:
    found = f"only the class folder {classes[0]!r}" if classes else "no class folders"
    raise UserError(f"{split_dirs['train']} has {found}; a classification dataset needs at least two "
                    "class sub-folders of images (DIR/<class>/*.jpg)")
  label_of = {c: i for i, c in enumerate(classes)}
  splits, not_images = {}, []
  for split, directory in split_dirs.items():
    own = find_classes(directory)
    unknown = [c for c in own if c not in label_of]
    if unknown:
      raise UserError(f"class folder {os.path.join(directory, unknown[0])} has no counterpart in "
                      f"{split_dirs['train']}; the training split's folders define the classes")
    files = []
    for name in own:
      for path in _walk(os.path.join(directory, name)):
        if path.lower().endswith(IMAGE_EXTENSIONS):
          files.append((path, label_of[name]))
        else:
          not_images.append(path)
    if not files:
      raise UserError(f"{directory} has no image files ({', '.join(IMAGE_EXTENSIONS)}) in class sub-folders")
    splits[split] = files
  return Folder(root, classes, splits, split_dirs, not_images)


def read_image(path: str) -> bytes | None:
  """The bytes to store for the image at `path`, or None where it does not decode."""
  with open(path, "rb") as f:
    raw = f.read()
  try:
    with PIL.Image.open(io.BytesIO(raw)) as image:
      if (image.format, image.mode) in _STORED_AS_IS:
        # Decoding at 1/8 scale still reads every byte of a JPEG, so a truncated file fails here.
        image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
        image.load()
        return raw
      buffer = io.BytesIO()
      image.convert("RGB").save(buffer, format="PNG")
      return buffer.getvalue()
  except (OSError, SyntaxError, ValueError, PIL.Image.DecompressionBombError):
    return None


class ImageFolderDataset(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Writes a `Folder` under `name`; read back by name through TFDS's files-only builder."""

  VERSION = tfds.core.Version(VERSION)

  def __init__(self, *, name: str, folder: Folder, num_threads: int = 0, **kwargs):
    self.name = name  # Per instance, as TFDS's own adhoc builder sets it.
    self._folder = folder
    self._num_threads = num_threads or min(8, os.cpu_count() or 1)
    self.skipped: list[str] = []
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=f"Images of {len(self._folder.classes)} classes from {self._folder.root} "
                    "(ImageFolder layout), written by trends_jax's prepare_data.py --image_folder.",
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
            "label": tfds.features.ClassLabel(names=self._folder.classes),
            "file_name": tfds.features.Text(),  # Relative to the split's folder.
        }),
        supervised_keys=("image", "label"),
    )

  def _split_generators(self, dl_manager):
    return {split: self._generate_examples(split, files) for split, files in self._folder.splits.items()}

  def _generate_examples(self, split, files):
    directory = self._folder.split_dirs[split]
    with concurrent.futures.ThreadPoolExecutor(self._num_threads) as pool:  # PIL decodes without the GIL.
      for start in range(0, len(files), _CHUNK):
        chunk = files[start:start + _CHUNK]
        for (path, label), image in zip(chunk, pool.map(read_image, [p for p, _ in chunk])):
          if image is None:
            self.skipped.append(path)
            continue
          file_name = os.path.relpath(path, directory)
          yield f"{split}/{file_name}", {"image": image, "label": label, "file_name": file_name}


def skipped_line(folder: Folder, corrupt: list[str]) -> str | None:
  """The one warning line about files left out, or None when none were."""
  total = len(folder.not_images) + len(corrupt)
  if not total:
    return None
  parts = []
  if folder.not_images:
    parts.append(f"{len(folder.not_images)} not images by extension (e.g. {folder.not_images[0]})")
  if corrupt:
    parts.append(f"{len(corrupt)} that do not decode (e.g. {corrupt[0]})")
  return f"skipped {total:,} file{'s' * (total != 1)} in {folder.root}: {'; '.join(parts)}"


_NAME = re.compile(r"[a-z][a-z0-9_]*")


def check_name(name: str, data_dir: str | None, taken: set[str]) -> str:
  """`name`'s folder under `data_dir`, after refusing a name that is taken, invalid or already written."""
  if not _NAME.fullmatch(name or ""):
    raise UserError(f"--name={name!r}: a folder dataset's name is lower-case letters, digits and underscores, "
                    "starting with a letter (e.g. --name=my_flowers)")
  stock = name in taken
  if not stock:
    try:
      tfds.builder_cls(name)
      stock = True
    except tfds.core.registered.DatasetNotFoundError:
      pass
  if stock:
    raise UserError(f"--name={name} is already the name of a TFDS or offline dataset; pick another, "
                    f"e.g. --name=my_{name}")
  path = os.path.join(os.path.expanduser(data_dir or tfds.core.constants.DATA_DIR), name)
  if os.path.exists(path):
    raise UserError(f"dataset {name!r} is already prepared in {path}; pick another --name, or delete that "
                    f"folder to replace it (rm -r {path})")
  return path


def prepare(root: str, name: str, data_dir: str | None = None, *, taken: set[str] = frozenset(),
            num_threads: int = 0) -> tuple[tfds.core.DatasetBuilder, str | None]:
  """Writes the images under `root` as dataset `name`; returns its builder and the warning line
  about skipped files (None if none). Every check runs before anything is written."""
  data_dir = os.path.expanduser(data_dir) if data_dir else None
  check_name(name, data_dir, taken)
  folder = scan(os.path.expanduser(root))
  builder = ImageFolderDataset(name=name, folder=folder, num_threads=num_threads, data_dir=data_dir,
                               file_format="array_record")
  tfds.disable_progress_bar()
  builder.download_and_prepare()
  return builder, skipped_line(folder, builder.skipped)
