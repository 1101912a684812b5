"""What the lecture experiments' tests share: running one in --quick mode, and checking its claims."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _run_experiment(script, workdir, *args):
  """Runs experiments/<script>.py --quick, e.g. script='lecture/activations'."""
  argv = [sys.executable, f"experiments/{script}.py", f"--workdir={workdir}", "--quick", *args]
  result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "XLA_FLAGS": ""})  # One device, as a user runs it.
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f), open(os.path.join(workdir, "results.md")).read()


def _assert_claims(results, markdown, expected=None):
  """The lecture's claims: {sentence: bool}, each also a "holds" / "does NOT hold" line of the notes."""
  claims = results["claims"]
  assert claims and all(isinstance(v, bool) for v in claims.values()), claims
  if expected is not None:
    assert len(claims) == expected, claims
  for claim, holds in claims.items():
    assert f"- {'holds' if holds else 'does NOT hold'}: {claim}" in markdown
  return claims


@pytest.fixture
def run_experiment():
  """run_experiment(script, workdir, *args) → (results.json, results.md) of experiments/<script>.py --quick."""
  return _run_experiment


@pytest.fixture
def assert_claims():
  """assert_claims(results, markdown, expected=None): the claims are booleans, each a line of the notes."""
  return _assert_claims
