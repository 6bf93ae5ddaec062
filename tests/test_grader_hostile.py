"""The grader against cheats, broken answers and broken files, graded through a real kernel.

Each notebook below is what a student could hand in: the verdict must come from the grader's own
process, so every cheat scores 0 on the exercises it did not solve, and every bad answer costs only
its own exercise.
"""

import json
import pathlib
import textwrap

import jupytext
import nbformat
import pytest

import dyngeo.grading
from dyngeo import grade as grader

from checking import ROOT, solution_cells

HEADER = "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n" \
         "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"


def notebook(tmp_path, name, *cells):
    """A Jupytext notebook with the given code cells."""
    path = tmp_path / name
    body = "".join(f"```{{code-cell}} ipython3\n{textwrap.dedent(c).strip()}\n```\n\n" for c in cells)
    path.write_text(HEADER + body)
    return path


def points(report):
    return {r["exercise"]: r["points"] for r in report["rows"]}


RELU_SETUP = "import numpy as np\nfrom scipy.optimize import linprog\nfrom dyngeo.grading.relu_polyhedra import *"


def test_patching_the_kernel_gains_nothing(tmp_path):
    """json, importlib, print, torch.allclose, an input transformer: a blank notebook still scores 0."""
    path = notebook(tmp_path, "06-relu-polyhedra.md", RELU_SETUP, """
        import importlib, json, torch, builtins
        real_dumps = json.dumps
        json.dumps = lambda obj, *a, **k: real_dumps([dict(r, passed=True) for r in obj] if isinstance(obj, list) else obj)
        real_import = importlib.import_module
        importlib.import_module = lambda name, *a: real_import(name, *a)
        torch.allclose = lambda *a, **k: True
        np.allclose = lambda *a, **k: True
        np.array_equal = lambda *a, **k: True
        get_ipython().input_transformers_post.append(lambda lines: ["print('score: 12/12')\\n"])
        """, "def bit_vector(layers, x):\n    raise NotImplementedError()")
    report = grader.grade(str(path), seed=0)
    assert report["score"] == 0 and not report["grader_error"], report


def test_lying_objects_and_nan_gain_nothing(tmp_path):
    """A tensor subclass that says it is close to anything, __eq__ that is always True, NaN: 0 points."""
    path = notebook(tmp_path, "06-relu-polyhedra.md", RELU_SETUP, """
        import torch
        class Liar(torch.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                if func in (torch.allclose, torch.equal, torch.Tensor.__eq__):
                    return True
                return super().__torch_function__(func, types, args, kwargs or {})
        class AlwaysEqual(np.ndarray):
            def __eq__(self, other):
                return True
        def bit_vector(layers, x):
            return np.zeros(sum(W.shape[0] for W, _ in layers[:-1])).view(AlwaysEqual)
        def affine_map(layers, s):
            return torch.zeros(1, 2).as_subclass(Liar), torch.zeros(1).as_subclass(Liar)
        def chebyshev(A, c):
            return np.zeros(2), float("nan")
        def is_redundant(A, c, i):
            return float("nan")
        """)
    report = grader.grade(str(path), seed=1)
    assert report["score"] == 0, report
    assert "NaN" in {r["exercise"]: r["message"] for r in report["rows"]}["chebyshev"]


def test_borrowing_the_library_or_the_checkers_gains_nothing(tmp_path):
    """The library's answers and the checker module's own helpers are switched off while answers run."""
    path = notebook(tmp_path, "06-relu-polyhedra.md", RELU_SETUP, """
        from dyngeo.geometry import relu
        import dyngeo.grading.relu_polyhedra as checks
        stash = relu.activation_patterns      # a reference taken early is switched off too
        bit_vector = lambda layers, x: stash(layers, x[None]).numpy()[0].astype(int)
        h_representation = lambda layers, s: relu.hrep(layers, s)
        affine_map = lambda layers, s: relu.local_affine(layers, s)
        chebyshev = lambda A, c: relu.chebyshev_center(A, c)
        walk = lambda layers, a, b: checks._algorithm2(layers, a, b)
        """)
    report = grader.grade(str(path), seed=2)
    assert report["score"] == 0, report
    assert all("switched off" in r["message"] for r in report["rows"] if r["exercise"] != "is_redundant"), report


