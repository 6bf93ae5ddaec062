"""SA-nODE (Marino et al. 2024): planted attractors, linear stability, integration, letters, checkpoint."""

import math

import pytest
import torch

from dyngeo.data.letters import corrupt_pixels, letters_7x7, noisy_letters
from dyngeo.models.sanode import (
    SANODE,
    accuracy95,
    line_attractors,
    mse_curve,
    overlap,
    pixels_to_wells,
    sign_similarity,
)


def _model(n=20, k=3, seed=0, **kwargs):
    return SANODE(line_attractors(k, n), seed=seed, **kwargs)


def _scramble(model, steps=25, lr=0.5, seed=0):
    """Arbitrary optimiser steps with a large learning rate on a random objective."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        w = torch.randn(model.num_nodes, model.num_nodes, generator=g, dtype=torch.float64)
        loss = (w * model.coupling()).sum() + 50 * model.gamma + (model.eigenvalues() ** 3).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def test_vector_field_is_minus_grad_potential_plus_coupling():
    model = _scramble(_model())
    x = torch.randn(7, model.num_nodes, dtype=torch.float64, requires_grad=True)
    V = (model.gamma * (x**2 - model.a**2) ** 2).sum()
    (grad,) = torch.autograd.grad(V, x)
    expected = -grad + model.beta * x @ model.coupling().T
    torch.testing.assert_close(model.vector_field(x), expected, rtol=1e-10, atol=1e-10)


def test_coupling_has_the_planted_spectrum_and_is_solve_not_inverse():
    model = _scramble(_model())
    A, phi, lam = model.coupling(), model.eigenvectors(), model.eigenvalues()
    torch.testing.assert_close(A @ phi, phi * lam, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(A @ model.attractors.T, torch.zeros_like(model.attractors.T), rtol=0, atol=1e-9)
    torch.testing.assert_close(A, phi @ torch.diag(lam) @ torch.linalg.inv(phi), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_attractors_stay_stable_fixed_points_after_arbitrary_optimiser_steps(seed):
    model = _scramble(_model(n=24, k=4, seed=seed), seed=seed)
    assert (model.eigenvalues() < model.stability_bound()).all()
    F = model.vector_field(model.attractors)
    assert F.abs().max() < 1e-10
    for k in range(model.num_classes):
        x = model.attractors[k].clone().requires_grad_(True)
        J = torch.autograd.functional.jacobian(lambda z: model.vector_field(z[None])[0], x)
        torch.testing.assert_close(J, model.jacobian(model.attractors[k]), rtol=1e-9, atol=1e-9)
        eig = torch.linalg.eigvals(J)
        assert eig.real.max() < 0
        # Eqs. (3)-(4): the spectrum of J is f'(±a) + βλ = −8a²γ + βλ, exactly
        expected = (-8 * model.a**2 * model.gamma + model.beta * model.eigenvalues()).detach()
        torch.testing.assert_close(eig.real.sort().values, expected.sort().values, rtol=1e-6, atol=1e-6)


def test_an_eigenvalue_above_the_bound_destabilises_the_attractor():
    model = _model()
    with torch.no_grad():
        lam = model.eigenvalues().clone()
        lam[-1] = model.stability_bound() + 1.0
        phi = model.eigenvectors()
        A = torch.linalg.solve(phi.T, lam[:, None] * phi.T).T
        J = torch.diag(-8 * model.a**2 * model.gamma.expand(model.num_nodes)) + model.beta * A
    assert torch.linalg.eigvals(J).real.max() > 0


def test_small_perturbations_decay_to_the_attractor():
    model = _model(n=16, k=2, seed=5)
    x0 = model.attractors + 1e-3 * torch.randn(2, 16, dtype=torch.float64)
    xT = model(x0, T=40.0, dt=0.1, method="rk4")  # slowest rate 8a²γ = 0.8: e^{-32} ≈ 1e-14
    assert (xT - model.attractors).abs().max() < 1e-10


def test_euler_converges_to_rk4_at_first_order():
    model = _model(n=16, k=2, seed=3)
    x0 = torch.rand(5, 16, dtype=torch.float64)
    ref = model(x0, T=2.0, dt=0.01, method="rk4")
    errors = [(model(x0, T=2.0, dt=dt, method="euler") - ref).abs().max().item() for dt in (0.1, 0.05, 0.025)]
    assert errors[0] > errors[1] > errors[2]
    orders = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(0.8 < p < 1.2 for p in orders), orders
    rk4 = [(model(x0, T=2.0, dt=dt, method="rk4") - ref).abs().max().item() for dt in (0.1, 0.05)]
    assert math.log2(rk4[0] / rk4[1]) > 3.5


def test_reverse_integration_recovers_the_input_for_short_T():
    model = _scramble(_model(n=16, k=2))
    x0 = torch.rand(4, 16, dtype=torch.float64)
    xT = model(x0, T=2.0, dt=0.01, method="rk4")
    assert (xT - x0).abs().max() > 0.05  # the state really moved
    back = model.reverse(xT, T=2.0, dt=0.01)
    assert (back - x0).abs().max() < 1e-5  # RK4 truncation error both ways, far below the 0.05 moved


def test_step_count_is_rounded_not_floored():
    model = _model(n=8, k=1)
    traj = model.trajectory(torch.zeros(1, 8, dtype=torch.float64), T=120.1, dt=0.1)
    assert traj.shape[0] == 1202  # floor(120.1/0.1) would give 1200 steps


def test_metrics_on_crafted_states():
    att = line_attractors(2, 40)
    x = att.clone()
    x[0, 0] *= -1  # one flipped pixel out of 40: m_f^(j) = 0.95 exactly, which passes Eq. (8)
    x[1, :2] *= -1  # two flipped: 0.9, fails
    labels = torch.tensor([0, 1])
    torch.testing.assert_close(sign_similarity(x, att, labels), torch.tensor([0.95, 0.9], dtype=torch.float64))
    assert accuracy95(x, att, labels) == 0.5
    torch.testing.assert_close(overlap(att, att, labels), torch.ones(2, dtype=torch.float64))
    traj = torch.stack([x, att])
    torch.testing.assert_close(mse_curve(traj, att, labels), torch.tensor([1.5, 0.0], dtype=torch.float64))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="must be \\+a or -a"):
        SANODE(torch.ones(2, 10, dtype=torch.float64))
    model = _model()
    with pytest.raises(ValueError, match="shape"):
        model.vector_field(torch.zeros(3, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match="float32"):
        model.vector_field(torch.zeros(3, 20))
    with pytest.raises(ValueError, match="method"):
        model(torch.zeros(1, 20, dtype=torch.float64), method="dopri5")


def test_letters_and_noise_protocol():
    clean = letters_7x7()
    assert clean.shape == (5, 49) and set(clean.unique().tolist()) == {0.0, 1.0}
    assert len({tuple(r.tolist()) for r in clean}) == 5
    x = clean.repeat(40, 1)
    g = torch.Generator().manual_seed(0)
    noisy = corrupt_pixels(x, 0.3, g)
    changed = (noisy != x).sum(dim=1)
    assert changed.max() <= 14  # floor(0.3 * 49) pixels are overwritten (a value may coincide)
    assert changed.float().mean() > 0.5 * 14
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert torch.equal(corrupt_pixels(x, 0.0), x)
    a, _ = noisy_letters(3, 0.2, seed=4)
    b, _ = noisy_letters(3, 0.2, seed=4)
    assert torch.equal(a, b)


def test_pixels_to_wells_maps_blank_and_ink_onto_the_wells():
    p = torch.tensor([[0.0, 0.25, 1.0]], dtype=torch.float64)
    assert torch.allclose(pixels_to_wells(p, a=0.5), torch.tensor([[-0.5, -0.25, 0.5]], dtype=torch.float64))
    with pytest.raises(ValueError, match="pixels must lie in"):
        pixels_to_wells(p * 16)


def test_euler_amplification_is_the_spectrum_of_the_euler_step_map():
    model = _scramble(_model(n=20, k=3, seed=4))
    dt = 0.1
    with torch.no_grad():
        step_map = torch.eye(20, dtype=torch.float64) + dt * model.jacobian(model.attractors[1])
        eig = torch.linalg.eigvals(step_map)
        expected = model.euler_amplification(dt)
    torch.testing.assert_close(eig.real.sort().values, expected.sort().values, rtol=1e-8, atol=1e-8)
    assert eig.imag.abs().max() < 1e-8


def test_an_eigenvalue_below_the_euler_bound_is_stable_for_the_ode_but_not_for_euler():
    model = _model(n=16, k=2, seed=2)  # the clamp at ±10a keeps the diverging Euler unroll finite
    dt = 0.1
    with torch.no_grad():
        low = model.euler_lower_bound(dt)
        # move the most negative trainable eigenvalue to 1.5x below the Euler limit (still < the ODE bound)
        lam = model.eigenvalues()[2:]
        target = lam.clone()
        target[lam.argmin()] = 1.5 * low
        gap = model.stability_bound() - model.margin - target
        model.rho.copy_(gap + torch.log(-torch.expm1(-gap)))
        torch.testing.assert_close(model.eigenvalues()[2:], target)
        amp = model.euler_amplification(dt)
        assert amp.abs().max() > 1 and (model.jacobian_spectrum() < 0).all()
        g = torch.Generator().manual_seed(0)
        x0 = model.attractors[:1] + 1e-6 * torch.randn(1, 16, generator=g, dtype=torch.float64)
        euler = (model(x0, T=3.0, dt=dt) - model.attractors[0]).abs().max()
        ode = (model(x0, T=3.0, dt=0.002, method="rk4") - model.attractors[0]).abs().max()
    assert euler > 1e-4  # grows by |amp|^30 ≈ 1e4 or more
    assert ode < 1e-6  # the ODE (fine RK4) still contracts


def test_training_the_eigenvalues_alone_leaves_the_eigenvectors_untouched():
    from dyngeo.models.sanode import train_sanode

    model = _model(n=16, k=2, seed=1)
    before = model.phi_free.detach().clone()
    lam0 = model.eigenvalues().detach().clone()
    model.phi_free.requires_grad_(False)
    X = torch.rand(40, 16, dtype=torch.float64) - 0.5
    y = torch.randint(0, 2, (40,))
    train_sanode(model, X, y, steps=5, lr=1e-2, T=1.0, desc=None)
    assert torch.equal(model.phi_free, before)
    assert not torch.allclose(model.eigenvalues(), lam0)


def test_shipped_digits_checkpoint_recomputes_its_validation_and_test_accuracy():
    from dyngeo.checkpoints import load
    from dyngeo.checkpoints.make_sanode import digits_split, encode

    state = load("sanode_digits")
    model = SANODE(line_attractors(10, 64))
    model.load_state_dict(state["model"])
    _, _, X_val, y_val, X_test, y_test = digits_split(state["split_seed"])
    with torch.no_grad():
        val = accuracy95(model(encode(X_val, state["wells"]), T=state["T_eval"], dt=state["dt"]), model.attractors, y_val)
        acc = accuracy95(model(encode(X_test, state["wells"]), T=state["T_eval"], dt=state["dt"]), model.attractors,
                         y_test)
    chosen = state["candidates"][state["chosen"]]
    assert abs(val - chosen["val_accuracy95"]) < 1e-9
    assert chosen["val_accuracy95"] == max(c["val_accuracy95"] for c in state["candidates"].values())
    assert abs(acc - state["test_accuracy95"]) < 1e-9
    assert acc >= 0.9  # 94.65 % when the checkpoint was made (recipe chosen on validation, test read once)


def test_shipped_letters_checkpoint_recomputes_the_sweep_and_clean_letters_reach_their_attractors():
    from dyngeo.checkpoints import load
    from dyngeo.checkpoints.make_sanode import sweep_scores

    state = load("sanode_letters")
    for key in ("0.0/0", "0.3/1"):
        model = SANODE(line_attractors(5, 49))
        model.load_state_dict(state["models"][key])
        mf, acc = sweep_scores(model, eps_tests=(0.0, 0.1), per=state["per_letter_test"])
        torch.testing.assert_close(mf, state["notes"][key]["mf"][:2], rtol=0, atol=1e-9)
        assert mf[0] > 0.999 and acc[0] == 1.0  # every clean letter ends on its own pattern
        assert (model.eigenvalues() < model.stability_bound()).all()


def test_shipped_raw_input_control_recomputes_its_clean_letter_similarities():
    from dyngeo.checkpoints import load

    state = load("sanode_letters_raw")
    clean_X, clean_y = noisy_letters(1, 0.0)
    for seed, stored in state["notes"].items():
        model = SANODE(line_attractors(5, 49))
        model.load_state_dict(state["models"][seed])
        with torch.no_grad():
            sim = sign_similarity(model(clean_X.double(), T=state["T_eval"], dt=state["dt"]), model.attractors, clean_y)
        torch.testing.assert_close(sim, stored["clean_similarity"], rtol=0, atol=1e-12)
