"""Generated ML projects for the speed benchmark: packages shaped like domain-adaptation and GAN
repositories (models, datasets, trainers, utilities and scripts that import each other).

Nothing is downloaded: every file is written from the templates below, with names and sizes
varied per project and per file so that no two files are identical. Each project is a
package ``<name>/`` (models with BatchNorm in backbones, heads and discriminators; a model
registry; datasets and loader builders; trainers for several methods) plus ``scripts/`` that
build everything from the package the way those repositories' ``examples/`` do, so nearly
every file passes bnlint's pre-filter and the analysis follows imports across the project.

    python benchmarks/ml_projects.py OUT_DIR --projects 4
"""
from __future__ import annotations

import argparse
import os
import random
from typing import List

METHODS = ["dann", "cdan", "mcd", "adda", "mdd", "fixmatch", "mean_teacher", "wgan", "dcgan", "cyclegan"]
ADAPT = {"dann", "cdan", "mcd", "adda", "mdd"}
SEMI = {"fixmatch", "mean_teacher"}
FILES_PER_PROJECT = 16 + 2 * len(METHODS)  # the package's fixed files, then a trainer and a script per method

BACKBONE = '''"""Backbones: ResNet-style networks with a configurable norm layer."""
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [{all_names}]


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv_bn(in_planes, out_planes, stride=1, norm_layer=nn.BatchNorm2d):
    return nn.Sequential(conv3x3(in_planes, out_planes, stride), norm_layer(out_planes), nn.ReLU(inplace=True))


class BasicBlock{k}(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet{k}(nn.Module):
    def __init__(self, layers=({l1}, {l2}, {l3}, {l4}), width={width}, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.inplanes = width
        self._norm_layer = norm_layer
        self.stem = conv_bn(3, width, stride=2, norm_layer=norm_layer)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self._out_features = width * 8
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                       self._norm_layer(planes))
        layers = [BasicBlock{k}(self.inplanes, planes, stride, downsample, self._norm_layer)]
        self.inplanes = planes
        for _ in range(1, blocks):
            layers.append(BasicBlock{k}(self.inplanes, planes, norm_layer=self._norm_layer))
        return nn.Sequential(*layers)

    @property
    def out_features(self):
        return self._out_features

    def forward(self, x):
        x = self.maxpool(self.stem(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


class LeNet{k}(nn.Module):
    def __init__(self, in_channels=1, width={lenet}):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 5), nn.BatchNorm2d(width), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(width, width * 2, 5), nn.BatchNorm2d(width * 2), nn.Dropout2d(), nn.MaxPool2d(2), nn.ReLU(),
        )
        self._out_features = width * 2 * 4 * 4

    @property
    def out_features(self):
        return self._out_features

    def forward(self, x):
        return torch.flatten(self.features(x), 1)


def resnet{k}(pretrained=False, **kwargs):
    model = ResNet{k}(**kwargs)
    if pretrained:
        state = torch.load("checkpoints/resnet{k}.pth", map_location="cpu")
        model.load_state_dict(state, strict=False)
    return model


def lenet{k}(pretrained=False, **kwargs):
    return LeNet{k}(**kwargs)
'''

HEADS = '''"""Heads: classifier with bottleneck, domain discriminator, projection."""
import torch.nn as nn

from .{backbone} import conv_bn


class Classifier{k}(nn.Module):
    def __init__(self, backbone, num_classes, bottleneck_dim={bdim}, finetune=True):
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.bottleneck = nn.Sequential(
            nn.Linear(backbone.out_features, bottleneck_dim),
            nn.BatchNorm1d(bottleneck_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(bottleneck_dim, num_classes)
        self.finetune = finetune

    @property
    def features_dim(self):
        return self.head.in_features

    def forward(self, x):
        f = self.bottleneck(self.backbone(x))
        predictions = self.head(f)
        if self.training:
            return predictions, f
        return predictions

    def get_parameters(self, base_lr=1.0):
        return [
            {{"params": self.backbone.parameters(), "lr": 0.1 * base_lr if self.finetune else base_lr}},
            {{"params": self.bottleneck.parameters(), "lr": base_lr}},
            {{"params": self.head.parameters(), "lr": base_lr}},
        ]


class DomainDiscriminator{k}(nn.Sequential):
    def __init__(self, in_feature, hidden_size={hidden}, batch_norm=True):
        if batch_norm:
            layers = [nn.Linear(in_feature, hidden_size), nn.BatchNorm1d(hidden_size), nn.ReLU(),
                      nn.Linear(hidden_size, hidden_size), nn.BatchNorm1d(hidden_size), nn.ReLU(),
                      nn.Linear(hidden_size, 1)]
        else:
            layers = [nn.Linear(in_feature, hidden_size), nn.ReLU(inplace=True), nn.Dropout(0.5),
                      nn.Linear(hidden_size, 1)]
        super().__init__(*layers)

    def get_parameters(self):
        return [{{"params": self.parameters(), "lr": 1.0}}]


class ConvHead{k}(nn.Module):
    def __init__(self, channels={hidden}, num_classes=10):
        super().__init__()
        self.block = conv_bn(channels, channels)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.fc(self.block(x).mean((2, 3)))
'''

