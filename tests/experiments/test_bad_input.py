"""Every row of docs/bad_input.md, run through experiments/train.py as a user would.

The table is the specification: each row's input must end with exit code 2, exactly its one
message line on stderr (`…` matches any text) and the workdir as it was before.
"""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO, assert_one_error_line, bad_input_rows

BASE = ["--config=configs/default.py:quick"]

# Rows whose input is a situation rather than flags: how the test creates it.
READ_ONLY = """
import errno, os
def refuse(original):
  def call(path, *args, **kwargs):
    if os.fspath(path).startswith(WORKDIR):
      raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
    return original(path, *args, **kwargs)
  return call
os.makedirs, os.open, os.mkdir = refuse(os.makedirs), refuse(os.open), refuse(os.mkdir)
"""
FULL_DISK = """
import collections, shutil
shutil.disk_usage = lambda path: collections.namedtuple("usage", "total used free")(2**30, 2**30 - 2**20, 2**20)
"""

LOW_MEMORY = """
import os
page_count = os.sysconf
os.sysconf = lambda name: 2**20 // page_count("SC_PAGE_SIZE") if name == "SC_AVPHYS_PAGES" else page_count(name)
"""


def _rows():
  return bad_input_rows("experiments/train.py")


def _launch(args, prelude="", workdir=""):
  code = (f"import runpy, sys\nWORKDIR = {workdir!r}\n{prelude}\n"
          "sys.argv = ['experiments/train.py'] + sys.argv[1:]\n"
          # What `python experiments/train.py` puts first on sys.path: the script's folder.
          "sys.path[0] = 'experiments'\nrunpy.run_path('experiments/train.py', run_name='__main__')\n")
  return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                        timeout=300)


def _snapshot(path):
  if not os.path.exists(path):
    return None
  if os.path.isfile(path):
    return os.path.getmtime(path)
  return {os.path.join(root, f): os.path.getmtime(os.path.join(root, f))
          for root, _, files in os.walk(path) for f in files}


def test_the_table_covers_what_issue_11_names():
  names = {row.values[0] for row in _rows()}
  for required in ("unknown config key", "wrong type", "unknown model", "unknown optimizer", "unknown dataset",
                   "learning rate 0", "batch size 0", "batch not divisible by the devices",
                   "missing data (a stock dataset, offline)", "read-only workdir", "full disk",
                   "workdir of another config"):
    assert required in names


@pytest.mark.parametrize("name, tried, message", _rows())
def test_bad_input_row(name, tried, message, data_dir, tmp_path):
  workdir = str(tmp_path / "run")
  common = [f"--workdir={workdir}", f"--config.dataset.data_dir={data_dir}"]
  flags = [a for span in re.findall(r"`([^`]*)`", tried) if span.startswith("--") for a in span.split()]
  prelude = ""
  if "a finished quick run in" in tried:
    first = _launch(BASE + common)
    assert first.returncode == 0, first.stderr[-2000:]
  elif name == "workdir is a file":
    open(workdir, "w").close()
  elif name == "read-only workdir":
    prelude = READ_ONLY
  elif name == "full disk":
    prelude = FULL_DISK
  elif name == "dataset too large to cache":
    prelude = LOW_MEMORY
  elif name == "missing workdir flag":
    common = [f"--config.dataset.data_dir={data_dir}"]
  elif name == "no config flag":
    common = [f"--workdir={workdir}"]
  elif name == "config file with a syntax error":
    broken = tmp_path / "broken.py"
    broken.write_text("def get_config(:\n  pass\n")
    flags = [f.replace("<broken_config>", str(broken)) for f in flags]
    message = message.replace("<broken_config>", str(broken))
  else:
    assert flags, f"row {name!r} names no flags and has no setup in this test"
  before = _snapshot(workdir)

  config = [] if any(f.startswith("--config=") for f in flags) or name == "no config flag" else BASE
  result = _launch(config + flags + common, prelude, workdir)

  assert_one_error_line(result, message, {"<workdir>": workdir, "<data_dir>": data_dir})
  assert _snapshot(workdir) == before
