"""PyTorch twins of two trends_jax steps, for side-by-side speed checks (needs `trends_jax[bench]`).

- `resnet18_train_step`: torchvision-style ResNet-18 with the CIFAR stem (3×3/1 convolution, no
  max-pool), layer for layer the shapes of `models.create('resnet18', cifar_stem=True)`; one
  step is forward, cross-entropy, backward and SGD with (Nesterov) momentum, L2 on kernels only.
- `lstm_grad_step`: `nn.LSTM` forward over a sequence, mean squared output, backward (the step
  of experiments/bench/lstm.py).
- `conv_grad_step`: one convolution, forward and backward to its input and weight (the op-level
  comparison of experiments/bench/vs_torch.py --conv_ops).
- `torchvision_train_step`: torchvision's own model (ResNet-50 for experiments/bench/torch_resnet50.py)
  on any device, AMP bfloat16 and channels_last, optionally through `torch.compile`.

Each returns a call that runs one step eagerly (PyTorch's CPU kernels, oneDNN) and returns when
it is done.
"""

import os
from collections.abc import Callable

import torch
from torch import nn


def set_threads(threads: int) -> None:
  """PyTorch's intra-op threads; 0: one per CPU core."""
  torch.set_num_threads(threads or os.cpu_count() or 1)


class _BasicBlock(nn.Module):
  def __init__(self, in_channels: int, channels: int, stride: int):
    super().__init__()
    self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(channels)
    self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(channels)
    self.downsample = nn.Identity() if stride == 1 and in_channels == channels else nn.Sequential(
        nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels))

  def forward(self, x):
    y = torch.relu(self.bn1(self.conv1(x)))
    return torch.relu(self.bn2(self.conv2(y)) + self.downsample(x))


def resnet18_cifar(in_channels: int = 3, num_classes: int = 10, num_filters: int = 64) -> nn.Module:
  layers = [nn.Conv2d(in_channels, num_filters, 3, 1, 1, bias=False), nn.BatchNorm2d(num_filters), nn.ReLU()]
  channels = num_filters
  for stage in range(4):
    width = num_filters * 2 ** stage
    for block in range(2):
      layers.append(_BasicBlock(channels, width, 2 if stage > 0 and block == 0 else 1))
      channels = width
  layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
  return nn.Sequential(*layers)


def resnet18_train_step(batch_size: int, image_shape: tuple[int, int, int], num_classes: int,
                        num_filters: int, learning_rate: float, momentum: float, nesterov: bool,
                        l2: float) -> Callable[[], None]:
  """One training step of `resnet18_cifar` on a fixed random batch of HWC `image_shape` images."""
  torch.manual_seed(0)
  height, width, channels = image_shape
  model = resnet18_cifar(channels, num_classes, num_filters).train()
  kernels = [p for p in model.parameters() if p.ndim > 1]
  others = [p for p in model.parameters() if p.ndim <= 1]
  optimizer = torch.optim.SGD([{"params": kernels, "weight_decay": l2}, {"params": others, "weight_decay": 0.0}],
                              lr=learning_rate, momentum=momentum, nesterov=nesterov)
  images = torch.randn(batch_size, channels, height, width)
  labels = torch.randint(0, num_classes, (batch_size,))

  def step():
    optimizer.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(images), labels).backward()
    optimizer.step()

  return step


def lstm_grad_step(batch: int, length: int, features: int, hidden: int, layers: int) -> Callable[[], None]:
  torch.manual_seed(0)
  lstm = nn.LSTM(features, hidden, num_layers=layers, batch_first=True)
  x = torch.randn(batch, length, features)

  def step():
    lstm.zero_grad(set_to_none=True)
    outputs, _ = lstm(x)
    outputs.square().mean().backward()

  return step


def torchvision_train_step(name: str, batch_size: int, image_size: int, device: str, bf16: bool = True,
                           channels_last: bool = True, compile_model: bool = False) -> Callable[[], None]:
  """One ImageNet-style training step of torchvision's `name` (e.g. resnet50) on `device`: forward
  under bfloat16 autocast (AMP), cross-entropy, backward, SGD with momentum 0.9 and weight decay
  1e-4 (torchvision's reference recipe), on a fixed random batch. `compile_model`: the model goes
  through `torch.compile` first, so the first call compiles it. The call returns when the step is done."""
  import torchvision
  torch.manual_seed(0)
  memory_format = torch.channels_last if channels_last else torch.contiguous_format
  model = torchvision.models.get_model(name, num_classes=1000).to(device, memory_format=memory_format).train()
  optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
  forward = torch.compile(model) if compile_model else model
  images = torch.randn(batch_size, 3, image_size, image_size, device=device).to(memory_format=memory_format)
  labels = torch.randint(0, 1000, (batch_size,), device=device)
  device_type = torch.device(device).type

  def step():
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
      loss = nn.functional.cross_entropy(forward(images), labels)
    loss.backward()
    optimizer.step()
    if device_type == "cuda":
      torch.cuda.synchronize()

  return step


def conv_grad_step(batch: int, size: int, in_channels: int, out_channels: int, kernel: int, stride: int,
                   padding: int, bias: bool) -> Callable[[], None]:
  """One Conv2d forward, summed, backward to its input and parameters."""
  generator = torch.Generator().manual_seed(0)
  x = torch.randn(batch, in_channels, size, size, generator=generator, requires_grad=True)
  conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding, bias=bias)

  def step():
    x.grad = None
    conv.zero_grad(set_to_none=True)
    conv(x).sum().backward()

  return step
