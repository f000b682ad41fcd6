"""``hub serve`` under load: real HTTP requests to a real server on 127.0.0.1. Prints JSON.

    .venv/bin/python benchmarks/serve_load.py [--seconds 3] [--only text,image] [--concurrency 1,8,64]

For the text and the image defaults (the demos' presets, fine-tuned briefly on generated
data and exported), a server runs with dynamic batching (--max-batch 32) and one without
(--max-batch 1). A client of C keep-alive connections (one asyncio loop, raw HTTP/1.1, so
the client costs little CPU beside the server) sends one-input requests back to back for
--seconds; throughput is answers per second, latency is per request (p50, p99).

Goals (issue 20): at concurrency 64, batching gives >= 2x the throughput of batch-1
serving; at concurrency 1 it adds <= 1 ms to p50. CPU flags and the load average before
and after are reported: the machine is shared.

``--sigterm`` (issue 36): 40 clients send back to back; SIGTERM after --seconds; each client
goes on until a connection is refused. Reported: requests answered, and lost (sent on an
accepted connection without an answer back; goal 0), with 1 and 2 worker processes.

``--hostile`` (issue 36): 8 clients send normal requests for --seconds, alone and then while 2
more send bombs (JSON nested 5,000 deep, a text past the length limit, an image whose header
declares 30,000 x 30,000 pixels), at --bomb-rate bombs a second in all (0: back to back, a
flood that measures CPU capacity rather than stalling). Reported: the normal clients' p99 in
both runs and their ratio (goal: <= 2), and how the bombs were answered.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
GOALS = {"batching_speedup_at_64": 2.0, "batching_p50_cost_ms_at_1": 1.0}
FLAGS = ("avx2", "avx512f", "avx512_vnni", "amx_tile")


def hub(*args) -> None:
    """``hub ARGS`` in a subprocess (this checkout's hub_core first on the path)."""
    subprocess.run([sys.executable, "-m", "hub_core", *map(str, args)], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})


def text_model(folder: Path) -> tuple[Path, list]:
    from hub_nlp.demo import make_data

    data = make_data(folder / "text-data", 0)
    rows = (folder / "text-data" / "val.csv").read_text().splitlines()[1:]
    hub("finetune", "nlp/bert-tiny", "-t", "classification", "-d", data["train"], "--out", folder / "text",
        "--epochs", "2", "--max-length", "32", "--quiet")
    return folder / "text", [row.rsplit(",", 1)[0].strip('"') for row in rows]


def image_model(folder: Path) -> tuple[Path, list]:
    from hub_vision.demo import make_data

    data = make_data(folder / "image-data", 0)
    hub("finetune", "vision/tiny", "-t", "classification", "-d", data["train"], "--out", folder / "image",
        "--epochs", "2", "-p", "image_size=32", "--quiet")
    files = sorted(p for p in Path(data["train"]).rglob("*.png"))[:64]
    return folder / "image", [{"base64": base64.b64encode(p.read_bytes()).decode(), "filename": p.name} for p in files]


MODELS = {"text": text_model, "image": image_model}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(model_dir: Path, max_batch: int, workers: int = 1) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "hub_core", "serve", str(model_dir), "--port", str(port),
                                "--max-batch", str(max_batch), "--max-queue", "4096", "--workers", str(workers)],
                               stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server for {model_dir} did not start")


