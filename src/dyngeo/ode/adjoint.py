"""Gradients through an ODE solve by the adjoint method (Chen et al. 2018, Pontryagin).

For a loss L(y(t_0), ..., y(t_N)) with dy/dt = f(t, y; theta), the adjoint a(t) = dL/dy(t) obeys

    da/dt = -a^T df/dy,                       a(t_N) = dL/dy(t_N)                      (adjoint ODE)
    dL/dtheta = int_{t_0}^{t_N} a^T df/dtheta dt                                       (parameter gradient)

and jumps by dL/dy(t_i) at every intermediate output time. The output times get

    dL/dt_i = <dL/dy(t_i), f(t_i, y(t_i))>   (i >= 1),      dL/dt_0 = -<a(t_0), f(t_0, y_0)>,

where a(t_0) is the adjoint carried back from the later outputs (Chen et al. 2018, Appendix B.2;
torchdiffeq integrates the same quantity as an extra state). We solve y, a and the running integral
g(t) backwards from t_N to t_0 as one augmented state, so memory stays constant in the number of
solver steps: the forward pass keeps only the outputs, and y is recomputed backwards.
"""

import torch

from .solve import odeint


def odeint_adjoint(f, y0, t, method="dopri5", *, params=None, **options):
    """Like :func:`odeint`, but backpropagates by solving the adjoint ODE backwards in time.

    ``params`` are the tensors ``f`` depends on that need gradients; by default, when ``f`` is an
    ``nn.Module``, its parameters that require grad. The backward solve uses the same ``method`` and
    ``options`` (for fixed-step methods, the same grid walked in reverse).
    """
    if params is None:
        if not isinstance(f, torch.nn.Module):
            raise TypeError("odeint_adjoint needs params=... when f is not an nn.Module")
        params = [p for p in f.parameters() if p.requires_grad]
    params = tuple(params)
    for p in params:
        if p.dtype != y0.dtype or p.device != y0.device:
            raise TypeError(
                f"a parameter has dtype {p.dtype} on {p.device} but y0 has dtype {y0.dtype} on "
                f"{y0.device}; the adjoint state needs them to match"
            )
    return _Adjoint.apply(f, method, options, y0, torch.as_tensor(t, dtype=y0.dtype, device=y0.device), *params)


class _Adjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f, method, options, y0, t, *params):
        with torch.no_grad():
            ys = odeint(f, y0, t.detach(), method, **options)
        ctx.f, ctx.method, ctx.options = f, method, options
        ctx.save_for_backward(t, ys, *params)
        return ys

    @staticmethod
    def backward(ctx, grad_ys):
        t, ys, *params = ctx.saved_tensors
        t = t.detach()
        f, shape, n = ctx.f, ys.shape[1:], ys[0].numel()
        sizes = [n, n] + [p.numel() for p in params]

        def augmented(s, z):
            """d/ds of (y, a, g): (f, -a^T df/dy, -a^T df/dtheta), evaluated at time s."""
            y, a = z[:n].view(shape), z[n : 2 * n].view(shape)
            with torch.enable_grad():
                y = y.detach().requires_grad_(True)
                dy = f(s, y)
                vjps = torch.autograd.grad(dy, (y, *params), -a, allow_unused=True)
            vjps = [torch.zeros_like(x) if v is None else v for v, x in zip(vjps, (y, *params))]
            return torch.cat([dy.detach().reshape(-1)] + [v.reshape(-1) for v in vjps])

        a = grad_ys[-1].reshape(-1)
        g = torch.zeros(sum(sizes[2:]), dtype=ys.dtype, device=ys.device)
        for i in range(len(t) - 1, 0, -1):
            z = torch.cat([ys[i].reshape(-1), a, g])
            z = odeint(augmented, z, t[[i, i - 1]], ctx.method, **ctx.options)[-1]
            a = z[n : 2 * n] + grad_ys[i - 1].reshape(-1)
            g = z[2 * n :]
        grads = [chunk.view_as(p) for chunk, p in zip(torch.split(g, sizes[2:]), params)]
        grad_t = None
        if ctx.needs_input_grad[4]:
            with torch.no_grad():
                fs = [f(t[i], ys[i]).reshape(-1) for i in range(len(t))]
                grad_t = torch.stack([fi.dot(gi.reshape(-1)) for fi, gi in zip(fs, grad_ys)])
                grad_t[0] = -fs[0].dot(a - grad_ys[0].reshape(-1))
        return (None, None, None, a.view(shape), grad_t, *grads)
