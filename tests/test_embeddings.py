"""dyngeo.geometry.embeddings against independent references: numpy.linalg.lstsq, closed forms,
planted maps, scikit-learn, and networks whose embeddings are known."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from dyngeo.geometry import embeddings as E

torch.set_num_threads(1)


def test_lstsq_matches_numpy_overdetermined():
    rng = np.random.default_rng(0)
    XA, XB = rng.normal(size=(40, 7)), rng.normal(size=(40, 5))
    M = E.fit_linear_map(XA, XB)
    assert M.shape == (5, 7) and isinstance(M, np.ndarray)
    np.testing.assert_allclose(M, np.linalg.lstsq(XA, XB, rcond=None)[0].T, atol=1e-10)


def test_min_norm_when_underdetermined():
    rng = np.random.default_rng(1)
    XA, XB = rng.normal(size=(6, 20)), rng.normal(size=(6, 3))
    M = E.fit_linear_map(torch.tensor(XA), torch.tensor(XB))
    ref = np.linalg.lstsq(XA, XB, rcond=None)[0].T  # numpy's gelsd returns the minimum-norm solution
    np.testing.assert_allclose(M.numpy(), ref, atol=1e-10)
    np.testing.assert_allclose(XA @ M.numpy().T, XB, atol=1e-10)  # exact fit on the map samples
    # any other exact solution (add a null-space component) has a larger norm
    null = np.linalg.svd(XA)[2][-1]
    other = M.numpy() + np.outer(rng.normal(size=3), null)
    np.testing.assert_allclose(XA @ other.T, XB, atol=1e-10)
    assert np.linalg.norm(other) > np.linalg.norm(M.numpy())


def test_planted_map_recovered_and_dtype_device_kept():
    g = torch.Generator().manual_seed(2)
    XA = torch.randn(100, 8, generator=g, dtype=torch.float64)
    M_true = torch.randn(4, 8, generator=g, dtype=torch.float64)
    b_true = torch.randn(4, generator=g, dtype=torch.float64)
    assert torch.allclose(E.fit_linear_map(XA, XA @ M_true.T), M_true, atol=1e-10)
    M, b = E.fit_linear_map(XA, XA @ M_true.T + b_true, bias=True)
    assert torch.allclose(M, M_true, atol=1e-10) and torch.allclose(b, b_true, atol=1e-10)
    assert E.fit_linear_map(XA.float(), (XA @ M_true.T).float()).dtype == torch.float32


def test_bias_equals_lstsq_with_ones_column():
    rng = np.random.default_rng(3)
    XA, XB = rng.normal(size=(30, 4)) + 2.0, rng.normal(size=(30, 3))
    M, b = E.fit_linear_map(XA, XB, bias=True)
    W = np.linalg.lstsq(np.c_[XA, np.ones(30)], XB, rcond=None)[0]
    np.testing.assert_allclose(M, W[:4].T, atol=1e-10)
    np.testing.assert_allclose(b, W[4], atol=1e-10)


@pytest.mark.parametrize("m,d", [(50, 6), (5, 30)])
def test_ridge_closed_form_both_branches(m, d):
    rng = np.random.default_rng(4)
    XA, XB, lam = rng.normal(size=(m, d)), rng.normal(size=(m, 3)), 0.7
    M = E.fit_linear_map(XA, XB, ridge=lam)
    ref = np.linalg.solve(XA.T @ XA + lam * np.eye(d), XA.T @ XB).T
    np.testing.assert_allclose(M, ref, atol=1e-10)
    # the gradient of ||XA Mᵀ - XB||² + λ||M||² vanishes there
    grad = 2 * (XA.T @ (XA @ M.T - XB)) + 2 * lam * M.T
    assert np.abs(grad).max() < 1e-9
    # ridge → 0 tends to the min-norm least-squares solution
    np.testing.assert_allclose(E.fit_linear_map(XA, XB, ridge=1e-10), E.fit_linear_map(XA, XB), atol=1e-5)


def test_ridge_shrinks_and_lowers_held_out_error_when_wide():
    rng = np.random.default_rng(5)
    d, m = 200, 60
    M_true = rng.normal(size=(5, d)) / np.sqrt(d)
    XA = rng.normal(size=(m + 500, d))
    XB = XA @ M_true.T + 0.5 * rng.normal(size=(m + 500, 5))
    norms = [np.linalg.norm(E.fit_linear_map(XA[:m], XB[:m], ridge=r)) for r in (0, 1, 100)]
    assert norms[0] > norms[1] > norms[2]
    errs = [E.embedding_mse(E.apply_map(E.fit_linear_map(XA[:m], XB[:m], ridge=r), XA[m:]), XB[m:]) for r in (0, 50)]
    assert errs[1] < errs[0]


def test_errors_are_named():
    with pytest.raises(ValueError, match="same samples"):
        E.fit_linear_map(np.ones((4, 2)), np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"\[m, d\]"):
        E.fit_linear_map(np.ones(4), np.ones((4, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        E.fit_linear_map(np.ones((4, 2)), np.ones((4, 2)), ridge=-1)
    with pytest.raises(ValueError, match="columns"):
        E.apply_map(np.ones((3, 2)), np.ones((5, 4)))
    with pytest.raises(ValueError, match="kind"):
        E.fourier_features(np.ones((2, 4)), "power")
    with pytest.raises(ValueError, match="reduction"):
        E.embedding_mse(np.ones((2, 2)), np.ones((2, 2)), "max")


def test_mse_definitions():
    X, Y = np.zeros((3, 4)), np.ones((3, 4)) * 2
    assert E.embedding_mse(X, Y) == 4.0 and E.embedding_mse(X, Y, "sum") == 16.0


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 4), torch.nn.Tanh(),
                               torch.nn.Linear(4, 3))


def test_embed_penultimate_and_named_layers_through_hooks():
    net, X = _net(), torch.randn(11, 5)
    before = net(X)
    Z = E.embed(net, X)
    assert torch.allclose(Z, net[:4](X))  # the head's input
    assert torch.allclose(net[4](Z), before)
    both = E.embed(net, X, layer=["1", "2"], batch_size=4)
    assert torch.allclose(both["1"], torch.relu(net[0](X))) and torch.allclose(both["2"], net[:3](X))
    assert not net[0]._forward_hooks and not net[4]._forward_pre_hooks  # hooks removed
    assert torch.allclose(net(X), before)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 36, 3))
    assert E.embed(cnn, torch.randn(3, 1, 8, 8), layer="0").shape == (3, 72)
    with pytest.raises(ValueError, match="no layer named"):
        E.embed(net, X, layer="head")
    with pytest.raises(ValueError, match="no nn.Linear"):
        E.embed(torch.nn.Sequential(torch.nn.ReLU()), X)


def test_fourier_against_numpy_and_shift_invariance():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(5, 9))
    mag, ph = E.fourier_features(X, "magnitude"), E.fourier_features(X, "phase")
    assert mag.shape == (5, 5)
    np.testing.assert_allclose(mag * np.exp(1j * ph), np.fft.rfft(X, axis=1), atol=1e-12)
    np.testing.assert_allclose(E.fourier_features(np.roll(X, 3, axis=1)), mag, atol=1e-12)
    t = E.fourier_features(torch.tensor(X), "phase")
    assert isinstance(t, torch.Tensor) and np.allclose(t.numpy(), ph) and np.all(np.abs(ph) <= np.pi)


def _synthetic(seed, d_t=6, d_s=6, n=600, shift=1.5, noise=0.05):
    """Target embeddings with adversarial rows shifted along a fixed direction; the source is a planted
    linear image of the target plus noise (an invertible map when d_s ≥ d_t)."""
    rng = np.random.default_rng(seed)
    clean = rng.normal(size=(n, d_t))
    direction = rng.normal(size=d_t)
    adv = rng.normal(size=(n, d_t)) + shift * direction / np.linalg.norm(direction)
    R = np.linalg.qr(rng.normal(size=(d_s, d_s)))[0][:, :d_t] * rng.uniform(0.5, 2, d_t)
    src = [x @ R.T + noise * rng.normal(size=(n, d_s)) for x in (clean, adv)]
    return (clean, adv), tuple(src)


def test_algorithm1_self_map_reproduces_native_and_rotations_transfer():
    target, source = _synthetic(0)
    splits = E.split_indices(600, seed=0)
    same = E.cross_network_detection(target, target, splits)
    assert same["mse"] < 1e-20 and same["auroc"] == same["native_auroc"]
    out = E.cross_network_detection(target, source, splits, svm=same["svm"])
    assert out["native_auroc"] > 0.8 and abs(out["auroc"] - out["native_auroc"]) < 0.02
    # the returned AUROC is sklearn's on the decision function of the mapped validation rows
    v = splits["val"]
    M, _ = out["map"]
    Xv = np.concatenate([source[0][v], source[1][v]]) @ M.T
    y = np.r_[np.zeros(len(v)), np.ones(len(v))]
    assert out["auroc"] == pytest.approx(roc_auc_score(y, same["svm"].decision_function(Xv)))
    adv_only = E.cross_network_detection(target, source, splits, svm=same["svm"], fit_on="adversarial")
    assert abs(adv_only["auroc"] - out["native_auroc"]) < 0.03
    with pytest.raises(ValueError, match="fit_on"):
        E.cross_network_detection(target, source, splits, fit_on="clean")


def test_algorithm1_head_accuracy_and_fourier_features():
    target, source = _synthetic(1, d_t=4, d_s=8)
    labels = (target[0][:, 0] > 0).astype(int)  # a head reading the sign of coordinate 0 is always right on clean rows
    head = torch.nn.Linear(4, 2).double()
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[-1.0, 0, 0, 0], [1.0, 0, 0, 0]]))
        head.bias.zero_()
    splits = E.split_indices(600, seed=1)
    out = E.cross_network_detection(target, source, splits, head=head, labels=labels)
    v = splits["val"]
    native = ((target[1][v][:, 0] > 0).astype(int) == labels[v]).mean()
    assert out["native_accuracy"] == pytest.approx(native)
    assert abs(out["mapped_accuracy"] - native) < 0.05
    four = E.cross_network_detection(target, source, splits, features=lambda X: E.fourier_features(X, "phase"))
    assert 0.0 <= four["auroc"] <= 1.0
    with pytest.raises(ValueError, match="labels"):
        E.cross_network_detection(target, source, splits, head=head)


def test_split_indices_partition():
    s = E.split_indices(10, seed=3)
    assert sorted(np.concatenate(list(s.values()))) == list(range(10))
    assert [len(s[k]) for k in ("map", "svm", "val")] == [3, 3, 4]


def test_checkpoint_recomputes_one_network():
    """The shipped chapter-10 checkpoint: the seed-0 MLP trained again matches the stored one."""
    from dyngeo.checkpoints import load
    from dyngeo.checkpoints.make_linear_maps import load_nets, train_net
    from dyngeo.data import digits

    state = load("linear_maps")
    data = digits(test_fraction=0.5, seed=0)
    net = train_net("MLP", 0, steps=state["steps"], data=data)
    stored = load_nets(state)["MLP", 0]
    for (name, p), q in zip(net.state_dict().items(), stored.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-3), name
    with torch.no_grad():
        acc = (stored(data[2]).argmax(1) == data[3]).float().mean().item()
    assert acc == pytest.approx(state["test_accuracy"]["MLP/0"], abs=1e-6) and acc > 0.9
    assert E.embed(stored, data[2][:3]).shape == (3, 64)
    assert E.embed(load_nets(state)["wide", 0], data[2][:3]).shape == (3, 512)
