"""The vision plugin's registrations. Light: heavy imports live in the factories."""
from pathlib import Path

from hub_core.api import BackboneSpec, DemoSpec, InputSpec, ModalitySpec, hookimpl, read_presets

PLUGHUB_API = ">=2,<3"


@hookimpl
def register_modalities(register):
    register(ModalitySpec(
        name="image",
        inputs=(InputSpec("pixel_values", "float32", ("batch", 3, "height", "width")),),
        reader="hub_vision.data:read_examples",
        preprocessor="hub_vision.preprocess:ImagePreprocessor",
        file_types=(".png", ".jpg", ".jpeg", ".bmp", ".webp", ".csv", ".jsonl"),
        description="images (PNG, JPEG, BMP, WebP) from class folders or CSV/JSONL",
        file_inputs=True,
        pipeline_tags=(("classification", "image-classification"), ("multilabel", "image-classification"),
                       ("detection", "object-detection"), ("segmentation", "image-segmentation")),
        interop="hub_vision.interop:write_timm",
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
        from hub_core.api import notice
        from hub_vision.imagenet import write_imagenet_model

        done = write_imagenet_model(obj.catalogue, model, out, weights, overwrite)
        notice(f"wrote {done['out']} ({done['classes']} ImageNet classes, weights {done['weights']})")


@hookimpl
def register_demos(register):
    # vision/tiny with the example's recipe (examples/vision/run.sh). EfficientNet-Lite0's real
    # weights train to 1.0 here in seconds (frozen, cached features), but its dynamo ONNX export
    # (TF "same" padding under dynamic height/width) took over 30 minutes on the 2-core VM.
    register(DemoSpec("image", "image", "vision/tiny", "classification", "hub_vision.demo:make_data",
                      {"epochs": 15, "lr": 1e-2, "preprocess": {"image_size": 32, "min_scale": 0.6, "color_jitter": 0.2}},
                      "coloured shapes (circle/square/triangle), generated"))


@hookimpl
def register_presets(register):
    for preset in read_presets(Path(__file__).with_name("presets.toml")):
        register(preset)
