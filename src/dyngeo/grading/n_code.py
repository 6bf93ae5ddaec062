"""Checkers for the exercise set "Neurally controlled ODEs" (``exercises/04-n-code``).

Each checker draws its cases from ``seed``, has the answer called through ``ask`` and judges the
plain values that come back (see :mod:`dyngeo.grading`). The expected values come from the private
helpers below (switched off, with the rest of this module, while an answer runs); the library's
own N-CODE functions that answer an exercise are switched off too.
"""

import numpy as np
import torch

from . import GradingError, checker, judge

__all__ = ["check_per_sample_mlp", "check_open_loop_rhs", "check_increasing_fit_mse", "check_autoncode_latent",
           "check_sample_latent"]

DT = torch.float64
NC = "dyngeo.models.ncode."

# ---------------------------------------------------------------------------------- helpers


def _mlp(x, theta, hidden, transpose=False, biases_first=False, shared=False, activation=torch.tanh):
    """f(x_b; θ_b) = W2_b act(W1_b x_b + b1_b) + b2_b, θ_b = [W1, b1, W2, b2] flattened row by row."""
    B, d = x.shape
    if shared:
        theta = theta[:1].expand(B, -1)
    if biases_first:
        b1, b2, W1, W2 = torch.split(theta, [hidden, d, hidden * d, d * hidden], dim=1)
    else:
        W1, b1, W2, b2 = torch.split(theta, [hidden * d, hidden, d * hidden, d], dim=1)
    W1 = W1.reshape(B, d, hidden).transpose(1, 2) if transpose else W1.reshape(B, hidden, d)
    W2 = W2.reshape(B, hidden, d).transpose(1, 2) if transpose else W2.reshape(B, d, hidden)
    h = activation(torch.einsum("bhd,bd->bh", W1, x) + b1)
    return torch.einsum("bdh,bh->bd", W2, h) + b2


# Run in the student's kernel: the work answer(x, theta, hidden) does for the first B samples, counted as
# Python trace events plus torch calls. A vectorised answer does the same work for every batch size.
WORK = """
import sys
from torch.overrides import TorchFunctionMode

class _Count(TorchFunctionMode):
    calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        _Count.calls += 1
        return func(*args, **(kwargs or {}))

def _work(B):
    events = [0]

    def tracer(frame, event, arg):
        events[0] += 1
        return tracer

    _Count.calls = 0
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        with _Count():
            answer(x[:B].clone(), theta[:B].clone(), hidden)
    finally:
        sys.settrace(previous)
    return events[0] + _Count.calls

answer(x[:2].clone(), theta[:2].clone(), hidden)  # warm up caches
result = [_work(2), _work(2), _work(len(x))]
"""


@checker(points=2, target="per_sample_mlp", forbid=[NC + "ParamTemplate.forward", NC + "ParamTemplate.unflatten",
                                                    NC + "_linear_per_sample", NC + "conv_per_sample"])
def check_per_sample_mlp(ask, seed):
    """f(x_b; θ_b) with raw weights unpacked from θ_b, for the whole batch at once (no loop over samples)."""
    g = torch.Generator().manual_seed(seed)
    for d, hidden, B in ((2, 5, 4), (3, 7, 6), (1, 16, 3)):
        K = 2 * hidden * d + hidden + d
        x, theta = torch.randn(B, d, generator=g, dtype=DT), torch.randn(B, K, generator=g, dtype=DT)
        case = f"d = {d}, hidden = {hidden}, a batch of {B}"
        got = ask("answer(x.clone(), theta.clone(), hidden)", case=case, x=x, theta=theta, hidden=hidden)
        expected = _mlp(x, theta, hidden)
        judge.close(got, expected, "the field", rtol=1e-7, atol=1e-10, case=case, hints=[
            (_mlp(x, theta, hidden, shared=True), "every sample used the weights of the first sample: row b uses θ_b"),
            (_mlp(x, theta, hidden, transpose=True), "the weight matrices are read transposed: W1 is [hidden, d] and "
             "W2 is [d, hidden], each flattened row by row"),
            (_mlp(x, theta, hidden, biases_first=True), "the pieces of θ are in the wrong order: W1, b1, W2, b2"),
            (_mlp(x, theta, hidden, activation=torch.relu), "the activation is tanh, not ReLU"),
            (_mlp(x, theta, hidden, activation=lambda v: v), "the tanh between the two layers is missing")])
    x, theta = torch.randn(40, 2, generator=g, dtype=DT), torch.randn(40, 2 * 6 * 2 + 6 + 2, generator=g, dtype=DT)
    work = judge.sequence(ask(WORK, case="the same call on batches of 2 and of 40 samples", x=x, theta=theta, hidden=6),
                          "the work counts", 3)
    small, again, large = (judge.number(w, "a work count") for w in work)
    if large - max(small, again) > 19:  # 38 more samples: a loop adds at least one trace event and one torch call each
        raise GradingError(f"your answer does more work as the batch grows ({small:.0f} Python steps and torch calls "
                           f"for 2 samples, {large:.0f} for 40): it loops over the samples. Compute the whole batch at "
                           "once with batched products (torch.einsum or torch.bmm)")


