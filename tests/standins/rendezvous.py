"""A real rendezvous over TCP for the stand-ins of distributed training scripts (stdlib only).

What torch.distributed's ``env://`` init and TensorFlow's ``TF_CONFIG`` make of the environment
the training operator gives each replica, checked for real: the rank-0 process listens on the
address the environment names, every other one connects to it and says its rank, and rank 0
checks that it heard from each rank exactly once. A wrong or missing variable, two replicas with
one rank, or a port another trial holds makes the script fail (exit code 3, with the reason),
as the real training would.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

TIMEOUT_SECONDS = 60.0


def fail(text: str) -> None:
    print(f"rendezvous: {text}", file=sys.stderr, flush=True)
    sys.exit(3)


def from_torch_env() -> tuple[str, int, int, int] | None:
    """(address, port, rank, world size) from MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE, or None
    when WORLD_SIZE is 1 or unset (a single process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    try:
        return (
            os.environ["MASTER_ADDR"],
            int(os.environ["MASTER_PORT"]),
            int(os.environ["RANK"]),
            world,
        )
    except (KeyError, ValueError) as exc:
        fail(f"WORLD_SIZE={world} but {exc} is missing or not a number")
    return None


def from_tf_config() -> tuple[str, int, int, int] | None:
    """(address, port, rank, world size) from TF_CONFIG's cluster and task (chief, else worker
    0, is rank 0; the evaluator is not part of the cluster), or None without TF_CONFIG."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    config = json.loads(text)
    cluster, task = config["cluster"], config["task"]
    members = [
        (kind, i)
        for kind in ("chief", "master", "worker", "ps")
        for i in range(len(cluster.get(kind, [])))
    ]
    if task["type"] == "evaluator":
        return None
    me = (task["type"], int(task["index"]))
    if me not in members:
        fail(f"task {me} is not in the cluster {cluster}")
    host, port = cluster[members[0][0]][0].rsplit(":", 1)
    return host, int(port), members.index(me), len(members)


def meet(where: tuple[str, int, int, int] | None) -> None:
    """Rendezvous as ``where`` says (None: nothing to meet)."""
    if where is None:
        return
    host, port, rank, world = where
    if not 0 <= rank < world:
        fail(f"RANK {rank} is outside 0..{world - 1}")
    deadline = time.monotonic() + TIMEOUT_SECONDS
    if rank == 0:
        with socket.create_server((host, port)) as server:
            server.settimeout(TIMEOUT_SECONDS)
            heard = []
            for _ in range(world - 1):
                conn, _addr = server.accept()
                with conn:
                    heard.append(int(conn.makefile().readline()))
                    conn.sendall(b"ok\n")
        if sorted(heard) != list(range(1, world)):
            fail(f"rank 0 heard ranks {sorted(heard)}, expected 1..{world - 1}")
        print(f"rendezvous: rank 0 of {world} met ranks {sorted(heard)}", flush=True)
        return
    while True:
        try:
            with socket.create_connection((host, port), timeout=5) as conn:
                conn.sendall(f"{rank}\n".encode())
                if conn.makefile().readline().strip() == "ok":
                    print(f"rendezvous: rank {rank} of {world} met rank 0", flush=True)
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            fail(f"rank {rank} could not reach rank 0 at {host}:{port}")
        time.sleep(0.05)  # rank 0 is not listening yet: try again, as torch's TCPStore does
