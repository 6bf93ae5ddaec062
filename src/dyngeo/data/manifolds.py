"""Point clouds and images with a known topology (chapters 15 and 16).

Every generator takes ``n`` and a ``seed`` and returns ``(X, params)``: float32 points (or images) and
the float32 parameters that produced them (angles in radians), on the CPU. ``noise`` adds isotropic
Gaussian noise of that standard deviation in the ambient space.

=========================  ==========  ============================  ====================================
generator                  ambient     space                         Betti numbers over Z/2 (b0, b1, b2)
=========================  ==========  ============================  ====================================
``circle``                 R²          S¹                            1, 1, 0
``sphere``                 R³          S²                            1, 0, 1
``torus``                  R³          S¹ × S¹ (ring torus)          1, 2, 1
``flat_torus``             R⁴          S¹ × S¹ (flat, isometric)     1, 2, 1
``klein_bottle``           R⁴          Klein bottle                  1, 2, 1
``klein_union_sphere``     R⁴          Klein bottle ∪ S² (strata     two manifolds glued along a circle
                                       meeting along a circle)
``torus_ellipse_images``   R^{s×s}     S¹ × S¹ (Jin et al. 2024)     1, 2, 1
=========================  ==========  ============================  ====================================
"""

import math

import torch

__all__ = [
    "circle",
    "sphere",
    "torus",
    "flat_torus",
    "klein_bottle",
    "klein_union_sphere",
    "torus_ellipse_images",
    "render_ellipses",
]


def _check_n(n):
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer; got {n}")
    return int(n)


def _finish(X, params, noise, g):
    X = torch.as_tensor(X, dtype=torch.float32)
    if noise < 0:
        raise ValueError(f"noise must be >= 0; got {noise}")
    if noise > 0:
        X = X + noise * torch.randn(X.shape, generator=g)
    return X, torch.as_tensor(params, dtype=torch.float32)


def _angles(g, n, k=1, high=2 * math.pi):
    return high * torch.rand(n, k, generator=g, dtype=torch.float64)


def circle(n=500, radius=1.0, noise=0.0, seed=0):
    """``n`` points ``radius (cos θ, sin θ)``, θ uniform; params θ ``[n, 1]``."""
    n, g = _check_n(n), torch.Generator().manual_seed(seed)
    th = _angles(g, n)
    return _finish(radius * torch.cat([th.cos(), th.sin()], 1), th, noise, g)


