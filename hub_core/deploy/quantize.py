"""int8 quantization of an exported graph with onnxruntime's quantization tools.

Which kind serves better depends on the graph:
  dynamic   weights stored int8, activations quantized on the fly per batch: no calibration,
            and the kind that speeds up MatMul-heavy graphs (transformers, MLPs, recommenders).
  static    QDQ with activation ranges calibrated on training examples: convolutions only
            speed up this way (a dynamically quantized Conv is slower than fp32 on CPU).
``auto`` picks static for convolution-heavy graphs with calibration data at hand, dynamic
otherwise. ``quant_pre_process`` (shape inference + optimisation) runs before static
quantization only: it fails on transformer graphs.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hub_core.common import atomic
from hub_core.common.errors import ExportError, HubError, UsageError

METHODS = ("auto", "dynamic", "static")
DYNAMIC_OPS = ["MatMul", "Gemm", "Attention"]
CALIBRATION_EXAMPLES = 64
CALIBRATION_BATCH = 8


def conv_heavy(model) -> bool:
    """Do convolutions carry most of this graph's weights?"""
    initialisers = {t.name: int(np.prod(t.dims)) for t in model.graph.initializer}
    weights = {"conv": 0, "other": 0}
    for node in model.graph.node:
        kind = "conv" if node.op_type == "Conv" else ("other" if node.op_type in ("MatMul", "Gemm") else None)
        if kind:
            weights[kind] += sum(initialisers.get(name, 0) for name in node.input)
    return weights["conv"] > weights["other"]


