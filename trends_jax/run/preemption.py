"""SIGTERM/SIGINT become a request to checkpoint and stop at the next step boundary."""

import signal
import threading


class PreemptionGuard:
  """While active, the first SIGTERM or SIGINT sets `requested`; more signals change nothing,
  so a second Ctrl-C during the final save cannot leave a half-written checkpoint."""

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.requested = False
    self.signal_name = None
    self._previous = {}

  def _handle(self, signum, frame):
    if not self.requested:
      self.requested, self.signal_name = True, signal.Signals(signum).name

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
    return self

  def __exit__(self, *exc):
    for s, handler in self._previous.items():
      signal.signal(s, handler)