GAN = '''"""GAN models: DCGAN-style generator and discriminator."""
import torch
import torch.nn as nn


class Generator{k}(nn.Module):
    def __init__(self, latent_dim={latent}, channels=3, img_size={img}):
        super().__init__()
        self.init_size = img_size // 4
        self.l1 = nn.Sequential(nn.Linear(latent_dim, 128 * self.init_size ** 2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(128),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 128, 3, stride=1, padding=1),
            nn.BatchNorm2d(128, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 64, 3, stride=1, padding=1),
            nn.BatchNorm2d(64, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, channels, 3, stride=1, padding=1),
            nn.Tanh(),
        )

    def forward(self, z):
        out = self.l1(z)
        out = out.view(out.shape[0], 128, self.init_size, self.init_size)
        return self.conv_blocks(out)


class Discriminator{k}(nn.Module):
    def __init__(self, channels=3, img_size={img}):
        super().__init__()

        def block(in_filters, out_filters, bn=True):
            layers = [nn.Conv2d(in_filters, out_filters, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True), nn.Dropout2d(0.25)]
            if bn:
                layers.append(nn.BatchNorm2d(out_filters, 0.8))
            return layers

        self.model = nn.Sequential(
            *block(channels, 16, bn=False), *block(16, 32), *block(32, 64), *block(64, 128),
        )
        ds_size = img_size // 2 ** 4
        self.adv_layer = nn.Sequential(nn.Linear(128 * ds_size ** 2, 1), nn.Sigmoid())

    def forward(self, img):
        out = self.model(img)
        return self.adv_layer(out.view(out.shape[0], -1))


def weights_init_normal(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm2d") != -1:
        torch.nn.init.normal_(m.weight.data, 1.0, 0.02)
        torch.nn.init.constant_(m.bias.data, 0.0)
'''

MODELS_INIT = '''from .{backbone} import *
from .heads import Classifier{k}, DomainDiscriminator{k}, ConvHead{k}
from .gan import Generator{k}, Discriminator{k}, weights_init_normal

ARCHS = {{"resnet": resnet{k}, "lenet": lenet{k}}}


def build_backbone(name, pretrained=True):
    return ARCHS[name](pretrained=pretrained)
'''

DATASET = '''"""{title} dataset: image list files, domains and splits."""
import os

from PIL import Image
from torch.utils.data import Dataset


class {cls}(Dataset):
    domains = {domains}
    num_classes = {ncls}

    def __init__(self, root, task, split="train", transform=None, download=False):
        self.root = root
        self.task = task
        self.transform = transform
        list_file = os.path.join(root, "image_list", "{{}}_{{}}.txt".format(task, split))
        self.samples = self.parse_data_file(list_file)

    def parse_data_file(self, file_name):
        samples = []
        with open(file_name) as f:
            for line in f.readlines():
                path, target = line.split()
                if not os.path.isabs(path):
                    path = os.path.join(self.root, path)
                samples.append((path, int(target)))
        return samples

    def __getitem__(self, index):
        path, target = self.samples[index]
        img = Image.open(path).convert("RGB")
        if self.transform is not None:
            img = self.transform(img)
        return img, target

    def __len__(self):
        return len(self.samples)

    @classmethod
    def domain_names(cls):
        return list(cls.domains)
'''

