"""SA-nODE: classification by planted stable attractors (Marino et al. 2024).

Every pixel is a node ``x_i`` in the double well ``V = γ Σ_i (x_i² − a²)²``; the nodes are coupled
linearly by ``β A x`` with ``β = 1/√N`` (Eq. 1)::

    dx/dt = F(x) = −∇V(x) + β A x,        A = Φ Λ Φ⁻¹.

The first K columns of Φ span the planted attractors (one ±a pattern per class) with eigenvalue 0, so
each pattern is a fixed point (Sec. II.A). Linearising at a pattern gives ``ċ_α = (f'(±a) + βλ_α) c_α``
with ``f'(±a) = −8γa²`` (Eqs. 2-4), hence stability when every ``λ_α < 8a²γ/β``. The trainable
eigenvalues are parametrised as ``λ = 8a²γ/β − margin − softplus(ρ)`` and ``γ = softplus(·)``, so the
bound holds whatever an optimiser does to the raw parameters.

That guarantee is for the ODE. The model that is trained is its explicit Euler unroll, in which a
perturbation of a pattern is multiplied by ``I + Δt J`` per step; its modes shrink only when
``|1 + Δt(−8γa² + βλ_α)| < 1``, i.e. when additionally ``λ_α > (8a²γ − 2/Δt)/β``
(:meth:`SANODE.euler_amplification`, :meth:`SANODE.euler_lower_bound`). The parametrisation does not
enforce this lower bound.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..ode import odeint
from ..train import fit


def _inverse_softplus(y):
    """The ρ with softplus(ρ) = y (for y > 0), computed stably."""
    return y + torch.log(-torch.expm1(-y))


def line_attractors(num_classes, n, a=0.5, dtype=torch.float64):
    """The paper's Fig. 2 targets: class k is a line of +a on a sea of −a, lines placed end to end.

    Each line has length ``L = n // (num_classes + 2)`` and class k occupies pixels ``[kL, (k+1)L)``.
    Returns a ``[num_classes, n]`` tensor of ±a.
    """
    length = n // (num_classes + 2)
    if num_classes < 1 or length < 1:
        raise ValueError(f"cannot draw {num_classes} lines in {n} pixels (need n >= num_classes + 2)")
    targets = torch.full((num_classes, n), -a, dtype=dtype)
    for k in range(num_classes):
        targets[k, k * length : (k + 1) * length] = a
    return targets


def pixels_to_wells(pixels, a=0.5):
    """Map intensities in [0, 1] linearly onto [−a, a]: blank pixels start in the −a well, inked
    ones in the +a well (x(0) = a(2p − 1)).

    The authors feed raw intensities p ∈ [0, 1], which puts every node at or above 0, in the +a basin,
    while the targets are mostly −a. On the 8x8 digits that encoding made Adam throw the loss up by
    10-1000x every few dozen steps (cond Φ jumping from ~10 to ~700); with this one, the same Adam
    training (lr 3e-3, with or without the orthogonality penalty) ran without such jumps, cond Φ
    staying below 50 (see ``dyngeo.checkpoints.make_sanode``). On the 7x7 letters, raw inputs leave
    every blank pixel at x = 0, the unstable top of its well; trained on clean letters, that run
    jumped and sent 'A' to a wrong pattern, while with this encoding every clean letter reaches its
    attractor.
    """
    if pixels.min() < 0 or pixels.max() > 1:
        raise ValueError(f"pixels must lie in [0, 1]; got range [{pixels.min().item()}, {pixels.max().item()}]")
    return a * (2 * pixels - 1)


def double_well_drift(x, a, gamma):
    """f(x) = −∂V/∂x = 4γ x (a² − x²), elementwise (the local term of Eq. 1)."""
    return 4 * gamma * x * (a * a - x * x)


class SANODE(nn.Module):
    """The SA-nODE vector field with planted attractors, and the tools to integrate and inspect it.

    Args:
        attractors: ``[K, N]`` tensor whose rows are the planted ±a patterns (row k is class k).
        a: position of the wells (fixed; the paper uses 0.5).
        gamma: initial well depth γ (trainable; the paper starts at 0.4).
        beta: coupling scale; default 1/√N.
        eig_init: mean and standard deviation of the initial trainable eigenvalues (paper: N(−5, 1)).
        margin: the trainable eigenvalues stay at least ``margin`` below the bound 8a²γ/β.
        clip: after every solver step the state is clamped to [−clip, clip] (10a, as in the authors'
            code); ``None`` integrates Eq. (1) unmodified. The clamp never acts near the attractors
            and the inputs; it stops explicit Euler from diverging when, during training, a large
            coupling throws the state beyond |x| ≈ 2, where the cubic term makes Euler unstable.
        seed: seed of the random initialisation (free eigenvectors and eigenvalues).

    Parameters: ``phi_free`` (the N−K trainable eigenvectors, initialised as an orthonormal basis of
    the orthogonal complement of the attractors), ``rho`` (the N−K eigenvalues, through softplus) and
    ``gamma_raw``. The fixed columns are an orthonormal basis of the attractors' span (the same kernel
    as the raw ±a patterns, with a better-conditioned Φ).
    """

    def __init__(self, attractors, a=0.5, gamma=0.4, beta=None, eig_init=(-5.0, 1.0), margin=0.1, clip=5.0, seed=0):
        super().__init__()
        if not isinstance(attractors, torch.Tensor) or attractors.dim() != 2:
            raise ValueError("attractors must be a [K, N] tensor of ±a patterns")
        K, N = attractors.shape
        if K >= N:
            raise ValueError(f"need fewer attractors than nodes; got K={K}, N={N}")
        if not attractors.is_floating_point():
            raise TypeError(f"attractors must be floating point (float64 recommended); got {attractors.dtype}")
        if not torch.allclose(attractors.abs(), torch.full_like(attractors, a)):
            raise ValueError(f"every entry of the attractors must be +a or -a with a={a}")
        if gamma <= 0 or margin <= 0:
            raise ValueError(f"gamma and margin must be positive; got gamma={gamma}, margin={margin}")
        dtype = attractors.dtype
        if clip is not None and clip <= a:
            raise ValueError(f"clip must exceed a={a} (or be None); got {clip}")
        self.a, self.margin, self.clip = float(a), float(margin), clip
        self.beta = 1.0 / math.sqrt(N) if beta is None else float(beta)
        self.register_buffer("attractors", attractors.clone())
        basis, _ = torch.linalg.qr(attractors.T)  # [N, K], spans the planted patterns
        if torch.linalg.matrix_rank(attractors) < K:
            raise ValueError("the attractors are linearly dependent; they cannot all be eigenvectors")
        self.register_buffer("phi_fixed", basis)
        g = torch.Generator().manual_seed(seed)
        rand = torch.randn(N, N - K, generator=g, dtype=torch.float64).to(dtype)
        rand = rand - basis @ (basis.T @ rand)
        free, _ = torch.linalg.qr(rand)
        self.phi_free = nn.Parameter(free)
        self.gamma_raw = nn.Parameter(_inverse_softplus(torch.tensor(float(gamma), dtype=dtype)))
        lam0 = eig_init[0] + eig_init[1] * torch.randn(N - K, generator=g, dtype=torch.float64).to(dtype)
        gap = (self.stability_bound().detach() - self.margin - lam0).clamp_min(1e-3)
        self.rho = nn.Parameter(_inverse_softplus(gap))

    # ------------------------------------------------------------------ the model (Sec. II)
    @property
    def num_nodes(self):
        return self.attractors.shape[1]

    @property
    def num_classes(self):
        return self.attractors.shape[0]

    @property
    def gamma(self):
        """The well depth γ > 0."""
        return F.softplus(self.gamma_raw)

    def stability_bound(self):
        """The linear-stability bound on the eigenvalues, 8a²γ/β (Sec. II.B)."""
        return 8 * self.a**2 * self.gamma / self.beta

    def eigenvalues(self):
        """Λ's diagonal: K zeros (planted) then the N−K trainable values, each < 8a²γ/β − margin."""
        free = self.stability_bound() - self.margin - F.softplus(self.rho)
        return torch.cat([free.new_zeros(self.num_classes), free])

    def eigenvectors(self):
        """Φ = [planted basis | trainable columns], shape ``[N, N]``."""
        return torch.cat([self.phi_fixed, self.phi_free], dim=1)

    def coupling(self):
        """A = Φ Λ Φ⁻¹, computed as the solution of Aᵀ = Φ⁻ᵀ Λ Φᵀ (no explicit inverse)."""
        phi = self.eigenvectors()
        return torch.linalg.solve(phi.T, self.eigenvalues()[:, None] * phi.T).T

    def _check_state(self, x):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"the state must be a torch.Tensor; got {type(x).__name__}")
        if x.dim() != 2 or x.shape[1] != self.num_nodes:
            raise ValueError(f"the state must have shape [B, {self.num_nodes}]; got {tuple(x.shape)}")
        if x.dtype != self.phi_fixed.dtype or x.device != self.phi_fixed.device:
            raise TypeError(
                f"the state is {x.dtype} on {x.device} but the model is {self.phi_fixed.dtype} on "
                f"{self.phi_fixed.device}; convert with x.to(model.phi_fixed)"
            )

    def vector_field(self, x):
        """F(x) = 4γ x∘(a² − x∘x) + β A x for a batch ``[B, N]`` (Eq. 1)."""
        self._check_state(x)
        return self._field(x, self.gamma, self.beta * self.coupling().T)

    def _field(self, x, gamma, beta_At):
        return double_well_drift(x, self.a, gamma) + x @ beta_At

    def jacobian_spectrum(self):
        """The eigenvalues ``−8a²γ + βλ_α`` of the Jacobian at every planted pattern (Eqs. 3-4), ``[N]``."""
        return -8 * self.a**2 * self.gamma + self.beta * self.eigenvalues()

    def euler_amplification(self, dt):
        """The eigenvalues ``1 + Δt(−8a²γ + βλ_α)`` of ``I + Δt J``, the map by which one explicit Euler
        step multiplies a small perturbation of any planted pattern. The discrete attractor is stable
        when all of them lie in (−1, 1): this needs the ODE bound (Eq. 4) *and* ``λ_α > (8a²γ − 2/Δt)/β``."""
        if dt <= 0:
            raise ValueError(f"dt must be positive; got {dt}")
        return 1 + dt * self.jacobian_spectrum()

    def euler_lower_bound(self, dt):
        """The lower limit ``(8a²γ − 2/Δt)/β`` below which an eigenvalue makes the Euler step unstable."""
        if dt <= 0:
            raise ValueError(f"dt must be positive; got {dt}")
        return (8 * self.a**2 * self.gamma - 2 / dt) / self.beta

    def jacobian(self, x):
        """dF/dx at one state ``[N]``: diag(4γ(a² − 3x²)) + βA (Eqs. 2-3)."""
        self._check_state(x[None])
        return torch.diag(4 * self.gamma * (self.a**2 - 3 * x * x)) + self.beta * self.coupling()

    # ------------------------------------------------------------------ integration (Sec. III, Apps. A-B)
    def trajectory(self, x0, T, dt=0.1, method="euler"):
        """Integrate Eq. (1) from ``x0`` ``[B, N]`` with a fixed step; return every state, ``[n+1, B, N]``.

        ``n = round(|T|/dt)`` steps are taken (the paper writes ⌊T/Δt⌋, which floating point turns into
        one step fewer for T = 120.1, Δt = 0.1). Negative ``T`` integrates backwards in time. Euler is
        the paper's main scheme (Sec. III), RK4 that of its App. A.
        """
        return self._solve(x0, T, dt, method, keep_all=True)

    def forward(self, x0, T=10.0, dt=0.1, method="euler"):
        """The final state x(T) of the dynamics started at the input ``x0``."""
        return self._solve(x0, T, dt, method, keep_all=False)[-1]

    def reverse(self, xT, T, dt=0.01, method="rk4"):
        """Recover x(0) from x(T) by integrating dx/dτ = −F(x) for a time T (App. B)."""
        return self._solve(xT, -T, dt, method, keep_all=False)[-1]

    def _solve(self, x0, T, dt, method, keep_all):
        self._check_state(x0)
        if method not in ("euler", "rk4"):
            raise ValueError(f"method must be 'euler' or 'rk4'; got {method!r}")
        if dt <= 0:
            raise ValueError(f"dt must be positive; got {dt}")
        steps = round(abs(T) / dt)
        if steps < 1:
            raise ValueError(f"T={T} is shorter than one step dt={dt}")
        grid = torch.linspace(0.0, math.copysign(steps * dt, T), steps + 1, dtype=x0.dtype, device=x0.device)
        gamma, beta_At = self.gamma, self.beta * self.coupling().T  # computed once per solve

        def field(t, x):
            return self._field(x, gamma, beta_At)

        clamp = None if self.clip is None else (lambda x: x.clamp(-self.clip, self.clip))
        return odeint(field, x0, grid if keep_all else grid[[0, -1]], method, step_size=dt, project=clamp)

    def loss(self, x0, labels, T=10.0, dt=0.1, method="euler"):
        """Mean over the batch of ‖x(T) − φ^(y)‖², summed over pixels (Sec. III)."""
        return (self(x0, T, dt, method) - self.attractors[labels]).pow(2).sum(dim=1).mean()

    def orthogonality_penalty(self):
        """‖Φ_freeᵀ Φ_free − I‖²_F: added to the loss (weight 0.01, as in the authors' code) it keeps Φ
        well conditioned. The spectrum constraint bounds the eigenvalues of A but not its norm, which
        grows with cond Φ and then makes explicit Euler overshoot."""
        P = self.phi_free
        eye = torch.eye(P.shape[1], dtype=P.dtype, device=P.device)
        return (P.T @ P - eye).pow(2).sum()

    def spectral_coefficients(self, x):
        """c = Φ⁻¹ x for a batch ``[B, N]`` (Sec. IV), by a linear solve; returns ``[B, N]``.

        The first K coefficients refer to the orthonormalised planted basis, not to the raw ±a rows.
        """
        self._check_state(x)
        return torch.linalg.solve(self.eigenvectors(), x.T).T

    def from_coefficients(self, c):
        """x = Φ c for a batch of coefficients ``[B, N]``."""
        return c @ self.eigenvectors().T


