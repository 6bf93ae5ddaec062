"""Data for the chapters: small generators and datasets that ship with installed packages.

Nothing here needs the network. Every generator takes a ``seed`` and returns float32 inputs and
int64 labels (or float targets) as tensors on the CPU; move them with ``.to(dyngeo.device())``.
One module per kind of data; add a chapter's generator as its own module and import it here.
"""

from .images import digits
from .letters import corrupt_pixels, letters_7x7, noisy_letters
from .shapes import multi_object_images
from .sudoku import consistent, is_valid, make_puzzles, shidoku_solutions
from .toy import annuli, reflection_1d, spirals, two_moons

__all__ = ["multi_object_images", "shidoku_solutions", "make_puzzles", "is_valid", "consistent", "two_moons", "annuli", "spirals", "reflection_1d", "digits", "letters_7x7", "corrupt_pixels", "noisy_letters"]

from .subspace_sets import digit_sets, haar_bases, planted_schubert, set_bases  # chapter 08
__all__ += ["digit_sets", "haar_bases", "planted_schubert", "set_bases"]
from .manifold_digits import digit_prototypes, render_digits, rotated_digits  # chapter 07
__all__ += ["digit_prototypes", "render_digits", "rotated_digits"]
from .brain_roi import SUPERCATEGORIES, TABLE1_SIZES, brain_roi  # chapter 09
__all__ += ["SUPERCATEGORIES", "TABLE1_SIZES", "brain_roi"]
from .ood_sets import blurred_noise, inverted, sprites  # chapter 13 (the module ood_sets keeps its own name)
__all__ += ["blurred_noise", "inverted", "sprites"]
from .shapes3d import FACTORS, SHAPES, factor_levels, shapes3d  # chapter 14
__all__ += ["FACTORS", "SHAPES", "factor_levels", "shapes3d"]
from .rotating_glyphs import glyph, render_glyph, rotating_glyphs  # chapter 16
__all__ += ["glyph", "render_glyph", "rotating_glyphs"]
from .manifolds import circle, flat_torus, klein_bottle, klein_union_sphere, sphere, torus, torus_ellipse_images  # 15
__all__ += ["circle", "flat_torus", "klein_bottle", "klein_union_sphere", "sphere", "torus", "torus_ellipse_images"]