DATA_INIT = '''from torch.utils.data import DataLoader

from .transforms import train_transform, val_transform
{imports}

DATASETS = {{{table}}}


class ForeverDataIterator:
    """Iterate a loader forever (a new epoch when one ends)."""

    def __init__(self, data_loader, device=None):
        self.data_loader = data_loader
        self.iter = iter(self.data_loader)
        self.device = device

    def __next__(self):
        try:
            data = next(self.iter)
        except StopIteration:
            self.iter = iter(self.data_loader)
            data = next(self.iter)
        return data

    def __len__(self):
        return len(self.data_loader)


def build_loaders(name, root, source, target, batch_size={bs}, workers=2):
    dataset = DATASETS[name]
    train_source = dataset(root, source, "train", transform=train_transform())
    train_target = dataset(root, target, "train", transform=train_transform())
    val = dataset(root, target, "test", transform=val_transform())
    train_source_loader = DataLoader(train_source, batch_size=batch_size, shuffle=True, num_workers=workers,
                                     drop_last=True)
    train_target_loader = DataLoader(train_target, batch_size=batch_size, shuffle=True, num_workers=workers,
                                     drop_last=True)
    val_loader = DataLoader(val, batch_size=batch_size, shuffle=False, num_workers=workers)
    return train_source_loader, train_target_loader, val_loader, dataset.num_classes
'''

TRANSFORMS = '''import torchvision.transforms as T

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def train_transform(resize_size={size}, scale=(0.08, 1.0)):
    return T.Compose([T.RandomResizedCrop(resize_size, scale=scale), T.RandomHorizontalFlip(),
                      T.ColorJitter(0.4, 0.4, 0.4), T.ToTensor(), T.Normalize(MEAN, STD)])


def val_transform(resize_size={size}):
    return T.Compose([T.Resize(resize_size + 32), T.CenterCrop(resize_size), T.ToTensor(), T.Normalize(MEAN, STD)])
'''

UTILS = '''"""Meters, accuracy and logging."""
import sys
import time

import torch


class AverageMeter{k}:
    def __init__(self, name, fmt=":f"):
        self.name = name
        self.fmt = fmt
        self.reset()

    def reset(self):
        self.val = self.avg = self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / max(self.count, 1)


class ProgressMeter{k}:
    def __init__(self, num_batches, meters, prefix=""):
        self.meters = meters
        self.prefix = prefix
        self.num_batches = num_batches

    def display(self, batch):
        entries = [self.prefix + "[{{}}/{{}}]".format(batch, self.num_batches)]
        entries += ["{{}} {{:.3f}}".format(m.name, m.avg) for m in self.meters]
        print("  ".join(entries))


def accuracy(output, target, topk=(1,)):
    with torch.no_grad():
        maxk = max(topk)
        batch_size = target.size(0)
        _, pred = output.topk(maxk, 1, True, True)
        correct = pred.t().eq(target.view(1, -1).expand_as(pred.t()))
        return [correct[:k].reshape(-1).float().sum(0) * (100.0 / batch_size) for k in topk]


def validate(val_loader, model, device, print_freq={freq}):
    top1 = AverageMeter{k}("Acc@1")
    model.eval()
    with torch.no_grad():
        for i, (images, target) in enumerate(val_loader):
            images, target = images.to(device), target.to(device)
            output = model(images)
            acc1, = accuracy(output, target)
            top1.update(acc1.item(), images.size(0))
            if i % print_freq == 0:
                print(i, top1.avg)
    return top1.avg


class TextLogger:
    def __init__(self, filename, stream=sys.stdout):
        self.terminal = stream
        self.log = open(filename, "a")
        self.start = time.time()

    def write(self, message):
        self.terminal.write(message)
        self.log.write(message)
        self.flush()

    def flush(self):
        self.terminal.flush()
        self.log.flush()
'''

