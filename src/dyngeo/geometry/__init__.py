"""Geometric tools of Part II (polyhedra of ReLU networks, subspaces, manifolds)."""

from . import local_linear, relu  # ReLU polyhedra and local linear maps (chapter 06)
from . import subspaces  # subspaces, Grassmannians, Schubert varieties of best fit (chapter 08)
from . import diffusion, tangent  # diffusion maps, CIDM, Nyström, local PCA (chapter 07)
from . import rsa  # representational similarity analysis, RDMs, Fiedler partitions (chapter 09)
