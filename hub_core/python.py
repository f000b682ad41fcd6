"""plughub from Python: what the ``hub`` commands do, as functions (``import hub_core as hub``).

    hub.finetune("nlp/bert-tiny", task="classification", data="train.csv", out="runs/topics", epochs=3)
    hub.evaluate("runs/topics", data="test.csv")        -> {"accuracy": ..., "loss": ...}
    hub.export("runs/topics", quantize="int8")          -> the export report (export.json)
    model = hub.load("runs/topics", onnx=True)          onnxruntime and numpy, no torch
    model.predict(["the chef added garlic"], top_k=2)   -> one answer per input

Each function makes the calls its command makes (``finetune``: ``hub_core.train.planning.plan``
then ``hub_core.train.loop.run``; ``load``: ``hub_core.deploy.engine.open_engine``), so a
keyword means what the flag means: ``finetune``'s settings are the ``--config`` file's keys
(``epochs``, ``lr``, ``freeze``, ``preprocess={"image_size": 64}``, ...). Errors are the
CLI's, ``hub_core.api.HubError`` and its kinds, each with a one-line message. This module
sits on top of the stages, like the CLI; nothing in them imports it.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from hub_core.model.contracts import ReadOptions

_CATALOGUE = None


def catalogue():
    """The installed plugins' catalogue, loaded once per process (as every ``hub`` command loads it)."""
    global _CATALOGUE
    if _CATALOGUE is None:
        from hub_core.plugin.manager import load_hub

        _CATALOGUE = load_hub().catalogue
    return _CATALOGUE


def reading(read: ReadOptions | dict | None, labelled: bool = True) -> ReadOptions:
    """How to read data: a ReadOptions, or a dict of its fields as the flags spell them
    (``{"input_columns": ["title", "body"], "label_column": "topic", "skip_bad": True}``)."""
    if isinstance(read, ReadOptions):
        return read
    fields = dict(read or {})
    columns = fields.pop("input_columns", ())
    fields["input_columns"] = (columns,) if isinstance(columns, str) else tuple(columns)
    try:
        return ReadOptions(**{"labelled": labelled, **fields})
    except TypeError:
        from hub_core.common.errors import UsageError
        from hub_core.plugin.catalogue import did_you_mean

        known = [name for name in ReadOptions.__dataclass_fields__]
        unknown = next(key for key in fields if key not in known)
        raise UsageError(f"read: unknown option {unknown!r}{did_you_mean(unknown, known)}") from None


class Model:
    """A model directory opened for answers: torch, or (``onnx``) its exported graph alone."""

    def __init__(self, engine, path: Path):
        self.engine, self.path = engine, path

    @property
    def manifest(self) -> dict:
        """hub.json: backbone, task, labels, metrics, where the weights came from."""
        return self.engine.manifest

    def predict(self, inputs, top_k: int = 1, batch_size: int = 32, read: ReadOptions | dict | None = None) -> list:
        """One answer per input (a list, in order): ``inputs`` are texts, image or audio paths,
        or one table or folder of them, as ``hub predict`` takes them; a single string is one
        input. ``read``: how to read a table (``{"input_columns": ["text"]}``, see ``reading``)."""
        from hub_core.deploy.engine import predict

        inputs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
        _, answers = predict(catalogue(), self.engine, [str(i) if isinstance(i, os.PathLike) else i for i in inputs],
                             reading(read, labelled=False), top_k=top_k, batch_size=batch_size)
        return answers

    __call__ = predict  # model(["text"]): the pipeline() shape

    def __repr__(self) -> str:
        return f"<plughub Model {self.path} on {self.engine.name}>"


def load(path: str | os.PathLike, onnx: bool = False, file_name: str | None = None, threads: int | None = None) -> Model:
    """A model directory (or, with ``onnx``, an exported .onnx file in one) ready to predict:
    on torch, or with ``onnx`` on the exported ``file_name`` (model.onnx; model.int8.onnx)
    through onnxruntime, importing no torch (run ``export`` first)."""
    from hub_core.deploy.engine import open_engine
    from hub_core.deploy.runtime import ONNX_FILE

    engine = open_engine(catalogue(), Path(path), onnx=onnx, file_name=file_name or ONNX_FILE, threads=threads)
    return Model(engine, Path(path))


