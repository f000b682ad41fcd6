"""Dynamic micro-batching: one queue per model, one model run at a time.

Each request's inputs are preprocessed on their own, in a small pool of decoder threads,
before they are queued: a slow input (a large image, a long clip within the limits) delays
its own request only, never the batch others are in, and a bad one is refused before it
joins a batch. The loop takes every queued request up to ``max_batch`` inputs and, in one
worker thread, pads them together with the preprocessor's collate and runs them as one
batch. It waits up to ``max_delay`` for more only while other requests are still being read
or preprocessed, so a lone request never waits: batching costs nothing at low load, and under
load the requests that queue while a batch runs form the next one.
"""
from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


class Overloaded(Exception):
    """The queue is past --max-queue: answer 503 with Retry-After."""


DECODERS = min(4, os.cpu_count() or 1)  # threads preprocessing requests, per model


@dataclass
class Job:
    items: list  # the request's inputs, preprocessed (ServedModel.encode)
    top_k: int
    future: asyncio.Future
    queued: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(self, model, metrics, max_batch: int, max_delay_s: float, max_queue: int):
        self.model, self.metrics = model, metrics
        self.max_batch, self.max_delay_s, self.max_queue = max_batch, max_delay_s, max_queue
        self.jobs: list[Job] = []
        self.queued = 0  # inputs in self.jobs
        self.arriving = 0  # requests whose bodies are still being read
        self.wake = asyncio.Event()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"run-{model.name}")  # one run at a time
        self.decoders = ThreadPoolExecutor(DECODERS, thread_name_prefix=f"decode-{model.name}")
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
        self.decoders.shutdown(wait=True)

    def arrive(self) -> "Arrival":
        """A request for this model is being read: a batch may wait for it (up to max_delay)
        until it is queued or refused (``Arrival.leave``)."""
        return Arrival(self)

    async def submit(self, raws: list, top_k: int, arrival: "Arrival", encode=None) -> list:
        """The answers to one arrived request's raw inputs, from whichever batch runs them;
        Overloaded past --max-queue (a request alone is always taken), BadInput for its inputs
        (found while preprocessing them, before they join a batch). ``encode``: how the inputs
        become items, when they are not raw inputs for the preprocessor."""
        try:
            self.check_room(len(raws))  # shed load before spending a decoder on it
            items = await asyncio.get_running_loop().run_in_executor(self.decoders, encode or self.encode, raws)
        finally:
            arrival.leave()
        self.check_room(len(items))
        job = Job(items, top_k, asyncio.get_running_loop().create_future())
        self.jobs.append(job)
        self.queued += len(items)
        self.metrics.queue_depth.labels(self.model.name).set(self.queued)
        self.wake.set()
        return await job.future

    def check_room(self, count: int) -> None:
        if self.queued and self.queued + count > self.max_queue:
            raise Overloaded(f"model {self.model.name!r} has {self.queued} inputs waiting (--max-queue "
                             f"{self.max_queue}); retry shortly")

    async def loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            if not self.jobs:
                continue
            deadline = loop.time() + self.max_delay_s
            # more requests are on their way (being read): give them until the deadline
            while self.arriving and self.queued < self.max_batch and loop.time() < deadline:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), deadline - loop.time())
                except asyncio.TimeoutError:
                    break
            batch = self.take()
            results = await loop.run_in_executor(self.executor, self.process, batch)
            for job, result in zip(batch, results):
                if job.future.done():  # the client went away
                    continue
                if isinstance(result, Exception):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)
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

    def encode(self, raws: list) -> list:
        """In a decoder thread: one request's inputs preprocessed, or its BadInput."""
        return [self.model.encode(raw, f"inputs[{i}]") for i, raw in enumerate(raws)]

    def process(self, batch: list[Job]) -> list:
        """In the worker thread: each job's answers (a failed run fails every request of the batch)."""
        results: list = [None] * len(batch)
        items, groups, kept = [], [], []
        for number, job in enumerate(batch):
            groups.append((len(items), len(items) + len(job.items), job.top_k))
            items.extend(job.items)
            kept.append(number)
        try:
            answers = []
            # a request larger than --max-batch runs alone, in chunks of --max-batch
            for start in range(0, len(items), self.max_batch):
                chunk = items[start:start + self.max_batch]
                self.metrics.batch_size.labels(self.model.name).observe(len(chunk))
                answers.append(self.model.run(chunk, clip_groups(groups, start, start + len(chunk))))
        except Exception as err:  # noqa: BLE001 - every request of the batch gets it; the loop goes on
            for number in kept:
                results[number] = err
            return results
        for number, answer in zip(kept, merge_answers(groups, answers, self.max_batch)):
            results[number] = answer
        return results


class Arrival:
    """One request counted among those arriving until it is queued or refused (once)."""

    def __init__(self, batcher: Batcher):
        self.batcher = batcher
        batcher.arriving += 1

    def leave(self) -> None:
        if self.batcher is not None:
            self.batcher.arriving -= 1
            self.batcher.wake.set()
            self.batcher = None


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
