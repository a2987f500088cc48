"""Data-parallel training of a small network on scikit-learn's digits, one process per replica.

Run by a PyTorchJob (experiment.yaml): the training operator (or pykatib, on one machine) starts
a Master and Workers with MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK set, and
``init_process_group`` meets them there. Each process trains on its shard of the training set
(DistributedSampler); DistributedDataParallel averages the gradients, so every replica holds the
same model. The master (rank 0) prints the metrics Katib collects from its log, once per epoch:

    epoch=3 loss=0.2154 Validation-accuracy=0.9472

Backend: gloo on the CPU; nccl, with each replica on its own GPU, when CUDA is there (the
replica's CUDA_VISIBLE_DEVICES names the GPU it was given).
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    use_cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if use_cuda else "gloo")  # env://: the operator's variables
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", 0) if use_cuda else torch.device("cpu")
    torch.manual_seed(0)  # the same initial weights on every replica
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x / 16.0, y, test_size=0.25, random_state=0, stratify=y
    )
    train = TensorDataset(torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train))
    sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=0)
    loader = DataLoader(train, batch_size=args.batch_size, sampler=sampler)
    x_val_t = torch.tensor(x_val, dtype=torch.float32, device=device)
    y_val_t = torch.tensor(y_val, device=device)

    model = nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 10))
    model = DistributedDataParallel(model.to(device), device_ids=[0] if use_cuda else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    loss_fn = nn.CrossEntropyLoss()
    if rank == 0:
        print(f"training on {world} replicas ({dist.get_backend()}, {device})", flush=True)

    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)
        model.train()
        total, count = torch.zeros(2, device=device), 0
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()  # DDP averages the gradients over the replicas here
            optimizer.step()
            total[0] += loss.detach() * len(yb)
            count += len(yb)
        total[1] = count
        dist.all_reduce(total)  # the mean training loss over every replica's shard
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_val_t).argmax(1) == y_val_t).float().mean().item()
        if rank == 0:
            mean_loss = (total[0] / total[1]).item()
            print(
                f"epoch={epoch} loss={mean_loss:.4f} Validation-accuracy={accuracy:.4f}", flush=True
            )
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
