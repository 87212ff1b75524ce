"""One pure function per loss, grouped by family."""

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
    regression,
    segmentation,
    sequence,
)
from .classification import *
from .detection import *
from .distillation import *
from .distribution import *
from .embedding import *
from .imbalance import *
from .margin import *
from .metric import *
from .regression import *
from .segmentation import *
from .sequence import *

__all__ = sorted(
    regression.__all__ + classification.__all__ + margin.__all__ + embedding.__all__
    + distribution.__all__ + sequence.__all__ + imbalance.__all__ + segmentation.__all__
    + detection.__all__ + metric.__all__ + distillation.__all__
)
