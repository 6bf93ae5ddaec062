"""Unsupervised segmentation from per-position features (a leaf of the library): cluster the
feature vectors of each image, as object-discovery papers do before scoring with FG-ARI and MBO
(:mod:`dyngeo.metrics`)."""

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from torch.nn import functional as F


def cluster_features(features, k, size=None):
    """Label maps ``[B, h, w]`` (or ``[B, *size]``) from features ``[B, C, h, w]``: every feature
    vector is L2-normalised, the vectors of each image are grouped by agglomerative clustering
    with average linkage on the cosine distance into at most ``k`` clusters (AKOrN's evaluation,
    which the paper found better than k-means), and the label map is upsampled to ``size`` by
    nearest neighbour. Labels run from 0 to k-1."""
    if features.dim() != 4:
        raise ValueError(f"expected features [B, C, h, w]; got shape {tuple(features.shape)}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}")
    pts = F.normalize(features.detach().flatten(2).transpose(1, 2).double(), dim=2).cpu().numpy()
    # the loop runs over images: scipy clusters one point set at a time
    labels = np.stack([fcluster(linkage(p, "average", metric="cosine"), k, "maxclust") - 1 for p in pts])
    out = torch.as_tensor(labels, dtype=torch.long).view(len(features), 1, *features.shape[2:])
    if size is not None:
        out = F.interpolate(out.float(), size=size, mode="nearest").long()
    return out.squeeze(1).to(features.device)