def calibration_batches(preprocessor, task, train_examples: list, rng) -> tuple[list[dict], str]:
    """Collated batches of up to 64 training examples (generated inputs when there are none)."""
    from hub_core.data.sets import ExampleSet

    if train_examples:
        chosen = [train_examples[i] for i in rng.permutation(len(train_examples))[:CALIBRATION_EXAMPLES]]
        data = ExampleSet(chosen, preprocessor, task, train=False, labelled=False)
        indices = list(range(len(data)))
        return ([data.collate(indices[i:i + CALIBRATION_BATCH])[0] for i in range(0, len(indices), CALIBRATION_BATCH)],
                f"{len(chosen)} training examples")
    try:
        return ([preprocessor.synthetic(CALIBRATION_BATCH, 1.0, rng) for _ in range(CALIBRATION_EXAMPLES // CALIBRATION_BATCH)],
                "generated inputs (no stored training data)")
    except NotImplementedError:
        return [], "none"


class _Feeds:
    """onnxruntime's CalibrationDataReader protocol over a list of input dicts."""

    def __init__(self, feeds: list[dict]):
        self._feeds = iter(feeds)

    def get_next(self):
        return next(self._feeds, None)

    def rewind(self):  # called by some calibrators; the list is consumed once per calibration
        pass


def quantize_int8(source: Path, target: Path, *, method: str = "auto", calibration: list[dict] | None = None) -> dict:
    """Write an int8 copy of ``source`` to ``target`` (atomically); keep its metadata. Returns
    {method, reason, size_bytes}."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    from hub_core.deploy.runtime import OnnxGraph

    if method not in METHODS:
        raise UsageError(f"--int8-method must be one of {', '.join(METHODS)}, got {method!r}")
    model = onnx.load(str(source))
    metadata = {p.key: p.value for p in model.metadata_props}
    heavy = conv_heavy(model)
    if method == "auto":
        method = "static" if heavy and calibration else "dynamic"
        reason = ("convolution-heavy graph: static QDQ, calibrated" if method == "static" else
                  "MatMul-heavy graph: dynamic" if not heavy else "no calibration data: dynamic")
    else:
        reason = f"asked for {method}"
    if method == "static" and not calibration:
        raise ExportError("static int8 quantization needs calibration data: no stored training data and the "
                          "preprocessor cannot generate inputs")
    tmp = str(atomic.temporary_path(target, ".onnx"))
    prepared = Path(tmp + ".pre.onnx")
    logging.disable(logging.WARNING)  # onnxruntime.quantization logs advice on the root logger
    try:
        if method == "dynamic":
            settings = dynamic_settings()
            # onnx's shape inference cannot type the outputs of onnxruntime's fused operators
            # (Attention, SkipLayerNormalization...): the activations a fused graph feeds its MatMuls are float
            quantize_dynamic(str(source), tmp, op_types_to_quantize=DYNAMIC_OPS, weight_type=QuantType.QInt8,
                             per_channel=settings["per_channel"], reduce_range=settings["reduce_range"],
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        else:
            graph = OnnxGraph(source)
            feeds = [graph.feed(arrays) for arrays in calibration]
            try:
                from onnxruntime.quantization.shape_inference import quant_pre_process

                quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
                start = prepared
            except Exception:  # noqa: BLE001 - pre-processing is an optimisation; quantize the graph as it is
                start = source
            quantize_static(str(start), tmp, _Feeds(feeds), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        quantized = onnx.load(tmp)
        onnx.helper.set_model_props(quantized, {**metadata, "plughub.quantization": f"int8 {method}"})
        onnx.save(quantized, tmp)
        atomic.publish(tmp, target)
    except HubError:
        raise
    except Exception as err:  # noqa: BLE001 - onnxruntime.quantization raises what its passes raise
        raise ExportError(f"int8 quantization ({method}) failed: {type(err).__name__}: {str(err).splitlines()[0][:300]}") \
            from None
    finally:
        logging.disable(logging.NOTSET)
        Path(tmp).unlink(missing_ok=True)
        prepared.unlink(missing_ok=True)
    return {"method": method, "reason": reason, "size_bytes": target.stat().st_size,
            **({"settings": dynamic_settings()} if method == "dynamic" else {})}


def cpu_has_vnni() -> bool:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return False
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & flags)


def dynamic_settings() -> dict:
    """Dynamic int8 settings for this CPU. onnxruntime's u8s8 MatMul without VNNI multiplies
    with VPMADDUBSW, whose int16 pair sums saturate with full 8-bit weights: there, weights are
    quantized to 7 bits (``reduce_range``), per output channel to win back the precision. With
    VNNI (int32 accumulation) full-range per-tensor weights are exact enough and fastest."""
    vnni = cpu_has_vnni()
    return {"per_channel": not vnni, "reduce_range": not vnni, "op_types": list(DYNAMIC_OPS),
            "cpu": "VNNI" if vnni else "no VNNI (AVX2 / AVX-512 without VNNI)"}



# ----------------------------------------------------------------------------- is int8 good enough?
MAX_METRIC_LOSS = 1.0  # points (metric x 100) for a higher-is-better metric, percent for a lower-is-better one
MIN_AGREEMENT = 0.98  # share of examples whose answer (label) int8 and fp32 agree on


def _labels(task, outputs: dict, arrays: dict) -> list | None:
    from hub_core.model.contracts import Batch

    answers = task.decode(outputs, Batch(arrays))
    if not answers or not isinstance(answers[0], dict) or "label" not in answers[0]:
        return None  # the task's answers are not labels (scores, top-k items): agreement does not apply
    return [str(a["label"]) for a in answers]


def _metric(task, outputs: list[dict], labelled: list[tuple[dict, np.ndarray]], name: str):
    from hub_core.model.contracts import Batch
    from hub_core.model.metrics import compute_all

    metrics = task.metrics()
    for got, (arrays, targets) in zip(outputs, labelled):
        for metric in metrics:
            metric.update(got, Batch(arrays, targets))
    return compute_all(metrics).get(name)


def judge_int8(task, fp32, int8, labelled: list[tuple[dict, np.ndarray]], unlabelled: list[dict], *, metric: str,
               max_metric_loss: float = MAX_METRIC_LOSS, min_agreement: float = MIN_AGREEMENT) -> dict:
    """Judge the int8 graph by what its users get: label agreement with fp32 (below the bound
    when its 95 % Wilson interval lies wholly below it) and the task's metric (in its declared
    direction), on the validation batches (``labelled``: (arrays, targets)), else on
    ``unlabelled`` generated batches (agreement only). ``fp32`` / ``int8`` map arrays to named
    outputs."""
    from hub_core.model.metrics import higher_is_better, wilson

    batches = [arrays for arrays, _ in labelled] or unlabelled
    outputs = [(fp32(a), int8(a)) for a in batches]
    verdict = {"bound": {"max_metric_loss": max_metric_loss, "min_label_agreement": min_agreement},
               "data": "validation data" if labelled else "generated inputs (no stored validation data)"}
    failures = []
    pairs = [(_labels(task, f, a), _labels(task, q, a)) for (f, q), a in zip(outputs, batches)]
    if pairs and pairs[0][0] is not None:
        same = sum(a == b for f, q in pairs for a, b in zip(f, q))
        total = sum(len(f) for f, _ in pairs)
        interval = wilson(same / total, total)
        verdict.update(label_agreement=same / total, label_agreement_interval=interval, examples=total)
        # below the bound only when the examples show it: 1 flip in 36 (0.972) is within a 0.98
        # agreement's reach (95 % interval 0.85-1.00), 20 flips in 1,000 are not (0.97-0.99)
        if interval[1] < min_agreement:
            failures.append(f"label agreement {same / total:.3f} < {min_agreement:g} ({total - same} of {total} "
                            f"differ; 95 % interval {interval[0]:.3f}-{interval[1]:.3f})")
    if labelled:
        fp32_value = _metric(task, [f for f, _ in outputs], labelled, metric)
        int8_value = _metric(task, [q for _, q in outputs], labelled, metric)
        if fp32_value is not None and int8_value is not None:
            if higher_is_better(task, metric):
                loss, unit = (fp32_value - int8_value) * 100, "points"
            else:
                loss, unit = (int8_value - fp32_value) / max(abs(fp32_value), 1e-12) * 100, "percent"
            verdict.update(metric=metric, fp32=fp32_value, int8=int8_value, metric_loss=loss, metric_loss_unit=unit)
            if loss > max_metric_loss:
                failures.append(f"{metric} {fp32_value:.4f} -> {int8_value:.4f} ({loss:.2f} {unit} lost, "
                                f"bound {max_metric_loss:g})")
    verdict["ok"] = not failures
    if failures:
        verdict["error"] = "; ".join(failures)
    return verdict
