"""Write the student version of exercise sets: ``python -m dyngeo.grading.student [SOLUTION ...]``.

``solutions/NN-name.md`` is the one source. Each answer sits between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` lines (nbgrader's convention) and becomes a ``raise NotImplementedError``
stub at the same indentation; written answers between ``<!-- BEGIN SOLUTION -->`` and
``<!-- END SOLUTION -->`` become a prompt. The result is ``exercises/NN-name.md`` (``make exercises``
also writes its ``.ipynb`` twin). Never edit the student version by hand.
"""

import argparse
import pathlib
import re
import sys

CODE = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*\n", re.M | re.S)
PROSE = re.compile(r"^<!-- BEGIN SOLUTION -->\n.*?^<!-- END SOLUTION -->\n", re.M | re.S)
STUB = "{0}# YOUR CODE HERE\n{0}raise NotImplementedError()\n"


def student_text(source):
    """The student version of a solution notebook's text."""
    if source.count("### BEGIN SOLUTION") != source.count("### END SOLUTION"):
        raise ValueError("unbalanced '### BEGIN SOLUTION' / '### END SOLUTION' markers")
    text = CODE.sub(lambda m: STUB.format(m.group(1)), source)
    return PROSE.sub("*Write your answer here.*\n", text)


def write_student_version(solution, out_dir):
    solution = pathlib.Path(solution)
    target = pathlib.Path(out_dir) / solution.name
    text = student_text(solution.read_text())
    target.write_text(text)
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dyngeo.grading.student", description=__doc__.splitlines()[0])
    parser.add_argument("solutions", nargs="*", help="default: every solutions/*.md")
    parser.add_argument("--out", default="exercises")
    args = parser.parse_args(argv)
    for solution in args.solutions or sorted(pathlib.Path("solutions").glob("*.md")):
        print(f"wrote {write_student_version(solution, args.out)}")


if __name__ == "__main__":
    sys.exit(main())