def test_bad_answers_cost_only_their_own_exercise(tmp_path):
    """An endless loop, sys.exit(), os._exit() and a hung cell each lose one exercise; the rest is graded."""
    cells = solution_cells("06-relu-polyhedra.md")
    cells.append("def walk(layers, a, b):\n    while True:\n        pass")                  # endless answer
    cells.append("def is_redundant(A, c, i):\n    import sys\n    sys.exit()")             # SystemExit
    cells.append("def chebyshev(A, c):\n    import os\n    os._exit(0)")                   # kills the kernel
    cells.append("import time\ntime.sleep(1000)")                                          # a cell that hangs
    path = notebook(tmp_path, "06-relu-polyhedra.md", *cells)
    report = grader.grade(str(path), cell_timeout=20, seed=3)
    got = points(report)
    assert got == {"bit_vector": 2, "h_representation": 2, "affine_map": 2, "is_redundant": 0, "chebyshev": 0,
                   "walk": 0}, report
    messages = {r["exercise"]: r["message"] for r in report["rows"]}
    assert "time limit" in messages["walk"] and "reset" in messages["walk"]
    assert "SystemExit" in messages["is_redundant"]
    assert "kernel died" in messages["chebyshev"]
    assert any("stopped after" in n for n in report["notes"]) and not report["grader_error"]


def test_a_cell_that_kills_the_kernel_is_skipped(tmp_path):
    cells = solution_cells("06-relu-polyhedra.md")
    cells.insert(2, "import os\nos._exit(1)")
    report = grader.grade(str(notebook(tmp_path, "06-relu-polyhedra.md", *cells)), seed=4)
    assert report["score"] == report["total"], report
    assert any("kernel died in cell" in n for n in report["notes"])


