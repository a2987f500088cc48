"""Train a small multi-layer perceptron on scikit-learn's digits and report metrics Katib-style.

A trial script for ``experiment.yaml`` beside it. It trains scikit-learn's ``MLPClassifier`` on
``sklearn.datasets.load_digits`` (8x8 images of hand-written digits, shipped with scikit-learn: no
download) one epoch at a time, and after each epoch prints one line in the format of Katib's StdOut
metrics collector, led by an RFC 3339 timestamp::

    2024-05-01T12:00:03Z epoch=3 loss=0.4100 Train-accuracy=0.9500 Validation-accuracy=0.9300

``Validation-accuracy`` is the objective of the experiment; ``loss`` (the training cross-entropy)
and ``Train-accuracy`` are additional metrics. The names follow Katib's own MNIST examples.

Run it by hand with, for example::

    OMP_NUM_THREADS=1 python3 train.py --lr=0.01 --num-layers=2 --optimizer=adam
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="MLP on scikit-learn's digits, Katib-style metrics"
    )
    parser.add_argument("--lr", type=float, default=0.01, help="initial learning rate")
    parser.add_argument("--num-layers", type=int, default=1, help="number of hidden layers")
    parser.add_argument(
        "--optimizer", choices=["sgd", "adam"], default="adam", help="weight optimizer"
    )
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training set")
    parser.add_argument("--hidden-units", type=int, default=64, help="units per hidden layer")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the weights")
    args = parser.parse_args(argv)
    if args.lr <= 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    if args.num_layers < 1:
        parser.error(f"--num-layers must be at least 1, got {args.num_layers}")
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    return args


def timestamp() -> str:
    """The current time in RFC 3339 (UTC), the form Katib's collector reads before a metric."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    features, labels = load_digits(return_X_y=True)
    features = features / 16.0  # pixel intensities are 0..16
    x_train, x_valid, y_train, y_valid = train_test_split(
        features, labels, test_size=0.2, random_state=args.seed, stratify=labels
    )
    classes = np.unique(labels)

    model = MLPClassifier(
        hidden_layer_sizes=(args.hidden_units,) * args.num_layers,
        solver=args.optimizer,
        learning_rate_init=args.lr,
        batch_size=args.batch_size,
        random_state=args.seed,
    )
    print(
        f"Training MLP: lr={args.lr} layers={args.num_layers} optimizer={args.optimizer} "
        f"on {len(x_train)} digits, validating on {len(x_valid)}",
        flush=True,
    )
    # ``lr=...`` above is harmless: Katib's collector keeps only the metrics the experiment names.
    for epoch in range(1, args.epochs + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(x_train, y_train, classes=classes)  # one epoch of mini-batches
        loss = float(model.loss_)
        if not np.isfinite(loss):
            print(f"{timestamp()} epoch={epoch} training diverged (loss is {loss})", flush=True)
            return 1
        train_acc = model.score(x_train, y_train)
        valid_acc = model.score(x_valid, y_valid)
        print(
            f"{timestamp()} epoch={epoch} loss={loss:.4f} "
            f"Train-accuracy={train_acc:.4f} Validation-accuracy={valid_acc:.4f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
