"""Two torchrun "nodes" on localhost (c10d rendezvous, one process each), as on two machines:
``hub`` (tests/run_hub.py) started on both, their (exit code, stderr) returned."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def two_nodes(name: str, *args) -> list[tuple[int, str]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(rank), "--nproc-per-node",
         "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", name,
         str(Path(__file__).resolve().parent / "run_hub.py"), *map(str, args)],
        env=env, stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    errors = [node.communicate(timeout=300)[1] for node in nodes]  # read while they run: a full pipe would block them
    return [(node.returncode, error) for node, error in zip(nodes, errors)]
