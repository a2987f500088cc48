"""Stand-in for Katib's ``/opt/pytorch-mnist/mnist.py`` (image ``pytorch-mnist-cpu``).

The real script trains a small CNN on FashionMNIST with SGD(lr, momentum). This one trains nothing:
it computes a deterministic, smooth fake loss from ``--lr``, ``--momentum`` and ``--batch-size``
(best at lr=0.02, momentum=0.6; the further away, the higher the floor and the slower the descent)
and writes it, epoch by epoch, exactly where and how the real script writes its metrics:

* with no ``--log-path`` (or with ``--logger=hypertune``), Python ``logging`` to **stderr** (the
  real script calls ``logging.basicConfig`` without a file). Katib's StdOut collector still sees
  it: its webhook wraps the command as ``<cmd> 1>/var/log/katib/metrics.log 2>&1``. Lines::

      2024-05-01T12:00:00Z INFO     Train Epoch: 1 [0/60000 (0%)]\tloss=2.3026
      ...
      2024-05-01T12:00:00Z INFO     {metricName: accuracy, metricValue: 0.7311};{metricName: loss, metricValue: 0.7076}
      <empty line: the message itself ends with a newline>

  One ``Train Epoch`` line every ``--log-interval`` batches (60,000 images per epoch), one metric
  line after each epoch. Katib's default filter ``([\\w|-]+)\\s*=\\s*(...)`` finds ``loss=`` in the
  ``Train Epoch`` lines; the ``{metricName: ..., metricValue: ...}`` lines need the filter of
  ``file-metrics-collector.yaml``.
* with ``--log-path=FILE`` and the standard logger: the same lines, in FILE instead of stderr.
* with ``--logger=hypertune --log-path=FILE``: in addition to the stderr lines, FILE holds
  cloudml-hypertune's JSON lines (the whole file rewritten at each report, keys sorted, values as
  strings, ``timestamp`` as float seconds)::

      {"global_step": "1", "loss": "0.7076...", "timestamp": 1714564800.123, "trial": "0"}
      {"accuracy": "0.7311...", "global_step": "1", "timestamp": 1714564800.124, "trial": "0"}

Like torch's SGD, a negative ``--lr`` or ``--momentum`` makes it fail (exit code 1, a traceback).
Unknown arguments are accepted and ignored. It runs in a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import math
import os
import pickle
import sys
import time

LOG = logging.getLogger()  # the root logger, as the real script logs with logging.info

WORLD_SIZE = int(os.environ.get("WORLD_SIZE", "1"))

TRAIN_SIZE = 60000  # FashionMNIST
TEST_SIZE = 10000
INITIAL_LOSS = math.log(10.0)  # cross-entropy of a uniform guess over 10 classes

# Where the fake loss is lowest, inside the feasible spaces of Katib's examples.
BEST_LR = 0.02
BEST_MOMENTUM = 0.6


def badness(lr: float, momentum: float) -> float:
    """Distance of (lr, momentum) from the optimum: 0 there, about 1 at the examples' edges."""
    lr_term = math.log(max(lr, 1e-12) / BEST_LR) / math.log(2.5)
    momentum_term = (momentum - BEST_MOMENTUM) / 0.3
    return lr_term * lr_term + momentum_term * momentum_term


def train_loss(progress: float, lr: float, momentum: float, batch_size: int) -> float:
    """Training loss after ``progress`` epochs (a real number): decreasing, floor set by badness."""
    b = badness(lr, momentum)
    floor = 0.22 + 0.6 * (1.0 - math.exp(-b / 2.0))
    # Bad settings learn much more slowly, as they do on MNIST: the median stopping rule needs
    # trajectories that separate early.
    rate = 4.0 * (64.0 / max(batch_size, 1)) ** 0.25 / (1.0 + b) ** 2
    return floor + (INITIAL_LOSS - floor) * math.exp(-rate * progress)


def test_metrics(epoch: int, lr: float, momentum: float, batch_size: int) -> tuple[float, float]:
    """(accuracy, loss) on the test set after ``epoch`` epochs."""
    loss = 1.05 * train_loss(float(epoch), lr, momentum, batch_size) + 0.02
    accuracy = max(0.1, min(0.99, 1.0 - 0.38 * loss))
    return accuracy, loss


