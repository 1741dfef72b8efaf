"""Constructor names of model zoos that code picks by a computed name.

``getattr(torchvision.models, f"resnet{depth}")`` or ``models.__dict__["resnet{}".format(n)]``
names a constructor whose exact name the analysis cannot compute, but whose family it can: the
candidates are the zoo's constructors whose name starts with the written prefix and continues
with a digit (``resnet`` -> resnet18 ... resnet152). Kept as data, apart from the resolver.
"""
from __future__ import annotations

from typing import List

TORCHVISION_ZOOS = ("torchvision.models",)

# torchvision.models classification constructors (names only; which have BN is bn.py's business).
TORCHVISION_CONSTRUCTORS = (
    "alexnet", "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
    "densenet121", "densenet161", "densenet169", "densenet201",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
    "efficientnet_b5", "efficientnet_b6", "efficientnet_b7", "efficientnet_v2_s", "efficientnet_v2_m",
    "efficientnet_v2_l", "googlenet", "inception_v3", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
    "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
    "regnet_x_400mf", "regnet_y_400mf",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "squeezenet1_0", "squeezenet1_1",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14", "swin_t", "swin_s", "swin_b",
    "wide_resnet50_2", "wide_resnet101_2",
)


def family(zoo: str, prefix: str) -> List[str]:
    """The constructors of ``zoo`` named ``prefix`` followed by a digit (empty for another zoo, or a
    prefix too short to name a family)."""
    if zoo not in TORCHVISION_ZOOS or len(prefix) < 3:
        return []
    return [name for name in TORCHVISION_CONSTRUCTORS
            if name.startswith(prefix) and name[len(prefix):len(prefix) + 1].isdigit()]
