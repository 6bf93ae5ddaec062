"""Fixed-step explicit Runge--Kutta solvers (Euler, midpoint, classic RK4).

Each ``*_step(f, t, y, dt)`` advances ``y`` from ``t`` to ``t + dt`` once. ``solve_fixed`` applies a
step repeatedly on a grid that contains every requested output time, so no interpolation is needed.
"""

import math

import torch


def euler_step(f, t, y, dt):
    """Forward Euler: y + dt f(t, y). Local error O(dt^2), global O(dt)."""
    return y + dt * f(t, y)


def midpoint_step(f, t, y, dt):
    """Explicit midpoint: y + dt f(t + dt/2, y + dt/2 f(t, y)). Global error O(dt^2)."""
    k1 = f(t, y)
    return y + dt * f(t + dt / 2, y + (dt / 2) * k1)


def rk4_step(f, t, y, dt):
    """Classic fourth-order Runge--Kutta (weights 1/6, 1/3, 1/3, 1/6). Global error O(dt^4)."""
    half = dt / 2
    k1 = f(t, y)
    k2 = f(t + half, y + half * k1)
    k3 = f(t + half, y + half * k2)
    k4 = f(t + dt, y + dt * k3)
    return y + (dt / 6) * (k1 + 2 * (k2 + k3) + k4)


STEPS = {"euler": euler_step, "midpoint": midpoint_step, "rk4": rk4_step}


def time_grid(t, step_size):
    """The integration grid: each interval of ``t`` cut into equal steps no longer than ``step_size``.

    Returns the grid (a tensor on ``t``'s device) and the index in it of every output time.
    """
    times = t.tolist()
    if step_size is None:
        return t, list(range(len(times)))
    if step_size <= 0:
        raise ValueError(f"step_size must be positive; got {step_size}")
    grid, where = [times[0]], [0]
    for a, b in zip(times[:-1], times[1:]):
        n = max(1, math.ceil(abs(b - a) / step_size - 1e-9))
        grid.extend(a + (b - a) * k / n for k in range(1, n + 1))
        where.append(len(grid) - 1)
    return torch.tensor(grid, dtype=t.dtype, device=t.device), where


def solve_fixed(step, f, y0, t, step_size=None, project=None):
    """Integrate with a fixed-step method; return the states at the times ``t`` stacked on dim 0.

    ``project``, if given, maps the state after every step (a projected scheme, e.g. a clamp to a
    box): the result is then that scheme's, no longer an approximation of the ODE's solution."""
    grid, where = time_grid(t, step_size)
    dts = (grid[1:] - grid[:-1]).tolist()
    keep = set(where)
    ys, y = [y0], y0
    for i, dt in enumerate(dts):
        y = step(f, grid[i], y, dt)
        if project is not None:
            y = project(y)
        if i + 1 in keep:
            ys.append(y)
    return torch.stack(ys)
