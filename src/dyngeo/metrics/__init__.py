"""Evaluation metrics used by several chapters (a leaf of the library), one module per kind:

- :mod:`~dyngeo.metrics.segmentation`: FG-ARI and MBO for object discovery;
- :mod:`~dyngeo.metrics.calibration`: reliability bins and expected calibration error;
- :mod:`~dyngeo.metrics.distributions`: distances between samples (Fréchet distance on features, W2,
  density and coverage);
- :mod:`~dyngeo.metrics.two_sample`: the smoothed 1-nearest-neighbour graph two-sample statistic;
- :mod:`~dyngeo.metrics.disentanglement`: MIG and its supervised variants;
- :mod:`~dyngeo.metrics.images`: PSNR.
"""

from .calibration import calibration_bins, ece
from .disentanglement import dcimig, jemmig, mig, mig_sup
from .distributions import density_coverage, frechet_distance, w2_empirical
from .images import psnr
from .segmentation import fg_ari, mbo
from .two_sample import graph_loss, null_moments, smoothed_1nn, t_statistic

__all__ = ["calibration_bins", "ece", "dcimig", "jemmig", "mig", "mig_sup", "density_coverage", "frechet_distance", "w2_empirical", "psnr", "fg_ari",
           "mbo", "graph_loss", "null_moments", "smoothed_1nn", "t_statistic"]
