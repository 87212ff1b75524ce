"""The distances and similarities of the metric family, chosen by every metric loss's ``distance=`` option.

* ``"euclidean"``: :math:`\\lVert a_i - b_j \\rVert_2` (PML ``LpDistance(p=2, power=1)``);
* ``"squared_euclidean"``: :math:`\\lVert a_i - b_j \\rVert_2^2` (PML ``LpDistance(p=2, power=2)``);
* ``"cosine"``: the similarity :math:`\\hat a_i \\cdot \\hat b_j` (PML ``CosineSimilarity()``);
* ``"dot"``: the similarity :math:`a_i \\cdot b_j` (PML ``DotProductSimilarity()``).

``normalize_embeddings=True`` L2-normalises the rows first (PML's ``normalize_embeddings``, which defaults to
True in every PML distance); ``"cosine"`` always normalises. Each loss documents its own default.

**One rule across losses.** A loss written on distances (contrastive, triplet, lifted structure) turns a
similarity :math:`s` into the distance :math:`d = 1 - s`, so its margins always apply to a distance: PML's margin
:math:`m` on a similarity is losskit's :math:`1 - m` (pos and neg margins alike), while margin *differences*
(triplet) are unchanged. A loss written on similarities (Circle, Multi-Similarity, Proxy-Anchor, Proxy-NCA,
N-pair, NT-Xent) turns a distance into the similarity :math:`s = -d`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V

__all__ = ["DISTANCES", "SIMILARITIES", "as_distance", "as_similarity", "check_distance", "pairwise"]

DISTANCES = ("euclidean", "squared_euclidean", "cosine", "dot")
SIMILARITIES = ("cosine", "dot")


def check_distance(name: str, distance: object, choices: tuple[str, ...] = DISTANCES) -> str:
    """``distance`` is one of ``choices`` (default: all four)."""
    return V.check_choice(name, "distance", distance, choices)


def _euclidean(a: Tensor, b: Tensor) -> Tensor:
    """Plain Euclidean distances ``(N, M)``, exact (no ``|a|^2 + |b|^2 - 2ab`` cancellation); the gradient at a
    distance of exactly 0 is 0, not NaN."""
    if a.dtype in (torch.float16, torch.bfloat16):
        a, b = a.float(), b.float()
    return torch.cdist(a, b, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")


def pairwise(a: Tensor, b: Tensor, distance: str, *, normalize_embeddings: bool) -> Tensor:
    """The ``(N, M)`` matrix between the rows of ``a`` ``(N, D)`` and ``b`` ``(M, D)``: a distance or, for
    ``"cosine"`` and ``"dot"``, a similarity."""
    if normalize_embeddings or distance == "cosine":
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    if distance in SIMILARITIES:
        return a @ b.transpose(0, 1)
    d = _euclidean(a, b)
    return d * d if distance == "squared_euclidean" else d


def as_distance(mat: Tensor, distance: str) -> Tensor:
    """The matrix as a distance: ``1 - s`` for a similarity (module docstring)."""
    return 1.0 - mat if distance in SIMILARITIES else mat


def as_similarity(mat: Tensor, distance: str) -> Tensor:
    """The matrix as a similarity: ``-d`` for a distance (module docstring)."""
    return mat if distance in SIMILARITIES else -mat