def _open_loop(t, z, field, d):
    x, theta = z[:, :d], z[:, d:]
    return torch.cat([field(t, x, theta), torch.zeros_like(theta)], dim=1)


def _template(d, hidden):
    from ..models import MLPField
    from ..models.ncode import ParamTemplate

    return ParamTemplate(MLPField(d, hidden=hidden, depth=1)).double()


OPEN_LOOP = """
from dyngeo.models import MLPField
from dyngeo.models.ncode import ParamTemplate
field = ParamTemplate(MLPField(d, hidden=hidden, depth=1)).double()
zz = z.clone().requires_grad_(True)
out = answer(t, zz, field, d)
grad = None
if isinstance(out, torch.Tensor) and out.shape == zz.shape and out.requires_grad:
    grad = torch.autograd.grad((out * w).sum(), zz, allow_unused=True)[0]
result = {"value": out, "grad": grad}
"""

LINEAR_FLOW = """
from dyngeo.models.ncode import ParamTemplate
from dyngeo.ode import odeint
linear = ParamTemplate(torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False))).double()
result = odeint(lambda s, y: answer(s, y, linear, 1), z0.clone(), torch.tensor([0.0, T], dtype=torch.float64),
                "rk4", step_size=0.01)[-1]
"""


@checker(points=2, target="open_loop_rhs", forbid=[NC + "AugmentedField.forward", NC + "AugmentedField.split"])
def check_open_loop_rhs(ask, seed):
    """h(z) = (f(x, θ), 0) on the flat state z = [x, θ], differentiable in z; for f = θx its flow gives e^{θT} x0."""
    g = torch.Generator().manual_seed(seed)
    for d, hidden, B in ((2, 4, 5), (3, 6, 3)):
        field = _template(d, hidden)
        z = torch.randn(B, d + field.K, generator=g, dtype=DT)
        w = torch.randn(B, d + field.K, generator=g, dtype=DT)
        t = torch.rand((), generator=g, dtype=DT)
        case = f"d = {d}, hidden = {hidden} (K = {field.K}), a batch of {B}"
        got = ask(OPEN_LOOP, case=case, z=z, w=w, t=t, d=d, hidden=hidden)
        if not isinstance(got, dict) or set(got) != {"value", "grad"}:
            raise GradingError("the grader could not read your result")
        value = judge.tensor(got["value"], "open_loop_rhs(t, z, field, d)")
        if tuple(value.shape) == (B, d):
            raise GradingError(f"for {case} the result has shape {(B, d)}, the shape of x; it must have the shape "
                               f"of z, {tuple(z.shape)}: the derivative of θ (zero in open loop) is part of the state")
        if tuple(value.shape) != tuple(z.shape):
            raise GradingError(f"for {case} the result should have the shape of z, {tuple(z.shape)}; "
                               f"got {tuple(value.shape)}")
        z_ = z.clone().requires_grad_(True)
        expected = _open_loop(t, z_, field, d)
        if value[:, d:].abs().max() > 0:
            raise GradingError(f"for {case} dθ/dt is not zero: in open loop the controls are set once, at t = 0, and "
                               "then carried along unchanged")
        K = field.K
        with torch.no_grad():
            swapped = torch.cat([field(t, z[:, K:], z[:, :K]), torch.zeros(B, K, dtype=DT)], 1)
        judge.close(value, expected.detach(), "dz/dt", rtol=1e-7, atol=1e-10, case=case,
                    hints=[(swapped, "z is [x, θ]: x is the first d columns, θ the rest")])
        grad = torch.autograd.grad((expected * w).sum(), z_)[0]
        if got["grad"] is None:
            raise GradingError(f"for {case} no gradient flows from your result back to z (it is detached, or rebuilt "
                               "from plain numbers): N-CODE is trained through this function, so keep the graph")
        no_theta, no_x = grad.clone(), grad.clone()
        no_theta[:, d:], no_x[:, :d] = 0, 0
        judge.close(got["grad"], grad, "the gradient of Σ w·h(z) with respect to z", rtol=1e-7, atol=1e-10, case=case,
                    hints=[(no_theta, "no gradient reaches θ: θ was detached (θ.detach(), .data or a copy); the "
                            "controls are trained through the field"),
                           (no_x, "no gradient reaches x: x was detached")])
    x0 = torch.randn(3, 1, generator=g, dtype=DT)
    theta0 = 1.6 * torch.rand(3, 1, generator=g, dtype=DT) - 0.8
    T = 1.0 + torch.rand((), generator=g).item()
    got = ask(LINEAR_FLOW, case="integrating f(x; θ) = θx", z0=torch.cat([x0, theta0], 1), T=T)
    judge.close(judge.tensor(got, "z(T)", shape=(3, 2))[:, :1], torch.exp(T * theta0) * x0,
                f"x(T) for f(x; θ) = θx integrated to T = {T:.3f} (it should be exp(θT) x0)", rtol=1e-6, atol=1e-9)


