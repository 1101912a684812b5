"""text8-style cleaning (Mahoney's wikifil): lowercase letters and single spaces, digits spelled out.

`strip_wiki_markup` first drops what a wiki page has that is not prose: references, templates,
tables, file and category links, tags, URLs, keeping the visible text of links.
"""

import html
import re

_DIGITS = dict(zip("0123456789", " zero one two three four five six seven eight nine ".split(" ")[1:-1]))
_NESTED_BRACES = re.compile(r"\{\{[^{}]*\}\}|\{\|[^{}]*?\|\}")
_WIKI_PATTERNS = [
    (re.compile(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>", re.S), " "),
    (re.compile(r"<!--.*?-->", re.S), " "),
    (re.compile(r"\[\[(?:[Ff]ile|[Ii]mage|[Cc]ategory|[a-z]{2,3}(?:-[a-z]+)?):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]"), " "),
    (re.compile(r"\[\[[^\]|]*\|([^\]]*)\]\]"), r"\1"),
    (re.compile(r"\[\[([^\]]*)\]\]"), r"\1"),
    (re.compile(r"\[https?://[^\s\]]*\s*([^\]]*)\]"), r"\1"),
    (re.compile(r"https?://\S+"), " "),
    (re.compile(r"<[^>]*>"), " "),
]


def strip_wiki_markup(text: str) -> str:
  text = html.unescape(html.unescape(text))  # Dumps escape their markup twice (&amp;lt;).
  while True:  # Templates nest: remove the innermost until none is left.
    text, n = _NESTED_BRACES.subn(" ", text)
    if not n:
      break
  for pattern, replacement in _WIKI_PATTERNS:
    text = pattern.sub(replacement, text)
  return text


def clean(text: str) -> str:
  """Lowercase a–z words separated by single spaces; digits become words."""
  text = text.lower()
  text = re.sub(r"[0-9]", lambda m: f" {_DIGITS[m.group()]} ", text)
  return " ".join(re.sub(r"[^a-z]+", " ", text).split())
