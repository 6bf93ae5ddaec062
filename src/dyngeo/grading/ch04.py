"""Checkers for the exercises of Chapter 4, neurally controlled ODEs (N-CODE)."""

import numpy as np
import torch
from torch import nn

from ..models import MLPField
from ..models.ncode import AugmentedField, ParamTemplate, latent_state, sparse_theta
from ..ode import odeint
from . import GradingError, as_tensor, assert_close, checker

__all__ = [
    "check_per_sample_mlp", "check_open_loop_rhs", "check_increasing_fit_mse", "check_autoncode_latent",
    "check_sample_latent",
]


def _double(seed):
    torch.manual_seed(seed)
    return torch.float64


@checker(points=2, target="per_sample_mlp")
def check_per_sample_mlp(per_sample_mlp):
    """f(x_b; θ_b) = W2_b tanh(W1_b x_b + b1_b) + b2_b with raw weights unpacked from θ_b."""
    for d, hidden, B, seed in ((2, 5, 4, 0), (3, 7, 6, 1), (1, 16, 3, 2)):
        dtype = _double(seed)
        reference = ParamTemplate(MLPField(d, hidden=hidden, depth=1), rescale=False)
        x, theta = torch.randn(B, d, dtype=dtype), torch.randn(B, reference.K, dtype=dtype)
        expected = reference(torch.tensor(0.0), x, theta)
        out = as_tensor(per_sample_mlp(x, theta, hidden), "per_sample_mlp(x, theta, hidden)")
        if out.shape != expected.shape:
            raise GradingError(f"per_sample_mlp returned shape {tuple(out.shape)}; expected {tuple(expected.shape)} = [B, d]")
        shared = reference(torch.tensor(0.0), x, theta[:1].expand(B, -1))
        if B > 1 and torch.allclose(out.detach().to(dtype), shared, atol=1e-8):
            raise GradingError("every sample used the weights of the first sample: use θ_b for row b")
        assert_close(out, expected, f"the field for d={d}, hidden={hidden}", rtol=1e-8, atol=1e-10)


@checker(points=2, target="open_loop_rhs")
def check_open_loop_rhs(open_loop_rhs):
    """h(z) = (f(x, θ), 0) on the flat state z = [x, θ]; integrating it gives e^{θT} x0 for f = θx."""
    dtype = _double(3)
    field = ParamTemplate(MLPField(2, hidden=4, depth=1))
    z = torch.randn(5, 2 + field.K, dtype=dtype)
    t = torch.tensor(0.2, dtype=dtype)
    out = as_tensor(open_loop_rhs(t, z, field, 2), "open_loop_rhs(t, z, field, d)")
    if out.shape != z.shape:
        raise GradingError(f"open_loop_rhs returned shape {tuple(out.shape)}; it must match z, {tuple(z.shape)}: "
                           "the derivative of θ is part of the state")
    if out[:, 2:].abs().max() > 0:
        raise GradingError("dθ/dt must be zero in open loop: the controls are set once, at t = 0")
    assert_close(out, AugmentedField(field, (2,))(t, z), "dx/dt", rtol=1e-8, atol=1e-10)
    linear = ParamTemplate(nn.Sequential(nn.Linear(1, 1, bias=False)))
    x0, theta0 = torch.tensor([[1.0], [-0.5]], dtype=dtype), torch.tensor([[0.8], [-1.1]], dtype=dtype)
    path = odeint(lambda s, y: open_loop_rhs(s, y, linear, 1), torch.cat([x0, theta0], 1),
                  torch.tensor([0.0, 1.5], dtype=dtype), "rk4", step_size=0.01)
    assert_close(path[-1, :, :1], torch.exp(1.5 * theta0) * x0, "x(T) for f(x; θ) = θx (should be exp(θT) x0)",
                 rtol=1e-7, atol=1e-9)


def _best_increasing_mse(x, y):
    from sklearn.isotonic import IsotonicRegression

    x, y = x.detach().cpu().double().numpy().ravel(), y.detach().cpu().double().numpy().ravel()
    fit = IsotonicRegression().fit_transform(x, y)
    return float(np.mean((fit - y) ** 2))


