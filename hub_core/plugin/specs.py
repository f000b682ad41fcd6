"""The light records plugins register. No torch here: factories are lazy.

A factory is either a callable or an import path ``"package.module:attribute"``; it
is imported only when something is built, so listing the catalogue stays fast.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Union

Factory = Union[str, Callable[..., Any]]

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]*(/[a-z0-9][a-z0-9_.\-]*)?$")
FEATURE_KIND_RE = re.compile(r"^[a-z][a-z0-9_]*$")  # open: "pooled", "sequence", "pyramid", whatever a head reads
DTYPES = ("float32", "int64", "bool")


def resolve(factory: Factory) -> Callable[..., Any]:
    """Import a lazy factory given as ``"module:attr"``; return callables as they are."""
    if callable(factory):
        return factory
    module_name, _, attr = factory.partition(":")
    try:
        obj = importlib.import_module(module_name)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
    except Exception as err:  # noqa: BLE001 - whatever the plugin's module raises on import is the plugin's fault
        from hub_core.common.errors import PluginError

        raise PluginError(f"cannot import {factory!r} ({type(err).__name__}: {' '.join(str(err).split())}); the "
                          "plugin that registered it is broken or lacks a dependency (see 'hub plugins --check')") from None
    return obj


def call(factory: Factory, *args):
    """Call a lazy factory with ``args`` (a composite that needs the catalogue says so in its
    spec, ``needs_catalogue=True``, and is built through the spec's own methods)."""
    return invoke(resolve(factory), *args)


def invoke(function: Callable[..., Any], *args, **kwargs):
    """Call a plugin's factory. What it raises becomes one line naming the plugin and the
    factory (a HubError it raises on purpose passes as it is; --debug shows the traceback)."""
    from hub_core.common.errors import HubError, PluginError

    try:
        return function(*args, **kwargs)
    except HubError:
        raise
    except Exception as err:  # noqa: BLE001 - a factory's bug is its plugin's, and is named so
        module = getattr(function, "__module__", None) or "?"
        name = f"{module}:{getattr(function, '__qualname__', type(function).__name__)}"
        raise PluginError(f"{_plugin_of_module(module)}: factory {name} failed: {type(err).__name__}: "
                          f"{' '.join(str(err).split())}") from err


def _plugin_of_module(module: str) -> str:
    """'plugin DIST' for the distribution that installed ``module`` (or its top-level package)."""
    from importlib.metadata import packages_distributions

    top = module.partition(".")[0]
    try:
        dists = packages_distributions().get(top) or []
    except Exception:  # noqa: BLE001 - a broken dist-info elsewhere must not hide the real error
        dists = []
    return f"plugin {dists[0]!r}" if dists else f"plugin module {top!r}"


def call_with_options(factory: Factory, what: str, flag: str, *args, **options):
    """``factory(*args, **options)`` where ``options`` come from the user (``--head-option``,
    ``--task-option``, hub.json): an option the factory does not take is a UsageError that
    lists the ones it does, instead of a TypeError from deep inside. Factories that take
    ``**options`` accept anything, as they declare."""
    import inspect

    function = resolve(factory)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return function(*args, **options)
    try:
        signature.bind(*args, **options)
    except TypeError:
        named = [p.name for p in list(signature.parameters.values())[len(args):]
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = next((key for key in options if key not in named), None)
        from hub_core.common.errors import UsageError

        raise UsageError(f"{flag} {unknown!r}: {what} has no such option (its options: {', '.join(named) or 'none'})"
                         if unknown else f"{what}: cannot take {flag} {sorted(options)}") from None
    return invoke(function, *args, **options)


def _catalogue_for(spec, catalogue) -> dict:
    """The keyword a factory that declared ``needs_catalogue`` receives; nothing otherwise."""
    if not spec.needs_catalogue:
        return {}
    if catalogue is None:
        from hub_core.common.errors import PluginError

        raise PluginError(f"{spec.name!r} needs the catalogue of registered parts; it is built by hub")
    return {"catalogue": catalogue}


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"{kind} name {name!r} must be lower-case 'namespace/name' or 'name'")


def _check_factory(kind: str, name: str, factory: Factory) -> None:
    if callable(factory):
        return
    if not isinstance(factory, str) or ":" not in factory:
        raise ValueError(f"{kind} {name!r}: factory must be a callable or 'module:attribute', got {factory!r}")


@dataclass(frozen=True)
class InputSpec:
    """One input tensor of a modality: its name, dtype and axes (named axes are dynamic).

    ``optional`` inputs exist only for some models of the modality (text: ``token_type_ids``
    for BERT-like models, not for RoBERTa): the preprocessor emits them when the model
    uses them, and export and runtime feed them only when present.
    """

    name: str
    dtype: str
    axes: tuple[str | int, ...]  # e.g. ("batch", "sequence") or ("batch", 3, 224, 224)
    optional: bool = False

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"input {self.name!r}: dtype {self.dtype!r} is not one of {DTYPES}")