def _pav(y):
    """The best non-decreasing fit of the sequence ``y`` (pool adjacent violators)."""
    blocks = []  # [mean, count]
    for v in y:
        blocks.append([float(v), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, c2), (m1, c1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    return np.array([m for m, c in blocks for _ in range(c)])


def _isotonic_mse(x, y):
    order = np.argsort(x, kind="stable")
    return float(np.mean((_pav(y[order]) - y[order]) ** 2))


@checker(points=2, target="increasing_fit_mse",
         forbid=["sklearn.isotonic.isotonic_regression", "sklearn.isotonic.IsotonicRegression.fit",
                 "sklearn.isotonic.IsotonicRegression._build_y",
                 "sklearn.isotonic._inplace_contiguous_isotonic_regression",
                 "sklearn._isotonic._inplace_contiguous_isotonic_regression", "scipy.optimize.isotonic_regression",
                 "scipy.optimize._isotonic.pava", "scipy.optimize._pava_pybind.pava"])
def check_increasing_fit_mse(ask, seed):
    """The MSE of the best non-decreasing fit (isotonic regression), the floor of every 1-D NODE."""
    rng = np.random.default_rng(seed)
    cases = [("the reflection y = -x", lambda x: -x),
             ("y = sin(3x) + noise", lambda x: np.sin(3 * x) + 0.1 * rng.normal(size=x.shape)),
             ("y = x + noise", lambda x: x + 0.4 * rng.normal(size=x.shape))]
    for name, target in cases:
        N = int(rng.integers(40, 80))
        xs = rng.uniform(-1, 1, size=N)  # unsorted: the answer must sort by x
        ys = target(xs)
        case = f"{name}, {N} points in random order"
        got = ask("answer(x.clone(), y.clone())", case=case, x=torch.tensor(xs[:, None]), y=torch.tensor(ys[:, None]))
        expected = _isotonic_mse(xs, ys)
        A = np.stack([xs, np.ones(N)], 1)
        line = A @ np.linalg.lstsq(A, ys, rcond=None)[0]
        decreasing = _isotonic_mse(xs, -ys)
        hints = [(float(np.mean((xs - ys) ** 2)), "that is the error of the identity map, not of the best "
                  "non-decreasing map"),
                 (float(np.mean((_pav(ys) - ys) ** 2)), "the points were fitted in the given order: sort them by x "
                  "first"),
                 (N * expected, "a sum of squared errors; return their mean")]
        if abs(decreasing - float(np.mean((line - ys) ** 2))) < 1e-9:  # on y = -x both are exact
            hints.append((decreasing, "that is the error of a decreasing map (the best straight line, or the best "
                          "non-increasing fit); the map must be non-decreasing"))
        else:
            hints += [(float(np.mean((line - ys) ** 2)), "that is the best straight line; the best non-decreasing map "
                       "need not be a line (pool adjacent violators)"),
                      (decreasing, "that is the best non-increasing fit; the map must be non-decreasing")]
        judge.close_number(got, expected, "the smallest MSE of a non-decreasing fit", rtol=1e-6, atol=1e-10, case=case,
                           hints=hints)


def _sparse(values, n, offsets=(0, 1), layout="rows"):
    B = values.shape[0]
    v = values.reshape(B, n, 2) if layout == "rows" else values.reshape(B, 2, n).transpose(1, 2)
    theta = torch.zeros(B, n, n, dtype=values.dtype)
    for i in range(n):
        for j, o in enumerate(offsets):
            theta[:, i, (i + o) % n] = v[:, i, j]
    return theta


def _latent(theta, x0, T):
    return (torch.linalg.matrix_exp(T * theta) @ x0[:, None])[..., 0]


@checker(points=2, target="autoncode_latent", forbid=[NC + "latent_state", NC + "sparse_theta", NC + "AutoNCODE.latent",
                                                      NC + "AutoNCODE.theta"])
def check_autoncode_latent(ask, seed):
    """x(T) = expm(Tθ) x0 with θ sparse: row i holds values[:, i, 0] at column i and values[:, i, 1] at i+1 mod n."""
    g = torch.Generator().manual_seed(seed)
    for n, B in ((4, 3), (6, 2), (5, 1)):
        values = 0.5 * torch.randn(B, 2 * n, generator=g, dtype=DT)
        x0 = torch.randn(n, generator=g, dtype=DT)
        T = 1.5 + 1.5 * torch.rand((), generator=g).item()  # T != 1, so a forgotten T shows
        case = f"n = {n}, a batch of {B}, T = {T:.3f}"
        got = ask("answer(values.clone(), x0.clone(), T)", case=case, values=values, x0=x0, T=T)
        theta = _sparse(values, n)
        expected = _latent(theta, x0, T)
        judge.close(got, expected.numpy(), "the code x(T)", rtol=1e-7, atol=1e-10, case=case, hints=[
            (_latent(theta, x0, 1.0), "the time T is missing: the code is expm(T·θ) x0"),
            (_latent(theta.transpose(1, 2), x0, T), "θ is transposed: x0 multiplies from the right, expm(Tθ) x0, "
             "and row i of θ holds the values at columns i and i+1"),
            ((torch.exp(T * theta) @ x0[:, None])[..., 0], "an element-wise exp is not the matrix exponential "
             "(torch.linalg.matrix_exp)"),
            (_latent(_sparse(values, n, offsets=(0, -1)), x0, T), "the second non-zero of row i is at column "
             "(i + 1) mod n, not i - 1"),
            (_latent(_sparse(values, n, layout="columns"), x0, T), "values is read as [B, 2, n]; read it as "
             "[B, n, 2]: values[:, i, 0] and values[:, i, 1] belong to row i")])


def _codes(rng):
    """Codes with coordinates of very different scales: k Gaussian clusters in standard units, then scaled."""
    k = int(rng.integers(2, 5))
    angles = 2 * np.pi * (np.arange(k) / k + rng.uniform(0, 1 / k))
    centres = 2.5 * np.stack([np.cos(angles), np.sin(angles)], 1)
    labels = rng.integers(k, size=600)
    chol = []
    for _ in range(k):
        a, b, r = rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6), rng.uniform(-0.5, 0.5)
        chol.append(np.linalg.cholesky(np.array([[a * a, r * a * b], [r * a * b, b * b]])))
    unit = centres[labels] + np.einsum("nij,nj->ni", np.array(chol)[labels], rng.normal(size=(600, 2)))
    scales, offsets = np.array([1e-3, 1e3]), np.array([0.02, -500.0])
    if rng.random() < 0.5:
        scales, offsets = scales[::-1].copy(), offsets[::-1].copy()
    return unit * scales + offsets, k


RAW = ("fitted to raw codes, the mixture's k-means start sees only the large coordinate and its covariance floor "
       "(reg_covar = 1e-6) swamps the small one: standardise the codes before fitting")


@checker(points=2, target="sample_latent", forbid=[NC + "fit_latent_gmm", NC + "sample_latent_gmm"])
def check_sample_latent(ask, seed):
    """Standardise, fit a k-component mixture, sample, undo the standardisation; judged by the samples' likelihood."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    codes, k = _codes(rng)
    n, draw = 1000, int(rng.integers(1000))
    case = f"600 codes in {k} clusters, coordinates of scales {codes.std(0)[0]:.2g} and {codes.std(0)[1]:.2g}"
    got = judge.sequence(ask("[answer(codes.clone(), k, n, s) for s in (draw, draw, draw + 1)]", case=case,
                             codes=torch.tensor(codes), k=k, n=n, draw=draw), "three calls of sample_latent", 3)
    samples = [judge.array(s, "sample_latent(codes, n_components, n_samples, seed)") for s in got]
    if samples[0].shape != (n, 2):
        raise GradingError(f"sample_latent should return [n_samples, dim] = ({n}, 2); got shape {samples[0].shape}")
    x = samples[0]
    if np.min(np.abs(x[:, None, :] - codes[None]).sum(-1)) < 1e-9 * np.abs(codes).max():
        raise GradingError("some samples are copies of the codes: draw new points from the fitted mixture")
    mean, std = codes.mean(0), codes.std(0, ddof=1)
    shift, spread = np.abs(x.mean(0) - mean) / std, x.std(0) / std
    if np.max(shift) > 0.3 or np.max(np.abs(np.log(spread))) > 0.3:
        standard = np.max(np.abs(x.mean(0))) < 0.5 and np.max(np.abs(np.log(x.std(0)))) < 0.3
        small = int(np.argmin(std))
        why = (": map the samples back to the scale of the codes (times the std, plus the mean)" if standard else
               f": they spread {spread[small]:.1f} times too widely along coordinate {small}, the one of small scale; "
               + RAW if spread[small] > 1.3 else "")
        raise GradingError(f"for {case}: the samples have mean {judge.show(x.mean(0))} and standard deviation "
                           f"{judge.show(x.std(0))} per coordinate; the codes have {judge.show(mean)} and "
                           f"{judge.show(std)}{why}")
    reference = GaussianMixture(k, tol=1e-3, max_iter=100, init_params="kmeans", random_state=draw)
    reference.fit((codes - mean) / std)
    floor = reference.score(reference.sample(20000)[0])  # the mean log-likelihood of true draws (≈ -entropy)
    score = reference.score((x - mean) / std)
    if score < floor - 0.25:
        # what the two likely mistakes would score: a mixture of the raw codes, one Gaussian of the standard ones
        raw = GaussianMixture(k, random_state=draw).fit(codes)
        one = GaussianMixture(1, random_state=draw).fit((codes - mean) / std)
        scores = {RAW: reference.score((raw.sample(20000)[0] - mean) / std),
                  f"fit n_components = {k} components, not one Gaussian": reference.score(one.sample(20000)[0])}
        cause, near = min(scores.items(), key=lambda item: abs(item[1] - score))
        why = (f". Likely cause: {cause}" if abs(near - score) < max(0.3, 0.25 * abs(floor - near)) else
               f": did you standardise the codes and fit n_components = {k} components?")
        raise GradingError(f"for {case}: the samples are unlikely under a mixture fitted as the exercise asks: their "
                           f"mean log-likelihood (in standard units) is {score:.2f}, true draws have about "
                           f"{floor:.2f}{why}")
    if score > floor + 0.25:
        raise GradingError(f"for {case}: the samples crowd the cluster centres (mean log-likelihood {score:.2f}, true "
                           f"draws have about {floor:.2f}): draw points from the mixture, with its covariances")
    if samples[1].shape != x.shape or not np.array_equal(samples[1], x):
        raise GradingError("two calls with the same seed returned different samples: pass random_state=seed to the "
                           "mixture so that a seed gives the same codes")
    if samples[2].shape == x.shape and np.array_equal(samples[2], x):
        raise GradingError("calls with different seeds returned the same samples: use the seed argument "
                           "(random_state=seed)")
