"""Local linear maps of ReLU networks (Sattelberg, Cavalieri, Kirby, Peterson & Beveridge 2023,
"Locally linear attributes of ReLU neural networks").

Around a sample ``x`` a piecewise-linear network ``f: R^d -> R^o`` is one affine map ``W x + b``, with
``W`` its Jacobian at ``x`` (eq. 1). Stacking, for output ``j``, the rows ``[w_j^T, b_j]`` of the maps
met at ``p`` samples gives ``C_j`` of shape ``[p, d + 1]`` (eqs. 5-7). Two uses: cluster the rows of
``C_j`` with k-means and classify with the cluster centres (how redundant the maps are, Sec. 2.4.1);
fit ``M_j`` minimising ``||C_j^(1) M_j - C_j^(2)||`` (eq. 8) to map one network's maps onto another's.

Works for any network that is piecewise linear in its input (dense, convolutional, max-pooling):
the Jacobians come from ``torch.func``. All tensors stay on the device of the inputs.
"""

import numpy as np
import torch

__all__ = ["local_linear_maps", "classify_with_maps", "kmeans_maps", "classify_with_centres", "fit_affine_map"]


def local_linear_maps(model, X, chunk=512):
    """The local affine maps of ``model`` at the samples ``X`` (``[p, ...]``, any input shape), eqs. 5-7.

    Returns ``C`` of shape ``[o, p, d + 1]``: ``C[j, i] = [w_{i,j}^T, b_{i,j}]`` where ``w_{i,j}`` is the
    gradient of output ``j`` at ``X[i]`` (flattened to ``d`` numbers) and ``b_{i,j} = f_j(X[i]) - w^T X[i]``.
    The model is used in evaluation mode and must be piecewise linear in its input for ``b`` to mean
    anything.
    """
    if X.dim() < 2:
        raise ValueError(f"X must be a batch [p, ...]; got shape {tuple(X.shape)}")
    model.eval()

    def single(x):
        return model(x.unsqueeze(0)).squeeze(0)

    jac = torch.func.vmap(torch.func.jacrev(single))
    out = []
    for start in range(0, X.shape[0], chunk):
        x = X[start:start + chunk]
        with torch.no_grad():
            y = model(x)
        if y.dim() != 2:
            raise ValueError(f"the model must return [p, o] outputs; got {tuple(y.shape)}")
        W = jac(x).detach().reshape(x.shape[0], y.shape[1], -1)  # [p, o, d]
        b = y - torch.einsum("pod,pd->po", W, x.reshape(x.shape[0], -1))
        out.append(torch.cat([W, b.unsqueeze(-1)], dim=-1))
    return torch.cat(out).transpose(0, 1).contiguous()


def _augmented(X):
    X = X.reshape(X.shape[0], -1)
    return torch.cat([X, torch.ones_like(X[:, :1])], dim=1)


def _check(C, X):
    if C.dim() != 3:
        raise ValueError(f"C must be [o, p, d + 1]; got shape {tuple(C.shape)}")
    if X.shape[0] != C.shape[1] or X[0].numel() + 1 != C.shape[2]:
        raise ValueError(f"C {tuple(C.shape)} does not match the samples {tuple(X.shape)}: need [o, p, d + 1]")


def classify_with_maps(C, X):
    """Classify each sample with its own row of each ``C_j``: ``argmax_j C[j, i] · [x_i, 1]``.
    With ``C`` from :func:`local_linear_maps` of the same samples this is the network's own decision."""
    _check(C, X)
    return torch.einsum("opk,pk->po", C, _augmented(X).to(C)).argmax(dim=1)


def kmeans_maps(C, k, seed=0, n_init=1):
    """k-means centres of the rows of each ``C_j`` separately (step 2 of Sec. 2.4.1): ``[o, k, d + 1]``.
    Uses scikit-learn's ``KMeans`` (k-means++ seeding, ``n_init`` restarts)."""
    from sklearn.cluster import KMeans

    if not 1 <= k <= C.shape[1]:
        raise ValueError(f"k must be between 1 and the number of samples {C.shape[1]}; got {k}")
    centres = []
    for Cj in C.detach().cpu().double().numpy():
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(Cj)
        centres.append(km.cluster_centers_)
    return torch.as_tensor(np.stack(centres), dtype=C.dtype, device=C.device)


def classify_with_centres(centres, C, X):
    """Steps 3-5 of Sec. 2.4.1: for each sample and output ``j``, replace the sample's row of ``C_j`` by
    the nearest centre of output ``j``, evaluate that affine map at the sample, and take the largest."""
    _check(C, X)
    if centres.dim() != 3 or centres.shape[0] != C.shape[0] or centres.shape[2] != C.shape[2]:
        raise ValueError(f"centres must be [o, k, d + 1] = [{C.shape[0]}, k, {C.shape[2]}]; got {tuple(centres.shape)}")
    nearest = torch.cdist(C, centres.to(C)).argmin(dim=2)  # [o, p]
    chosen = torch.gather(centres.to(C), 1, nearest.unsqueeze(-1).expand(-1, -1, C.shape[2]))
    return classify_with_maps(chosen, X)


def fit_affine_map(C_from, C_to):
    """For each output ``j`` the least-squares ``M_j`` (``[d + 1, d + 1]``) minimising
    ``||C_from[j] M_j - C_to[j]||_F`` (eq. 8), by ``torch.linalg.lstsq``. Returns ``M`` ``[o, d+1, d+1]``;
    the mapped maps are ``C_from @ M``."""
    if C_from.shape != C_to.shape or C_from.dim() != 3:
        raise ValueError(f"C_from and C_to must both be [o, p, d + 1]; got {tuple(C_from.shape)} and {tuple(C_to.shape)}")
    return torch.linalg.lstsq(C_from.double(), C_to.double()).solution.to(C_from.dtype)
