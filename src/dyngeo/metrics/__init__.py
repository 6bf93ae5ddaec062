"""Evaluation metrics used by several chapters (a leaf of the library), one module per kind:

- :mod:`~dyngeo.metrics.segmentation`: FG-ARI and MBO for object discovery;
- :mod:`~dyngeo.metrics.calibration`: reliability bins and expected calibration error;
- :mod:`~dyngeo.metrics.distributions`: distances between samples (Fréchet distance on features).
"""

from .calibration import calibration_bins, ece
from .segmentation import fg_ari, mbo

__all__ = ["calibration_bins", "ece", "fg_ari", "mbo"]
