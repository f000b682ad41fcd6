"""The plugin contract: hook specifications of the pluggy project ``plughub``.

A plugin is a module (or object) with functions decorated by ``hub_core.api.hookimpl``,
exposed through a Python entry point in the group ``plughub``::

    [project.entry-points.plughub]
    my_plugin = "my_package.plugin"

Every ``register_*`` hook receives a ``register`` callable. Call it once per thing you
provide, with a spec from ``hub_core.api``. Keep the plugin module light: it is imported
for ``hub --help``. Put heavy imports (torch, transformers, ...) inside the factories,
which are given as import paths (``"my_package.backbones:build"``) or callables.

A plugin may declare which core API versions it supports with a module attribute
``PLUGHUB_API = ">=2,<3"`` (or an int). A mismatch is reported by ``hub plugins`` and
the plugin is not loaded.

Version 2 (this one) made tasks of any shape possible: named outputs everywhere, a Batch
object for loss, metrics and decoding, metric objects with a declared direction, numpy
decoders (``Task.decode``), label-aware preprocessing and open feature kinds. A task class
written for version 1 (``answers``) is refused at import with a line saying what to port.
"""
import pluggy

#: The version of the plugin contract (see ``PLUGHUB_API`` above).
API_VERSION = 2

hookspec = pluggy.HookspecMarker("plughub")

#: Decorate plugin functions with this marker: ``@hookimpl def register_backbones(register): ...``
hookimpl = pluggy.HookimplMarker("plughub")


@hookspec
def register_modalities(register):
    """Register input modalities with ``register(ModalitySpec(...))``.

    A modality (``text``, ``image``, ``audio``, ``interactions``, ...) says which input
    tensors its backbones take (names, dtypes, dynamic axes), which files it reads and
    which Preprocessor turns raw examples into numpy arrays.
    """


@hookspec
def register_backbones(register):
    """Register backbones with ``register(BackboneSpec(...))``.

    A backbone maps a modality's inputs to features: ``pooled`` (B, D) and/or
    ``sequence`` (B, T, D). Its factory receives ``(config: dict, weights: str | None)``
    and returns a ``hub_core.api.Backbone``. Name it ``"<namespace>/<name>"``. A composite
    that builds other registered backbones by name declares ``needs_catalogue=True`` and
    its factory also receives ``catalogue=`` (the fusion backbone does).
    """


@hookspec
def register_heads(register):
    """Register heads with ``register(HeadSpec(...))``.

    A head maps one kind of features (``consumes="pooled"`` or ``"sequence"``) to task
    outputs. Its factory receives ``(in_features: int, num_outputs: int, **options)``.
    """


@hookspec
def register_tasks(register):
    """Register tasks with ``register(TaskSpec(...))``.

    A task names its head and owns the loss, the metrics, the label handling and how
    outputs become answers. Tasks tied to no modality (classification, regression)
    live in the core; a plugin adds its own (token classification, retrieval, ...).
    """


@hookspec
def register_presets(register):
    """Register presets with ``register(Preset(...))``: named starting points of your backbones.

    A preset names a backbone (yours or another plugin's), its config and optionally a
    weights source (``package:MODULE/path``), a default head and task. Keep them in a
    ``presets.toml`` of ``[presets."NAME"]`` tables shipped with your package and register
    ``read_presets(path)``; a user's or project's registry.toml overrides them by name.
    A preset whose backbone no plugin registered is dropped and reported.
    """


@hookspec
def register_demos(register):
    """Register rows of ``hub demo`` with ``register(DemoSpec(...))``.

    A demo names a model and a task of your modality and a ``make_data(folder, seed)``
    factory that writes small sample data deterministically (no downloads); ``hub demo``
    fine-tunes, evaluates, exports, and predicts with onnxruntime for each registered demo.
    """


@hookspec
def register_commands(cli):
    """Add click commands to the ``hub`` group: ``@cli.command() def mine(): ...``.

    Import heavy modules inside the command function, not at module level.
    """