def train_sanode(model, X, y, steps, lr=3e-3, batch=250, T=10.0, dt=0.1, penalty=0.01, max_grad_norm=10.0,
                 seed=0, desc="SA-nODE", schedule=None, callback=None):
    """Adam on mini-batches of ``(X, y)`` for the loss of Sec. III plus ``penalty`` times
    :meth:`SANODE.orthogonality_penalty`, with the gradient norm clipped at ``max_grad_norm`` and
    an optional learning-rate ``schedule`` and ``callback(step, model)`` (see :func:`dyngeo.train.fit`).
    Parameters with ``requires_grad=False`` (e.g. ``phi_free`` to train the eigenvalues alone) are left
    untouched. Returns the objective (loss plus penalty) at every step."""
    g = torch.Generator().manual_seed(seed)
    X, y = X.to(model.phi_fixed), y.to(model.phi_fixed.device)

    def objective(m):
        idx = torch.randint(0, len(y), (min(batch, len(y)),), generator=g).to(y.device)
        return m.loss(X[idx], y[idx], T, dt) + penalty * m.orthogonality_penalty()

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameter (every requires_grad is False)")
    return fit(model, objective, steps, lr=lr, desc=desc, clip=max_grad_norm, schedule=schedule, callback=callback)


# ---------------------------------------------------------------------- metrics (Sec. III and V)
def overlap(x_final, attractors, labels):
    """The per-sample overlap x*ᵀφ^(y)/(N a²); its mean over the test set is m_f of Eq. (5)."""
    targets = attractors[labels]
    a2 = targets.pow(2).mean(dim=1)
    return (x_final * targets).mean(dim=1) / a2


def sign_similarity(x_final, attractors, labels):
    """m_f^(j) = (1/N) Σ_i sign(x_i) sign(φ_i^(y)) per sample (Sec. V)."""
    return (torch.sign(x_final) * torch.sign(attractors[labels])).mean(dim=1)


def accuracy95(x_final, attractors, labels, threshold=0.95):
    """The paper's accuracy H (Eqs. 7-8): the fraction of samples with m_f^(j) >= 0.95."""
    return (sign_similarity(x_final, attractors, labels) >= threshold).double().mean().item()


def mse_curve(traj, attractors, labels):
    """MSE(t) of Eq. (6): ‖x(t) − φ^(y)‖² summed over pixels, averaged over the batch; ``[S]``."""
    return (traj - attractors[labels]).pow(2).sum(dim=-1).mean(dim=-1)


def nearest_attractor(x_final, attractors):
    """The class whose attractor is closest to each final state (a softer read-out than Eq. 8)."""
    return torch.cdist(x_final, attractors.to(x_final)).argmin(dim=1)