def finetune(model: str, *, data: str | os.PathLike, out: str | os.PathLike, task: str | None = None,
             val: str | os.PathLike | None = None, weights: str | None = None, config: str | None = None,
             read: ReadOptions | dict | None = None, overwrite: bool = False, resume: bool = False, quiet: bool = False,
             download: bool = False, **settings) -> dict:
    """Fine-tune ``model`` (a preset, ``backbone:variant`` or a model directory) on ``data`` and
    write the model directory ``out``, as ``hub finetune`` does; returns the final validation
    metrics. ``settings`` are training settings (``epochs=5, lr=1e-3, freeze="backbone"``),
    over ``config`` (a TOML file) and the preset's recipe; ``download``: fetch pretrained
    weights the local caches lack (``--download``)."""
    from hub_core.model.metrics import scalars
    from hub_core.train.loop import run
    from hub_core.train.planning import plan

    job, train_config = plan(catalogue(), str(model), task, str(data), str(out), val=str(val) if val else None,
                             weights=weights, read=reading(read), overrides=settings, config_file=config, resume=resume,
                             overwrite=overwrite, quiet=quiet)
    with downloading(download):
        return scalars(run(catalogue(), job, train_config))


@contextlib.contextmanager
def downloading(allowed: bool):
    """Let the plugins' weight lookups fetch for the length of one call (``--download``), then
    put the process back as it was: a library call leaves no switch on behind it."""
    from hub_core.model.weights import DOWNLOAD_ENV

    before = os.environ.get(DOWNLOAD_ENV)
    if allowed:
        os.environ[DOWNLOAD_ENV] = "1"
    try:
        yield
    finally:
        if allowed and before is None:
            del os.environ[DOWNLOAD_ENV]
        elif allowed:
            os.environ[DOWNLOAD_ENV] = before


def evaluate(model_dir: str | os.PathLike, data: str | os.PathLike, onnx: bool = False, file_name: str | None = None,
             batch_size: int = 64, read: ReadOptions | dict | None = None) -> dict:
    """The task's metrics on labelled ``data``, as ``hub evaluate`` computes them (with ``onnx``:
    the exported ``file_name``, torch-free, without the loss)."""
    from hub_core.deploy.evaluation import evaluate_dir
    from hub_core.deploy.runtime import ONNX_FILE
    from hub_core.model.metrics import scalars

    read = reading(read)
    explicit = bool(read.input_columns) or read.label_column != "label"
    return scalars(evaluate_dir(catalogue(), Path(model_dir), str(data), read, batch_size, explicit_columns=explicit,
                                onnx=onnx, file_name=file_name or ONNX_FILE))


def export(model_dir: str | os.PathLike, quantize: str | None = None, strict_int8: bool = False, **options) -> dict:
    """Export ``model_dir`` to ONNX and validate it against torch, as ``hub export`` does; returns
    the report (also written as export.json). ``options``: ``opset``, ``atol``, ``rtol``,
    ``int8_method``, ``int8_bound`` ... of ``hub_core.deploy.export.export_dir``. A graph that
    differs from torch raises ExportError; so does a rejected int8 graph with ``strict_int8``
    (otherwise model.onnx stands and the report's ``int8.status`` says "rejected")."""
    import warnings

    from hub_core.deploy.export import export_dir, int8_rejection, raise_if_rejected

    report = export_dir(catalogue(), Path(model_dir), quantize=quantize, **options)
    raise_if_rejected(report, strict_int8=strict_int8)
    if int8_rejection(report):
        warnings.warn(f"{int8_rejection(report)}; model.onnx (fp32) is the export", stacklevel=2)
    return report
