"""A plugin whose registrations are well-formed but whose factories fail only when used:
their module is missing (an absent dependency) or the factory itself crashes (a bug)."""
from hub_core import hookimpl
from hub_core.plugin.specs import BackboneSpec, HeadSpec, InputSpec, ModalitySpec, TaskSpec

ABSENT = "plughub_robust_absent_dependency"


@hookimpl
def register_modalities(register):
    register(ModalitySpec("lazy-numbers", (InputSpec("x", "float32", ("batch", 4)),), f"{ABSENT}.reader:read",
                          "hub_core.model.contracts:Preprocessor"))


@hookimpl
def register_backbones(register):
    register(BackboneSpec("lazy/absent", "text", f"{ABSENT}:build"))
    register(BackboneSpec("lazy/crashes", "text", "plughub_robust_lazy:crash"))


@hookimpl
def register_heads(register):
    register(HeadSpec("lazy/absent-head", "pooled", f"{ABSENT}:Head"))


@hookimpl
def register_tasks(register):
    register(TaskSpec("lazy-task", "linear", f"{ABSENT}:Task"))


def crash(config, weights):
    raise RuntimeError("a bug in the plugin")
