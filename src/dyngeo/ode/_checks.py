"""Argument checks shared by the solvers: every problem is reported by name."""

import torch


def check_problem(f, y0, t):
    """Validate ``y0`` and ``t`` for ``odeint(f, y0, t)``; return ``t`` as a 1-D tensor on ``y0``'s device."""
    if not callable(f):
        raise TypeError(f"f must be callable as f(t, y); got {type(f).__name__}")
    if not isinstance(y0, torch.Tensor):
        raise TypeError(f"y0 must be a torch.Tensor; got {type(y0).__name__}")
    if not y0.is_floating_point():
        raise TypeError(f"y0 must have a floating-point dtype; got {y0.dtype}")
    if not isinstance(t, torch.Tensor):
        t = torch.as_tensor(t, dtype=y0.dtype, device=y0.device)
    if not t.is_floating_point():
        raise TypeError(f"t must have a floating-point dtype; got {t.dtype}")
    if t.device != y0.device:
        raise ValueError(f"t is on {t.device} but y0 is on {y0.device}; move both to the same device")
    if t.dim() != 1 or t.numel() < 2:
        raise ValueError(f"t must be a 1-D tensor of at least two times; got shape {tuple(t.shape)}")
    dt = t[1:] - t[:-1]
    if not (bool((dt > 0).all()) or bool((dt < 0).all())):
        raise ValueError("t must be strictly monotonic (all increasing or all decreasing)")
    return t.to(y0.dtype)


def check_derivative(dy, y, t):
    """Check one evaluation ``dy = f(t, y)`` against the state it was evaluated at."""
    if not isinstance(dy, torch.Tensor):
        raise TypeError(f"f(t, y) must return a torch.Tensor; got {type(dy).__name__}")
    if dy.shape != y.shape:
        raise ValueError(f"f(t, y) returned shape {tuple(dy.shape)} but y has shape {tuple(y.shape)}")
    if dy.dtype != y.dtype:
        raise TypeError(f"f(t, y) returned dtype {dy.dtype} but y has dtype {y.dtype}")
    if dy.device != y.device:
        raise ValueError(f"f(t, y) returned a tensor on {dy.device} but y is on {y.device}")


def check_finite(solution, t):
    """Raise if the solution contains NaN or infinity, naming the first time it happened."""
    bad = ~torch.isfinite(solution.reshape(solution.shape[0], -1)).all(dim=1)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise FloatingPointError(
            f"the solution became NaN or infinite at t={float(t[i]):.6g} (output index {i}); "
            "try a smaller step size or check the vector field"
        )
