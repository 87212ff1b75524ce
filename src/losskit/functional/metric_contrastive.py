"""Softmax (InfoNCE-type) metric losses: InfoNCE on two views, SupCon, NT-Xent with reference embeddings, and
N-pair.

Conventions (inputs, ``distance=``, reductions, mined ``indices``, global batch, nothing to average) are the
family's: :mod:`losskit.functional.metric`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .. import distributed
from .._precision import mixed_precision
from . import _distances as D
from . import _metric_common as C
from ._metric_common import REDUCTIONS, Indices

__all__ = ["info_nce_loss", "n_pair_loss", "nt_xent_loss", "supcon_loss"]


# --------------------------------------------------------------------------------------------
# softmax (InfoNCE-type) losses
# --------------------------------------------------------------------------------------------
def _info_nce_direction(anchors: Tensor, others: Tensor, temperature: float, global_batch: bool) -> Tensor:
    rows, _, self_mask = C.candidates(others, None, global_batch)
    logits = anchors @ rows.transpose(0, 1) / temperature
    positive = torch.where(self_mask, logits, 0.0).sum(dim=1)
    return torch.logsumexp(logits, dim=1) - positive


@mixed_precision
def info_nce_loss(
    query: Tensor,
    key: Tensor,
    *,
    temperature: float = 0.07,
    symmetric: bool = True,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""InfoNCE on two views: row ``i`` of ``query`` must pick row ``i`` of ``key`` among all the keys.

    Both inputs are L2-normalised (cosine similarity :math:`s_{ij} = \hat q_i \cdot \hat k_j`), then

    .. math::
        \ell_i^{q \to k} = -\log \frac{\exp(s_{ii} / \tau)}{\sum_j \exp(s_{ij} / \tau)},
        \qquad \ell_i = \tfrac12 (\ell_i^{q \to k} + \ell_i^{k \to q}) \text{ if symmetric}

    the symmetric form being CLIP's (cross-entropy over the rows and over the columns of the similarity
    matrix, averaged). ``symmetric=False`` keeps :math:`\ell_i^{q \to k}` (MoCo / CPC form, keys as negatives).
    One direction equals pytorch-metric-learning's ``NTXentLoss`` called with ``ref_emb=key`` and labels
    ``arange(N)`` for both (its ``NTXentLoss`` on the concatenated views is SimCLR's variant, which also uses
    the other queries as negatives).

    Args:
        query: ``(N, D)`` first view, floating dtype.
        key: ``(N, D)`` second view; row ``i`` is the positive of ``query`` row ``i``.
        temperature: softmax temperature :math:`\tau` > 0 (default 0.07).
        symmetric: average both directions, as CLIP (default True).
        global_batch: use the keys (and queries) of every process as negatives (default False).
        reduction: ``"mean"`` (default), ``"sum"``, ``"none"`` or ``"mean_nonzero"``.

    Shape:
        ``query``, ``key``: :math:`(N, D)`. Output: scalar, or :math:`(N)` for ``"none"``.

    Raises:
        LossShapeError: ``query`` not 2-D, or ``key`` of another shape.
        LossTypeError: integer inputs.
        LossOptionError: ``temperature <= 0``, unknown ``reduction``.
        NonFiniteError: NaN or Inf in ``query`` or ``key`` (value check).

    References:
        van den Oord, A., Li, Y., Vinyals, O. "Representation Learning with Contrastive Predictive Coding", 2018.
        Radford, A. et al. "Learning Transferable Visual Models From Natural Language Supervision", 2021.

    Example:
        >>> import torch, losskit.functional as LF
        >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> print(round(float(LF.info_nce_loss(q, q, temperature=1.0)), 4))
        0.3133
    """
    name = "info_nce_loss"
    V.check_reduction(name, reduction, REDUCTIONS)
    temperature = V.check_positive(name, "temperature", temperature)
    if V.enabled():
        C.check_embeddings(name, "query", query)
        V.check_tensor(name, "key", key)
        V.check_floating(name, "key", key, role="embeddings")
        V.check_same_shape(
            name, query, key, "query", "key", fix="pass one key per query, row i of key being the positive of row i"
        )
        V.check_same_device(name, query=query, key=key)
    if V.values_due(name, query, key):
        V.check_finite(name, "query", query)
        V.check_finite(name, "key", key)
    q, k = F.normalize(query, dim=1), F.normalize(key, dim=1)
    terms = _info_nce_direction(q, k, temperature, global_batch)
    if symmetric:
        terms = 0.5 * (terms + _info_nce_direction(k, q, temperature, global_batch))
    return C.reduce(terms, reduction, global_batch)


