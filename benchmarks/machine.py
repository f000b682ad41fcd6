"""What every benchmark prints about the machine it ran on, so that figures from different
machines are read side by side: the CPU model, the flags that decide int8 and matmul speed
(AVX2, AVX-512, VNNI, AMX), the thread count and the load average before and after.

    from benchmarks.machine import Machine
    machine = Machine.now()          # before measuring
    ...
    print(json.dumps({"machine": machine.report(threads), ...}))   # after: adds the load then
"""
from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

FLAGS = {"avx2": "avx2", "avx512f": "avx512f", "avx512_vnni": "avx512_vnni", "avx_vnni": "avx_vnni",
         "avx512_bf16": "avx512_bf16", "amx_tile": "amx_tile", "amx_bf16": "amx_bf16", "amx_int8": "amx_int8"}


def cpu_info() -> tuple[str, set[str]]:
    """(the CPU model name, its flags) from /proc/cpuinfo; ("unknown", {}) where there is none."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown", set()
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return model, set(flags)


def cpu_flags() -> list[str]:
    """The speed-deciding flags this CPU has, in a fixed order."""
    present = cpu_info()[1]
    return [name for name in FLAGS if name in present]


def has_vnni() -> bool:
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_info()[1])


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass
class Machine:
    model: str
    flags: list[str]
    cpus: int
    load_before: list[float]

    @classmethod
    def now(cls) -> "Machine":
        model, _ = cpu_info()
        return cls(model, cpu_flags(), os.cpu_count() or 1, load())

    def report(self, threads: int | None = -1) -> dict:
        """The machine as JSON; the load average (1, 5, 15 min) is read again now, for "after".
        ``threads``: the intra-op threads the measured engines used (None: not applicable;
        default: torch's, if the benchmark imported torch)."""
        if threads == -1:
            torch = sys.modules.get("torch")
            threads = torch.get_num_threads() if torch is not None else None
        return {"cpu": self.model, "flags": self.flags, "cpus": self.cpus, "threads": threads,
                "load_before": self.load_before, "load_after": load()}
