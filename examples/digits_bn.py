"""A plain PyTorch training script that reports to bnbench: a small CNN on scikit-learn's 8x8 digits.

    python digits_bn.py --seed 0 [--bn] [--steps 150]

With --bn, a batch norm follows each convolution. Run alone, it trains and prints; under `bnbench run
digits_bn.toml` its reporter's losses, evaluations and 'eval' phases land in bnbench's curves and energy.
"""

import argparse

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from bnbench.reporter import Reporter


def build(bn: bool) -> nn.Module:
    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1), *([nn.BatchNorm2d(c_out)] if bn else []), nn.ReLU()]

    return nn.Sequential(*block(1, 8), *block(8, 16), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, 10))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bn", action="store_true")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)

    digits = load_digits()  # bundled with scikit-learn: nothing is downloaded
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]
    y = torch.tensor(digits.target)
    held_out = torch.arange(len(y)) % 5 == 4  # every 5th image validates
    train_x, train_y, valid_x, valid_y = x[~held_out], y[~held_out], x[held_out], y[held_out]

    model = build(args.bn)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    report = Reporter()  # does nothing outside bnbench
    for step in range(1, args.steps + 1):
        batch = torch.randint(len(train_y), (args.batch_size,))
        loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            report.log(step, loss=loss.item())
        if step % args.eval_every == 0 or step == args.steps:
            with report.phase("eval"), torch.no_grad():
                model.eval()
                accuracy = (model(valid_x).argmax(1) == valid_y).float().mean().item() * 100
                model.train()
            report.evaluate(step, val_accuracy_pct=accuracy)
            print(f"step {step} loss {loss.item():.4f} val_accuracy_pct {accuracy:.2f}", flush=True)


if __name__ == "__main__":
    main()