@mixed_precision
def supcon_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    temperature: float = 0.07,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Supervised contrastive loss (SupCon, the :math:`\mathcal{L}^{sup}_{out}` form): every row with the
    anchor's label is a positive, every other row in the denominator.

    The rows (all views of all samples) are L2-normalised, :math:`s_{ia} = \hat z_i \cdot \hat z_a`; with
    :math:`P(i)` the other rows of the same label and :math:`A(i)` all the other rows:

    .. math::
        \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
                 \log \frac{\exp(s_{ip} / \tau)}{\sum_{a \in A(i)} \exp(s_{ia} / \tau)}

    Anchors without a positive have :math:`\ell_i = 0` and do not count in ``"mean"`` (0 when no anchor has
    one). Embeddings ``(N, V, D)`` hold ``V`` views of each sample (the views of a sample share its label and are
    positives of each other); ``(N, D)`` is one view. With ``labels = arange(N)`` and two views this is SimCLR's
    NT-Xent loss.

    Differences from the peers: the authors' code multiplies the loss by ``temperature / base_temperature``
    (0.07), a factor of 1 at the default temperature, which losskit leaves out; pytorch-metric-learning's
    ``SupConLoss`` (default temperature 0.1) has the same per-anchor terms, and its default
    ``AvgNonZeroReducer`` is ``reduction="mean_nonzero"``.

    Args:
        embeddings: ``(N, D)`` or ``(N, V, D)`` embeddings, floating dtype.
        labels: ``(N,)`` integer class ids (one per sample, shared by its views).
        temperature: softmax temperature :math:`\tau` > 0 (default 0.07).
        global_batch: use the rows of every process as positives and negatives (default False).
        reduction: ``"mean"`` (default), ``"sum"``, ``"none"`` or ``"mean_nonzero"``.

    Shape:
        ``embeddings`` :math:`(N, D)` or :math:`(N, V, D)`, ``labels`` :math:`(N)`. Output: scalar, or
        :math:`(N)` / :math:`(N, V)` for ``"none"``.

    Raises:
        LossShapeError: ``embeddings`` not 2-D or 3-D; ``labels`` not ``(N,)``.
        LossTypeError, NonFiniteError: as :func:`contrastive_loss`.
        LossOptionError: ``temperature <= 0``, unknown ``reduction``.

    References:
        Khosla, P. et al. "Supervised Contrastive Learning", 2020.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> print(round(float(LF.supcon_loss(x, torch.tensor([0, 0, 1]), temperature=1.0)), 4))
        0.3133
    """
    name = "supcon_loss"
    V.check_reduction(name, reduction, REDUCTIONS)
    temperature = V.check_positive(name, "temperature", temperature)
    C.check_labelled(name, embeddings, labels, dims=(2, 3))
    shape = embeddings.shape[:-1]
    if embeddings.dim() == 3:
        z = embeddings.reshape(-1, embeddings.shape[-1])
        row_labels_local = labels.repeat_interleave(embeddings.shape[1])
    else:
        z, row_labels_local = embeddings, labels
    z = F.normalize(z, dim=-1)
    rows, row_labels, self_mask = C.candidates(z, row_labels_local, global_batch)
    logits = z @ rows.transpose(0, 1) / temperature
    positive = (row_labels_local[:, None] == row_labels[None, :]) & ~self_mask
    others = logits.masked_fill(self_mask, torch.finfo(logits.dtype).min)
    log_prob = torch.where(positive, logits - torch.logsumexp(others, dim=1, keepdim=True), 0.0)
    count = positive.sum(dim=1)
    terms = -log_prob.sum(dim=1) / count.clamp_min(1).to(log_prob.dtype)
    return C.reduce(terms.reshape(shape), reduction, global_batch, (count > 0).sum())




@mixed_precision
def nt_xent_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    temperature: float = 0.07,
    distance: str = "cosine",
    normalize_embeddings: bool = True,
    indices: Indices | None = None,
    ref_emb: Tensor | None = None,
    ref_labels: Tensor | None = None,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""NT-Xent (normalised temperature-scaled cross-entropy) over the positive pairs of a labelled batch, with
    optional reference embeddings (a memory bank, the other view, a queue of past batches) as the candidates.

    With similarities :math:`s` (cosine by default), for each positive pair :math:`(i, j)` and the negatives
    :math:`N_i` of anchor :math:`i`:

    .. math::
        \ell_{ij} = -\log \frac{e^{s_{ij} / \tau}}{e^{s_{ij} / \tau} + \sum_{n \in N_i} e^{s_{in} / \tau}}

    The other positives of the anchor are not in the denominator (unlike :func:`supcon_loss`). With ``ref_emb``
    and ``ref_labels`` the pairs are (embedding row, reference row) by label and no row is excluded; that is how
    a memory bank of past batches (detached, kept by the caller) or a second view supplies the negatives.
    ``"none"`` returns the ``(N, M)`` array of pair terms, 0 off the positive pairs; ``"mean"`` averages over the
    positive pairs. With two views and labels ``arange(N)`` for both (concatenated) this is SimCLR's loss.

    pytorch-metric-learning's ``NTXentLoss(temperature)`` (``CosineSimilarity``, ``MeanReducer``), called with
    ``ref_emb``/``ref_labels`` or without, gives the same numbers (it adds ``finfo.tiny`` inside the log). With a
    distance, :math:`s = -d`.

    Args:
        embeddings: ``(N, D)`` embeddings (the anchors), floating dtype.
        labels: ``(N,)`` integer class ids.
        temperature: :math:`\tau` > 0 (default 0.07).
        distance: ``"cosine"`` (default) or another of :mod:`losskit.functional._distances`.
        normalize_embeddings: L2-normalise the rows first (default True).
        indices: mined pairs or triplets instead of every pair.
        ref_emb: ``(M, D)`` reference rows, the candidates instead of the batch itself.
        ref_labels: ``(M,)`` their class ids.
        global_batch: candidates from every process (the references of every process with ``ref_emb``).
        reduction: ``"mean"`` (default), ``"sum"``, ``"none"`` or ``"mean_nonzero"``.

    Shape:
        ``embeddings`` :math:`(N, D)`, ``labels`` :math:`(N)`, ``ref_emb`` :math:`(M, D)`, ``ref_labels``
        :math:`(M)`. Output: scalar, or :math:`(N, M)` for ``"none"``.

    Raises:
        LossShapeError: ``ref_emb`` of another width; labels not matching their rows.
        LossOptionError: ``ref_emb`` without ``ref_labels`` (or the reverse), ``temperature <= 0``.
        LossTypeError, NonFiniteError: as :func:`losskit.functional.contrastive_loss`.

    References:
        Chen, T., Kornblith, S., Norouzi, M., Hinton, G. "A Simple Framework for Contrastive Learning of Visual
        Representations", 2020. Sohn, K. "Improved Deep Metric Learning with Multi-class N-pair Loss
        Objective", 2016.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
        >>> print(round(float(LF.nt_xent_loss(x, torch.tensor([0, 0, 1]), temperature=0.5)), 4))
        0.3485
    """
    name = "nt_xent_loss"
    V.check_reduction(name, reduction, REDUCTIONS)
    temperature = V.check_positive(name, "temperature", temperature)
    D.check_distance(name, distance)
    checked = C.check_indices(name, indices, global_batch)
    C.check_labelled(name, embeddings, labels)
    C.check_reference(name, embeddings, ref_emb, ref_labels)
    rows, row_labels, self_mask = C.references(embeddings, labels, ref_emb, ref_labels, global_batch)
    mat = D.pairwise(embeddings, rows, distance, normalize_embeddings=normalize_embeddings)
    positive, negative = C.pair_masks(labels, row_labels, self_mask, checked)
    logits = D.as_similarity(mat, distance) / temperature
    low = torch.finfo(logits.dtype).min
    negatives = torch.where(negative.any(dim=1), C.masked_logsumexp(logits, negative), low)
    terms = torch.where(positive, torch.logaddexp(logits, negatives[:, None]) - logits, 0.0)
    return C.reduce(terms, reduction, global_batch, positive.sum())


