"""``odeint(f, y0, t)``: one entry point for every solver, with torchdiffeq's conventions."""

from ._checks import check_derivative, check_finite, check_problem
from .adaptive import solve_dopri5
from .fixed import STEPS, solve_fixed

METHODS = (*STEPS, "dopri5")


def odeint(f, y0, t, method="dopri5", *, step_size=None, rtol=1e-7, atol=1e-9, project=None):
    """Solve dy/dt = f(t, y), y(t[0]) = y0, and return y at every time in ``t``.

    Args:
        f: callable ``f(t, y)`` returning a tensor shaped like ``y`` (torchdiffeq's convention).
        y0: initial state, any shape (a batch is just a leading dimension).
        t: 1-D strictly increasing or decreasing times; ``t[0]`` is the initial time.
        method: ``"euler"``, ``"midpoint"``, ``"rk4"`` (fixed step) or ``"dopri5"`` (adaptive).
        step_size: fixed-step methods only: each interval of ``t`` is cut into equal steps of at most
            this length (default: one step per interval, so ``t`` is the grid).
        rtol, atol: tolerances of ``dopri5``.
        project: fixed-step methods only: a map applied to the state after every step (a
            projected scheme, such as a clamp to a box); ``None`` solves the ODE itself.

    Returns:
        A tensor of shape ``[len(t), *y0.shape]``. Gradients flow by backpropagation through every
        step; use :func:`odeint_adjoint` for constant memory.
    """
    t = check_problem(f, y0, t)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    f = _checked_once(f)
    if method == "dopri5":
        if step_size is not None or project is not None:
            raise ValueError("step_size and project are for fixed-step methods; dopri5 chooses its own steps")
        ys = solve_dopri5(f, y0, t, rtol=rtol, atol=atol)
    else:
        ys = solve_fixed(STEPS[method], f, y0, t, step_size, project)
    check_finite(ys, t)
    return ys


def _checked_once(f):
    """Wrap ``f`` so that its first output is checked for shape, dtype and device."""
    first = True

    def checked(t, y):
        nonlocal first
        dy = f(t, y)
        if first:
            check_derivative(dy, y, t)
            first = False
        return dy

    return checked
