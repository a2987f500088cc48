"""Stand-in for Katib's ``/opt/pbt/pbt_test.py`` (image ``ghcr.io/kubeflow/katib/simple-pbt``).

The real script is already a toy: Ray Tune's PBT benchmark, an "accuracy" (0..100) that grows
fastest when ``--lr`` follows a triangle wave of the current accuracy. This stand-in keeps its
dynamics, its arguments and its outputs, with two differences:

* it is deterministic: the real one draws from unseeded ``random``/``numpy`` generators; this one
  seeds a ``random.Random`` from lr and the starting step, so a given (checkpoint, lr) always gives
  the same result;
* it does not sleep: the real one pads its run to 7 s so that Katib's metrics-collector sidecar
  has time to find its process.

It resumes from ``<checkpoint>/training.ckpt`` when that file exists (a pickled
``{"step": int, "accuracy": float}``, the real format), runs ``--epochs`` steps, saves the
checkpoint, and prints once, to stdout, at the end::

    epoch 21:
    lr=0.0100
    Validation-accuracy=0.1234

``Validation-accuracy`` is the objective of ``simple-pbt.yaml`` (Katib's default StdOut filter
also sees ``lr=``, which that experiment does not ask for). Unknown arguments are ignored.
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import sys

EPS = sys.float_info.epsilon  # np.finfo(float).eps


class PBTBenchmarkExample:
    def __init__(self, lr: float, checkpoint: str) -> None:
        self._lr = lr
        self._checkpoint_file = os.path.join(checkpoint, "training.ckpt")
        if os.path.exists(self._checkpoint_file):
            with open(self._checkpoint_file, "rb") as fin:
                checkpoint_data = pickle.load(fin)
            self._accuracy = float(checkpoint_data["accuracy"])
            self._step = int(checkpoint_data["step"])
        else:
            os.makedirs(checkpoint, exist_ok=True)
            self._step = 1
            self._accuracy = 0.0
        self._rng = random.Random(f"pbt:{lr!r}:{self._step}")

    def save_checkpoint(self) -> None:
        with open(self._checkpoint_file, "wb") as fout:
            pickle.dump({"step": self._step, "accuracy": self._accuracy}, fout)

    def step(self) -> None:
        midpoint = 50  # lr starts decreasing after acc > midpoint
        q_tolerance = 3  # penalize exceeding lr by more than this multiple
        noise_level = 2  # add gaussian noise to the acc increase
        if self._accuracy < midpoint:
            optimal_lr = 0.01 * self._accuracy / midpoint
        else:
            optimal_lr = 0.01 - 0.01 * (self._accuracy - midpoint) / midpoint
        optimal_lr = min(0.01, max(0.001, optimal_lr))

        q_err = max(self._lr, optimal_lr) / (min(self._lr, optimal_lr) + EPS)
        if q_err < q_tolerance:
            self._accuracy += (1.0 / q_err) * self._rng.random()
        elif self._lr > optimal_lr:
            self._accuracy -= (q_err - q_tolerance) * self._rng.random()
        self._accuracy += noise_level * self._rng.gauss(0.0, 1.0)
        self._accuracy = max(0, min(100, self._accuracy))

        self._step += 1

    def __repr__(self) -> str:
        accuracy = self._accuracy / 100
        return f"epoch {self._step}:\nlr={self._lr:0.4f}\nValidation-accuracy={accuracy:0.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PBT Basic Test (pykatib stand-in)")
    parser.add_argument("--lr", type=float, default=0.0001)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--checkpoint", type=str, default="/var/log/katib/checkpoints/")
    opt, _unknown = parser.parse_known_args(argv)

    benchmark = PBTBenchmarkExample(opt.lr, opt.checkpoint)
    for _ in range(opt.epochs):
        benchmark.step()
    benchmark.save_checkpoint()

    print(benchmark)
    return 0


if __name__ == "__main__":
    sys.exit(main())
