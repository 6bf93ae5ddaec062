"""Checkers for the graded exercises: the top layer of dyngeo.

A chapter's checkers live in ``dyngeo.grading.chNN``. Each is a function decorated with
:func:`checker`, which names the notebook variable it grades and the points it is worth::

    @checker(points=2, target="rk4_step")
    def check_rk4_step(rk4_step):
        ...  # raise GradingError("what is wrong") on a wrong answer

Called in a notebook, ``check_rk4_step(rk4_step)`` prints a pass or a message saying what is
wrong. The score itself comes only from ``python -m dyngeo.grade``, which re-imports the checkers
from disk after the student's code has run (see ``dyngeo.grade``).
"""

import functools

import torch

MISSING = object()


class GradingError(AssertionError):
    """Raised by a checker when the student's answer is wrong; its message is shown to the student."""


def checker(points, target):
    """Declare a checker worth ``points`` that grades the notebook variable named ``target``."""

    def wrap(check):
        @functools.wraps(check)
        def run(candidate):
            passed, message = run_check(check, candidate)
            print(f"{'✅' if passed else '❌'} {target}: {message}")

        run.points, run.target, run.check = points, target, check
        return run

    return wrap


def run_check(check, candidate):
    """Run one checker on a candidate answer; return ``(passed, message)`` and never raise."""
    check = getattr(check, "check", check)
    if candidate is MISSING:
        return False, "not found: define it in the notebook under this name"
    try:
        check(candidate)
    except NotImplementedError:
        return False, "not attempted yet (the code still raises NotImplementedError)"
    except GradingError as error:
        return False, str(error)
    except Exception as error:  # a student's bug must not stop grading
        return False, f"your code raised {type(error).__name__}: {error}"
    return True, "passed"


def checkers(module):
    """The checkers a ``dyngeo.grading.chNN`` module defines, in the order they appear."""
    found = [v for v in vars(module).values() if callable(v) and hasattr(v, "points") and hasattr(v, "check")]
    return sorted(found, key=lambda c: c.check.__code__.co_firstlineno)


def grade_namespace(module, namespace):
    """Grade every checker of ``module`` against the variables in ``namespace``."""
    results = []
    for c in checkers(module):
        passed, message = run_check(c.check, namespace.get(c.target, MISSING))
        results.append({"exercise": c.target, "passed": passed, "message": message})
    return results


# ----------------------------------------------------------------------------- helpers for checkers


def as_tensor(value, what):
    """The student's value as a tensor, or a GradingError that says what came back instead."""
    if isinstance(value, torch.Tensor):
        return value
    raise GradingError(f"{what} should be a torch.Tensor; got {type(value).__name__}")


def assert_close(actual, expected, what, rtol=1e-5, atol=1e-6):
    """Compare a student's tensor with the expected one; explain shape, sign or size mistakes."""
    actual = as_tensor(actual, what)
    if actual.shape != expected.shape:
        raise GradingError(f"{what} has shape {tuple(actual.shape)}; expected {tuple(expected.shape)}")
    actual = actual.detach().to(expected.dtype)
    if not torch.isfinite(actual).all():
        raise GradingError(f"{what} contains NaN or infinity")
    if torch.allclose(actual, expected, rtol=rtol, atol=atol):
        return
    hint = ""
    if torch.allclose(actual, -expected, rtol=rtol, atol=atol):
        hint = " (it has the wrong sign)"
    err = (actual - expected).abs().max().item()
    raise GradingError(f"{what} is off by up to {err:.3g}{hint}")
