"""Neural ODEs (Chen et al. 2018) and augmented neural ODEs (Dupont et al. 2019)."""

import torch
from torch import nn

from ..ode import odeint, odeint_adjoint


class MLPField(nn.Module):
    """A vector field f(t, x) given by an MLP; with ``time_dependent`` the time is an extra input."""

    def __init__(self, dim, hidden=64, depth=2, activation=nn.Tanh, time_dependent=False):
        super().__init__()
        self.time_dependent = time_dependent
        sizes = [dim + int(time_dependent)] + [hidden] * depth
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), activation()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], dim))

    def forward(self, t, x):
        if self.time_dependent:
            x = torch.cat([x, t.expand(x.shape[0], 1).to(x)], dim=1)
        return self.net(x)


class NeuralODE(nn.Module):
    """x ↦ φ_T(x): the flow of dh/dt = f(t, h), h(0) = [x, 0_augment], over ``t_span``.

    ``augment`` > 0 appends that many zeros to the state (ANODE), which lets the flow separate sets
    a homeomorphism of the input space cannot. ``adjoint=True`` backpropagates by the adjoint method.
    """

    def __init__(self, vector_field, t_span=(0.0, 1.0), method="rk4", step_size=0.1, augment=0, adjoint=False):
        super().__init__()
        self.vector_field = vector_field
        self.register_buffer("t_span", torch.as_tensor(t_span, dtype=torch.float32))
        self.method, self.step_size, self.augment, self.adjoint = method, step_size, augment, adjoint

    def _lift(self, x):
        if self.augment:
            x = torch.cat([x, x.new_zeros(x.shape[0], self.augment)], dim=1)
        return x

    def trajectory(self, x, t=None):
        """States at the times ``t`` (default: the two ends of ``t_span``), shape ``[len(t), B, D]``."""
        t = self.t_span if t is None else torch.as_tensor(t, dtype=x.dtype, device=x.device)
        options = {} if self.method == "dopri5" else {"step_size": self.step_size}
        solve = odeint_adjoint if self.adjoint else odeint
        return solve(self.vector_field, self._lift(x), t.to(x), self.method, **options)

    def forward(self, x):
        return self.trajectory(x)[-1]
