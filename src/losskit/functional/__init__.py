"""One pure function per loss, grouped by family."""

from __future__ import annotations

from . import (
    augmentation,
    classification,
    detection,
    distillation,
    distribution,
    embedding,
    imbalance,
    longtail,
    margin,
    metric,
    ordinal,
    regression,
    segmentation,
    sequence,
)
from .augmentation import jsd_cross_entropy, soft_target_binary_cross_entropy, soft_target_cross_entropy
from .classification import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    linear_cross_entropy,
    nll_loss,
)
from .detection import complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss
from .distillation import distillation_loss, js_div
from .distribution import gaussian_nll_loss, kl_div, poisson_nll_loss
from .embedding import triplet_margin_loss, triplet_margin_with_distance_loss
from .imbalance import (
    asymmetric_loss,
    asymmetric_loss_single_label,
    focal_loss,
    generalized_cross_entropy,
    poly_loss,
    sigmoid_focal_loss,
)
from .longtail import (
    balanced_softmax_loss,
    class_balanced_focal_loss,
    equalization_loss_v2,
    ldam_loss,
    logit_adjustment_loss,
)
from .margin import (
    cosine_embedding_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    soft_margin_loss,
)
from .metric import arcface_loss, batch_hard_triplet_loss, contrastive_loss, cosface_loss, info_nce_loss, supcon_loss
from .ordinal import coral_loss
from .regression import (
    charbonnier_loss,
    huber_loss,
    l1_loss,
    log_cosh_loss,
    mape_loss,
    mse_loss,
    msle_loss,
    quantile_loss,
    smooth_l1_loss,
)
from .segmentation import (
    dice_ce_loss,
    dice_focal_loss,
    dice_loss,
    generalized_dice_loss,
    hausdorff_er_loss,
    jaccard_loss,
    lovasz_loss,
    segmentation_focal_loss,
    tversky_loss,
)
from .sequence import ctc_loss

# literal, so that type checkers see every name (tests/test_exports.py keeps it in step)
__all__ = [
    "arcface_loss",
    "asymmetric_loss",
    "asymmetric_loss_single_label",
    "balanced_softmax_loss",
    "batch_hard_triplet_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "charbonnier_loss",
    "class_balanced_focal_loss",
    "complete_box_iou_loss",
    "contrastive_loss",
    "coral_loss",
    "cosface_loss",
    "cosine_embedding_loss",
    "cross_entropy",
    "ctc_loss",
    "dice_ce_loss",
    "dice_focal_loss",
    "dice_loss",
    "distance_box_iou_loss",
    "distillation_loss",
    "equalization_loss_v2",
    "focal_loss",
    "gaussian_nll_loss",
    "generalized_box_iou_loss",
    "generalized_cross_entropy",
    "generalized_dice_loss",
    "hausdorff_er_loss",
    "hinge_embedding_loss",
    "huber_loss",
    "info_nce_loss",
    "jaccard_loss",
    "js_div",
    "jsd_cross_entropy",
    "kl_div",
    "l1_loss",
    "ldam_loss",
    "linear_cross_entropy",
    "log_cosh_loss",
    "logit_adjustment_loss",
    "lovasz_loss",
    "mape_loss",
    "margin_ranking_loss",
    "mse_loss",
    "msle_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "poisson_nll_loss",
    "poly_loss",
    "quantile_loss",
    "segmentation_focal_loss",
    "sigmoid_focal_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "soft_target_binary_cross_entropy",
    "soft_target_cross_entropy",
    "supcon_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "tversky_loss",
]
