"""Dynamic micro-batching: one queue per model, one model run at a time.

Requests are encoded (preprocessed) as they arrive, then queued. The loop takes every
queued request up to ``max_batch`` inputs and runs them as one batch, padded together by
the preprocessor's collate. It waits up to ``max_delay`` for more only while other
requests are still being encoded, so a lone request never waits: batching costs nothing
at low load, and under load the requests that queue while a batch runs form the next one.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


class Overloaded(Exception):
    """The queue is past --max-queue: answer 503 with Retry-After."""


@dataclass
class Job:
    items: list
    top_k: int
    future: asyncio.Future
    queued: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(self, model, metrics, max_batch: int, max_delay_s: float, max_queue: int):
        self.model, self.metrics = model, metrics
        self.max_batch, self.max_delay_s, self.max_queue = max_batch, max_delay_s, max_queue
        self.jobs: list[Job] = []
        self.queued = 0  # inputs in self.jobs
        self.arriving = 0  # requests admitted and still being encoded
        self.incoming = 0  # their inputs
        self.wake = asyncio.Event()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"run-{model.name}")  # one run at a time
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.loop())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        self.executor.shutdown(wait=True)

    def admit(self, count: int) -> None:
        """Reserve room for a request of ``count`` inputs before encoding it, or refuse it."""
        waiting = self.queued + self.incoming
        if waiting + count > self.max_queue and waiting:  # one request alone is always taken
            raise Overloaded(f"model {self.model.name!r} has {waiting} inputs waiting (--max-queue "
                             f"{self.max_queue}); retry shortly")
        self.arriving += 1
        self.incoming += count

    def withdraw(self, count: int) -> None:
        """An admitted request that will not be queued (its input was bad)."""
        self.arriving -= 1
        self.incoming -= count
        self.wake.set()

    async def submit(self, items: list, top_k: int) -> list:
        """The answers of one admitted request's encoded ``items``, from whichever batch runs them."""
        job = Job(items, top_k, asyncio.get_running_loop().create_future())
        self.arriving -= 1
        self.incoming -= len(items)
        self.jobs.append(job)
        self.queued += len(items)
        self.metrics.queue_depth.labels(self.model.name).set(self.queued)
        self.wake.set()
        return await job.future

    async def loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            if not self.jobs:
                continue
            deadline = loop.time() + self.max_delay_s
            # more requests are on their way (being encoded): give them until the deadline
            while self.arriving and self.queued < self.max_batch and loop.time() < deadline:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), deadline - loop.time())
                except asyncio.TimeoutError:
                    break
            batch = self.take()
            await self.run(loop, batch)
            if self.jobs:
                self.wake.set()

    def take(self) -> list[Job]:
        """The queued jobs that fit in one batch (at least one, however large)."""
        batch, count = [], 0
        while self.jobs and (not batch or count + len(self.jobs[0].items) <= self.max_batch):
            job = self.jobs.pop(0)
            batch.append(job)
            count += len(job.items)
        self.queued -= count
        self.metrics.queue_depth.labels(self.model.name).set(self.queued)
        return batch

    async def run(self, loop, batch: list[Job]) -> None:
        items, groups = [], []
        for job in batch:
            groups.append((len(items), len(items) + len(job.items), job.top_k))
            items.extend(job.items)
        try:
            answers = []
            # a request larger than --max-batch runs alone, in chunks of --max-batch
            for start in range(0, len(items), self.max_batch):
                chunk = items[start:start + self.max_batch]
                chunk_groups = clip_groups(groups, start, start + len(chunk))
                self.metrics.batch_size.labels(self.model.name).observe(len(chunk))
                answers.append(await loop.run_in_executor(self.executor, self.model.run, chunk, chunk_groups))
        except Exception as err:  # noqa: BLE001 - every waiting request gets the error, the loop goes on
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(err)
            return
        merged = merge_answers(groups, answers, self.max_batch)
        for job, result in zip(batch, merged):
            if not job.future.done():  # the client may have gone
                job.future.set_result(result)


def clip_groups(groups, start: int, stop: int) -> list[tuple[int, int, int]]:
    """The (start, stop, top_k) groups overlapping rows [start, stop), relative to start."""
    return [(max(a, start) - start, min(b, stop) - start, k) for a, b, k in groups if a < stop and b > start]


def merge_answers(groups, chunk_answers: list[list[list]], chunk: int) -> list[list]:
    """Each group's answers again, gathered from the chunks it was split across."""
    merged = [[] for _ in groups]
    for number, answers in enumerate(chunk_answers):
        start, stop = number * chunk, (number + 1) * chunk
        overlapping = [i for i, (a, b, _) in enumerate(groups) if a < stop and b > start]
        for index, part in zip(overlapping, answers):
            merged[index].extend(part)
    return merged