@checker(points=2, target="increasing_fit_mse")
def check_increasing_fit_mse(increasing_fit_mse):
    """The MSE of the best non-decreasing fit (isotonic regression), the floor of every 1-D NODE."""
    g = torch.Generator().manual_seed(4)
    x = torch.linspace(-1, 1, 64, dtype=torch.float64)[:, None]
    cases = [("the reflection y = -x", x, -x),
             ("y = sin(3x) + noise", x, torch.sin(3 * x) + 0.1 * torch.randn(64, 1, generator=g, dtype=torch.float64))]
    shuffled = torch.randperm(64, generator=g)
    cases.append(("shuffled inputs (sort them first)", x[shuffled], torch.sin(3 * x[shuffled])))
    for name, xs, ys in cases:
        got = increasing_fit_mse(xs.clone(), ys.clone())
        got = float(got.item() if isinstance(got, torch.Tensor) else got)
        expected = _best_increasing_mse(xs, ys)
        if abs(got - expected) > 1e-8 + 1e-6 * expected:
            hint = ""
            if abs(got - float(((xs - ys) ** 2).mean())) < 1e-9:
                hint = " (that is the error of the identity map, not of the best increasing map)"
            elif got < expected:
                hint = " (too small: is your fit really non-decreasing in x?)"
            raise GradingError(f"on {name} you return {got:.6f}; the best non-decreasing fit has MSE {expected:.6f}{hint}")


@checker(points=2, target="autoncode_latent")
def check_autoncode_latent(autoncode_latent):
    """x(T) = expm(Tθ) x0 with θ sparse: row i holds values[:, i, 0] at column i and values[:, i, 1] at i+1 mod n."""
    for n, B, T, seed in ((4, 3, 2.0, 5), (6, 2, 0.7, 6)):
        dtype = _double(seed)
        values, x0 = 0.5 * torch.randn(B, 2 * n, dtype=dtype), torch.randn(n, dtype=dtype)
        theta = sparse_theta(values, n)
        expected = latent_state(theta, x0, T)
        out = as_tensor(autoncode_latent(values.clone(), x0.clone(), T), "autoncode_latent(values, x0, T)")
        if out.shape != expected.shape:
            raise GradingError(f"autoncode_latent returned shape {tuple(out.shape)}; expected [B, n] = {tuple(expected.shape)}")
        out = out.detach().to(dtype)
        wrong = {
            "you forgot the time T: the code is expm(T·θ) x0": latent_state(theta, x0, 1.0),
            "x0 multiplies from the left: the code is expm(Tθ) x0, not x0ᵀ expm(Tθ)": latent_state(theta.transpose(1, 2), x0, T),
            "an element-wise exp is not the matrix exponential": (torch.exp(T * theta) @ x0[:, None])[..., 0],
        }
        for message, candidate in wrong.items():  # T != 1 in every case, so each mistake is distinguishable
            if torch.allclose(out, candidate, rtol=1e-7, atol=1e-9) and not torch.allclose(candidate, expected):
                raise GradingError(message)
        rk4 = odeint(lambda t, x: torch.einsum("bij,bj->bi", theta, x), x0.expand(B, n), torch.tensor([0.0, T], dtype=dtype),
                     "rk4", step_size=0.005)[-1]
        if not torch.allclose(out, rk4, rtol=1e-6, atol=1e-8):
            raise GradingError(f"x(T) differs from an RK4 solution of dx/dt = θx by up to {(out - rk4).abs().max():.3g}: "
                               "check the sparsity pattern (columns i and i+1 mod n)")


@checker(points=2, target="sample_latent")
def check_sample_latent(sample_latent):
    """Standardise, fit a k-component mixture, sample, undo the standardisation."""
    rng = np.random.default_rng(7)
    centres = np.array([[-5.0, 200.0], [5.0, -200.0], [0.0, 600.0]])
    labels = rng.integers(3, size=600)
    codes = torch.as_tensor(centres[labels] + rng.normal(size=(600, 2)) * [0.2, 8.0], dtype=torch.float32)
    out = as_tensor(sample_latent(codes.clone(), 3, 500, 0), "sample_latent(codes, n_components, n_samples, seed)")
    if out.shape != (500, 2):
        raise GradingError(f"sample_latent returned shape {tuple(out.shape)}; expected [n_samples, dim] = (500, 2)")
    out = out.detach().double()
    mean, std = codes.double().mean(0), codes.double().std(0)
    if (out.mean(0) - mean).abs().max() > 0.2 * std.max() or ((out.std(0) / std) - 1).abs().max() > 0.25:
        raise GradingError("the samples do not have the codes' mean and spread: did you map them back to the code "
                           "scale after standardising?")
    distance = torch.cdist(out, torch.as_tensor(centres)) / torch.tensor(std.tolist()).norm()
    near = (distance.min(1).values < 0.1).float().mean().item()
    if near < 0.9:
        raise GradingError(f"only {near:.0%} of the samples fall near one of the three clusters: fit a mixture with "
                           "n_components components, not one Gaussian")
    if torch.cdist(out, codes.double()).min() < 1e-6:
        raise GradingError("some samples are copies of the codes: draw new points from the fitted mixture")
