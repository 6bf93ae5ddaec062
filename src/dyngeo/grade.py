"""Grade a student's exercise notebook: ``python -m dyngeo.grade NOTEBOOK [NOTEBOOK ...]``.

The notebook (``.md`` or ``.ipynb``) runs top to bottom in a fresh kernel, under a time limit, with
errors allowed so that one broken answer does not hide the others. Then one last cell, added by the
grader, drops every ``dyngeo`` module from ``sys.modules``, imports the checkers afresh from disk and
grades each exercise variable. The score is read only from that cell's output, tagged with a random
token drawn at grading time: a notebook that prints its own score line, or replaces or monkeypatches
a checker or a reference function, cannot raise its score. Code that rewrites Python itself
(builtins, torch) is beyond what an in-process grader can defend against: grade untrusted
notebooks in an isolated environment (a container or a throwaway VM) with no secrets in reach.
"""

import argparse
import importlib
import json
import os
import re
import secrets
import sys
import time

import jupytext
import nbclient
import nbformat

from dyngeo.grading import checkers

CHECK_CALL = re.compile(r"^check_\w+\(.*\)\s*$")


def grading_module(path):
    """The checker module of a notebook, from its file name ``NN-name`` (``dyngeo.grading.chNN``)."""
    match = re.match(r"(\d+)-", os.path.basename(path))
    if not match:
        raise SystemExit(f"cannot tell the exercise set of {path!r}: name it NN-topic.md or pass --set chNN")
    return f"ch{match.group(1)}"


def _grading_cell(module, token):
    return f"""
def _dyngeo_grade():
    import builtins, importlib, json, sys, types
    for name in [m for m in sys.modules if m == "dyngeo" or m.startswith("dyngeo.")]:
        del sys.modules[name]
    if not isinstance(builtins.print, types.BuiltinFunctionType):
        return {{"tampered": "builtins.print was replaced"}}
    if type(sys.stdout).__module__ != "ipykernel.iostream":
        return {{"tampered": "sys.stdout was replaced"}}
    grading = importlib.import_module("dyngeo.grading")
    return grading.grade_namespace(importlib.import_module("dyngeo.grading.{module}"), globals())
__import__("sys").stdout.write("{token}" + __import__("json").dumps(_dyngeo_grade()) + "\\n")
"""


def run_notebook(path, module, timeout):
    """Execute the notebook plus the grading cell; return (results or None, notes on failed cells)."""
    nb = jupytext.read(path)
    for cell in nb.cells:
        if cell.cell_type == "code":  # the notebook's own check calls print only; skip them
            cell.source = "\n".join(line for line in cell.source.splitlines() if not CHECK_CALL.match(line))
    token = f"DYNGEO-{secrets.token_hex(16)}:"
    nb.cells.append(nbformat.v4.new_code_cell(_grading_cell(module, token)))
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
    )
    notes, deadline = [], time.monotonic() + timeout
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                notes.append(f"time limit of {timeout} s reached before cell {index}")
                return None, notes
            client.timeout = max(1, int(left))
            try:
                client.execute_cell(cell, index)
            except nbclient.exceptions.CellTimeoutError:
                notes.append(f"time limit of {timeout} s reached in cell {index}")
                return None, notes
            errors = [o for o in cell.outputs if o.output_type == "error"]
            if errors and index < len(nb.cells) - 1:
                notes.append(f"cell {index} raised {errors[0].ename}: {errors[0].evalue}")
    for output in nb.cells[-1].outputs:
        if output.output_type == "stream":
            for line in output.text.splitlines():
                if line.startswith(token):
                    return json.loads(line[len(token):]), notes
    notes.append("the grading cell produced no result")
    return None, notes


def grade(path, module=None, timeout=600):
    """Grade one notebook; return a report ``{"rows": [...], "score": x, "total": y, "notes": [...]}``."""
    module = module or grading_module(path)
    expected = checkers(importlib.import_module(f"dyngeo.grading.{module}"))
    results, notes = run_notebook(path, module, timeout)
    by_name = {r["exercise"]: r for r in results} if isinstance(results, list) else {}
    if isinstance(results, dict):
        notes.append(f"tampering detected: {results.get('tampered')}")
    rows = []
    for c in expected:  # points come from the checkers on disk, never from the notebook
        r = by_name.get(c.target, {"passed": False, "message": "not graded"})
        rows.append({"exercise": c.target, "points": c.points if r["passed"] is True else 0,
                     "max": c.points, "message": str(r["message"])})
    return {"notebook": path, "rows": rows, "notes": notes,
            "score": sum(r["points"] for r in rows), "total": sum(r["max"] for r in rows)}


def format_report(report):
    width = max([len("exercise")] + [len(r["exercise"]) for r in report["rows"]])
    lines = [f"{report['notebook']}", f"{'exercise':<{width}}  points  message"]
    lines += [f"{r['exercise']:<{width}}  {r['points']:>2}/{r['max']:<3}  {r['message']}" for r in report["rows"]]
    lines += [f"note: {n}" for n in report["notes"]]
    lines.append(f"score: {report['score']}/{report['total']}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dyngeo.grade", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", help="student notebooks (.md or .ipynb)")
    parser.add_argument("--set", dest="module", help="checker module, e.g. ch01 (default: from the file name)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per notebook")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    args = parser.parse_args(argv)
    reports = [grade(nb, args.module, args.timeout) for nb in args.notebooks]
    print(json.dumps(reports, indent=1) if args.json else "\n\n".join(map(format_report, reports)))


if __name__ == "__main__":
    sys.exit(main())
