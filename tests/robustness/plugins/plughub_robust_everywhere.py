"""A plugin that raises in every hook it implements: each failure is recorded, nothing it
registered stays, and every other plugin keeps working."""
from hub_core import hookimpl
from hub_core.plugin.specs import BackboneSpec, HeadSpec, InputSpec, ModalitySpec, TaskSpec


@hookimpl
def register_modalities(register):
    register(ModalitySpec("everywhere", (InputSpec("x", "float32", ("batch", 4)),), "a:b", "a:b"))
    raise RuntimeError("modalities went wrong")


@hookimpl
def register_backbones(register):
    register(BackboneSpec("everywhere/net", "text", "a:b"))
    raise ValueError("backbones went wrong")


@hookimpl
def register_heads(register):
    register(HeadSpec("everywhere/head", "pooled", "a:b"))
    raise TypeError("heads went wrong")


@hookimpl
def register_tasks(register):
    register(TaskSpec("everywhere-task", "linear", "a:b"))
    raise KeyError("tasks went wrong")


@hookimpl
def register_commands(cli):
    @cli.command("everywhere-hello")
    def hello():
        """Never added: the hook fails after defining it."""

    raise AttributeError("commands went wrong")
