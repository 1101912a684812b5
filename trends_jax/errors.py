"""The one exception type for bad user input.

Everything a user can get wrong (a config field, a dataset name, a workdir) raises `UserError`
with a single line that names the problem and the fix. Launchers print that line and exit 2,
before anything is compiled or written.
"""


class UserError(ValueError):
  """Bad input from the user; the message is one line that says what is wrong and how to fix it."""
