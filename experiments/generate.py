r"""Writes text with a trained character language model (configs/char_lm.py):

    python experiments/generate.py --workdir=runs/char_lm --prime="ROMEO:" --length=500 --temperature=0.8 [--seed=0]

Restores the run's latest checkpoint, feeds it the prime and prints the prime followed by `length`
sampled characters. The same seed gives the same text; lower temperatures give safer, more
repetitive text, higher ones stranger text. Exit code 2 with one `error:` line for bad input.
"""

import launch
import text_generation
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Workdir of a trained char_lm run.")
flags.mark_flag_as_required("workdir")
flags.DEFINE_string("prime", "\n", "Text the sample continues (characters of the training text).")
flags.DEFINE_integer("length", 500, "Characters to sample after the prime.")
flags.DEFINE_float("temperature", 0.8, "Softmax temperature, > 0.")
flags.DEFINE_integer("seed", 0, "Random seed of the sampling.")


def main(argv):
  del argv

  def generate():
    text_generation.check_options(FLAGS.length, FLAGS.temperature)  # Before anything is restored.
    lm = text_generation.load(FLAGS.workdir)
    text_generation.encode_prime(lm.vocabulary, FLAGS.prime)
    return text_generation.sample(lm, FLAGS.prime, FLAGS.length, FLAGS.temperature, FLAGS.seed)

  print(FLAGS.prime + launch.run_user_code(generate))


if __name__ == "__main__":
  launch.run(main)
