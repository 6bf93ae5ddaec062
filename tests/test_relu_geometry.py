"""dyngeo.geometry.relu / local_linear and dyngeo.attacks against independent references:
cvxpy, scipy.spatial.HalfspaceIntersection, dense grids, autograd Jacobians, closed forms."""

import cvxpy as cp
import numpy as np
import pytest
import torch
from scipy.spatial import HalfspaceIntersection
from torch import nn

from dyngeo.attacks import fgsm, pgd
from dyngeo.geometry import local_linear as ll
from dyngeo.geometry import relu


@pytest.fixture(scope="module")
def net():
    return relu.mlp([2, 10, 10, 1], seed=3).double()


@pytest.fixture(scope="module")
def regions(net):
    return relu.enumerate_regions(net, -1, 1)


def grid_patterns(net, n=800, lim=1.0):
    g = torch.linspace(-lim, lim, n, dtype=torch.float64)
    X = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)
    return X, relu.activation_patterns(net, X).numpy()


def test_enumeration_covers_every_grid_pattern_and_cells_have_interior(net, regions):
    _, P = grid_patterns(net)
    on_grid = {p.tobytes() for p in P}
    found = {r.pattern.tobytes() for r in regions}
    assert len(found) == len(regions)  # no cell twice
    assert on_grid <= found  # every pattern the grid sees was enumerated
    assert len(regions) >= len(on_grid)
    assert min(r.radius for r in regions) > 0


def test_dual_graph_neighbours_differ_in_one_bit(regions):
    edges = relu.dual_edges(regions)
    assert len(edges) >= len(regions) - 1  # connected graph has at least n - 1 edges
    for i, j in edges:
        assert np.count_nonzero(regions[i].pattern != regions[j].pattern) == 1