@dataclass(frozen=True)
class CliOption:
    """A command-line shortcut a modality adds to the training commands (finetune, pretrain,
    tune): ``CliOption("--max-length", int, "Text: truncate to this many tokens.")`` makes
    ``--max-length N`` mean ``-p max_length=N``. ``key``: the preprocessor option it sets
    (default: the flag's name with underscores)."""

    flag: str
    type: type = str  # int, float or str
    help: str = ""
    key: str = ""

    def __post_init__(self):
        if not isinstance(self.flag, str) or not re.match(r"^--[a-z][a-z0-9]*(-[a-z0-9]+)*$", self.flag):
            raise ValueError(f"option {self.flag!r} must be a long flag such as '--max-length'")
        if self.type not in (int, float, str):
            raise ValueError(f"option {self.flag}: type must be int, float or str, got {self.type!r}")
        if not self.key:
            object.__setattr__(self, "key", self.flag[2:].replace("-", "_"))


@dataclass(frozen=True)
class ModalitySpec:
    """A kind of input: its tensors, the files it reads, its reader and preprocessor.

    ``reader(path, options) -> list[Example]`` reads a data file or folder;
    ``preprocessor`` is the Preprocessor class (see hub_core.model.modules).
    ``args_per_input``: how many ``hub predict`` arguments make one raw input (2 for
    interactions: ``hub predict DIR USER ITEM``); more than 1 gives the preprocessor a tuple.
    ``needs_catalogue``: the preprocessor (and its ``load``) also takes ``catalogue=`` (a
    composite that builds the preprocessors of other modalities by name).
    ``options``: CliOption shortcuts for its preprocessor's options (text: ``--max-length``).
    ``ranker``: optional ``ranker(catalogue, model_dir)`` for ``hub serve``, torch-free, with
    ``query(raw)`` (what a raw input asks to rank, or None to predict it as usual) and
    ``answer(query, top_k)`` (the recommender: ``{"user": ID}`` -> the top-K items).
    ``file_inputs``: its raw inputs are files named by a string (images, audio); ``hub serve``
    then takes them only as uploads and never hands a client's string to its preprocessor.
    ``pipeline_tags``: (task, Hugging Face pipeline tag) pairs, for the card ``hub push`` writes.
    ``interop``: optional ``interop(model, folder) -> str`` (torch side, for ``hub push``): write
    files the field's own library loads without the hub (a transformers or timm layout) into
    ``folder``; return one line on how to load them.
    """

    name: str
    inputs: tuple[InputSpec, ...]
    reader: Factory
    preprocessor: Factory
    file_types: tuple[str, ...] = ()
    description: str = ""
    args_per_input: int = 1
    needs_catalogue: bool = False
    ranker: Factory | None = None
    options: tuple[CliOption, ...] = ()
    file_inputs: bool = False
    pipeline_tags: tuple[tuple[str, str], ...] = ()
    interop: Factory | None = None

    def create_preprocessor(self, config: dict, catalogue=None):
        """A new Preprocessor of this modality from its config."""
        return invoke(resolve(self.preprocessor), config, **_catalogue_for(self, catalogue))

    def load_preprocessor(self, directory, config: dict, catalogue=None):
        """The Preprocessor saved in ``directory`` (a model directory's ``preprocessor/``)."""
        return invoke(resolve(self.preprocessor).load, directory, config, **_catalogue_for(self, catalogue))

    def __post_init__(self):
        _check_name("modality", self.name)
        _check_factory("modality", self.name, self.reader)
        _check_factory("modality", self.name, self.preprocessor)
        if not all(isinstance(i, InputSpec) for i in self.inputs):
            raise ValueError(f"modality {self.name!r}: inputs must be InputSpec records")
        if not isinstance(self.args_per_input, int) or self.args_per_input < 1:
            raise ValueError(f"modality {self.name!r}: args_per_input must be a whole number >= 1")
        if not all(isinstance(o, CliOption) for o in self.options):
            raise ValueError(f"modality {self.name!r}: options must be CliOption records")


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone: ``factory(config: dict, weights: str | None) -> Backbone``.

    ``needs_catalogue``: the factory also takes ``catalogue=`` (a composite, such as the
    fusion backbone, that builds other registered backbones by name).
    """

    name: str
    modality: str
    factory: Factory
    features: tuple[str, ...] = ("pooled",)
    description: str = ""
    default_config: dict = field(default_factory=dict)
    needs_catalogue: bool = False

    def create(self, config: dict, weights: str | None = None, catalogue=None):
        """A new Backbone from ``config``, with ``weights`` (a source) loaded when given."""
        return invoke(resolve(self.factory), config, weights, **_catalogue_for(self, catalogue))

    def __post_init__(self):
        _check_name("backbone", self.name)
        _check_factory("backbone", self.name, self.factory)
        bad = [f for f in self.features if not isinstance(f, str) or not FEATURE_KIND_RE.match(f)]
        if bad or not self.features:
            raise ValueError(f"backbone {self.name!r}: features {self.features!r} must be feature kinds "
                             "(lower-case names such as 'pooled', 'sequence', 'pyramid')")


@dataclass(frozen=True)
class HeadSpec:
    """A head: ``factory(in_features, num_outputs, **options) -> Head``."""

    name: str
    consumes: str
    factory: Factory
    description: str = ""

    def __post_init__(self):
        _check_name("head", self.name)
        _check_factory("head", self.name, self.factory)
        if not isinstance(self.consumes, str) or not FEATURE_KIND_RE.match(self.consumes):
            raise ValueError(f"head {self.name!r}: consumes {self.consumes!r} must be a feature kind "
                             "(a lower-case name such as 'pooled', 'sequence', 'pyramid')")


@dataclass(frozen=True)
class TaskSpec:
    """A task: ``factory(**options) -> Task``; uses the head named ``head``.

    ``modalities`` limits the task to some modalities (None: any). ``pretraining``
    marks self-supervised objectives used by ``hub pretrain``.
    """

    name: str
    head: str
    factory: Factory
    description: str = ""
    modalities: tuple[str, ...] | None = None
    pretraining: bool = False

    def __post_init__(self):
        _check_name("task", self.name)
        _check_factory("task", self.name, self.factory)


@dataclass(frozen=True)
class Preset:
    """A named starting point: a backbone, its config, its weights (a source), optional
    default head and task. Registered by a plugin's ``register_presets`` hook or read
    from a registry.toml; registry files override what plugins register."""

    name: str
    backbone: str
    config: dict = field(default_factory=dict)
    weights: str | None = None
    head: str | None = None
    task: str | None = None
    description: str = ""
    source: str = ""  # the file that defined it, when one did
    train: dict = field(default_factory=dict)  # the family's fine-tuning recipe: TrainConfig keys (hub_core.train.recipe)
    base_model: str = ""  # its weights' id on the Hugging Face Hub, for the card hub push writes

    def __post_init__(self):
        _check_name("preset", self.name)
        if not isinstance(self.backbone, str) or not isinstance(self.config, dict):
            raise ValueError(f"preset {self.name!r}: backbone must be a name and config a dict")


@dataclass(frozen=True)
class DemoSpec:
    """A row of ``hub demo``: fine-tune ``model`` for ``task`` on generated sample data.

    ``make_data(folder: Path, seed: int) -> dict`` writes small sample data into ``folder``
    deterministically and returns ``{"train": path, "val": path, "inputs": [raw inputs for
    hub predict]}``, optionally ``"read": {ReadOptions fields}`` and ``"weights": path``.
    ``options`` are training settings (TrainConfig keys: epochs, lr, freeze, preprocess...).
    """

    name: str
    modality: str
    model: str
    task: str
    make_data: Factory
    options: dict = field(default_factory=dict)
    description: str = ""

    def __post_init__(self):
        _check_name("demo", self.name)
        _check_factory("demo", self.name, self.make_data)


SPEC_KINDS = {
    "modality": ModalitySpec,
    "backbone": BackboneSpec,
    "head": HeadSpec,
    "task": TaskSpec,
    "preset": Preset,
    "demo": DemoSpec,
}
