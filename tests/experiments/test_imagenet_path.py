"""The ImageNet reproduction path end to end, as the README gives it, on real-size JPEGs and a
random-weight torchvision model in place of the download: folder dataset → imported weights →
evaluation that predicts what torchvision's reference evaluation predicts → fine-tuning from the
weights → evaluation of the fine-tuned run."""

import json
import os
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest

from tests.conftest import REPO

torch = pytest.importorskip("torch", reason="the reference evaluation is torchvision's (pip install 'trends_jax[torch]')")
torchvision = pytest.importorskip("torchvision", reason="the reference evaluation is torchvision's")

CLASSES = ("n01440764", "n01443537", "n01484850")  # ImageNet synsets: ImageFolder sorts them.
SIZES = ((500, 375), (333, 500), (640, 480), (500, 330))  # Typical ImageNet shapes (width, height).


def _photo(path, seed, size):
  """A smooth random image, so that its JPEG has a photo's size (~100 KB at 500×375)."""
  rng = np.random.default_rng(seed)
  small = PIL.Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  small.resize(size, PIL.Image.BICUBIC).save(path, format="JPEG", quality=90)


def _launch(script, *args):
  result = subprocess.run([sys.executable, f"experiments/{script}", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout


def _reference_predictions(model, root):
  """torchvision's ImageNet evaluation: ImageFolder, Resize(256), CenterCrop(224), ToTensor, Normalize."""
  from torchvision import transforms
  transform = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                  transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
  folder = torchvision.datasets.ImageFolder(os.path.join(root, "val"), transform=transform)
  images = torch.stack([image for image, _ in folder])
  with torch.no_grad():
    logits = model(images).numpy()
  return logits, np.array([label for _, label in folder.samples])


def test_imported_weights_evaluate_as_torchvision_and_fine_tune_on_a_folder(tmp_path, data_dir):
  root = str(tmp_path / "images")
  seed = 0
  for split, per_class in (("train", 3), ("val", 4)):
    for c in CLASSES:
      for i in range(per_class):
        seed += 1
        _photo(os.path.join(root, split, c, f"{c}_{i}.JPEG"), seed, SIZES[seed % len(SIZES)])
  torch.manual_seed(0)
  reference = torchvision.models.resnet18(num_classes=len(CLASSES)).eval()
  for module in reference.modules():  # Random running statistics, so that BatchNorm is checked too.
    if isinstance(module, torch.nn.BatchNorm2d):
      module.running_mean.uniform_(-0.5, 0.5)
      module.running_var.uniform_(0.5, 2.0)
  weights = str(tmp_path / "resnet18.pth")
  torch.save(reference.state_dict(), weights)

  _launch("prepare_data.py", f"--image_folder={root}", "--name=synsets", f"--data_dir={data_dir}")
  imported = str(tmp_path / "resnet18_imported")
  _launch("import_weights.py", "--model=resnet18", f"--weights={weights}", f"--workdir={imported}")
  # The imported config is ImageNet's; the images are the folder's.
  dataset = ["--config.dataset.name=synsets", f"--config.dataset.data_dir={data_dir}"]
  out = _launch("evaluate.py", f"--workdir={imported}", "--config=configs/finetune.py:resnet18", *dataset)
  assert "top-1" in out
  with open(os.path.join(imported, "eval_validation", "results.json")) as f:
    evaluated = json.load(f)

  logits, labels = _reference_predictions(reference, root)
  predicted = logits.argmax(-1)
  expected = np.zeros((len(CLASSES), len(CLASSES)), int)
  np.add.at(expected, (labels, predicted), 1)
  assert evaluated["num_examples"] == len(labels) == 12
  assert evaluated["class_names"] == list(CLASSES)
  assert np.array_equal(np.array(evaluated["confusion_matrix"]), expected)  # The same prediction for every image.
  assert evaluated["accuracy"] == pytest.approx(float(np.mean(predicted == labels)))
  torch_loss = float(torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)))
  assert evaluated["loss"] == pytest.approx(torch_loss, rel=1e-4)

  tuned = str(tmp_path / "tuned")
  _launch("train.py", "--config=configs/finetune.py:resnet18", f"--workdir={tuned}", f"--config.init_from={imported}",
          *dataset, "--config.dtype=float32", "--config.batch_size=8", "--config.num_train_steps=2",
          "--config.eval_every_steps=2", "--config.checkpoint_every_steps=2", "--config.eval_batch_size=8",
          "--config.dataset.num_workers=0", "--config.freeze=backbone")
  with open(os.path.join(tuned, "status.json")) as f:
    assert json.load(f)["state"] == "done"
  _launch("evaluate.py", f"--workdir={tuned}")
  with open(os.path.join(tuned, "eval_validation", "results.json")) as f:
    assert json.load(f)["num_examples"] == 12
