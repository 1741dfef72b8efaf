"""A small CIFAR-style ResNet.

Every normalization layer comes from ``norm_layer``, which defaults to
``nn.BatchNorm2d`` -- the same convention torchvision's ResNets use.
"""
import torch
import torch.nn as nn


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv_norm_relu(in_planes, out_planes, norm_layer, stride=1):
    """Conv -> norm -> ReLU, the stem of the network."""
    return nn.Sequential(conv3x3(in_planes, out_planes, stride), norm_layer(out_planes), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                norm_layer(planes),
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, num_blocks=(2, 2, 2), widths=(16, 32, 64), num_classes=10, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.stem = conv_norm_relu(3, widths[0], norm_layer)
        layers = []
        in_planes = widths[0]
        for i, (blocks, width) in enumerate(zip(num_blocks, widths)):
            for j in range(blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(BasicBlock(in_planes, width, stride, norm_layer=norm_layer))
                in_planes = width
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet_small(num_classes=10):
    return ResNet(num_blocks=(2, 2, 2), num_classes=num_classes)
