"""The thin Modules, grouped by family like losskit.functional."""

from __future__ import annotations

from . import (
    augmentation,
    classification,
    detection,
    distillation,
    distribution,
    embedding,
    imaging,
    imbalance,
    longtail,
    margin,
    metric,
    ordinal,
    preference,
    ranking,
    regression,
    robust,
    segmentation,
    sequence,
)
from .augmentation import JsdCrossEntropy, SoftTargetBinaryCrossEntropy, SoftTargetCrossEntropy
from .classification import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, LinearCrossEntropyLoss, NLLLoss
from .detection import CompleteBoxIoULoss, DistanceBoxIoULoss, GeneralizedBoxIoULoss
from .distillation import DistillationLoss, JSDivLoss
from .distribution import GaussianNLLLoss, KLDivLoss, PoissonNLLLoss
from .embedding import TripletMarginLoss, TripletMarginWithDistanceLoss
from .imaging import MSSSIMLoss, PSNRLoss, SSIMLoss, TotalVariationLoss
from .imbalance import (
    AsymmetricLoss,
    AsymmetricLossSingleLabel,
    FocalLoss,
    GeneralizedCrossEntropyLoss,
    PolyLoss,
    SigmoidFocalLoss,
)
from .longtail import BalancedSoftmaxLoss, ClassBalancedFocalLoss, EqualizationLossV2, LDAMLoss, LogitAdjustmentLoss
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
from .preference import CPOLoss, DPOLoss, IPOLoss, KTOLoss, ORPOLoss, SimPOLoss
from .ranking import (
    ApproxNDCGLoss,
    LambdaLoss,
    ListMLELoss,
    ListNetLoss,
    NeuralNDCGLoss,
    RankNetLoss,
)
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
from .robust import (
    AdaptiveRobustLoss,
    CauchyLoss,
    GammaDevianceLoss,
    GemanMcClureLoss,
    GeneralRobustLoss,
    TweedieDevianceLoss,
    WelschLoss,
)
from .segmentation import DiceLoss, GeneralizedDiceLoss, JaccardLoss, LovaszLoss, TverskyLoss
from .segmentation_compound import DiceCELoss, DiceFocalLoss, HausdorffERLoss, SegmentationFocalLoss
from .sequence import CTCLoss

# literal, so that type checkers see every name (tests/test_exports.py keeps it in step)
__all__ = [
    "AdaptiveRobustLoss",
    "ApproxNDCGLoss",
    "ArcFaceLoss",
    "AsymmetricLoss",
    "AsymmetricLossSingleLabel",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BalancedSoftmaxLoss",
    "BatchHardTripletLoss",
    "CPOLoss",
    "CTCLoss",
    "CauchyLoss",
    "CharbonnierLoss",
    "ClassBalancedFocalLoss",
    "CompleteBoxIoULoss",
    "ContrastiveLoss",
    "CoralLoss",
    "CosFaceLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "DPOLoss",
    "DiceCELoss",
    "DiceFocalLoss",
    "DiceLoss",
    "DistanceBoxIoULoss",
    "DistillationLoss",
    "EqualizationLossV2",
    "FocalLoss",
    "GammaDevianceLoss",
    "GaussianNLLLoss",
    "GemanMcClureLoss",
    "GeneralRobustLoss",
    "GeneralizedBoxIoULoss",
    "GeneralizedCrossEntropyLoss",
    "GeneralizedDiceLoss",
    "HausdorffERLoss",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "IPOLoss",
    "InfoNCELoss",
    "JSDivLoss",
    "JaccardLoss",
    "JsdCrossEntropy",
    "KLDivLoss",
    "KTOLoss",
    "L1Loss",
    "LDAMLoss",
    "LambdaLoss",
    "LinearCrossEntropyLoss",
    "ListMLELoss",
    "ListNetLoss",
    "LogCoshLoss",
    "LogitAdjustmentLoss",
    "LovaszLoss",
    "MAPELoss",
    "MSELoss",
    "MSLELoss",
    "MSSSIMLoss",
    "MarginRankingLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "NeuralNDCGLoss",
    "ORPOLoss",
    "PSNRLoss",
    "PoissonNLLLoss",
    "PolyLoss",
    "QuantileLoss",
    "RankNetLoss",
    "SSIMLoss",
    "SegmentationFocalLoss",
    "SigmoidFocalLoss",
    "SimPOLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "SoftTargetBinaryCrossEntropy",
    "SoftTargetCrossEntropy",
    "SupConLoss",
    "TotalVariationLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
    "TverskyLoss",
    "TweedieDevianceLoss",
    "WelschLoss",
]