LOSSES = '''"""Alignment losses: gradient reversal, entropy, MMD."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import Function


class GradientReverseFunction(Function):
    @staticmethod
    def forward(ctx, input, coeff=1.0):
        ctx.coeff = coeff
        return input * 1.0

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.neg() * ctx.coeff, None


class GradientReverseLayer(nn.Module):
    def forward(self, *input):
        return GradientReverseFunction.apply(*input)


class DomainAdversarialLoss{k}(nn.Module):
    def __init__(self, domain_discriminator, reduction="mean"):
        super().__init__()
        self.grl = GradientReverseLayer()
        self.domain_discriminator = domain_discriminator
        self.reduction = reduction

    def forward(self, f_s, f_t):
        f = self.grl(torch.cat((f_s, f_t), dim=0))
        d = self.domain_discriminator(f)
        d_s, d_t = d.chunk(2, dim=0)
        d_label_s = torch.ones((f_s.size(0), 1)).to(f_s.device)
        d_label_t = torch.zeros((f_t.size(0), 1)).to(f_t.device)
        return 0.5 * (F.binary_cross_entropy_with_logits(d_s, d_label_s)
                      + F.binary_cross_entropy_with_logits(d_t, d_label_t))


def entropy(predictions, reduction="mean"):
    epsilon = 1e-5
    h = -predictions * torch.log(predictions + epsilon)
    h = h.sum(dim=1)
    return h.mean() if reduction == "mean" else h


def mmd(x, y, kernel_mul={mul}.0, kernel_num={num}):
    xx, yy, xy = torch.mm(x, x.t()), torch.mm(y, y.t()), torch.mm(x, y.t())
    return xx.mean() + yy.mean() - 2 * xy.mean()
'''

TRAINER_ADAPT = '''"""{method}: domain adaptation trainer."""
import torch
import torch.nn.functional as F

from ..modules.losses import DomainAdversarialLoss{k}, entropy
from ..utils.meters import AverageMeter{k}, accuracy
from .base import BaseTrainer


class {cls}(BaseTrainer):
    def __init__(self, model, discriminator, optimizer, iters_per_epoch={iters}, trade_off={trade}, device="cpu"):
        super().__init__(model, optimizer, device)
        self.domain_adv = DomainAdversarialLoss{k}(discriminator)
        self.iters_per_epoch = iters_per_epoch
        self.trade_off = trade_off

    def train_epoch(self, train_source_iter, train_target_iter, epoch):
        losses = AverageMeter{k}("Loss")
        self.model.train()
        self.domain_adv.train()
        for i in range(self.iters_per_epoch):
            x_s, labels_s = next(train_source_iter)
            x_t, _ = next(train_target_iter)
            x_s, x_t, labels_s = x_s.to(self.device), x_t.to(self.device), labels_s.to(self.device)
            y_s, f_s = self.model(x_s)
            y_t, f_t = self.model(x_t)
            cls_loss = F.cross_entropy(y_s, labels_s)
            transfer_loss = self.domain_adv(f_s, f_t)
            loss = cls_loss + transfer_loss * self.trade_off + {ent} * entropy(F.softmax(y_t, dim=1))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            losses.update(loss.item(), x_s.size(0))
            if i % {freq} == 0:
                self.log(epoch, i, losses)
        return losses.avg
'''

TRAINER_SEMI = '''"""{method}: semi-supervised trainer."""
import copy

import torch
import torch.nn.functional as F

from ..utils.meters import AverageMeter{k}
from .base import BaseTrainer


class {cls}(BaseTrainer):
    def __init__(self, model, optimizer, threshold=0.{thr}, iters_per_epoch={iters}, device="cpu"):
        super().__init__(model, optimizer, device)
        self.threshold = threshold
        self.iters_per_epoch = iters_per_epoch
        self.teacher = copy.deepcopy(model)

    @torch.no_grad()
    def update_teacher(self, alpha=0.999):
        for t, s in zip(self.teacher.parameters(), self.model.parameters()):
            t.mul_(alpha).add_(s, alpha=1 - alpha)

    def train_epoch(self, labeled_iter, unlabeled_iter, epoch):
        losses = AverageMeter{k}("Loss")
        self.model.train()
        for i in range(self.iters_per_epoch):
            x_l, labels_l = next(labeled_iter)
            (x_u, x_u_strong), _ = next(unlabeled_iter)
            y_l, _ = self.model(x_l.to(self.device))
            y_u, _ = self.model(x_u.to(self.device))
            y_u_strong, _ = self.model(x_u_strong.to(self.device))
            confidence, pseudo = F.softmax(y_u.detach(), dim=1).max(dim=1)
            mask = (confidence > self.threshold).float()
            loss = F.cross_entropy(y_l, labels_l.to(self.device))
            loss = loss + (F.cross_entropy(y_u_strong, pseudo, reduction="none") * mask).mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.update_teacher()
            losses.update(loss.item())
        return losses.avg
'''

