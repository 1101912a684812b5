"""Fine-tuning: config.init_from takes every tensor that fits, a new head starts fresh, and
config.freeze keeps the rest fixed."""

import jax
import numpy as np
import pytest
from flax import traverse_util

from trends_jax.errors import UserError
from trends_jax.training import finetune, loop, steps, trained


def _flat(variables):
  return traverse_util.flatten_dict(jax.device_get(variables), sep="/")


def test_a_new_head_starts_fresh_and_a_frozen_backbone_stays_as_loaded(tiny_config, tmp_path, capsys):
  source = str(tmp_path / "source")
  loop.train_and_evaluate(tiny_config(), source)
  loaded = _flat(trained.load(source).variables)

  probe = str(tmp_path / "probe")  # 12 classes where the source had 10: the head cannot be taken.
  status = loop.train_and_evaluate(tiny_config(**{"init_from": source, "freeze": "backbone", "model.num_classes": 12,
                                                  "num_train_steps": 8}), probe)
  out = capsys.readouterr().out
  assert status["state"] == "done"
  assert f"Initialized from {source} (step 12): " in out and "new: params/head/bias, params/head/kernel" in out
  assert "(other shape there: params/head/bias (10,) → (12,)" in out and "frozen: 8 of 10 parameter tensors" in out
  tuned = _flat(trained.load(probe).variables)
  for path, value in tuned.items():
    if path.startswith("params/head/"):
      assert value.shape[-1] == 12
    elif path.startswith("params/"):
      np.testing.assert_array_equal(value, loaded[path], err_msg=path)  # Frozen: not one bit moved.
    else:  # BatchNorm's running averages still move under batch statistics (documented).
      assert value.shape == loaded[path].shape

  unfrozen = str(tmp_path / "unfrozen")
  loop.train_and_evaluate(tiny_config(**{"init_from": source, "num_train_steps": 4}), unfrozen)
  moved = _flat(trained.load(unfrozen).variables)
  assert all(not np.array_equal(moved[p], loaded[p]) for p in moved if p.endswith("kernel"))


def test_start_from_matches_by_path_and_shape(tiny_config, tmp_path):
  source = str(tmp_path / "source")
  loop.train_and_evaluate(tiny_config(num_train_steps=4, eval_every_steps=4), source)
  loaded = trained.load(source).variables
  target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), loaded)
  start = finetune.start_from(source, target)
  assert _flat(start.variables).keys() == _flat(loaded).keys() and not start.frozen
  with pytest.raises(UserError, match=r"config.freeze '\^nothing' matches no parameter"):
    finetune.start_from(source, target, freeze="^nothing")
  with pytest.raises(UserError, match="freezes every parameter"):
    finetune.start_from(source, target, freeze=".")
  other = {"params": {"dense": {"kernel": jax.ShapeDtypeStruct((3, 3), np.float32)}}}
  with pytest.raises(UserError, match=r"none of its \d+ tensors fits this model .*config.model.name"):
    finetune.start_from(source, other)
  overlaid = steps.overlay(jax.tree.map(np.zeros_like, loaded), {"params": {"head": loaded["params"]["head"]}})
  np.testing.assert_array_equal(overlaid["params"]["head"]["kernel"], loaded["params"]["head"]["kernel"])
  assert not np.any(overlaid["params"]["conv0"]["kernel"])


@pytest.mark.parametrize("overrides, message", [
    ({"freeze": "backbone"}, "config.freeze needs config.init_from"),
    ({"init_from": "/nonexistent/run"}, r"holds no run \(no config.json\)"),
])
def test_bad_fine_tuning_fields_fail_before_anything_is_written(tiny_config, tmp_path, overrides, message):
  workdir = tmp_path / "run"
  with pytest.raises(UserError, match=message):
    loop.train_and_evaluate(tiny_config(**overrides), str(workdir))
  assert not workdir.exists()
