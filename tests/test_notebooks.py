"""Generated notebooks are fresh, and the grader scores what it should and cannot be fooled."""

import pathlib

import jupytext
import nbformat
import pytest

from dyngeo.grade import grade
from dyngeo.grading.student import student_text

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.md"))
TWINNED = sorted((ROOT / "chapters").glob("*.md")) + sorted((ROOT / "exercises").glob("*.md"))


def ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=ids(SOLUTIONS))
def test_student_version_is_fresh(solution):
    exercise = ROOT / "exercises" / solution.name
    assert exercise.exists(), f"{exercise} is missing: run `make exercises`"
    assert exercise.read_text() == student_text(solution.read_text()), f"{exercise} is stale: run `make exercises`"


@pytest.mark.parametrize("source", TWINNED, ids=ids(TWINNED))
def test_ipynb_twin_is_fresh(source):
    twin = source.with_suffix(".ipynb")
    assert twin.exists(), f"{twin} is missing: run `make twins`"
    cells = lambda nb: [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]
    assert cells(nbformat.read(twin, as_version=4)) == cells(jupytext.read(source)), f"{twin} is stale: run `make twins`"


def test_student_version_replaces_every_answer():
    source = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    assert student_text(source) == "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    with pytest.raises(ValueError, match="unbalanced"):
        student_text("### BEGIN SOLUTION\nx = 1\n")


@pytest.mark.parametrize("solution", SOLUTIONS, ids=ids(SOLUTIONS))
def test_solution_scores_full_marks(solution):
    report = grade(str(solution))
    assert report["score"] == report["total"] > 0, report
    assert not report["notes"], report["notes"]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=ids(SOLUTIONS))
def test_student_version_scores_zero_and_runs_to_the_end(solution):
    report = grade(str(ROOT / "exercises" / solution.name))
    assert report["score"] == 0 and report["total"] > 0, report
    assert all("not attempted" in row["message"] for row in report["rows"]), report["rows"]
    assert not any("time limit" in note for note in report["notes"]), report["notes"]


def _tampered(tmp_path, extra):
    """The chapter 1 student notebook with a cheating cell appended."""
    text = (ROOT / "exercises" / "01-neural-odes.md").read_text()
    path = tmp_path / "01-neural-odes.md"
    path.write_text(text + "\n```{code-cell} ipython3\n" + extra + "\n```\n")
    return path


def test_a_printed_score_line_does_not_count(tmp_path):
    cheat = 'print("score: 8/8")\nprint("rk4_step 2/2 passed")'
    assert grade(str(_tampered(tmp_path, cheat)))["score"] == 0


def test_replacing_the_checkers_does_not_count(tmp_path):
    cheat = "\n".join([
        "import dyngeo.grading, dyngeo.grading.neural_odes as g",
        "dyngeo.grading.run_check = lambda check, candidate, seed=0: (True, 'passed')",
        "for name in dir(g):",
        "    if name.startswith('check_'):",
        "        getattr(g, name).check = lambda ask, seed: None",
        "g.check_rk4_step = lambda f: print('passed')",
        "import dyngeo.ode",
        "rk4_step = dyngeo.ode.rk4_step = lambda f, t, y, dt: y",
    ])
    report = grade(str(_tampered(tmp_path, cheat)))
    assert report["score"] == 0, report


def test_time_limit_is_enforced(tmp_path):
    report = grade(str(_tampered(tmp_path, "import time\ntime.sleep(60)")), cell_timeout=10)
    assert report["score"] == 0 and any("stopped after 10 s" in n for n in report["notes"]), report