TRAINER_GAN = '''"""{method}: GAN trainer."""
import torch
import torch.nn as nn

from ..models.gan import Generator{k}, Discriminator{k}, weights_init_normal
from ..utils.meters import AverageMeter{k}


class {cls}:
    def __init__(self, latent_dim={latent}, lr=0.000{lr}, b1=0.5, b2=0.999, device="cpu"):
        self.generator = Generator{k}(latent_dim)
        self.discriminator = Discriminator{k}()
        self.generator.apply(weights_init_normal)
        self.discriminator.apply(weights_init_normal)
        self.adversarial_loss = nn.BCELoss()
        self.optimizer_G = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(b1, b2))
        self.optimizer_D = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(b1, b2))
        self.latent_dim = latent_dim
        self.device = device

    def train_epoch(self, dataloader, epoch):
        d_meter = AverageMeter{k}("D")
        for i, (imgs, _) in enumerate(dataloader):
            valid = torch.ones(imgs.size(0), 1, device=self.device)
            fake = torch.zeros(imgs.size(0), 1, device=self.device)
            real_imgs = imgs.to(self.device)
            self.optimizer_G.zero_grad()
            z = torch.randn(imgs.shape[0], self.latent_dim, device=self.device)
            gen_imgs = self.generator(z)
            g_loss = self.adversarial_loss(self.discriminator(gen_imgs), valid)
            g_loss.backward()
            self.optimizer_G.step()
            self.optimizer_D.zero_grad()
            real_loss = self.adversarial_loss(self.discriminator(real_imgs), valid)
            fake_loss = self.adversarial_loss(self.discriminator(gen_imgs.detach()), fake)
            d_loss = (real_loss + fake_loss) / 2
            d_loss.backward()
            self.optimizer_D.step()
            d_meter.update(d_loss.item())
        return d_meter.avg
'''

TRAINER_BASE = '''import os

import torch


class BaseTrainer:
    def __init__(self, model, optimizer, device="cpu"):
        self.model = model
        self.optimizer = optimizer
        self.device = device

    def log(self, epoch, step, meter):
        print("epoch {{}} step {{}} {{}} {{:.4f}}".format(epoch, step, meter.name, meter.avg))

    def save(self, path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        torch.save({{"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}}, path)

    def load(self, path):
        state = torch.load(path, map_location="cpu")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
'''

SCRIPT_ADAPT = '''"""Train {method} on a source/target pair of domains."""
import argparse
import random

import torch
from torch.optim import SGD
from torch.optim.lr_scheduler import LambdaLR

import {pkg}.models as models
from {pkg}.data import ForeverDataIterator, build_loaders
from {pkg}.models import Classifier{k}, DomainDiscriminator{k}
from {pkg}.trainers.{method} import {cls}
from {pkg}.utils.meters import validate


def main(args):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    train_source_loader, train_target_loader, val_loader, num_classes = build_loaders(
        args.data, args.root, args.source, args.target, args.batch_size)
    train_source_iter = ForeverDataIterator(train_source_loader)
    train_target_iter = ForeverDataIterator(train_target_loader)
    backbone = models.__dict__[args.arch](pretrained=True)
    classifier = Classifier{k}(backbone, num_classes, bottleneck_dim=args.bottleneck_dim).to(device)
    discriminator = DomainDiscriminator{k}(in_feature=classifier.features_dim, hidden_size={hidden}).to(device)
    optimizer = SGD(classifier.get_parameters() + discriminator.get_parameters(), args.lr, momentum=0.9,
                    weight_decay=1e-3, nesterov=True)
    lr_scheduler = LambdaLR(optimizer, lambda x: args.lr * (1.0 + 0.001 * float(x)) ** (-0.75))
    trainer = {cls}(classifier, discriminator, optimizer, args.iters_per_epoch, args.trade_off, device)
    best_acc1 = 0.0
    for epoch in range(args.epochs):
        trainer.train_epoch(train_source_iter, train_target_iter, epoch)
        lr_scheduler.step()
        acc1 = validate(val_loader, classifier, device)
        if acc1 > best_acc1:
            best_acc1 = acc1
            trainer.save("logs/{method}/best.pth")
    print("best_acc1 = {{:3.1f}}".format(best_acc1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="{method} for unsupervised domain adaptation")
    parser.add_argument("root")
    parser.add_argument("-d", "--data", default="{dataset}")
    parser.add_argument("-s", "--source", default="A")
    parser.add_argument("-t", "--target", default="W")
    parser.add_argument("-a", "--arch", default="resnet{k}")
    parser.add_argument("--bottleneck-dim", default={bdim}, type=int)
    parser.add_argument("--trade-off", default={trade}, type=float)
    parser.add_argument("-b", "--batch-size", default={bs}, type=int)
    parser.add_argument("--lr", default=0.0{lr}, type=float)
    parser.add_argument("--epochs", default={epochs}, type=int)
    parser.add_argument("-i", "--iters-per-epoch", default={iters}, type=int)
    parser.add_argument("--seed", default={seed}, type=int)
    main(parser.parse_args())
'''

