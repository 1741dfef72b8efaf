"""One object per project index bundling the shared analyses, so rules share memo tables."""
from __future__ import annotations

from .bn import BNAnalysis
from .freezes import FreezeAnalysis
from .layers import LayerAnalysis
from .loader_uses import LoaderUses
from .loaders import LoaderAnalysis
from .loops import TrainingAnalysis
from .modes import ModeAnalysis
from .steps import StepAnalysis
from .values import Resolver


class Analysis:
    def __init__(self, index):
        self.index = index
        self.resolver = Resolver(index)
        self.bn = BNAnalysis(self.resolver)
        self.training = TrainingAnalysis(self.resolver, self.bn)
        self.loaders = LoaderAnalysis(self.resolver)
        self.loader_uses = LoaderUses(self.resolver, self.training, self.bn)
        self.layers = LayerAnalysis(self.resolver, self.bn)
        self.steps = StepAnalysis(self.training)
        self.modes = ModeAnalysis(self.training)
        self.freezes = FreezeAnalysis(self.resolver, self.bn, self.training)
