"""ODE solvers: the bottom layer of dyngeo.

``odeint(f, y0, t, method)`` follows torchdiffeq's call convention, so a reader can swap one for the
other; ``odeint_adjoint`` computes gradients by the adjoint method in constant memory.
"""

from .adaptive import dopri5_step
from .adjoint import odeint_adjoint
from .fixed import euler_step, midpoint_step, rk4_step
from .solve import METHODS, odeint

__all__ = ["odeint", "odeint_adjoint", "euler_step", "midpoint_step", "rk4_step", "dopri5_step", "METHODS"]
