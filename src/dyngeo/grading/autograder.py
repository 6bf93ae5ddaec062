"""Build a Gradescope autograder for one exercise set: ``python -m dyngeo.grading.autograder SET [--out DIR]``.

Gradescope runs ``setup.sh`` once to build its image and ``run_autograder`` for every submission,
which must leave ``/autograder/results/results.json``. The zip written here holds both scripts and a
copy of ``dyngeo`` (its ``pyproject.toml`` and ``src/``, without tests or solutions); the script
grades the submitted ``.ipynb`` with ``python -m dyngeo.grade --format gradescope``. ``make autograder
SET=ch01`` calls this. ``AUTOGRADER_ROOT`` and ``AUTOGRADER_PYTHON`` let the script run outside
Gradescope, which is how the tests try it.
"""

import argparse
import pathlib
import sys
import zipfile

from . import sets

SETUP = """#!/usr/bin/env bash
# Gradescope image set-up: Python, CPU PyTorch and this copy of dyngeo.
set -euo pipefail
apt-get update -qq
apt-get install -y -qq python3 python3-pip python3-venv >/dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q --upgrade pip
/autograder/venv/bin/pip install -q torch --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install -q /autograder/source/dyngeo
/autograder/venv/bin/python -m ipykernel install --sys-prefix --name python3
"""

RUN = """#!/usr/bin/env bash
# Grade one submission of the set {topic!r}; Gradescope reads results/results.json.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PY="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
mkdir -p "$ROOT/results"
cd "$ROOT/submission"
shopt -s nullglob
notebooks=(*.ipynb)
chosen=""
for nb in "${{notebooks[@]}}"; do
  case "$nb" in *{topic}*) chosen="$nb"; break;; esac
done
[ -z "$chosen" ] && [ ${{#notebooks[@]}} -gt 0 ] && chosen="${{notebooks[0]}}"
if [ -z "$chosen" ]; then
  echo '{{"score": 0, "output": "No .ipynb notebook was found in the submission: upload the exercise notebook."}}' \\
    > "$ROOT/results/results.json"
  exit 0
fi
"$PY" -m dyngeo.grade --set {topic} --format gradescope --output "$ROOT/results/results.json" "$chosen"
"""


def build(topic, out_dir, repo):
    """Write ``autograder-<topic>.zip`` into ``out_dir``; return its path."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"autograder-{topic}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("setup.sh", SETUP), ("run_autograder", RUN.format(topic=topic))):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            archive.writestr(info, text)
        for path in [repo / "pyproject.toml", repo / "README.md", *sorted((repo / "src" / "dyngeo").rglob("*"))]:
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, "dyngeo/" + str(path.relative_to(repo)))
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dyngeo.grading.autograder", description=__doc__.splitlines()[0])
    parser.add_argument("set", help=f"the exercise set: {sets.accepted()}")
    parser.add_argument("--out", default="_build/autograder")
    parser.add_argument("--repo", default=".", help="the repository root (holding pyproject.toml and src/)")
    args = parser.parse_args(argv)
    try:
        topic = sets.from_argument(args.set)
    except sets.UnknownSet as error:
        parser.error(str(error))
    print(f"wrote {build(topic, args.out, pathlib.Path(args.repo).resolve())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
