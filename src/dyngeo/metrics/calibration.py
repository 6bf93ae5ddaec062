"""Calibration of classifiers: reliability bins and the expected calibration error."""

import torch


def calibration_bins(probs, labels, bins=15):
    """Per confidence bin: (mean confidence, accuracy, count), each ``[bins]`` (reliability diagram)."""
    if probs.dim() != 2 or labels.shape != probs.shape[:1]:
        raise ValueError(f"expected probs [B, K] and labels [B]; got {tuple(probs.shape)} and {tuple(labels.shape)}")
    conf, pred = probs.max(1)
    correct = (pred == labels).double()
    idx = (conf.double() * bins).ceil().long().clamp(1, bins) - 1  # bin k holds (k/bins, (k+1)/bins]
    count = torch.zeros(bins, dtype=torch.float64).index_add_(0, idx, torch.ones_like(correct))
    conf_sum = torch.zeros(bins, dtype=torch.float64).index_add_(0, idx, conf.double())
    acc_sum = torch.zeros(bins, dtype=torch.float64).index_add_(0, idx, correct)
    safe = count.clamp_min(1)
    return conf_sum / safe, acc_sum / safe, count


def ece(probs, labels, bins=15):
    """Expected calibration error: sum over equal-width confidence bins of
    (bin size / total) * |accuracy - mean confidence|. ``probs`` ``[B, K]`` (rows sum to 1)."""
    conf, acc, count = calibration_bins(probs, labels, bins)
    return float(((count / count.sum()) * (acc - conf).abs()).sum())
