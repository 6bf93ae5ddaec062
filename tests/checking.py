"""Shared helper for the checker tests (tests/test_grading_chNN.py)."""

from dyngeo.grading import run_check


def rejects(check, candidate, *words):
    """Assert that ``check`` rejects ``candidate`` with a message containing every one of ``words``."""
    passed, message = run_check(check, candidate)
    assert not passed, "the checker accepted a wrong answer"
    for word in words:
        assert word in message, f"{word!r} not in the message {message!r}"
    return message
