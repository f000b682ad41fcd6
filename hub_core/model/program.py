"""Models that run as several graphs driven by a numpy loop: generation (an encoder graph run
once, a decoder-step graph run per token with its state), or any model whose answer needs
more than one forward pass.

A task names its program (``Task.program = "my_plugin.seq2seq:GreedyProgram"``); the program
says which torch modules become graphs and how a numpy loop runs them:

    program.graphs(model)            -> {name: Graph(module, inputs, outputs)}   (torch, at export)
    program.examples(model, arrays)  -> {name: example arrays of that graph}     (torch, at export)
    program.run(graphs, arrays)      -> {output name: np.ndarray}                (numpy only)

``run`` receives each graph as a callable ``arrays -> {output name: array}``: the torch
modules (``on_torch``: ``hub predict``, training's evaluation) or onnxruntime sessions
(``--onnx``, the server) alike, so both engines decode with the same loop and give the
same answers.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

GraphFn = Callable[[dict], dict]


@dataclass
class Graph:
    """One exported graph: a torch module taking positional tensors in ``inputs`` order and
    returning a tuple in ``outputs`` order; ``inputs`` are InputSpec-like dicts (name, dtype,
    axes: a name for each dynamic axis, a number for a fixed one)."""

    module: Any
    inputs: list[dict]
    outputs: tuple[str, ...]


class Program(abc.ABC):
    """The numpy loop of a multi-graph model, and the graphs it runs. ``task`` is the fitted
    task (its state: vocabulary, maximum length...)."""

    def __init__(self, task):
        self.task = task

    @abc.abstractmethod
    def graphs(self, model) -> dict[str, Graph]:
        """The graphs to export, by name (file ``NAME.onnx``), built from the HubModel's modules."""

    @abc.abstractmethod
    def examples(self, model, arrays: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        """Example inputs of each graph for a batch of preprocessed ``arrays`` (the export's
        example, and validation at other shapes)."""

    @abc.abstractmethod
    def run(self, graphs: dict[str, GraphFn], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The program's outputs (batch-major) for a batch of preprocessed ``arrays``."""

    def on_torch(self, model, device=None) -> dict[str, GraphFn]:
        """Each of this program's graphs as its torch module, run on numpy arrays (eval mode,
        no grad): what ``run`` gets on the torch engine, and what export compares against."""
        import torch

        device = device or "cpu"

        def runner(graph: Graph) -> GraphFn:
            def call(arrays: dict) -> dict:
                tensors = [torch.from_numpy(np.ascontiguousarray(arrays[spec["name"]])).to(device) for spec in graph.inputs]
                with torch.inference_mode():
                    got = graph.module(*tensors)
                return {name: (t.float() if t.is_floating_point() else t).cpu().numpy()
                        for name, t in zip(graph.outputs, got)}
            return call

        return {name: runner(graph) for name, graph in self.graphs(model).items()}


def program_of(task) -> Program | None:
    """The task's program, or None for a one-graph model."""
    path = getattr(task, "program", None)
    if not path:
        return None
    from hub_core.plugin.specs import resolve

    return resolve(path)(task)