SCRIPT_SEMI = '''"""Train {method} with labeled and unlabeled data."""
import argparse

import torch
from torch.optim import SGD

from {pkg}.data import ForeverDataIterator, build_loaders
from {pkg}.models import Classifier{k}, build_backbone
from {pkg}.trainers.{method} import {cls}
from {pkg}.utils.meters import validate


def main(args):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    labeled_loader, unlabeled_loader, val_loader, num_classes = build_loaders(
        args.data, args.root, "labeled", "unlabeled", args.batch_size)
    model = Classifier{k}(build_backbone(args.arch), num_classes).to(device)
    optimizer = SGD(model.get_parameters(), args.lr, momentum=0.9, nesterov=True)
    trainer = {cls}(model, optimizer, args.threshold, args.iters_per_epoch, device)
    labeled_iter, unlabeled_iter = ForeverDataIterator(labeled_loader), ForeverDataIterator(unlabeled_loader)
    for epoch in range(args.epochs):
        trainer.train_epoch(labeled_iter, unlabeled_iter, epoch)
        acc1 = validate(val_loader, trainer.teacher, device)
        print(epoch, acc1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--data", default="{dataset}")
    parser.add_argument("--arch", default="resnet")
    parser.add_argument("--threshold", default=0.{thr}, type=float)
    parser.add_argument("--batch-size", default={bs}, type=int)
    parser.add_argument("--lr", default=0.0{lr}, type=float)
    parser.add_argument("--epochs", default={epochs}, type=int)
    parser.add_argument("--iters-per-epoch", default={iters}, type=int)
    main(parser.parse_args())
'''

SCRIPT_GAN = '''"""Train {method} on an image folder."""
import argparse
import os

import torch
import torchvision.transforms as transforms
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.utils import save_image

from {pkg}.trainers.{method} import {cls}


def main(opt):
    os.makedirs("images", exist_ok=True)
    dataloader = DataLoader(
        datasets.MNIST("data/mnist", train=True, download=True,
                       transform=transforms.Compose([transforms.Resize(opt.img_size), transforms.ToTensor(),
                                                     transforms.Normalize([0.5], [0.5])])),
        batch_size=opt.batch_size, shuffle=True)
    trainer = {cls}(opt.latent_dim, opt.lr)
    for epoch in range(opt.n_epochs):
        d_loss = trainer.train_epoch(dataloader, epoch)
        z = torch.randn(25, opt.latent_dim)
        save_image(trainer.generator(z).data, "images/%d.png" % epoch, nrow=5, normalize=True)
        print(epoch, d_loss)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n_epochs", type=int, default={epochs})
    parser.add_argument("--batch_size", type=int, default={bs})
    parser.add_argument("--lr", type=float, default=0.000{lr})
    parser.add_argument("--latent_dim", type=int, default={latent})
    parser.add_argument("--img_size", type=int, default={img})
    main(parser.parse_args())
'''

