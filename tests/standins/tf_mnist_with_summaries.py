"""Stand-in for Katib's ``/opt/tf-mnist-with-summaries/mnist.py`` (TensorFlow summaries).

The real script trains a small Keras CNN on MNIST with Adam(``--learning-rate``) and writes
TensorFlow 2 summaries, which Katib's TensorFlowEvent collector reads. This stand-in needs no
TensorFlow: it computes deterministic fake metrics (best at learning rate 0.02, batch size 48, the
middle of the feasible space of ``tfjob-mnist-with-summaries.yaml``) and writes them the same way:

* TFRecord event files ``<log-path>/train/events.out.tfevents.<time>.<host>.<pid>.<n>.v2`` and
  ``<log-path>/test/...``: a first event with ``file_version: "brain.Event:2"``, then per epoch
  (``step`` = epoch, from 0) one event per scalar, ``loss`` and ``accuracy`` (a fraction), each as
  TF2's ``tf.summary.scalar`` writes them: a ``Summary.Value`` with ``tag``, a 0-d ``DT_FLOAT``
  ``tensor`` whose 4 bytes are in ``tensor_content``, and ``metadata.plugin_data.plugin_name``
  ``"scalars"``. Records are framed and CRC32C-checked like TensorFlow's.
* stdout, like the real ``print`` calls (note: accuracy printed as a percentage)::

      Train Epoch: 1 [0/60000 (0%)]\tloss=2.1234, accuracy=23.4500
      Test Loss: 0.3000, Test Accuracy: 91.2000
      <empty line>

The train line repeats every ``--log-interval`` steps. Unknown arguments are ignored.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import struct
import sys
import time

TRAIN_SIZE = 60000
INITIAL_LOSS = math.log(10.0)
BEST_LEARNING_RATE = 0.02
BEST_BATCH_SIZE = 48


# ---- TFRecord framing (CRC32C, masked) -------------------------------------------------------


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


# ---- Protocol buffers, by hand (tensorflow/core/util/event.proto, framework/summary.proto) ----


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # negative int64 values take ten bytes, as in protobuf
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _bytes_field(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _event(
    wall_time: float, step: int = 0, *, file_version: str = "", summary: bytes = b""
) -> bytes:
    out = _key(1, 1) + struct.pack("<d", wall_time)  # double wall_time = 1
    if step:
        out += _key(2, 0) + _varint(step)  # int64 step = 2
    if file_version:
        out += _bytes_field(3, file_version.encode())  # string file_version = 3
    if summary:
        out += _bytes_field(5, summary)  # Summary summary = 5
    return out


def _scalar_summary(tag: str, value: float) -> bytes:
    tensor = (
        _key(1, 0)
        + _varint(1)  # DataType dtype = 1: DT_FLOAT
        + _bytes_field(2, b"")  # TensorShapeProto tensor_shape = 2: a scalar
        + _bytes_field(4, struct.pack("<f", value))  # bytes tensor_content = 4
    )
    metadata = _bytes_field(1, _bytes_field(1, b"scalars"))  # plugin_data { plugin_name }
    summary_value = (
        _bytes_field(1, tag.encode())  # string tag = 1
        + _bytes_field(8, tensor)  # TensorProto tensor = 8
        + _bytes_field(9, metadata)  # SummaryMetadata metadata = 9
    )
    return _bytes_field(1, summary_value)  # repeated Value value = 1


class EventFileWriter:
    """Appends scalar events to one new event file in ``logdir``, like tf.summary's file writer."""

    _count = 0

    def __init__(self, logdir: str) -> None:
        os.makedirs(logdir, exist_ok=True)
        EventFileWriter._count += 1
        stamp, host, pid = int(time.time()), socket.gethostname(), os.getpid()
        name = f"events.out.tfevents.{stamp:010d}.{host}.{pid}.{EventFileWriter._count}.v2"
        self.path = os.path.join(logdir, name)
        with open(self.path, "wb") as out:
            out.write(tfrecord(_event(time.time(), file_version="brain.Event:2")))

    def scalar(self, tag: str, value: float, step: int) -> None:
        with open(self.path, "ab") as out:
            out.write(tfrecord(_event(time.time(), step, summary=_scalar_summary(tag, value))))


# ---- The fake training -----------------------------------------------------------------------


def badness(learning_rate: float, batch_size: int) -> float:
    lr_term = math.log(max(learning_rate, 1e-12) / BEST_LEARNING_RATE) / math.log(2.5)
    batch_term = (batch_size - BEST_BATCH_SIZE) / 32.0
    return lr_term * lr_term + batch_term * batch_term


def loss_at(progress: float, learning_rate: float, batch_size: int) -> float:
    b = badness(learning_rate, batch_size)
    floor = 0.05 + 0.5 * (1.0 - math.exp(-b / 2.0))
    rate = 2.0 / (1.0 + b)
    return floor + (INITIAL_LOSS - floor) * math.exp(-rate * progress)


def accuracy_of(loss: float) -> float:
    return max(0.1, min(0.995, 1.0 - 0.4 * loss))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TF MNIST with summaries (pykatib stand-in)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--epochs", type=int, default=10, metavar="N")
    parser.add_argument("--log-interval", type=int, default=100, metavar="N")
    parser.add_argument(
        "--log-path",
        type=str,
        default=os.path.join(
            os.getenv("TEST_TMPDIR", "/tmp"), "tensorflow/mnist/logs/mnist_with_summaries"
        ),
    )
    args, _unknown = parser.parse_known_args(argv)
    if args.batch_size < 1 or args.log_interval < 1:
        parser.error("--batch-size and --log-interval must be positive")

    # As tf.distribute's strategies do with TF_CONFIG: meet the cluster, or fail.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import rendezvous

    rendezvous.meet(rendezvous.from_tf_config())

    train_writer = EventFileWriter(os.path.join(args.log_path, "train"))
    test_writer = EventFileWriter(os.path.join(args.log_path, "test"))
    steps = math.ceil(TRAIN_SIZE / args.batch_size)
    lr, bs = args.learning_rate, args.batch_size

    for epoch in range(args.epochs):
        # Keras metrics that the real script never resets: running means since the first step.
        for step in range(0, steps, args.log_interval):
            progress = epoch + step / steps
            mean_loss = (loss_at(progress / 2, lr, bs) + loss_at(progress, lr, bs)) / 2
            print(
                f"Train Epoch: {epoch + 1} [{step * bs}/60000 ({100.0 * step * bs / 60000:.0f}%)]"
                f"\tloss={mean_loss:.4f}, accuracy={accuracy_of(mean_loss) * 100:.4f}"
            )
        epoch_end = float(epoch + 1)
        train_loss = (loss_at(epoch_end / 2, lr, bs) + loss_at(epoch_end, lr, bs)) / 2
        train_writer.scalar("loss", train_loss, epoch)
        train_writer.scalar("accuracy", accuracy_of(train_loss), epoch)

        test_loss = 1.05 * loss_at(epoch_end, lr, bs) + 0.01
        test_writer.scalar("loss", test_loss, epoch)
        test_writer.scalar("accuracy", accuracy_of(test_loss), epoch)
        print(f"Test Loss: {test_loss:.4f}, Test Accuracy: {accuracy_of(test_loss) * 100:.4f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
