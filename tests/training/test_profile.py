"""config.profile_steps: a jax.profiler trace of chosen steps, read back and broken down by op."""

import jax
import jax.numpy as jnp

from trends_jax.bench import ops
from trends_jax.run import profiler
from trends_jax.training import loop


def test_profile_steps_write_a_trace_of_those_steps_that_parses(tiny_config, tmp_path):
  config = tiny_config(profile_steps=(4, 6))
  config.optimizer.schedule = "constant"  # So that the run may be extended below.
  status = loop.train_and_evaluate(config, str(tmp_path))
  assert status["state"] == "done"
  events = profiler.read_trace(str(tmp_path / "tensorboard"))
  # The steps ran under the trace: the XLA CPU runtime's per-instruction events are there.
  threads = {e["thread"] for e in events}
  assert any("XLA" in t or "PjRt" in t for t in threads), threads
  assert sum(e["dur"] for e in events if e["name"].startswith(("fusion", "convolution", "conv_general",
                                                                 "ynn_fusion", "dot"))) > 0
  # A resume after the traced steps adds no trace.
  before = profiler.latest_run(str(tmp_path / "tensorboard"))
  more = tiny_config(profile_steps=(4, 6), num_train_steps=16)
  more.optimizer.schedule = "constant"
  loop.train_and_evaluate(more, str(tmp_path))
  assert profiler.latest_run(str(tmp_path / "tensorboard")) == before


def test_op_table_charges_a_convolutions_time_to_convolution_forward_and_backward(tmp_path):
  def loss(w, x):
    y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.tanh(y).sum()

  step = jax.jit(jax.grad(loss))
  x, w = jnp.ones((8, 32, 32, 16)), jnp.ones((3, 3, 16, 16)) * 0.01
  compiled = step.lower(w, x).compile()
  jax.block_until_ready(compiled(w, x))
  jax.profiler.start_trace(str(tmp_path))
  for _ in range(3):
    out = compiled(w, x)
  jax.block_until_ready(out)
  jax.profiler.stop_trace()
  table = ops.op_table(str(tmp_path), compiled.as_text(), calls=3)
  shares = {(r["kind"], r["phase"]): r["share"] for r in table["time by kind"]}
  assert abs(sum(shares.values()) - 1) < 1e-6
  convolution = sum(v for (k, _), v in shares.items() if k == "convolution")
  assert convolution > 0.3, shares
  assert all(r["ms_per_step"] >= 0 for r in table["top ops"])
  assert {r["phase"] for r in table["top ops"]} <= {"forward", "backward", "outside autodiff", "XLA"}


def test_phase_and_layer_read_jax_name_stacks():
  assert ops.phase("jit(step)/transpose(jvp(ResNet))/layer1_0/conv1/conv_general_dilated") == "backward"
  assert ops.phase("jit(step)/jvp(ResNet)/bn1/rsqrt") == "forward"
  assert ops.phase("jit(step)/add") == "outside autodiff"
  assert ops.phase("") == "XLA"
  assert ops.layer("jit(step)/jvp(ResNet)/layer1_0/conv1/conv_general_dilated") == "ResNet/layer1_0/conv1"
  assert ops.kind({"convolution", "add"}) == "convolution"
  assert ops.kind({"copy", "transpose"}) == "data movement"