def v2_body(item) -> bytes:
    """An Open Inference Protocol request as tritonclient sends it by default: the input as a
    binary BYTES tensor 'raw' (the text, or the file's bytes), the answer asked as binary."""
    value = base64.b64decode(item["base64"]) if isinstance(item, dict) else str(item).encode()
    header = json.dumps({"inputs": [{"name": "raw", "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(value) + 4}}],
                         "outputs": [{"name": "answer", "parameters": {"binary_data": True}}]}).encode()
    return b"%d\n" % len(header) + header + struct.pack("<I", len(value)) + value


async def exchange(reader, writer, path: str, body: bytes) -> bytes:
    """One POST on a keep-alive connection; the response's head (its body read and dropped).
    A body that starts with 'LENGTH\n' is a binary v2 request whose JSON header is LENGTH bytes."""
    kind = b"Content-Type: application/json\r\n"
    if body[:1].isdigit():
        length, body = body.split(b"\n", 1)
        kind = b"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: %s\r\n" % length
    writer.write(b"POST %s HTTP/1.1\r\nHost: bench\r\n%sContent-Length: %d\r\n\r\n" % (path.encode(), kind, len(body))
                 + body)
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    await reader.readexactly(length)
    return head


async def client(port: int, path: str, bodies: list[bytes], until: float, latencies: list, errors: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = 0
    try:
        while time.perf_counter() < until:
            body = bodies[index % len(bodies)]
            index += 1
            started = time.perf_counter()
            head = await exchange(reader, writer, path, body)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(head.split(b"\r\n")[0].decode())
                continue
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


async def load(port: int, name: str, bodies: list[bytes], concurrency: int, seconds: float, v2: bool = False) -> dict:
    path = f"/v2/models/{name}/infer" if v2 else f"/v1/models/{name}:predict"
    warm_latencies: list = []
    await client(port, path, bodies, time.perf_counter() + 0.5, warm_latencies, [])  # warm-up
    latencies, errors = [], []
    started = time.perf_counter()
    await asyncio.gather(*(client(port, path, bodies[i:] + bodies[:i], started + seconds, latencies, errors)
                           for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"concurrency": concurrency, "requests": len(latencies), "errors": len(errors),
            "throughput_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(ordered) * 1000, 2) if ordered else None,
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 2) if ordered else None}


def bombs(kind: str) -> list[bytes]:
    """Request bodies that must be refused cheaply, before anything large is allocated."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    nested = b'{"inputs": [' + b"[" * 5000 + b"]" * 5000 + b"]}"
    item = ({"base64": base64.b64encode(png).decode(), "filename": "bomb.png"} if kind == "image"
            else "x" * (1_000_000 + 10))
    return [nested, json.dumps({"inputs": [item]}).encode()]


async def bomber(port: int, path: str, bodies: list[bytes], until: float, tally: dict, rate: float = 0.0) -> None:
    """Sends ``bodies`` until ``until`` (``rate`` a second, 0: back to back), reconnecting when the
    server closes; counts statuses."""
    index, interval = 0, 1.0 / rate if rate else 0.0
    while time.perf_counter() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        try:
            while time.perf_counter() < until:
                head = await exchange(reader, writer, path, bodies[index % len(bodies)])
                index += 1
                status = head.split(b" ", 2)[1].decode()
                tally[status] = tally.get(status, 0) + 1
                if interval:
                    await asyncio.sleep(interval)
        except (OSError, asyncio.IncompleteReadError):
            tally["closed"] = tally.get("closed", 0) + 1
        finally:
            writer.close()


async def hostile_load(port: int, kind: str, bodies: list[bytes], seconds: float, rate: float) -> dict:
    """The normal clients' latency alone, then while two bombers run (goal: p99 within 2x)."""
    calm = await load(port, kind, bodies, 8, seconds)
    path, latencies, errors, tally = f"/v1/models/{kind}:predict", [], [], {}
    until = time.perf_counter() + seconds
    await asyncio.gather(*(client(port, path, bodies[i:] + bodies[:i], until, latencies, errors) for i in range(8)),
                         *(bomber(port, path, bombs(kind), until, tally, rate / 2) for _ in range(2)))
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000 if ordered else None
    return {"calm": calm, "under_bombs": {"requests": len(latencies), "errors": len(errors),
                                          "p50_ms": round(statistics.median(ordered) * 1000, 2) if ordered else None,
                                          "p99_ms": round(p99, 2) if p99 else None},
            "bomb_rate_per_s": rate or "back to back", "bombs_answered": tally,
            "p99_ratio": round(p99 / calm["p99_ms"], 2) if p99 and calm["p99_ms"] else None}


async def until_refused(port: int, path: str, bodies: list[bytes], deadline: float, tally: dict) -> None:
    """One client for the SIGTERM run: requests back to back on keep-alive connections, a new
    connection when the server closes one, until a connection is refused (the server stopped
    accepting). A request sent without a whole answer back is lost."""
    index = 0
    while time.perf_counter() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return  # refused: nothing sent, nothing lost
        try:
            while time.perf_counter() < deadline:
                body = bodies[index % len(bodies)]
                index += 1
                try:
                    head = await exchange(reader, writer, path, body)
                except (OSError, asyncio.IncompleteReadError):
                    tally["lost"] += 1
                    break
                tally["answered"] += 1
                tally["ok"] += head.startswith(b"HTTP/1.1 200")
                if b"connection: close" in head.lower():
                    break
        finally:
            writer.close()


async def sigterm_load(process, port: int, name: str, bodies: list[bytes], concurrency: int, after: float) -> dict:
    """``concurrency`` clients; SIGTERM ``after`` seconds in: what was answered, and lost."""
    tally = {"answered": 0, "ok": 0, "lost": 0}
    deadline = time.perf_counter() + after + 60
    clients = asyncio.gather(*(until_refused(port, f"/v1/models/{name}:predict", bodies[i:] + bodies[:i], deadline,
                                             tally) for i in range(concurrency)))
    await asyncio.sleep(after)
    answered_before = tally["answered"]
    process.terminate()
    signalled = time.perf_counter()
    await clients
    code = await asyncio.get_running_loop().run_in_executor(None, process.wait, 60)
    return {"concurrency": concurrency, "answered_before_sigterm": answered_before, **tally,
            "exit_code": code, "drain_s": round(time.perf_counter() - signalled, 2)}


def mean_batch(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        lines = reply.read().decode().splitlines()
    values = {line.split()[0]: float(line.split()[1]) for line in lines if line.startswith("hub_batch_size_")}
    count = values.get(f'hub_batch_size_count{{model="{name}"}}')
    return round(values[f'hub_batch_size_sum{{model="{name}"}}'] / count, 2) if count else None


def cpu_flags() -> list[str]:
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [flag for flag in FLAGS if flag in words]


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.machine import Machine

    machine = Machine.now()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="Timed load per row.")
    parser.add_argument("--only", default="text,image")
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--sigterm", action="store_true", help="Instead: SIGTERM under load (40 clients, after "
                        "--seconds; with 1 and 2 workers): requests answered and lost (goal: 0 lost).")
    parser.add_argument("--hostile", action="store_true", help="Instead: normal clients' p99 alone and while bombs "
                        "are sent (goal: within 2x).")
    parser.add_argument("--bomb-rate", type=float, default=20.0, help="With --hostile: bombs a second, in all "
                        "(0: back to back).")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    load_before = os.getloadavg()[0]
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.only.split(","):
            model_dir, inputs = MODELS[kind](Path(folder))
            hub("export", model_dir, "--no-validate")
            bodies = [json.dumps({"inputs": [item]}).encode() for item in inputs]
            rows = {}
            if args.sigterm:
                for workers in (1, 2):
                    process, port = start(model_dir, 32, workers)
                    rows[f"sigterm_workers_{workers}"] = asyncio.run(sigterm_load(process, port, kind, bodies, 40,
                                                                                  args.seconds))
                results[kind] = rows
                continue
            if args.hostile:
                process, port = start(model_dir, 32)
                try:
                    results[kind] = asyncio.run(hostile_load(port, kind, bodies, args.seconds, args.bomb_rate))
                finally:
                    process.terminate()
                    process.wait(timeout=60)
                continue
            for label, max_batch in (("batching", 32), ("batch-1", 1)):
                process, port = start(model_dir, max_batch)
                try:
                    rows[label] = [asyncio.run(load(port, kind, bodies, c, args.seconds)) for c in levels]
                    rows[label + "_mean_batch"] = mean_batch(port, kind)
                    if label == "batching":  # the Open Inference Protocol's binary route, same server
                        v2 = [v2_body(item) for item in inputs]
                        rows["v2-binary"] = [asyncio.run(load(port, kind, v2, c, args.seconds, v2=True))
                                             for c in levels]
                finally:
                    process.terminate()
                    process.wait(timeout=60)
            results[kind] = rows | summary(rows, levels)
    print(json.dumps({"machine": machine.report(),
                      "goals": GOALS, "results": results, "seconds_per_row": args.seconds, "cpu_flags": cpu_flags(),
                      "cpus": os.cpu_count(),
                      "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}, indent=2))


def summary(rows: dict, levels: list[int]) -> dict:
    on, off = ({r["concurrency"]: r for r in rows[key]} for key in ("batching", "batch-1"))
    out = {}
    if 64 in levels:
        out["speedup_at_64"] = round(on[64]["throughput_per_s"] / max(off[64]["throughput_per_s"], 1e-9), 2)
    if 1 in levels and on[1]["p50_ms"] is not None and off[1]["p50_ms"] is not None:
        out["p50_cost_ms_at_1"] = round(on[1]["p50_ms"] - off[1]["p50_ms"], 2)
    if "v2-binary" in rows:  # the v2 route's throughput against /v1's, both batching, same server
        out["v2_vs_v1_throughput"] = {r["concurrency"]: round(r["throughput_per_s"] / max(
            on[r["concurrency"]]["throughput_per_s"], 1e-9), 2) for r in rows["v2-binary"]}
    return out


if __name__ == "__main__":
    main()
