"""RealNVP and its coupling layers against independent references: autograd Jacobians and
torch.linalg.slogdet, the closed-form Gaussian density (SciPy), and numerical integration of
exp(log p) over a 2-D grid."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from dyngeo.models.flows import AffineCoupling, RealNVP, gaussian_log_prob

torch.set_num_threads(1)


def _randomise(module, seed, scale=0.5):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g))
    return module


@pytest.mark.parametrize("dim", [2, 3, 4])
def test_coupling_inverts_and_its_logdet_is_the_jacobians(dim):
    mask = (torch.arange(dim) % 2).float()
    layer = _randomise(AffineCoupling(dim, mask, hidden=16), seed=dim).double()
    x = torch.randn(5, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y, logdet = layer(x)
    torch.testing.assert_close(layer.inverse(y), x, atol=1e-12, rtol=0)
    for i in range(len(x)):
        J = torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], x[i])
        sign, ref = torch.linalg.slogdet(J)
        assert sign > 0
        torch.testing.assert_close(logdet[i], ref, atol=1e-10, rtol=0)
        # the kept coordinates pass through unchanged: their rows of J are rows of the identity
        kept = mask.bool()
        torch.testing.assert_close(J[kept], torch.eye(dim, dtype=J.dtype)[kept])


def test_realnvp_log_prob_is_change_of_variables_with_autograd_jacobian():
    flow = _randomise(RealNVP(3, n_layers=4, hidden=16), seed=0, scale=0.3).double()
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    lp = flow.log_prob(x)
    for i in range(len(x)):
        J = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], x[i])
        z = flow(x[i:i + 1])[0][0].detach().numpy()
        ref = multivariate_normal(np.zeros(3), np.eye(3)).logpdf(z) + torch.linalg.slogdet(J)[1].item()
        assert abs(lp[i].item() - ref) < 1e-9
    torch.testing.assert_close(flow(flow.inverse(x))[0], x, atol=1e-10, rtol=0)


def test_identity_flow_with_affine_base_is_a_gaussian():
    flow = RealNVP(2, n_layers=2).double()  # couplings start at the identity
    with torch.no_grad():
        flow.shift.copy_(torch.tensor([0.5, -1.0]))
        flow.log_scale.copy_(torch.tensor([0.3, -0.7]))
    x = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ref = multivariate_normal([0.5, -1.0], np.diag(np.exp([0.6, -1.4]))).logpdf(x.numpy())
    np.testing.assert_allclose(flow.log_prob(x).detach().numpy(), ref, atol=1e-12)
    s = flow.sample(20000, generator=torch.Generator().manual_seed(4))
    np.testing.assert_allclose(s.mean(0).numpy(), [0.5, -1.0], atol=0.03)
    np.testing.assert_allclose(s.std(0).numpy(), np.exp([0.3, -0.7]), rtol=0.03)


def test_density_integrates_to_one_on_a_grid():
    flow = _randomise(RealNVP(2, n_layers=4, hidden=16), seed=5, scale=0.3).double()
    u = torch.linspace(-12, 12, 601, dtype=torch.float64)
    X, Y = torch.meshgrid(u, u, indexing="ij")
    with torch.no_grad():
        p = flow.log_prob(torch.stack([X.reshape(-1), Y.reshape(-1)], 1)).exp().reshape(X.shape)
    mass = torch.trapezoid(torch.trapezoid(p, u, dim=1), u).item()
    assert abs(mass - 1) < 5e-3


def test_training_on_a_gaussian_recovers_its_log_density():
    torch.manual_seed(0)
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    L = torch.tensor(np.linalg.cholesky(cov), dtype=torch.float32)
    data = torch.randn(2000, 2, generator=torch.Generator().manual_seed(6)) @ L.T + torch.tensor([1.0, -0.5])
    flow = RealNVP(2, n_layers=4, hidden=32)
    opt = torch.optim.Adam(flow.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        (-flow.log_prob(data).mean()).backward()
        opt.step()
    test = torch.randn(200, 2, generator=torch.Generator().manual_seed(7)) @ L.T + torch.tensor([1.0, -0.5])
    ref = multivariate_normal([1.0, -0.5], cov).logpdf(test.numpy())
    got = flow.log_prob(test).detach().numpy()
    assert abs(got.mean() - ref.mean()) < 0.1 and np.corrcoef(got, ref)[0, 1] > 0.95


def test_gaussian_log_prob_sign_is_the_density_not_eq6_as_printed():
    z = torch.randn(10, 4, dtype=torch.float64)
    ref = multivariate_normal(np.zeros(4), np.eye(4)).logpdf(z.numpy())
    np.testing.assert_allclose(gaussian_log_prob(z).numpy(), ref, atol=1e-12)
    assert (gaussian_log_prob(torch.zeros(1, 4)) < 0).all()  # eq. 6 as printed would be positive here


def test_float64_and_bad_arguments():
    flow = RealNVP(2).double()
    assert flow.log_prob(torch.zeros(3, 2, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ValueError, match="dim >= 2"):
        RealNVP(1)
    with pytest.raises(ValueError, match=r"\[B, 2\]"):
        flow.log_prob(torch.zeros(3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="keep some"):
        AffineCoupling(2, [1, 1])
    with pytest.raises(ValueError, match="zeros and ones"):
        AffineCoupling(2, [0.5, 1])


def test_realnvp_matches_normflows_built_from_the_same_couplings():
    # normflows (Stimper et al. 2023) composes masked affine couplings, a constant affine map and a Gaussian base
    # its own way; built from our s and t networks it must give the same densities and the same inverse.
    import normflows as nf  # installed by `make install`, without its dependencies (it needs only torch and numpy)
    torch.manual_seed(0)
    flow = RealNVP(3, n_layers=4, hidden=16).double()
    for p in flow.parameters():  # away from the identity map the layers were initialised to
        torch.nn.init.normal_(p, std=0.3)

    class Map(torch.nn.Module):  # one of s' = -S or t' = -T exp(-S), so that normflows' inverse is our forward
        def __init__(self, layer, which):
            super().__init__()
            self.layer, self.which = layer, which

        def forward(self, kept):
            s, t = self.layer._st(kept)
            return -s if self.which == "s" else -t * torch.exp(-s)

    couplings = [nf.flows.MaskedAffineFlow(layer.mask.double(), t=Map(layer, "t"), s=Map(layer, "s"))
                 for layer in flow.layers]
    affine = nf.flows.AffineConstFlow((3,)).double()
    with torch.no_grad():
        affine.s.copy_(flow.log_scale.detach().reshape(affine.s.shape))
        affine.t.copy_(flow.shift.detach().reshape(affine.t.shape))
    reference = nf.NormalizingFlow(nf.distributions.DiagGaussian(3, trainable=False).double(),
                                   [affine, *reversed(couplings)])
    x = torch.randn(64, 3, dtype=torch.float64)
    torch.testing.assert_close(flow.log_prob(x), reference.log_prob(x), rtol=1e-10, atol=1e-10)
    z = torch.randn(64, 3, dtype=torch.float64)
    torch.testing.assert_close(flow.inverse(z), reference.forward(z), rtol=1e-10, atol=1e-10)