def test_points_satisfy_their_own_inequalities_and_affine_map_is_the_network(net):
    X = torch.rand(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    P = relu.activation_patterns(net, X)
    for x, s in zip(X[:40], P[:40]):
        A, c = relu.hrep(net, s)
        assert np.all(A @ x.numpy() <= c + 1e-10)
        W, b = relu.local_affine(net, s)
        np.testing.assert_allclose(W @ x.numpy() + b, net(x[None]).detach().numpy()[0], atol=1e-10)
        jac = torch.autograd.functional.jacobian(lambda z: net(z[None])[0], x)
        np.testing.assert_allclose(W, jac.numpy(), atol=1e-10)
    # a point of another cell breaks at least one inequality of this cell
    A, c = relu.hrep(net, P[0])
    other = [k for k in range(len(P)) if (P[k] != P[0]).any()]
    assert all(np.any(A @ X[k].numpy() > c) for k in other)


def test_facet_lps_match_halfspace_intersection_edges(regions):
    for r in regions[::5]:
        act = set(relu.facets(r.A, r.c, -1, 1, method="loop"))
        assert act == set(relu.facets(r.A, r.c, -1, 1, method="stacked")) == set(r.facets)
        H = np.vstack([np.hstack([r.A, -r.c[:, None]]), [[1, 0, -1], [0, 1, -1], [-1, 0, -1], [0, -1, -1]]])
        V = HalfspaceIntersection(H, r.center).intersections
        on_edge = {i for i in range(len(r.c))
                   if len({tuple(v) for v in np.round(V[np.abs(r.A[i] @ V.T - r.c[i]) < 1e-9], 9)}) >= 2}
        assert act == on_edge


def test_cvxpy_and_highs_agree(regions):
    for r in regions[::15]:
        # Chebyshev centre, eq. (7)
        m = r.A.shape[1]
        A = np.vstack([r.A, np.eye(m), -np.eye(m)])
        c = np.concatenate([r.c, np.ones(m), np.ones(m)])
        xc, rad = cp.Variable(m), cp.Variable()
        cp.Problem(cp.Maximize(rad), [A @ xc + rad * np.linalg.norm(A, axis=1) <= c]).solve()
        assert abs(rad.value - r.radius) < 1e-6
        # redundancy LP, eq. (6), for every row
        for i in range(len(r.c)):
            x = cp.Variable(m)
            keep = np.arange(len(r.c)) != i
            prob = cp.Problem(cp.Maximize(r.A[i] @ x), [r.A[keep] @ x <= r.c[keep], x >= -1, x <= 1])
            prob.solve()
            assert (prob.value > r.c[i] + 1e-7) == (i in r.facets)


def test_chebyshev_closed_forms():
    box = np.vstack([np.eye(2), -np.eye(2)])
    center, radius = relu.chebyshev_center(box, np.ones(4))
    np.testing.assert_allclose(center, 0, atol=1e-9)
    assert abs(radius - 1) < 1e-9
    tri = np.array([[-1.0, 0], [0, -1], [1, 1]])
    center, radius = relu.chebyshev_center(tri, np.array([0.0, 0, 1]))
    assert abs(radius - (1 - 1 / np.sqrt(2))) < 1e-9
    np.testing.assert_allclose(center, [radius, radius], atol=1e-9)
    _, radius = relu.chebyshev_center(np.array([[1.0, 1], [-1, -1]]), np.array([-1.0, 0]))  # empty strip
    assert radius <= 0
    with pytest.raises(ValueError, match="unbounded"):
        relu.chebyshev_center(np.array([[1.0, 0]]), np.array([1.0]))


def test_xor_network_has_three_cells_and_an_empty_fourth():
    xor = [(np.ones((2, 2)), np.array([1.0, 0])), (np.array([[2.0, -4]]), np.array([-1.0]))]  # eq. (2)
    regions = relu.enumerate_regions(xor, -2, 2)
    assert {tuple(r.pattern) for r in regions} == {(True, True), (True, False), (False, False)}
    A, c = relu.hrep(xor, [False, True])
    assert relu.chebyshev_center(A, c, -2, 2)[1] <= 0
    W, b = relu.local_affine(xor, [True, True])
    np.testing.assert_allclose(W, [[-2, -2]])
    np.testing.assert_allclose(b, [1])


def _layers(*pairs):
    return [(np.array(W, dtype=float), np.array(b, dtype=float)) for W, b in pairs]


def polygon_area(A, c, lo, hi):
    """Area of {A x <= c} within the box [lo, hi]^2, from SciPy alone: an interior point by linprog,
    the vertices by HalfspaceIntersection, the area by ConvexHull (0 when the cell has no interior)."""
    from scipy.optimize import linprog
    from scipy.spatial import ConvexHull

    keep = np.linalg.norm(A, axis=1) > 0
    H = np.vstack([np.hstack([A[keep], -c[keep, None]]),
                   [[1, 0, -hi], [0, 1, -hi], [-1, 0, lo], [0, -1, lo]]])
    norms = np.linalg.norm(H[:, :2], axis=1)
    res = linprog([0, 0, -1], A_ub=np.hstack([H[:, :2], norms[:, None]]), b_ub=-H[:, 2], bounds=[(None, None)] * 3)
    if res.x[2] <= 1e-12:
        return 0.0
    return ConvexHull(HalfspaceIntersection(H, res.x[:2]).intersections).volume  # in 2-D, .volume is the area


def assert_exact(layers, lo, hi, n_points=100_000):
    """The enumerated cells tile the box: their areas add up to its area, their patterns are distinct,
    every pattern met by random points is among them, and each listed cell really has interior."""
    regions = relu.enumerate_regions(layers, lo, hi)
    pats = {r.pattern.tobytes() for r in regions}
    assert len(pats) == len(regions)
    areas = [polygon_area(r.A, r.c, lo, hi) for r in regions]
    assert min(areas) > 0
    np.testing.assert_allclose(sum(areas), (hi - lo) ** 2, rtol=1e-9)
    # random points, not a grid: a grid would sit on the walls of these hand-made networks
    X = lo + (hi - lo) * torch.rand(n_points, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert {p.tobytes() for p in relu.activation_patterns(layers, X).numpy()} <= pats
    return regions


def test_duplicated_and_scaled_neurons_give_two_cells():
    for W in ([[1, 0.5], [1, 0.5]], [[1, 0.5], [2, 1]]):  # the same wall twice, once scaled by 2
        layers = _layers((W, [0.1, 0.1 * W[1][0]]), ([[1, 1]], [0]))
        regions = assert_exact(layers, -1, 1)
        assert len(regions) == 2  # one bit-flip at a time found only one
        assert {tuple(r.pattern) for r in regions} == {(True, True), (False, False)}
        assert relu.dual_edges(regions) == [(0, 1)]
        assert set(regions[0].facets) == {0, 1}
        assert set(relu.facets(regions[0].A, regions[0].c, -1, 1)) == {0, 1}


def test_pass_through_neuron_gives_six_cells():
    # layer 2 copies unit x of layer 1 (relu(relu(x)) = relu(x)): its wall is x = 0 on the right and
    # it is identically 0 on the left, so crossing x = 0 flips two bits
    layers = _layers(([[1, 0], [0, 1]], [0, 0]), ([[1, 0], [0, 1]], [0, -0.5]), ([[1, 1]], [0]))
    regions = assert_exact(layers, -1, 1)
    assert len(regions) == 6  # was 3
    assert max(np.count_nonzero(regions[i].pattern != regions[j].pattern) for i, j in relu.dual_edges(regions)) == 2
    # from the cell x < 0, y < 0 (all off), crossing x = 0 turns on unit x and its copy in layer 2
    across = {tuple(p) for _, p in relu.neighbours(layers, [False, False, False, False], -1, 1)}
    assert across == {(True, False, True, False), (False, True, False, False)}


def test_dead_neurons_and_walls_on_the_box():
    layers = _layers(
        ([[0, 0], [0, 0], [0, 0], [1, 0], [1, 0], [0, 1], [1, 1]], [-1, 2, 0, -1, 1, 0, 0.3]),  # dead, constant,
        ([[0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 1]], [0, -2.5, 0]),  # zero, walls x=±1 on the box
        ([[1, -1, 2]], [0]))
    regions = assert_exact(layers, -1, 1)
    assert all(not r.pattern[0] and r.pattern[1] and not r.pattern[2] and not r.pattern[7] for r in regions)
    assert all(not r.pattern[3] and r.pattern[4] for r in regions)  # x = 1 and x = -1 are never crossed
    # by hand: the walls y = 0 and x + y = -0.3 (which a layer-2 neuron copies) make 4 cells, and the bent
    # layer-2 wall x + 0.5 + relu(y) + relu(x + y + 0.3) = 0 splits the two below x + y = -0.3
    assert len(regions) == 6


def test_issue_counterexample_width_two_has_bounded_cells():
    layers = _layers(([[1, 0], [0, 1]], [0, 0]), ([[-1, -1], [1, -2]], [1, 0.2]), ([[1, 1]], [0]))
    regions = assert_exact(layers, -2, 2)
    inside = [r for r in regions if np.all(np.abs(relu.region_polygon(r.A, r.c, -2, 2)) < 2 - 1e-9)]
    assert len(inside) == 2  # two cells away from the box's sides: bounded, though every layer has width 2


@pytest.mark.parametrize("seed", range(4))
def test_random_degenerate_networks_tile_the_box(seed):
    # small-integer weights and biases: shared walls, pass-throughs, dead units and walls through the
    # corners and sides of the box all occur
    rng = np.random.default_rng(seed)
    sizes = [2, 5, 4, 3, 1]
    layers = [(rng.integers(-1, 2, (b, a)).astype(float), rng.integers(-1, 2, b) / 2.0) for a, b in zip(sizes[:-1], sizes[1:])]
    layers[1] = (np.vstack([layers[1][0][:3], np.eye(5)[[0]]]), np.r_[layers[1][1][:3], 0.0])  # pass unit 0 through
    assert_exact(layers, -1, 1)


def test_trained_style_network_tiles_the_box(net, regions):
    areas = [polygon_area(r.A, r.c, -1, 1) for r in regions]
    np.testing.assert_allclose(sum(areas), 4.0, rtol=1e-9)


def test_bisection_walk_matches_dense_sampling(net):
    a, b = np.array([-0.9, -0.7]), np.array([0.8, 0.95])
    deltas, pats = relu.bisection_walk(net, a, b)
    assert np.all(np.diff(deltas) > 0) and np.all((deltas > 0) & (deltas < 1))
    assert all(np.count_nonzero(p != q) == 1 for p, q in zip(pats[:-1], pats[1:]))
    t = torch.linspace(0, 1, 100_001, dtype=torch.float64)[:, None]
    P = relu.activation_patterns(net, torch.as_tensor(a) + t * torch.as_tensor(b - a)).numpy()
    changes = np.flatnonzero(np.any(P[1:] != P[:-1], axis=1))
    assert len(changes) == len(deltas) + 1
    np.testing.assert_allclose(deltas, t[changes[:-1], 0].numpy() + 0.5e-5, atol=1e-5)


def test_hamming_matches_scipy():
    from scipy.spatial.distance import cdist

    S = torch.rand(30, 50, generator=torch.Generator().manual_seed(1)) > 0.5
    ref = cdist(S.numpy(), S[:7].numpy(), "hamming") * 50
    np.testing.assert_array_equal(relu.hamming(S, S[:7]).numpy(), np.round(ref).astype(int))


def test_relu_layers_rejects_other_architectures():
    with pytest.raises(ValueError, match="Linear, ReLU"):
        relu.relu_layers(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="bits"):
        relu.hrep(relu.mlp([2, 4, 1]), [True, False])


def test_local_linear_maps_match_autograd_and_reproduce_the_network():
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5))
    X = torch.rand(12, 1, 8, 8)
    C = ll.local_linear_maps(cnn, X, chunk=5)
    assert C.shape == (5, 12, 65)
    jac = torch.autograd.functional.jacobian(lambda z: cnn(z[None])[0], X[3]).reshape(5, 64)
    torch.testing.assert_close(C[:, 3, :64], jac)
    torch.testing.assert_close(torch.einsum("opk,pk->op", C, torch.cat([X.reshape(12, -1), torch.ones(12, 1)], 1)),
                               cnn(X).detach().T, atol=1e-5, rtol=1e-5)
    assert torch.equal(ll.classify_with_maps(C, X), cnn(X).argmax(1))
    # with k = number of samples, every row is its own centre: the network's decisions come back
    centres = ll.kmeans_maps(C, 12)
    assert torch.equal(ll.classify_with_centres(centres, C, X), cnn(X).argmax(1))