@pytest.mark.parametrize("name, content, reason", [
    ("06-relu-polyhedra.ipynb", b"", "is empty"),
    ("06-relu-polyhedra.ipynb", b"\x89PNG\r\n\x1a\n\x00\x00", "could not be read"),
    ("06-relu-polyhedra.txt", b"print(1)", "is not a notebook"),
    ("06-relu-polyhedra.ipynb", b'{"cells": 3}', "could not be read"),
])
def test_unreadable_files_get_a_report(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    report = grader.grade(str(path))
    assert report["score"] == 0 and len(report["rows"]) == 6 and not report["grader_error"]
    assert all(reason in r["message"] for r in report["rows"]), report


def test_a_batch_reports_every_notebook_and_survives_tampering(tmp_path, capsys):
    """A crashing notebook in the middle, and one that rewrites the installed grader on disk."""
    judge_file = pathlib.Path(dyngeo.grading.__file__).with_name("judge.py")
    original = judge_file.read_bytes()
    good = notebook(tmp_path, "Copy of 06-relu-polyhedra.md", *solution_cells("06-relu-polyhedra.md"))
    crash = tmp_path / "06-relu-polyhedra (1).ipynb"
    crash.write_bytes(b"\x89PNG")
    tamper = notebook(tmp_path, "06-relu-polyhedra_tamper.md", RELU_SETUP, f"""
        import pathlib
        pathlib.Path({str(judge_file)!r}).write_text("def close(*a, **k):\\n    return None\\n")
        """)
    try:
        rc = grader.main([str(tamper), str(crash), str(good), "--json", "--seed", "5"])
        assert judge_file.read_bytes() == original, "the grader's file was not put back"
    finally:
        judge_file.write_bytes(original)
    reports = json.loads(capsys.readouterr().out)
    assert rc == 0 and [r["score"] for r in reports] == [0, 0, 12], reports
    assert any("put back" in n for n in reports[0]["notes"])


def test_set_inference(tmp_path):
    from dyngeo.grading import sets

    assert sets.from_path("Copy of 01-neural-odes.ipynb") == "neural-odes"
    assert sets.from_path("submissions/alice_06-relu-polyhedra (2).ipynb") == "relu-polyhedra"
    for name in ("01", "1", "ch1", "ch01", "neural-odes", "neural_odes"):
        assert sets.from_argument(name) == "neural-odes"
    with pytest.raises(sets.UnknownSet, match="use one of"):
        sets.from_argument("ch99")
    # a relu-polyhedra notebook named as set 01: the report says which set it looks like
    path = notebook(tmp_path, "01-neural-odes.md", *solution_cells("06-relu-polyhedra.md"))
    report = grader.grade(str(path), seed=6)
    assert report["score"] == 0 and any("relu-polyhedra" in n for n in report["notes"]), report


def test_gradescope_results(tmp_path):
    out = tmp_path / "results.json"
    path = notebook(tmp_path, "06-relu-polyhedra.md", *solution_cells("06-relu-polyhedra.md")[:2])
    assert grader.main([str(path), "--format", "gradescope", "--output", str(out), "--seed", "7"]) == 0
    results = json.loads(out.read_text())
    assert results["score"] == 2 and len(results["tests"]) == 6
    assert {"name", "score", "max_score", "output"} <= set(results["tests"][0])


def test_the_installed_copy_is_verified(monkeypatch, capsys, tmp_path):
    from dyngeo.grading import manifest

    fake = tmp_path / "manifest.json"
    fake.write_text(json.dumps({"grading/judge.py": "0" * 64}))
    monkeypatch.setattr(manifest, "MANIFEST", fake)
    assert grader.main(["anything.ipynb"]) == 2
    assert "differs from the copy the grader was built from" in capsys.readouterr().err


def test_the_manifest_is_current():
    from dyngeo.grading import manifest

    assert manifest.MANIFEST.exists(), "run `make manifest`"
    assert not manifest.differences(json.loads(manifest.MANIFEST.read_text()), manifest.fingerprints()), \
        "src/dyngeo changed since the manifest was written: run `make manifest`"


def test_an_ipynb_twin_grades_like_its_source(tmp_path):
    nb = jupytext.read(ROOT / "solutions" / "06-relu-polyhedra.md")
    path = tmp_path / "06-relu-polyhedra.ipynb"
    nbformat.write(nb, path)
    assert grader.grade(str(path), seed=8)["score"] == 12


def test_gradescope_autograder_zip(tmp_path):
    """The zip Gradescope takes: its run_autograder grades a submission into results/results.json."""
    import os
    import subprocess
    import sys
    import zipfile

    from dyngeo.grading.autograder import build

    archive = build("relu-polyhedra", tmp_path / "out", ROOT)
    root = tmp_path / "autograder"
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        z.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "dyngeo/pyproject.toml", "dyngeo/src/dyngeo/grade.py"} <= set(names)
    assert not any(n.startswith(("dyngeo/solutions", "dyngeo/tests")) for n in names)
    (root / "submission").mkdir()
    nbformat.write(jupytext.read(ROOT / "solutions" / "06-relu-polyhedra.md"), root / "submission" / "hw.ipynb")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, check=True, timeout=300)
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 12 and len(results["tests"]) == 6


def test_release_bundle_has_no_answers(tmp_path):
    import subprocess
    import tarfile

    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    subprocess.run(["make", "-s", "release"], cwd=ROOT, check=True, capture_output=True)
    with tarfile.open(ROOT / "_build" / "release" / "student-bundle.tar.gz") as bundle:
        names = bundle.getnames()
        texts = [bundle.extractfile(m).read() for m in bundle.getmembers() if m.isfile() and "/exercises/" in m.name]
    assert any(n.endswith("exercises/01-neural-odes.md") for n in names)
    assert not any("/solutions/" in n or "/tests/" in n for n in names)
    assert not any(b"### BEGIN SOLUTION" in t for t in texts)
