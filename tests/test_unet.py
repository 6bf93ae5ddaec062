"""The tiny U-Net ε-network: shapes, the call signature shared by every ε-network, no mixing across the
batch (group norm is per sample, unlike batch norm), time conditioning, devices/dtypes, clear errors, and
that it can learn: L_simple falls when it is trained on a few images."""

import pytest
import torch

from dyngeo.models.diffusion import Schedule, simple_loss
from dyngeo.models.unet import TinyUNet


@pytest.mark.parametrize("channels,size,mults", [(1, 8, (1, 2)), (3, 16, (1, 2, 2)), (2, 12, (1,))])
def test_output_has_the_input_shape(channels, size, mults):
    net = TinyUNet(channels=channels, base=8, mults=mults)
    x = torch.randn(3, channels, size, size)
    assert net(x, torch.tensor([0, 5, 9])).shape == x.shape


def test_scalar_long_and_float_timesteps_agree():
    torch.manual_seed(0)
    net = TinyUNet(base=8)
    x = torch.randn(4, 1, 8, 8)
    a = net(x, torch.full((4,), 7))
    b = net(x, torch.full((4,), 7.0))
    c = net(x, torch.tensor(7))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)


def test_each_sample_is_processed_on_its_own():
    torch.manual_seed(1)
    net = TinyUNet(base=8)
    x, t = torch.randn(5, 1, 8, 8), torch.tensor([0, 3, 50, 99, 10])
    whole = net(x, t)
    single = torch.cat([net(x[i : i + 1], t[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(whole, single, rtol=1e-5, atol=1e-6)
    perm = torch.tensor([4, 2, 0, 1, 3])
    torch.testing.assert_close(net(x[perm], t[perm]), whole[perm], rtol=1e-5, atol=1e-6)


def test_time_embedding_changes_the_output():
    torch.manual_seed(2)
    net = TinyUNet(base=8)
    x = torch.randn(2, 1, 8, 8)
    assert (net(x, torch.zeros(2)) - net(x, torch.full((2,), 100.0))).abs().max() > 1e-4


def test_follows_dtype_and_gradients_flow():
    net = TinyUNet(base=8).double()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    out = net(x, torch.tensor([1, 2]))
    assert out.dtype == torch.float64
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda():
    net = TinyUNet(base=8).cuda()
    x = torch.randn(2, 1, 8, 8, device="cuda")
    assert net(x, torch.tensor([1, 2], device="cuda")).device.type == "cuda"


def test_learns_l_simple_on_a_few_images():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    x0 = torch.zeros(16, 1, 8, 8)
    x0[:, :, 2:6, 2:6] = 1.0  # one square, repeated
    x0 = 2 * x0 - 1
    sched = Schedule.linear(50, 1e-3, 0.2)
    net = TinyUNet(base=8)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    before = torch.stack([simple_loss(net, x0, sched, generator=g) for _ in range(5)]).mean().item()
    for _ in range(150):
        opt.zero_grad()
        simple_loss(net, x0, sched, generator=g).backward()
        opt.step()
    with torch.no_grad():
        after = torch.stack([simple_loss(net, x0, sched, generator=g) for _ in range(5)]).mean().item()
    assert after < 0.5 * before


def test_errors_are_clear():
    net = TinyUNet(channels=1, base=8, mults=(1, 2))
    with pytest.raises(ValueError, match="shape"):
        net(torch.randn(2, 3, 8, 8), torch.zeros(2))
    with pytest.raises(ValueError, match="divisible"):
        net(torch.randn(2, 1, 7, 7), torch.zeros(2))
    with pytest.raises(ValueError, match="t must be"):
        net(torch.randn(2, 1, 8, 8), torch.zeros(3))
    with pytest.raises(ValueError, match="base"):
        TinyUNet(base=0)
