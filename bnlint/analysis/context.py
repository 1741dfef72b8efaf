"""One object per project index bundling the shared analyses, so rules share memo tables."""
from __future__ import annotations

from .bn import BNAnalysis
from .loaders import LoaderAnalysis
from .loops import TrainingAnalysis
from .values import Resolver


class Analysis:
    def __init__(self, index):
        self.index = index
        self.resolver = Resolver(index)
        self.bn = BNAnalysis(self.resolver)
        self.training = TrainingAnalysis(self.resolver, self.bn)
        self.loaders = LoaderAnalysis(self.resolver)
