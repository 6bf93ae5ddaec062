"""Adversarial attacks and adversarial training, one module per method, for every chapter.

- :mod:`~dyngeo.attacks.gradient`: FGSM and PGD in L∞ or L2, optionally restricted to a subspace and
  projected onto a manifold after each step.
"""

from .gradient import fgsm, pgd

__all__ = ["fgsm", "pgd"]