def test_affine_map_between_networks_recovers_a_planted_map():
    g = torch.Generator().manual_seed(0)
    C1 = torch.randn(3, 40, 6, generator=g, dtype=torch.float64)
    M = torch.randn(3, 6, 6, generator=g, dtype=torch.float64)
    fitted = ll.fit_affine_map(C1, C1 @ M)
    torch.testing.assert_close(fitted, M)


def test_fgsm_and_pgd():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3))
    x, y = torch.rand(16, 4) * 0.6 + 0.2, torch.randint(0, 3, (16,))
    adv = fgsm(model, x, y, 0.1)
    assert (adv - x).abs().max() <= 0.1 + 1e-6
    # linear softmax model: the input gradient of CE is W^T (softmax - onehot)
    p = torch.softmax(model(x), 1) - torch.nn.functional.one_hot(y, 3)
    torch.testing.assert_close(adv, x + 0.1 * (p @ model[0].weight).sign())
    ce = torch.nn.functional.cross_entropy
    adv_pgd = pgd(model, x, y, 0.1, steps=20, random_start=True, generator=torch.Generator().manual_seed(0))
    assert (adv_pgd - x).abs().max() <= 0.1 + 1e-6 and adv_pgd.min() >= 0 and adv_pgd.max() <= 1
    assert ce(model(adv_pgd), y) >= ce(model(adv), y) - 1e-6 > ce(model(x), y)


