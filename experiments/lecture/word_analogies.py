r"""The lecture's word-vector pictures: male–female, verb tense and country–capital offsets.

    python experiments/lecture/word_analogies.py --workdir=runs/word_analogies [--vectors=PATH [--binary]] [--quick]

Without --vectors it first trains configs/word2vec_skipgram.py (w2v_corpus/large; --quick: 30
steps on w2v_corpus/small) as a normal resumable run under <workdir>/run/. For each picture it
projects the words of its pairs on their first two principal components with an arrow per pair
(Mikolov et al. 2013: parallel arrows = one shared offset), solves "a is to b as c is to ?" by
3CosAdd for consecutive pairs, and reports the matching Google-analogy section's accuracy.
Writes male_female.png, verb_tense.png, country_capital.png, results.json and results.md, with
the lecture's claims checked (king − man + woman → queen; each offset answers at least half of its
Google section).
"""

import os

import scaffold
from absl import flags

from trends_jax import data
from trends_jax.errors import UserError
from trends_jax.evaluation import word_vectors
from trends_jax.run import plots

FLAGS = flags.FLAGS
flags.DEFINE_string("vectors", None, "Trained vectors in word2vec format; default: train them first.")
flags.DEFINE_bool("binary", False, "--vectors is in the binary word2vec format.")
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_integer("seed", 0, "The trainer's seed (config.seed): initialization, batches, dropout.")

# picture: (pairs in the lecture's order, the questions-words section that tests the same offset)
PICTURES = {
    "male_female": ([("man", "woman"), ("king", "queen"), ("uncle", "aunt"), ("brother", "sister"),
                     ("father", "mother"), ("son", "daughter"), ("he", "she")], "family"),
    "verb_tense": ([("walking", "walked"), ("swimming", "swam"), ("going", "went"), ("running", "ran"),
                    ("seeing", "saw"), ("playing", "played"), ("saying", "said")], "gram7-past-tense"),
    "country_capital": ([("france", "paris"), ("italy", "rome"), ("germany", "berlin"), ("spain", "madrid"),
                         ("russia", "moscow"), ("japan", "tokyo"), ("china", "beijing"), ("greece", "athens")],
                        "capital-common-countries"),
}

RELATIONS = {"male_female": "male–female", "verb_tense": "verb tense", "country_capital": "country–capital"}


def trained_vectors() -> word_vectors.WordVectors:
  if FLAGS.vectors:
    return word_vectors.load_word2vec_format(FLAGS.vectors, binary=FLAGS.binary)
  from trends_jax.training import loop
  config = scaffold.load_config("word2vec_skipgram", "quick" if FLAGS.quick else None)
  config.dataset.data_dir = FLAGS.data_dir
  config.seed = FLAGS.seed
  run = scaffold.output("run")
  status = loop.train_and_evaluate(config, run)
  if status["state"] != "done":
    raise UserError(f"the word2vec run in {run} ended {status['state']}; run the same command again to resume")
  return word_vectors.load_word2vec_format(os.path.join(run, "vectors.bin"), binary=True)


def lecture_claims(vectors: word_vectors.WordVectors, summary: list[dict]) -> dict[str, bool]:
  """The lecture's claims that these vectors can answer (a section none of whose questions has all
  four words in the vocabulary measures nothing)."""
  claims = {}
  if all(w in vectors for w in ("man", "woman", "king", "queen")):
    claims["king − man + woman is nearest to queen (3CosAdd's first answer)"] = (
        vectors.analogy("man", "woman", "king", k=1)[0][0] == "queen")
  for row in summary:
    if row["section_answered"]:
      claims[f"{RELATIONS[row['picture']]} is a shared direction: 3CosAdd answers at least half of "
             f"the Google analogy section {row['section']}"] = bool(row["section_accuracy"] >= 0.5)
  return claims


def main(argv):
  del argv
  vectors = scaffold.run_user_code(trained_vectors)
  sections = {row["section"]: row for row in vectors.evaluate_analogies(data.word_eval_file("questions-words"))["sections"]}
  summary, queries = [], []
  for name, (pairs, section) in PICTURES.items():
    known = [(a, b) for a, b in pairs if a in vectors and b in vectors]
    missing = sorted({w for pair in pairs for w in pair if w not in vectors})
    if len(known) >= 2:
      plots.analogy_offsets(vectors, known, scaffold.output(f"{name}.png"), title=name.replace("_", "–"))
    solved = 0
    for (a, b), (c, d) in zip(known, known[1:]):
      answers = vectors.analogy(a, b, c, k=3)
      solved += answers[0][0] == d
      queries.append({"picture": name, "query": f"{b} - {a} + {c}", "expected": d,
                      "top3": ", ".join(w for w, _ in answers), "correct": answers[0][0] == d})
    row = sections.get(section, {})
    summary.append({"picture": name, "pairs_shown": len(known), "missing_words": " ".join(missing) or "—",
                    "queries_solved": f"{solved}/{max(len(known) - 1, 0)}", "section": section,
                    "section_accuracy": row.get("accuracy", float("nan")),
                    "section_answered": row.get("total", 0)})
    print(f"{name}: {len(known)} pairs, {solved}/{max(len(known) - 1, 0)} offset queries solved; "
          f"{section} accuracy {row.get('accuracy', float('nan')):.3f}", flush=True)
  claims = lecture_claims(vectors, summary)
  scaffold.finish("Word-vector offsets (the lecture's pictures)",
                  {"vectors": FLAGS.vectors or scaffold.output("run", "vectors.bin"),
                   "vocabulary": len(vectors.words)},
                  {"pictures": summary, "queries": queries},
                  "Top-3 answers by 3CosAdd (question words excluded); section accuracy from "
                  "questions-words.txt over the 30,000 most frequent words.", claims)


if __name__ == "__main__":
  scaffold.run(main)
