"""Grade students' exercise notebooks: ``python -m dyngeo.grade NOTEBOOK [NOTEBOOK ...]``.

Each notebook (``.ipynb`` or Jupytext ``.md``) runs cell by cell in a fresh kernel, each cell under
a time limit. The verdict never passes through that kernel: the checkers run here, in the grader's
process. For each exercise the checker draws its test inputs from a seed chosen now (so the hidden
cases differ from the examples the notebook shows), sends them into the kernel, has the student's
answer called there with the library's own answer to that exercise switched off, and receives only
plain data back (numbers, arrays, tensors as raw bytes; never pickles, never code). It computes the
expected values and compares them here. A cell or an answer that hangs, exits or kills the kernel
costs only its own exercise: the kernel is interrupted or restarted and grading goes on.

Before grading, the installed ``dyngeo`` is checked against its manifest of file hashes; a copy that
differs is refused, and files a notebook changes during a batch are put back. Grade untrusted
notebooks in a container or a throwaway VM all the same: the student's code runs with your rights.

Exit status: 0 when every notebook was graded (whatever the scores), 2 when the grader itself failed.
"""

import argparse
import json
import os
import re
import secrets
import sys
import time

from dyngeo.grading import Asker, checkers, judge_with, manifest, sets

CHECK_CALL = re.compile(r"^\s*check_\w+\(.*\)\s*;?\s*$")


def read_notebook(path):
    """``(code cells as (index, source), None)``, or ``(None, why the file cannot be graded)``."""
    import jupytext
    import nbformat

    if not os.path.isfile(path):
        return None, "does not exist"
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".ipynb", ".md"):
        return None, f"is not a notebook (expected .ipynb or .md, got {suffix or 'no extension'})"
    try:
        if os.path.getsize(path) == 0:
            return None, "is empty"
        nb = nbformat.read(path, as_version=4) if suffix == ".ipynb" else jupytext.read(path)
        cells = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    except Exception as error:  # anything unreadable: a broken JSON file, PNG bytes, a wrong encoding
        return None, f"could not be read as a notebook ({type(error).__name__}: {str(error)[:200]})"
    # the notebook's own check calls only print feedback; the grader checks every exercise itself
    strip = lambda source: "\n".join(line for line in source.splitlines() if not CHECK_CALL.match(line))
    return [(i, strip(s)) for i, s in cells], None


class KernelAsker(Asker):
    """``ask`` for the grader: each request runs in the student's kernel under the exercise's time budget."""

    def __init__(self, kernel, check):
        super().__init__(check)
        self.kernel = kernel

    def send(self, request, left):
        # the kernel stops the answer itself just before the budget; the grader interrupts it a little after
        return self.kernel.ask({**request, "time_limit": max(left - 2, 0.5)}, left + 3)


def _row(check, points, message):
    return {"exercise": check.target, "points": points, "max": check.points, "message": message}


def grade(path, topic=None, timeout=900, cell_timeout=120, seed=None):
    """Grade one notebook; return ``{"notebook", "set", "rows", "notes", "score", "total", "grader_error"}``."""
    from dyngeo.grading.kernel import KernelSession

    report = {"notebook": path, "set": None, "rows": [], "notes": [], "score": 0, "total": 0, "grader_error": False}
    try:
        topic = sets.from_argument(topic) if topic else sets.from_path(path)
    except sets.UnknownSet as error:
        report["notes"].append(str(error))
        return report
    report["set"] = topic
    expected = checkers(sets.load(topic))
    report["total"] = sum(c.points for c in expected)
    cells, problem = read_notebook(path)
    if problem:
        report["rows"] = [_row(c, 0, f"not graded: the file {problem}") for c in expected]
        report["notes"].append(f"the file {problem}")
        return report
    rng = secrets.SystemRandom() if seed is None else None
    try:
        with KernelSession(os.path.dirname(os.path.abspath(path))) as kernel:
            kernel.run_cells(cells, cell_timeout, time.monotonic() + timeout)
            for number, check in enumerate(expected):
                case_seed = rng.randrange(2**31) if rng else seed + number
                try:
                    passed, message = judge_with(check, KernelAsker(kernel, check), case_seed)
                except Exception as error:  # a fault of the checker, not of the student
                    report["grader_error"] = True
                    passed, message = False, f"the grader failed on this exercise ({type(error).__name__}: {error})"
                report["rows"].append(_row(check, check.points if passed else 0, message))
            report["notes"] += kernel.notes
    except Exception as error:
        report["grader_error"] = True
        report["notes"].append(f"the grader could not run the notebook ({type(error).__name__}: {error})")
        report["rows"] = [_row(c, 0, "not graded: the grader failed") for c in expected]
    report["score"] = sum(r["points"] for r in report["rows"])
    if report["rows"] and all(r["message"].startswith("not found") for r in report["rows"]):
        text = "\n".join(source for _, source in cells)
        others = [t for t in sets.guess_from_source(text) if t != topic]
        report["notes"].append(f"none of the exercises of the set {topic!r} was found in this notebook"
                               + (f"; it looks like the set {others[0]!r}: pass --set {others[0]}" if others else
                                  ": is it the right file?"))
    return report