class HyperTune:
    """What the script uses of cloudml-hypertune's ``hypertune.HyperTune``, same file format."""

    def __init__(self) -> None:
        self.metric_path = os.environ.get(
            "CLOUD_ML_HP_METRIC_FILE", "/tmp/hypertune/output.metrics"
        )
        self.trial_id = os.environ.get("CLOUD_ML_TRIAL_ID", "0")
        self.metrics_queue: collections.deque[dict[str, object]] = collections.deque(maxlen=100)

    def report_hyperparameter_tuning_metric(
        self, hyperparameter_metric_tag: str, metric_value: float, global_step: int | None = None
    ) -> None:
        metric_body = {
            "timestamp": time.time(),
            "trial": str(self.trial_id),
            hyperparameter_metric_tag or "training/hptuning/metric": str(float(metric_value)),
            "global_step": str(int(global_step) if global_step else 0),
        }
        self.metrics_queue.append(metric_body)
        folder = os.path.dirname(self.metric_path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(self.metric_path, "w") as metric_file:
            metric_file.writelines(
                json.dumps(metric, sort_keys=True) + "\n" for metric in self.metrics_queue
            )


def train(args: argparse.Namespace, epoch: int) -> None:
    num_batches = math.ceil(TRAIN_SIZE / args.batch_size)
    # Tests of early stopping need trials that take a while, as real training does:
    # STANDIN_EPOCH_SECONDS spreads an epoch's log lines over that many seconds.
    pause = float(os.environ.get("STANDIN_EPOCH_SECONDS", "0")) / max(
        1, math.ceil(num_batches / args.log_interval)
    )
    for batch_idx in range(0, num_batches, args.log_interval):
        if pause:
            time.sleep(pause)
        len_data = min(args.batch_size, TRAIN_SIZE - batch_idx * args.batch_size)
        progress = (epoch - 1) + batch_idx / num_batches
        loss = train_loss(progress, args.lr, args.momentum, args.batch_size)
        percent = 100.0 * batch_idx / num_batches
        msg = f"Train Epoch: {epoch} [{batch_idx * len_data}/{TRAIN_SIZE} ({percent:.0f}%)]"
        msg += f"\tloss={loss:.4f}"
        LOG.info(msg)


def test(args: argparse.Namespace, epoch: int, hpt: HyperTune) -> None:
    test_accuracy, test_loss = test_metrics(epoch, args.lr, args.momentum, args.batch_size)
    LOG.info(
        f"{{metricName: accuracy, metricValue: {test_accuracy:.4f}}};"
        f"{{metricName: loss, metricValue: {test_loss:.4f}}}\n"
    )
    if args.logger == "hypertune":
        hpt.report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag="loss", metric_value=test_loss, global_step=epoch
        )
        hpt.report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag="accuracy", metric_value=test_accuracy, global_step=epoch
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="PyTorch MNIST Example (pykatib stand-in)")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N")
    parser.add_argument("--test-batch-size", type=int, default=1000, metavar="N")
    parser.add_argument("--epochs", type=int, default=10, metavar="N")
    parser.add_argument("--lr", type=float, default=0.01, metavar="LR")
    parser.add_argument("--momentum", type=float, default=0.5, metavar="M")
    parser.add_argument("--no-cuda", action="store_true", default=False)
    parser.add_argument("--seed", type=int, default=1, metavar="S")
    parser.add_argument("--log-interval", type=int, default=10, metavar="N")
    parser.add_argument("--log-path", type=str, default="")
    parser.add_argument("--save-model", action="store_true", default=False)
    parser.add_argument("--logger", type=str, choices=["standard", "hypertune"], default="standard")
    parser.add_argument("--backend", type=str, choices=["gloo", "nccl", "mpi"], default="gloo")
    args, _unknown = parser.parse_known_args(argv)
    if args.batch_size < 1 or args.log_interval < 1:
        parser.error("--batch-size and --log-interval must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    logging.Formatter.converter = time.gmtime  # the image runs in UTC: its "Z" is true
    if args.log_path == "" or args.logger == "hypertune":
        logging.basicConfig(
            format="%(asctime)s %(levelname)-8s %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%SZ",
            level=logging.DEBUG,
        )
    else:
        folder = os.path.dirname(args.log_path)
        if folder:
            os.makedirs(folder, exist_ok=True)  # the image creates /katib beforehand
        logging.basicConfig(
            format="%(asctime)s %(levelname)-8s %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%SZ",
            level=logging.DEBUG,
            filename=args.log_path,
        )

    if args.logger == "hypertune" and args.log_path != "":
        os.environ["CLOUD_ML_HP_METRIC_FILE"] = args.log_path

    hpt = HyperTune()

    if WORLD_SIZE > 1:
        print(f"Using distributed PyTorch with {args.backend} backend")
        # As dist.init_process_group(backend) with env:// does: meet the others, or fail.
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import rendezvous

        rendezvous.meet(rendezvous.from_torch_env())

    # torch.optim.SGD's own checks, raised before any training.
    if args.lr < 0.0:
        raise ValueError(f"Invalid learning rate: {args.lr}")
    if args.momentum < 0.0:
        raise ValueError(f"Invalid momentum value: {args.momentum}")

    for epoch in range(1, args.epochs + 1):
        train(args, epoch)
        test(args, epoch, hpt)

    if args.save_model:
        with open("mnist_cnn.pt", "wb") as model_file:
            pickle.dump(
                {"lr": args.lr, "momentum": args.momentum, "epochs": args.epochs}, model_file
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
