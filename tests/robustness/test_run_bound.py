"""A graph from a file that never ends (a Loop of 2^62 iterations) is stopped after
PLUGHUB_RUN_TIMEOUT with one line, not run for ever; the bound costs a normal run nothing."""
from __future__ import annotations

import time

import numpy as np
import pytest

from hub_core.common.errors import UsageError
from hub_core.deploy.runbound import RunTimeout
from hub_core.deploy.runtime import OnnxGraph


def endless_loop(path):
    import onnx
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["x_in", "one"], ["x_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("x_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", TensorProto.FLOAT, [1])],
        [helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["M"], value=helper.make_tensor("m", TensorProto.INT64, [], [2 ** 62])),
         helper.make_node("Constant", [], ["C"], value=helper.make_tensor("c", TensorProto.BOOL, [], [True])),
         helper.make_node("Loop", ["M", "C", "x"], ["y"], body=body)],
        "endless", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_graph_that_never_ends_is_stopped_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGHUB_RUN_TIMEOUT", "1")
    graph = OnnxGraph(endless_loop(tmp_path / "endless.onnx"))
    started = time.monotonic()
    with pytest.raises(RunTimeout, match=r"ran past PLUGHUB_RUN_TIMEOUT \(1 s\) and was stopped") as caught:
        graph.run({"x": np.zeros(1, np.float32)})
    assert time.monotonic() - started < 10 and "\n" not in str(caught.value)
    # the watchdog forgets finished runs: a second run is bounded the same way
    with pytest.raises(RunTimeout):
        graph.run({"x": np.zeros(1, np.float32)})


@pytest.mark.parametrize("value", ["soon", "-1", "inf", "nan"])
def test_a_bad_run_timeout_is_one_line(tmp_path, monkeypatch, value):
    monkeypatch.setenv("PLUGHUB_RUN_TIMEOUT", value)
    with pytest.raises(UsageError, match="PLUGHUB_RUN_TIMEOUT"):
        OnnxGraph(endless_loop(tmp_path / "endless.onnx"))