@mixed_precision
def n_pair_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    l2_reg: float = 0.0,
    distance: str = "dot",
    normalize_embeddings: bool = False,
    indices: Indices | None = None,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Multi-class N-pair loss: one (anchor, positive) pair per class, each anchor's positive against the other
    classes' positives, as a softmax cross-entropy.

    Per class with at least two rows, the anchor is its first row and the positive its second (in batch order;
    with ``indices``, the first positive pair of each anchor label in the order given). With similarities
    :math:`s` (dot products by default) and the positives :math:`p_1 \dots p_K` of the :math:`K` pairs:

    .. math::
        \ell_k = -\log \frac{e^{s(a_k, p_k)}}{\sum_{k'} e^{s(a_k, p_{k'})}}
                 + \frac{\lambda}{4} \big(\lVert a_k \rVert^2 + \lVert p_k \rVert^2\big)

    the second term being Sohn's L2 regularisation of the embeddings with weight :math:`\lambda` = ``l2_reg``
    (the ``0.25 * reg_lambda`` of TensorFlow's ``npairs_loss``, whose default is 0.002; its mean over the pairs is
    TensorFlow's term). ``"none"`` returns ``(N,)`` with the term at each anchor's row, 0 elsewhere; ``"mean"``
    averages over the :math:`K` anchors.

    pytorch-metric-learning's ``NPairsLoss`` picks the same pairs and gives the same numbers with ``l2_reg=0``;
    its default ``DotProductSimilarity()`` normalises the embeddings (``normalize_embeddings=True`` here, the
    same as ``distance="cosine"``), where the paper and this default use raw inner products.

    With ``global_batch=True`` the pairs are those of the global batch, the rows of every process in rank order
    (rank 0's first): a class's anchor is its first row over every process and its positive its second, which
    may sit on another process, and every pair's positive is a candidate of every anchor. This process computes
    the terms of the anchors it holds; ``"mean"``/``"sum"`` are those of the whole batch, the single-process loss
    on the concatenation of the processes' batches, and ``"none"`` is ``(N,)`` at the local rows. (Pairs formed
    within each process would depend on how the batch is split, and a class seen once per process would have
    no pair.)

    Args:
        embeddings: ``(N, D)`` embeddings, floating dtype.
        labels: ``(N,)`` integer class ids.
        l2_reg: the weight :math:`\lambda` >= 0 of the embedding-norm regulariser (default 0).
        distance: ``"dot"`` (default) or another of :mod:`losskit.functional._distances` (a distance as
            ``s = -d``).
        normalize_embeddings: L2-normalise the rows first (default False; the regulariser uses the raw rows).
        indices: mined pairs or triplets; their positive pairs are used, the first one per anchor label.
        global_batch: form the pairs over the rows of every process, in rank order (default False).
        reduction: ``"mean"`` (default), ``"sum"``, ``"none"`` or ``"mean_nonzero"``.

    Shape:
        ``embeddings`` :math:`(N, D)`, ``labels`` :math:`(N)`. Output: scalar, or :math:`(N)` for ``"none"``.

    Raises:
        LossShapeError, LossTypeError, NonFiniteError: as :func:`losskit.functional.contrastive_loss`.
        LossOptionError: ``l2_reg < 0``, unknown ``distance`` or ``reduction``, malformed ``indices``.

    References:
        Sohn, K. "Improved Deep Metric Learning with Multi-class N-pair Loss Objective", 2016.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.2, 0.9]])
        >>> print(round(float(LF.n_pair_loss(x, torch.tensor([0, 0, 1, 1]))), 4))
        0.4959
    """
    name = "n_pair_loss"
    V.check_reduction(name, reduction, REDUCTIONS)
    l2_reg = V.check_positive(name, "l2_reg", l2_reg, allow_zero=True)
    D.check_distance(name, distance)
    checked = C.check_indices(name, indices, global_batch)
    C.check_labelled(name, embeddings, labels)
    n = embeddings.shape[0]
    device = embeddings.device
    sq = (embeddings * embeddings).sum(dim=1) if l2_reg else None
    if checked is None:
        # every row of the (global) batch, in order: rank among its class, the class's second row
        rows, offset = distributed.all_gather_with_offset(embeddings) if global_batch else (embeddings, 0)
        row_labels = distributed.all_gather(labels) if global_batch else labels
        m = rows.shape[0]
        same = row_labels[:, None] == row_labels[None, :]
        before = torch.ones(m, m, dtype=torch.bool, device=device).tril(-1)  # [i, j]: j comes before i
        rank = (same & before).sum(dim=1)
        partner = same & (rank == 1)[None, :]
        pair_valid = (rank == 0) & partner.any(dim=1)  # (M,): row k anchors a pair
        # (M,): the positive of row k's pair (argmax cannot reduce an empty batch)
        pair_positive = partner.to(torch.int64).argmax(dim=1) if m else rank
        mine = torch.arange(n, device=device) + offset  # the local rows among the M
        mat = D.pairwise(embeddings, rows, distance, normalize_embeddings=normalize_embeddings)
        logits = D.as_similarity(mat, distance).index_select(1, pair_positive)  # (N, M): anchor vs positives
        target = logits.gather(1, mine[:, None]).squeeze(1)
        terms = C.masked_logsumexp(logits, pair_valid[None, :].expand_as(logits)) - target
        valid = pair_valid.index_select(0, mine)
        if sq is not None:
            sq_rows = (rows * rows).sum(dim=1)
            terms = terms + 0.25 * l2_reg * (sq + sq_rows.index_select(0, pair_positive.index_select(0, mine)))
        terms = torch.where(valid, terms, 0.0)
        return C.reduce(terms, reduction, global_batch, valid.sum())
    anchor_idx, positive_idx = checked[0].long().to(device), checked[1].long().to(device)
    t = anchor_idx.shape[0]
    anchor_labels = labels[anchor_idx]
    earlier = torch.ones(t, t, dtype=torch.bool, device=device).tril(-1)
    valid = ~((anchor_labels[:, None] == anchor_labels[None, :]) & earlier).any(dim=1)
    mat = D.pairwise(embeddings, embeddings, distance, normalize_embeddings=normalize_embeddings)
    s = D.as_similarity(mat, distance)
    logits = s.index_select(0, anchor_idx).index_select(1, positive_idx)  # (K, K), row k: anchor k vs positives
    target = logits.diagonal()
    pair_terms = C.masked_logsumexp(logits, valid[None, :].expand_as(logits)) - target
    if sq is not None:
        pair_terms = pair_terms + 0.25 * l2_reg * (sq.index_select(0, anchor_idx) + sq.index_select(0, positive_idx))
    pair_terms = torch.where(valid, pair_terms, 0.0)
    terms = embeddings.new_zeros(n).index_add(0, anchor_idx, pair_terms)
    return C.reduce(terms, reduction, False, valid.sum())
