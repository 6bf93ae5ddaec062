"""Object-discovery metrics: FG-ARI and MBO between true and predicted label maps, vectorised over
the batch."""

import torch


def _labels(masks, what):
    if not isinstance(masks, torch.Tensor) or masks.dtype.is_floating_point:
        raise TypeError(f"{what} must be an integer tensor of labels")
    if masks.dim() < 2:
        raise ValueError(f"{what} must be [B, ...] (one label map per image); got shape {tuple(masks.shape)}")
    return masks.flatten(1).long()


def _contingency(true, pred):
    """Counts n[b, i, j] of pixels with true label i and predicted label j (labels >= 0)."""
    B = true.shape[0]
    nt, np_ = int(true.max()) + 1, int(pred.max()) + 1
    flat = true * np_ + pred
    table = torch.zeros(B, nt * np_, dtype=torch.float64, device=true.device)
    table.scatter_add_(1, flat, torch.ones_like(flat, dtype=torch.float64))
    return table.view(B, nt, np_)


def fg_ari(true, pred, background=0):
    """Foreground adjusted Rand index per image, ``[B]``: the ARI between the true and predicted
    partitions restricted to pixels whose true label is not ``background`` (1 = same grouping up
    to renaming, about 0 = chance). Images with fewer than two foreground pixels give NaN."""
    t, p = _labels(true, "true"), _labels(pred, "pred")
    if t.shape != p.shape:
        raise ValueError(f"true {tuple(true.shape)} and pred {tuple(pred.shape)} must have the same shape")
    if (t < 0).any() or (p < 0).any():
        raise ValueError("labels must be non-negative")
    fg = (t != background).double()
    # count only foreground pixels: background becomes row 0, which is dropped
    n = _contingency(torch.where(t == background, 0, t + 1), p)[:, 1:, :]
    comb = lambda v: v * (v - 1) / 2  # noqa: E731
    total = fg.sum(1)
    sum_ij = comb(n).sum((1, 2))
    sum_a, sum_b = comb(n.sum(2)).sum(1), comb(n.sum(1)).sum(1)
    expected = sum_a * sum_b / comb(total)
    maximum = (sum_a + sum_b) / 2
    ari = (sum_ij - expected) / (maximum - expected)
    # both partitions trivial (one cluster each, or all singletons): identical groupings score 1
    ari = torch.where(maximum == expected, torch.ones_like(ari), ari)
    return torch.where(total < 2, torch.full_like(ari, float("nan")), ari).float()


def mbo(true, pred, background=0):
    """Mean best overlap per image, ``[B]``: for each true object (background excluded), the best
    IoU with any predicted cluster, averaged over the image's objects (the authors' code's convention)."""
    t, p = _labels(true, "true"), _labels(pred, "pred")
    if t.shape != p.shape:
        raise ValueError(f"true {tuple(true.shape)} and pred {tuple(pred.shape)} must have the same shape")
    n = _contingency(t, p)  # [B, nt, np]
    inter = n
    union = n.sum(2, keepdim=True) + n.sum(1, keepdim=True) - n
    iou = torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(inter))
    best = iou.max(2).values  # [B, nt]
    present = n.sum(2) > 0
    present[:, background] = False
    return ((best * present).sum(1) / present.sum(1).clamp_min(1)).float()
