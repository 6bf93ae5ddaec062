"""Dormand--Prince 5(4) with embedded error control (``dopri5``).

One step size serves the whole batch (the error norm is the RMS over every element, as in
torchdiffeq). Steps are shortened to land exactly on each requested output time.
"""

import torch

from ._checks import check_derivative

# Butcher tableau of Dormand & Prince (1980).
_C = [0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0]
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
]
_B5 = _A[6] + [0.0]  # fifth-order weights (the last stage is FSAL)
_B4 = [5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40]
_E = [b5 - b4 for b5, b4 in zip(_B5, _B4)]


def dopri5_step(f, t, y, dt, k1):
    """One Dormand--Prince step. Returns (y_next, error_estimate, f(t + dt, y_next))."""
    k = [k1]
    for i in range(1, 7):
        yi = y + dt * sum(a * kj for a, kj in zip(_A[i], k) if a != 0.0)
        k.append(f(t + _C[i] * dt, yi))
    y_next = yi  # stage 7 is evaluated at the fifth-order solution
    err = dt * sum(e * kj for e, kj in zip(_E, k) if e != 0.0)
    return y_next, err, k[6]


def _rms(x):
    return float(x.detach().pow(2).mean().sqrt())


def _error_ratio(err, y, y_next, rtol, atol):
    return _rms(err / (atol + rtol * torch.maximum(y.abs(), y_next.abs())))


def _initial_step(f, t0, y0, f0, rtol, atol):
    """Hairer, Norsett & Wanner, Solving ODEs I, Sec. II.4: a first guess of the step size."""
    scale = atol + rtol * y0.abs()
    d0, d1 = _rms(y0 / scale), _rms(f0 / scale)
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    f1 = f(t0 + h0, y0 + h0 * f0)
    d2 = _rms((f1 - f0) / scale) / h0
    h1 = max(1e-6, h0 * 1e-3) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** (1 / 5)
    return min(100 * h0, h1)


def solve_dopri5(f, y0, t, rtol=1e-7, atol=1e-9, max_steps=100_000, min_step=None):
    """Integrate adaptively; return the states at the times ``t`` stacked on dim 0."""
    direction = 1.0 if float(t[-1]) > float(t[0]) else -1.0
    times = t.tolist()
    tcur, y = times[0], y0
    k1 = f(t[0], y0)
    check_derivative(k1, y0, t[0])
    dt = _initial_step(f, t[0], y0, k1, rtol, atol)
    min_step = min_step if min_step is not None else 1e-12 * max(1.0, abs(times[-1] - times[0]))
    ys, steps = [y0], 0
    for target in times[1:]:
        while direction * (target - tcur) > 0:
            h = min(dt, abs(target - tcur))
            tt = torch.tensor(tcur, dtype=t.dtype, device=t.device)
            y_next, err, k_next = dopri5_step(f, tt, y, direction * h, k1)
            ratio = _error_ratio(err, y, y_next, rtol, atol)
            if ratio != ratio or ratio == float("inf"):
                raise FloatingPointError(
                    f"dopri5: the error estimate became NaN or infinite at t={tcur:.6g}; "
                    "the vector field may have produced NaN"
                )
            if ratio <= 1.0:
                tcur = target if h == abs(target - tcur) else tcur + direction * h
                y, k1 = y_next, k_next
            factor = 10.0 if ratio == 0 else min(10.0, max(0.2, 0.9 * ratio ** (-1 / 5)))
            dt = h * factor
            steps += 1
            if dt < min_step:
                raise RuntimeError(
                    f"dopri5: step size underflow at t={tcur:.6g} (dt={dt:.3g} < {min_step:.3g}); "
                    "the problem may be stiff or the vector field singular"
                )
            if steps > max_steps:
                raise RuntimeError(f"dopri5: more than max_steps={max_steps} steps before t={target:.6g}")
        ys.append(y)
    return torch.stack(ys)