DATASET_NAMES = [("office31", "Office31", "Office-31", ["A", "D", "W"], 31),
                 ("officehome", "OfficeHome", "Office-Home", ["Ar", "Cl", "Pr", "Rw"], 65),
                 ("visda", "VisDA2017", "VisDA-2017", ["Synthetic", "Real"], 12),
                 ("digits", "Digits", "MNIST/USPS/SVHN", ["MNIST", "USPS", "SVHN"], 10),
                 ("domainnet", "DomainNet", "DomainNet", ["c", "i", "p", "q", "r", "s"], 345)]


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def write_project(dest: str, p: int, rng: random.Random) -> List[str]:
    """One project (package ``mlproj<p>`` and its ``scripts``) under ``dest``; returns the relative paths."""
    pkg = f"mlproj{p}"
    files = {}
    k = p  # class-name suffix: projects do not share class names
    backbone = f"backbone{p}"
    v = dict(k=k, pkg=pkg, backbone=backbone, l1=rng.randint(1, 3), l2=rng.randint(1, 4), l3=rng.randint(2, 6),
             l4=rng.randint(1, 3), width=rng.choice([32, 64]), lenet=rng.choice([20, 32]),
             bdim=rng.choice([256, 512, 1024]), hidden=rng.choice([512, 1024]), latent=rng.choice([64, 100, 128]),
             img=rng.choice([28, 32, 64]), mul=rng.randint(2, 4), num=rng.randint(3, 7), bs=rng.choice([16, 32, 64]),
             freq=rng.choice([50, 100, 200]), size=rng.choice([224, 256]))
    v["all_names"] = ", ".join(f'"{n}"' for n in (f"ResNet{k}", f"LeNet{k}", f"resnet{k}", f"lenet{k}", "conv_bn"))
    files[f"{pkg}/__init__.py"] = f'"""{pkg}: a transfer-learning library."""\n__version__ = "0.{p}.0"\n'
    files[f"{pkg}/models/__init__.py"] = MODELS_INIT.format(**v)
    files[f"{pkg}/models/{backbone}.py"] = BACKBONE.format(**v)
    files[f"{pkg}/models/heads.py"] = HEADS.format(**v)
    files[f"{pkg}/models/gan.py"] = GAN.format(**v)
    files[f"{pkg}/modules/__init__.py"] = "from .losses import *\n"
    files[f"{pkg}/modules/losses.py"] = LOSSES.format(**v)
    files[f"{pkg}/utils/__init__.py"] = ""
    files[f"{pkg}/utils/meters.py"] = UTILS.format(**v)
    datasets = rng.sample(DATASET_NAMES, 3)
    imports = []
    for mod, cls, title, domains, ncls in datasets:
        files[f"{pkg}/data/{mod}.py"] = DATASET.format(cls=cls, title=title, domains=tuple(domains), ncls=ncls)
        imports.append(f"from .{mod} import {cls}")
    files[f"{pkg}/data/__init__.py"] = DATA_INIT.format(
        imports="\n".join(imports), table=", ".join(f'"{m}": {c}' for m, c, *_ in datasets), bs=v["bs"])
    files[f"{pkg}/data/transforms.py"] = TRANSFORMS.format(**v)
    files[f"{pkg}/trainers/__init__.py"] = ""
    files[f"{pkg}/trainers/base.py"] = TRAINER_BASE.format(**v)
    for method in METHODS:
        cls = _camel(method) + "Trainer"
        mv = dict(v, method=method, cls=cls, iters=rng.choice([500, 1000]), trade=rng.choice([0.1, 1.0]),
                  ent=rng.choice([0.0, 0.1]), thr=rng.choice([7, 8, 95]), lr=rng.randint(1, 9),
                  epochs=rng.choice([20, 30, 200]), seed=rng.randint(0, 9), dataset=datasets[0][0])
        if method in ADAPT:
            trainer, script = TRAINER_ADAPT, SCRIPT_ADAPT
        elif method in SEMI:
            trainer, script = TRAINER_SEMI, SCRIPT_SEMI
        else:
            trainer, script = TRAINER_GAN, SCRIPT_GAN
        files[f"{pkg}/trainers/{method}.py"] = trainer.format(**mv)
        files[f"scripts{p}/train_{method}.py"] = script.format(**mv)
    out = []
    for rel, text in sorted(files.items()):
        path = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        out.append(rel)
    return out


def generate(dest: str, projects: int, seed: int = 0) -> List[str]:
    rng = random.Random(seed)
    out: List[str] = []
    for p in range(projects):
        out.extend(write_project(dest, p, rng))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--projects", type=int, default=4)
    args = ap.parse_args()
    print(len(generate(args.out, args.projects)), "files")