def format_table(report):
    width = max([len("exercise")] + [len(r["exercise"]) for r in report["rows"]])
    lines = [f"{report['notebook']}" + (f"  (set {report['set']})" if report["set"] else ""),
             f"{'exercise':<{width}}  points  message"]
    lines += [f"{r['exercise']:<{width}}  {r['points']:>2}/{r['max']:<3}  {r['message']}" for r in report["rows"]]
    lines += [f"note: {n}" for n in report["notes"]]
    lines.append(f"score: {report['score']}/{report['total']}")
    return "\n".join(lines)


def gradescope(report):
    """Gradescope's ``results.json`` for one notebook (one test per exercise)."""
    return {"score": report["score"], "output": "\n".join(report["notes"]),
            "tests": [{"name": r["exercise"], "score": r["points"], "max_score": r["max"], "output": r["message"]}
                      for r in report["rows"]]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dyngeo.grade", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", help="student notebooks (.ipynb or .md)")
    parser.add_argument("--set", dest="topic", help=f"the exercise set (default: from the file name): {sets.accepted()}")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for a notebook's cells in all")
    parser.add_argument("--cell-timeout", type=float, default=120, help="seconds allowed for one cell")
    parser.add_argument("--seed", type=int, help="seed of the hidden cases (default: drawn afresh for every exercise)")
    parser.add_argument("--format", choices=["table", "json", "gradescope"], default="table")
    parser.add_argument("--json", action="store_const", const="json", dest="format", help="same as --format json")
    parser.add_argument("--output", help="write the report to this file instead of standard output")
    args = parser.parse_args(argv)
    if args.topic:
        try:
            sets.from_argument(args.topic)
        except sets.UnknownSet as error:
            parser.error(str(error))
    if args.format == "gradescope" and len(args.notebooks) != 1:
        parser.error("--format gradescope grades one notebook (one submission)")
    try:
        manifest.check_installed()
    except RuntimeError as error:
        print(f"refusing to grade: {error}", file=sys.stderr)
        return 2
    for topic in dict(sets.SETS).values():  # import every checker before any student code runs
        sets.load(topic)
    saved = manifest.snapshot()
    reports = []
    for path in args.notebooks:
        report = grade(path, args.topic, args.timeout, args.cell_timeout, args.seed)
        changed = manifest.restore(saved)
        if changed:
            report["notes"].append("the notebook changed files of the installed dyngeo (" + ", ".join(changed)
                                   + "); they were put back and did not affect any grade")
        reports.append(report)
        if args.format == "table" and not args.output:
            print(format_table(report) + "\n", flush=True)
    if args.format == "json":
        text = json.dumps(reports, indent=1)
    elif args.format == "gradescope":
        text = json.dumps(gradescope(reports[0]), indent=1)
    else:
        text = "\n\n".join(map(format_table, reports))
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    elif args.format != "table":
        print(text)
    return 2 if any(r["grader_error"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
