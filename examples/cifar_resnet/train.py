"""Train the small ResNet on the synthetic CIFAR-like data.

    python train.py --epochs 5

bnlint reports BN103 in data.py: the training loader is not shuffled, so the
BatchNorm layers train on single-class batches whose statistics are nothing
like the running averages the model uses in eval mode.
"""
import argparse
import time

import torch
import torch.nn.functional as F

from data import get_loaders
from models import resnet_small


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--samples-per-class", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def train_one_epoch(model, loader, optimizer, device):
    model.train()
    total_loss, seen = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(labels)
        seen += len(labels)
    return total_loss / seen


@torch.no_grad()
def evaluate(model, loader, device):
    model.eval()
    correct, seen = 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        correct += (model(images).argmax(dim=1) == labels).sum().item()
        seen += len(labels)
    return correct / seen


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    train_loader, test_loader = get_loaders(args.batch_size, samples_per_class=args.samples_per_class)
    model = resnet_small().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    for epoch in range(1, args.epochs + 1):
        start = time.time()
        loss = train_one_epoch(model, train_loader, optimizer, device)
        scheduler.step()
        acc = evaluate(model, test_loader, device)
        print(f"epoch {epoch:3d}  loss {loss:.4f}  test acc {acc:.3f}  ({time.time() - start:.1f}s)")


if __name__ == "__main__":
    main()