def sphere(n=500, radius=1.0, noise=0.0, seed=0):
    """``n`` points uniform on the sphere of ``radius`` in R³; params (polar θ ∈ [0, π], azimuth φ)."""
    n, g = _check_n(n), torch.Generator().manual_seed(seed)
    u = torch.randn(n, 3, generator=g, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    params = torch.stack([torch.arccos(u[:, 2].clamp(-1, 1)), torch.atan2(u[:, 1], u[:, 0]) % (2 * math.pi)], 1)
    return _finish(radius * u, params, noise, g)


def torus(n=1000, R=2.0, r=1.0, noise=0.0, uniform_area=True, seed=0):
    """``n`` points on the ring torus ``((R + r cos v) cos u, (R + r cos v) sin u, r sin v)`` in R³;
    params (u, v). With ``uniform_area`` the points are uniform for the surface area (rejection on
    ``v`` with acceptance ``(R + r cos v) / (R + r)``), else uniform in the angles."""
    n, g = _check_n(n), torch.Generator().manual_seed(seed)
    if not 0 < r < R:
        raise ValueError(f"need 0 < r < R for a ring torus; got R={R}, r={r}")
    u = _angles(g, n)[:, 0]
    if uniform_area:
        v = torch.empty(0, dtype=torch.float64)
        while v.numel() < n:  # acceptance >= (R - r)/(R + r): a few rounds at most
            cand = _angles(g, 2 * n)[:, 0]
            keep = torch.rand(2 * n, generator=g, dtype=torch.float64) < (R + r * cand.cos()) / (R + r)
            v = torch.cat([v, cand[keep]])
        v = v[:n]
    else:
        v = _angles(g, n)[:, 0]
    X = torch.stack([(R + r * v.cos()) * u.cos(), (R + r * v.cos()) * u.sin(), r * v.sin()], 1)
    return _finish(X, torch.stack([u, v], 1), noise, g)


def flat_torus(n=1000, r1=1.0, r2=1.0, noise=0.0, seed=0):
    """``n`` points ``(r1 cos u, r1 sin u, r2 cos v, r2 sin v)`` in R⁴ (the flat torus, a product of two
    circles, uniform in the angles, which is uniform for its area); params (u, v)."""
    n, g = _check_n(n), torch.Generator().manual_seed(seed)
    uv = _angles(g, n, 2)
    u, v = uv[:, 0], uv[:, 1]
    X = torch.stack([r1 * u.cos(), r1 * u.sin(), r2 * v.cos(), r2 * v.sin()], 1)
    return _finish(X, uv, noise, g)


def _klein(u, v, R, r):
    return torch.stack([
        (R + r * v.cos()) * u.cos(),
        (R + r * v.cos()) * u.sin(),
        r * v.sin() * (u / 2).cos(),
        r * v.sin() * (u / 2).sin(),
    ], 1)


def klein_bottle(n=1000, R=2.0, r=1.0, noise=0.0, seed=0):
    """``n`` points on the Klein bottle embedded in R⁴ by
    ``((R + r cos v) cos u, (R + r cos v) sin u, r sin v cos(u/2), r sin v sin(u/2))``, u, v ∈ [0, 2π)
    uniform: going once round ``u`` flips the sign of the last two coordinates, so ``(u + 2π, v)``
    lands on ``(u, −v)`` (the tube comes back reflected). Params (u, v)."""
    n, g = _check_n(n), torch.Generator().manual_seed(seed)
    if not 0 < r < R:
        raise ValueError(f"need 0 < r < R; got R={R}, r={r}")
    uv = _angles(g, n, 2)
    return _finish(_klein(uv[:, 0], uv[:, 1], R, r), uv, noise, g)


def klein_union_sphere(n=2000, R=2.0, r=1.0, sphere_fraction=0.5, noise=0.0, seed=0):
    """A stratified space standing in for cyclooctane's conformation space (a Klein bottle and a sphere
    that meet): the Klein bottle of :func:`klein_bottle` and the 2-sphere of radius ``R + r`` in the
    3-space ``x₄ = 0``. The sphere wraps the Klein bottle's projection and touches it along the circle
    ``v = 0``. Returns ``(X [n, 4], params [n, 3])`` with params = (stratum, a, b): stratum 0 for the
    Klein bottle with (a, b) = (u, v), stratum 1 for the sphere with (a, b) = (polar, azimuth)."""
    n, g = _check_n(n), torch.Generator().manual_seed(seed)
    if not 0 <= sphere_fraction <= 1:
        raise ValueError(f"sphere_fraction must be in [0, 1]; got {sphere_fraction}")
    n_s = int(round(sphere_fraction * n))
    n_k = n - n_s
    uv = _angles(g, n_k, 2)
    Xk = _klein(uv[:, 0], uv[:, 1], R, r)
    s = torch.randn(n_s, 3, generator=g, dtype=torch.float64)
    s = s / s.norm(dim=1, keepdim=True)
    Xs = torch.cat([(R + r) * s, torch.zeros(n_s, 1, dtype=torch.float64)], 1)
    ang = torch.stack([torch.arccos(s[:, 2].clamp(-1, 1)), torch.atan2(s[:, 1], s[:, 0]) % (2 * math.pi)], 1)
    params = torch.cat([
        torch.cat([torch.zeros(n_k, 1, dtype=torch.float64), uv], 1),
        torch.cat([torch.ones(n_s, 1, dtype=torch.float64), ang], 1),
    ])
    return _finish(torch.cat([Xk, Xs]), params, noise, g)


def render_ellipses(spin, centre, size=16, radius=None, axes=None, supersample=4):
    """Images ``[B, 1, size, size]`` in [0, 1] of one white ellipse on black: semi-axes ``axes``
    (pixels), long axis at angle ``spin`` (radians), centred ``radius`` pixels from the image centre in
    the direction ``centre``. Each pixel is the fraction of ``supersample²`` sub-pixel centres inside
    the ellipse (the blurry edges of the paper's down-sampled images). The paper (32×32, centre
    radius 7 px) does not give the axes; the defaults, ``radius = size / 8`` and
    ``axes = (11 size / 32, size / 8)`` (2 px and 5.5 × 2 px at 16×16), make both circles of the torus
    stand out in the Rips diagram of a few hundred images: a longer ellipse on a smaller circle than the
    paper's, so that moving the centre a little still overlaps the previous image."""
    spin = torch.as_tensor(spin, dtype=torch.float64).reshape(-1)
    centre = torch.as_tensor(centre, dtype=torch.float64).reshape(-1)
    if spin.shape != centre.shape:
        raise ValueError(f"spin and centre must have the same length; got {spin.numel()} and {centre.numel()}")
    radius = size / 8 if radius is None else float(radius)
    a, b = (11 * size / 32, size / 8) if axes is None else map(float, axes)
    if not 0 < b <= a:
        raise ValueError(f"axes must satisfy 0 < minor <= major; got {(a, b)}")
    m = size * supersample
    coords = (torch.arange(m, dtype=torch.float64) + 0.5) / supersample - size / 2  # sub-pixel centres
    py, px = torch.meshgrid(coords, coords, indexing="ij")
    cx, cy = radius * centre.cos(), radius * centre.sin()
    dx, dy = px[None] - cx[:, None, None], py[None] - cy[:, None, None]
    c, s = spin.cos()[:, None, None], spin.sin()[:, None, None]
    along, across = c * dx + s * dy, -s * dx + c * dy
    inside = ((along / a) ** 2 + (across / b) ** 2 <= 1.0).float()
    img = torch.nn.functional.avg_pool2d(inside[:, None], supersample)
    return img.float()


def torus_ellipse_images(n=2000, size=16, radius=None, axes=None, supersample=4, seed=0):
    """The torus image set of Jin et al. (2024) at ``size × size``: an ellipse spinning about its own
    centre (angle α ∈ [0, π): the ellipse is symmetric under a half turn, so α lives on a circle) while
    its centre travels a circle (angle θ ∈ [0, 2π)); the images form S¹ × S¹. Returns
    ``(X [n, 1, size, size], params [n, 2] = (α, θ))``, α and θ uniform. See :func:`render_ellipses`."""
    n, g = _check_n(n), torch.Generator().manual_seed(seed)
    alpha = math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    theta = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    X = render_ellipses(alpha, theta, size=size, radius=radius, axes=axes, supersample=supersample)
    return X, torch.stack([alpha, theta], 1).float()
