"""Checkers for the graded exercises: the top layer of dyngeo.

An exercise set's checkers live in a module named by its topic (``dyngeo.grading.neural_odes``;
:mod:`dyngeo.grading.sets` lists the sets). Each checker is a function decorated with
:func:`checker`, which names the notebook variable it grades, the points it is worth and the
library functions that must not answer it::

    @checker(points=2, target="rk4_step", forbid=["dyngeo.ode.fixed.rk4_step"])
    def check_rk4_step(ask, seed):
        y = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        got = ask("answer(lambda t, y: -y, torch.tensor(0.0, dtype=y.dtype), y, 0.1)", y=y, case="y' = -y")
        judge.close(got, expected, "one step on y' = -y")   # raises GradingError with the reason

A checker never calls the student's code itself. It builds the inputs of each case from ``seed``,
and ``ask(code, **inputs)`` runs ``code`` where the answer lives (``answer`` is the student's
function there) and returns the value as plain data: numbers, strings, lists, dicts, tensors and
arrays, nothing that can carry code. The expected values are computed and compared in the checker,
with the helpers of :mod:`dyngeo.grading.judge`. In a notebook, ``check_rk4_step(rk4_step)`` runs
the cases in the student's kernel with ``seed=0`` and prints what is wrong; ``python -m dyngeo.grade``
runs the same checker in its own process with a seed drawn at grading time, sends each request
into the student's kernel (:mod:`dyngeo.grading.harness`) and keeps the verdict out of its reach.
"""

import functools
import json
import time

from . import harness

__all__ = ["GradingError", "checker", "checkers", "run_check"]


class GradingError(AssertionError):
    """Raised by a checker when the student's answer is wrong; its message is shown to the student."""


def checker(points, target, forbid=(), time_limit=60):
    """Declare a checker worth ``points`` that grades the notebook variable named ``target``.

    ``forbid`` names library functions (dotted paths) that are the exercise's own answer: they raise
    while the student's code runs. Every function of the checker's own module is switched off too,
    so reference helpers there cannot be borrowed. ``time_limit`` is the grader's limit in seconds
    for all the calls of one grading.
    """

    def wrap(check):
        @functools.wraps(check)
        def run(candidate):
            passed, message = run_check(run, candidate)
            print(f"{'✅' if passed else '❌'} {target}: {message}")

        run.points, run.target, run.check, run.time_limit = points, target, check, time_limit
        run.forbid = tuple(forbid)
        return run

    return wrap


def forbidden(check):
    """Every dotted name switched off while the answer of ``check`` runs."""
    import sys

    module = sys.modules[check.check.__module__]
    own = [f"{module.__name__}.{name}" for name, value in vars(module).items()
           if callable(value) and getattr(value, "__module__", None) == module.__name__ and hasattr(value, "__code__")]
    return list(check.forbid) + own


class Unanswered(GradingError):
    """The answer could not be run: missing, a stub, an exception, a time-out or a dead kernel."""


def failure_message(response, case):
    """The student-facing reason for a response that carries no value."""
    where = f" (case: {case})" if case else ""
    status = response["status"]
    if status == "missing":
        return "not found: define it in the notebook under this name"
    if status == "not_implemented":
        return "not attempted yet (the code still raises NotImplementedError)"
    if status == "timeout":
        return f"your code did not finish within the time limit{where}"
    if status == "died":
        return f"the kernel died while your code ran{where} (os._exit, a crash or running out of memory)"
    if status == "lost":
        return f"no result came back from your kernel{where}"
    return f"your code raised {response['type']}: {response['message']}{where}"


def answer_value(response, case):
    """The decoded value of a response, or the Unanswered error that explains why there is none."""
    if response.get("status") != "ok":
        raise Unanswered(failure_message(response, case))
    try:
        return harness.decode(response["value"])
    except (ValueError, TypeError, KeyError) as error:
        raise Unanswered(f"the value your code returned could not be read ({error})") from None


class Asker:
    """``ask(code, case=None, **inputs)`` for one checker: builds the request and keeps the time budget.

    Subclasses say where the request runs: :class:`LocalAsker` here, ``dyngeo.grade.KernelAsker`` in
    the student's kernel. Either way only plain data comes back.
    """

    def __init__(self, check):
        self.check, self.forbid = check, forbidden(check)
        self.deadline = time.monotonic() + check.time_limit

    def __call__(self, code, case=None, **inputs):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Unanswered(f"the time limit of {self.check.time_limit} s for this exercise ran out"
                             + (f" (case: {case})" if case else ""))
        request = {"target": self.check.target, "code": code, "forbid": self.forbid,
                   "inputs": {k: harness.encode(v) for k, v in inputs.items()}}
        return answer_value(self.send(request, left), case)

    def send(self, request, left):
        """Run ``request`` with ``left`` seconds to go; return the response (plain data)."""
        raise NotImplementedError


class LocalAsker(Asker):
    """``ask`` for the notebook's own check cells: runs each request in this process."""

    def __init__(self, check, candidate):
        super().__init__(check)
        self.namespace, self.store = {check.target: candidate}, {}

    def send(self, request, left):
        request = json.loads(json.dumps({**request, "time_limit": left}))  # the same plain data as the grader's
        return json.loads(json.dumps(harness.run(request, self.namespace, self.store)))


def run_check(check, candidate, seed=0):
    """Run a checker on an answer in this process; return ``(passed, message)`` and never raise.

    This is what a notebook's check cell does (with ``seed=0``, the visible examples) and what the
    checker tests use. The grader runs the same checker through the student's kernel instead.
    """
    if candidate is MISSING:
        return False, failure_message({"status": "missing"}, None)
    return judge_with(check, LocalAsker(check, candidate), seed)


def judge_with(check, ask, seed):
    """Run ``check`` with a given ``ask``; return ``(passed, message)``; only grader faults raise."""
    try:
        check.check(ask, seed)
    except GradingError as error:
        return False, str(error)
    return True, "passed"


def checkers(module):
    """The checkers a set's module defines, in the order they appear."""
    found = [v for v in vars(module).values() if callable(v) and hasattr(v, "points") and hasattr(v, "check")]
    return sorted(found, key=lambda c: c.check.__code__.co_firstlineno)


MISSING = object()
