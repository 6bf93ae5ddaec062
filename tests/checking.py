"""Shared helpers for the checker tests (tests/test_grading_<topic>.py).

A checker test states a plausible student mistake and asserts that the checker rejects it with a
message that names the cause, on the visible seed and on hidden ones; and that correct answers
written differently get full marks on every seed tried.
"""

import pathlib

import torch

from dyngeo.grading import run_check

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2024)


def solution_cells(name):
    """The code cells of ``solutions/<name>``, without its check calls and its Colab install cell."""
    import jupytext

    nb = jupytext.read(ROOT / "solutions" / name)
    return [c.source for c in nb.cells if c.cell_type == "code" and "google.colab" not in c.source
            and "check_" not in c.source]


def solution_namespace(name):
    """The names the solution notebook ``solutions/<name>`` defines: the right answers tests start from."""
    namespace = {}
    for source in solution_cells(name):
        exec(source, namespace)
    return namespace


def rejects(check, candidate, *words, seeds=SEEDS):
    """Assert that ``check`` rejects ``candidate`` on every seed, with every one of ``words`` in its message."""
    for seed in seeds:
        passed, message = run_check(check, candidate, seed)
        assert not passed, f"the checker accepted a wrong answer (seed {seed})"
        for word in words:
            assert word in message, f"{word!r} not in the message {message!r} (seed {seed})"
    return message


def accepts(check, candidate, seeds=SEEDS):
    """Assert that ``check`` gives ``candidate`` full marks on every seed."""
    for seed in seeds:
        assert run_check(check, candidate, seed) == (True, "passed"), (seed, run_check(check, candidate, seed))


class AlwaysEqual(torch.Tensor):
    """A tensor that claims to equal everything, through == and through torch's comparisons."""

    def __eq__(self, other):
        return True

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.isclose, torch.Tensor.__eq__):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
