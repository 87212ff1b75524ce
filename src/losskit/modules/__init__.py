"""The thin Modules, grouped by family like losskit.functional."""

from __future__ import annotations

from . import (
    classification,
    detection,
    distillation,
    distribution,
    embedding,
    imbalance,
    margin,
    metric,
    ordinal,
    regression,
    segmentation,
    sequence,
)
from .classification import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, LinearCrossEntropyLoss, NLLLoss
from .detection import CompleteBoxIoULoss, DistanceBoxIoULoss, GeneralizedBoxIoULoss
from .distillation import DistillationLoss, JSDivLoss
from .distribution import GaussianNLLLoss, KLDivLoss, PoissonNLLLoss
from .embedding import TripletMarginLoss, TripletMarginWithDistanceLoss
from .imbalance import (
    AsymmetricLoss,
    AsymmetricLossSingleLabel,
    FocalLoss,
    GeneralizedCrossEntropyLoss,
    PolyLoss,
    SigmoidFocalLoss,
)
from .margin import (
    CosineEmbeddingLoss,
    HingeEmbeddingLoss,
    MarginRankingLoss,
    MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    SoftMarginLoss,
)
from .metric import ArcFaceLoss, BatchHardTripletLoss, ContrastiveLoss, CosFaceLoss, InfoNCELoss, SupConLoss
from .ordinal import CoralLoss
from .regression import (
    CharbonnierLoss,
    HuberLoss,
    L1Loss,
    LogCoshLoss,
    MAPELoss,
    MSELoss,
    MSLELoss,
    QuantileLoss,
    SmoothL1Loss,
)
from .segmentation import DiceLoss, JaccardLoss, LovaszLoss, TverskyLoss
from .sequence import CTCLoss

# literal, so that type checkers see every name (tests/test_exports.py keeps it in step)
__all__ = [
    "ArcFaceLoss",
    "AsymmetricLoss",
    "AsymmetricLossSingleLabel",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchHardTripletLoss",
    "CTCLoss",
    "CharbonnierLoss",
    "CompleteBoxIoULoss",
    "ContrastiveLoss",
    "CoralLoss",
    "CosFaceLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "DistanceBoxIoULoss",
    "DistillationLoss",
    "FocalLoss",
    "GaussianNLLLoss",
    "GeneralizedBoxIoULoss",
    "GeneralizedCrossEntropyLoss",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "InfoNCELoss",
    "JSDivLoss",
    "JaccardLoss",
    "KLDivLoss",
    "L1Loss",
    "LinearCrossEntropyLoss",
    "LogCoshLoss",
    "LovaszLoss",
    "MAPELoss",
    "MSELoss",
    "MSLELoss",
    "MarginRankingLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "PoissonNLLLoss",
    "PolyLoss",
    "QuantileLoss",
    "SigmoidFocalLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "SupConLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
    "TverskyLoss",
]
