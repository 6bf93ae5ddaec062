"""Adversarial attacks and adversarial training, one module per method, for every chapter.

- :mod:`~dyngeo.attacks.gradient`: FGSM and PGD in L∞ or L2, optionally restricted to a subspace and
  projected onto a manifold after each step;
- :mod:`~dyngeo.attacks.carlini_wagner`: Carlini–Wagner L2;
- :mod:`~dyngeo.attacks.patch`: patch (ℓ0) attacks, PGD and NAG inside a square;
- :mod:`~dyngeo.attacks.adversarial_training`: Madry adversarial training, optionally restricted to a subspace.
"""

from .adversarial_training import adversarial_training
from .carlini_wagner import cw_l2, cw_objective
from .gradient import fgsm, pgd
from .patch import patch_mask, patch_nag, patch_pgd

__all__ = ["adversarial_training", "cw_l2", "cw_objective", "fgsm", "pgd", "patch_mask", "patch_nag", "patch_pgd"]
