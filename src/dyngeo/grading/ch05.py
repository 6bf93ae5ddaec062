"""Checkers for the exercises of Chapter 5, Kuramoto oscillatory neurons (AKOrN)."""

import math

import torch

from ..metrics import fg_ari as reference_fg_ari
from ..models import akorn as ak
from . import GradingError, as_tensor, assert_close, checker

__all__ = ["check_project_tangent", "check_kuramoto_step", "check_energy", "check_order_parameter", "check_fg_ari"]


def _states(n, seed=0):
    """Test states (description, x, y) with several shapes; C != n so a wrong grouping shows."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for shape in ((3, 5 * n), (2, 3 * n, 4, 4)):
        x = ak.random_oscillators(shape, n, generator=g, dtype=torch.float64)
        y = torch.randn(shape, generator=g, dtype=torch.float64)
        out.append((f"x of shape {shape}", x, y))
    return out


@checker(points=2, target="project_tangent")
def check_project_tangent(project_tangent):
    """Proj_x(y) = y - <y, x> x, oscillator by oscillator (groups of n consecutive channels)."""
    for n in (2, 4):
        for what, x, y in _states(n):
            got = as_tensor(project_tangent(y, x, n), "project_tangent(y, x, n)")
            if got.shape != x.shape:
                raise GradingError(f"for {what} the result has shape {tuple(got.shape)}; it should keep the shape of x")
            dots = (ak.group(got, n) * ak.group(x, n)).sum(2)
            if dots.abs().max() > 1e-8:
                raise GradingError(f"for {what} and n={n} the result is not tangent: <Proj_x(y), x> reaches "
                                   f"{dots.abs().max():.2g}; group channels k*n..k*n+n-1 into one oscillator "
                                   "and subtract <y, x> x")
            assert_close(got, ak.project_tangent(y, x, n), f"project_tangent for {what}, n={n}", atol=1e-10)
    x = _states(4)[0][1]
    assert_close(project_tangent(x.clone(), x, 4), torch.zeros_like(x), "Proj_x(x) (it should vanish)", atol=1e-10)


def _dense(m, seed):
    g = torch.Generator().manual_seed(seed)
    return ak.DenseJ(m, weight=torch.randn(m, m, generator=g, dtype=torch.float64) / math.sqrt(m)).double()


@checker(points=3, target="kuramoto_step")
def check_kuramoto_step(kuramoto_step):
    """One step of eqs. (4)-(5): unit norm, and the same state as the reference step."""
    n = 4
    omega = torch.zeros(n, n, dtype=torch.float64)
    omega[0, 1], omega[1, 0], omega[2, 3], omega[3, 2] = -0.7, 0.7, 0.4, -0.4
    conv = ak.ConvJ(3 * n, 3).double()
    for what, x, y in _states(n, seed=1):
        J = _dense(x.shape[1], 2) if x.dim() == 2 else conv
        for om, label in ((None, "omega=None"), (omega, "a rotation omega")):
            with torch.no_grad():
                got = as_tensor(kuramoto_step(x, y, J, om, 0.5, n), "kuramoto_step(...)")
                want = ak.kuramoto_step(x, y, J, om, 0.5, n)
            if got.shape != x.shape:
                raise GradingError(f"for {what} the new state has shape {tuple(got.shape)}; expected {tuple(x.shape)}")
            norms = ak.group(got.detach(), n).norm(dim=2)
            if (norms - 1).abs().max() > 1e-6:
                raise GradingError(f"for {what} the oscillators do not have unit norm after the step "
                                   f"(norms from {norms.min():.3f} to {norms.max():.3f}): apply Pi, x / ||x||, per oscillator")
            unprojected = ak.kuramoto_step(x, y, J, om, 0.5, n, project=False)
            if torch.allclose(got, unprojected, atol=1e-8) and not torch.allclose(want, unprojected, atol=1e-8):
                raise GradingError(f"with {label} the step skips the tangent projection of c + J x")
            if om is not None:
                flipped = ak.kuramoto_step(x, y, J, -om, 0.5, n)
                if torch.allclose(got, flipped, atol=1e-8):
                    raise GradingError("the rotation goes the wrong way: the natural-frequency term is Omega x, not x Omega")
            assert_close(got, want, f"the step for {what} with {label}", atol=1e-8)


@checker(points=2, target="energy")
def check_energy(energy):
    """Eq. (3), one value per sample: -1/2 sum x_i^T J_ij x_j - sum c_i^T x_i."""
    for what, x, c in _states(4, seed=3):
        J = _dense(x.shape[1], 4) if x.dim() == 2 else ak.ConvJ(x.shape[1], 3).double()
        with torch.no_grad():
            got = as_tensor(energy(x, c, J), "energy(x, c, J)")
            if got.shape != (x.shape[0],):
                raise GradingError(f"energy should return one value per sample, shape ({x.shape[0]},); got {tuple(got.shape)}")
            coupling = -0.5 * (x * J(x)).flatten(1).sum(1)
            stimulus = -(x * c).flatten(1).sum(1)
            if torch.allclose(got, 2 * coupling + stimulus, atol=1e-8):
                raise GradingError("the coupling term is missing the factor 1/2 of eq. (3)")
            if torch.allclose(got, coupling - stimulus, atol=1e-8):
                raise GradingError("the stimulus term has the wrong sign: E contains - sum_i c_i^T x_i")
            assert_close(got, ak.energy(x, c, J), f"the energy for {what}", atol=1e-8)


@checker(points=1, target="order_parameter")
def check_order_parameter(order_parameter):
    """r = |mean_j exp(i theta_j)| over the last axis."""
    locked = torch.full((2, 7), 2.5, dtype=torch.float64)
    spread = (torch.arange(6, dtype=torch.float64) * 2 * math.pi / 6).expand(3, 6)
    g = torch.Generator().manual_seed(5)
    rand = 2 * math.pi * torch.rand(4, 50, generator=g, dtype=torch.float64)
    for what, theta in (("identical phases", locked), ("evenly spread phases", spread), ("random phases", rand)):
        got = as_tensor(order_parameter(theta.clone()), "order_parameter(theta)")
        if got.shape != theta.shape[:-1]:
            raise GradingError(f"for {what} of shape {tuple(theta.shape)} expected one r per row, shape "
                               f"{tuple(theta.shape[:-1])}; got {tuple(got.shape)} (average over the last axis)")
        assert_close(got, ak.order_parameter(theta), f"r for {what}", atol=1e-8)
    shifted = as_tensor(order_parameter(rand + 1.0), "order_parameter(theta)")
    assert_close(shifted, ak.order_parameter(rand), "r after turning every phase by 1 (it should not change)", atol=1e-8)


@checker(points=2, target="fg_ari")
def check_fg_ari(fg_ari):
    """ARI between true and predicted labels on foreground pixels (true label != 0), per image."""
    true = torch.tensor([[0, 0, 1, 1, 2, 2, 2, 0], [0, 1, 1, 1, 2, 2, 3, 3]])
    cases = {
        "a renamed perfect prediction": torch.tensor([[4, 4, 7, 7, 5, 5, 5, 7], [9, 2, 2, 2, 0, 0, 1, 1]]),
        "a prediction that merges objects": torch.tensor([[0, 0, 1, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 1, 3, 3]]),
        "a noisy prediction": torch.tensor([[1, 2, 1, 2, 2, 0, 2, 1], [0, 1, 2, 1, 2, 2, 3, 0]]),
    }
    for what, pred in cases.items():
        got = as_tensor(fg_ari(true, pred), "fg_ari(true, pred)")
        want = reference_fg_ari(true, pred)
        if got.shape != want.shape:
            raise GradingError(f"fg_ari should return one value per image, shape {tuple(want.shape)}; got {tuple(got.shape)}")
        if what == "a renamed perfect prediction" and not torch.allclose(got.double(), torch.ones(2, dtype=torch.float64), atol=1e-6):
            raise GradingError("a perfect prediction with other label names (and anything on the background) "
                               "must score 1: is the background excluded, and are labels compared only as groups?")
        assert_close(got.double(), want.double(), f"FG-ARI for {what}", atol=1e-6)
