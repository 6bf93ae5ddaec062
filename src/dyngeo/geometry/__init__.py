"""Geometric tools of Part II (polyhedra of ReLU networks, subspaces, manifolds)."""

from . import local_linear, relu  # ReLU polyhedra and local linear maps (chapter 06)
from . import subspaces  # subspaces, Grassmannians, Schubert varieties of best fit (chapter 08)
from . import diffusion, tangent  # diffusion maps, CIDM, Nyström, local PCA (chapter 07)
from . import rsa  # representational similarity analysis, RDMs, Fiedler partitions (chapter 09)
from . import embeddings  # linear maps between networks' embeddings, Algorithm 1 of Jamil et al. (chapter 10)
from . import manifold_risk  # adversarial risk decomposed on and off a manifold (chapter 11)
from . import topology  # persistent homology through ripser/gudhi: diagrams, Betti numbers, distances (15, 16)
from . import knn_graph  # kNN-graph adjacency spectra (chapter 16)