def test_nearest_same_label_matches_a_brute_force_search_in_chunks():
    # Table 3's 1-NN rates: against SciPy's full distance matrices, with chunks smaller than the query set.
    from scipy.spatial.distance import cdist

    g = torch.Generator().manual_seed(3)
    X, Q = torch.randn(40, 5, generator=g), torch.randn(25, 5, generator=g)
    S, T = torch.rand(40, 30, generator=g) < 0.5, torch.rand(25, 30, generator=g) < 0.5
    y, yq = torch.randint(3, (40,), generator=g), torch.randint(3, (25,), generator=g)

    def brute(A, B, ya, yb, metric, self_excluded):
        D = cdist(A.double().numpy(), B.double().numpy(), metric)
        if self_excluded:
            np.fill_diagonal(D, np.inf)
        return float((yb.numpy()[D.argmin(1)] == ya.numpy()).mean())

    for metric, ref, query, scipy_metric in (("euclidean", X, Q, "euclidean"), ("hamming", S, T, "hamming")):
        assert relu.nearest_same_label(query, ref, yq, y, metric, chunk=7) == brute(query, ref, yq, y, scipy_metric, False)
        assert relu.nearest_same_label(ref, ref, y, y, metric, exclude_self=True, chunk=7) == \
            brute(ref, ref, y, y, scipy_metric, True)
    with pytest.raises(ValueError, match="metric"):
        relu.nearest_same_label(Q, X, yq, y, "cosine")
