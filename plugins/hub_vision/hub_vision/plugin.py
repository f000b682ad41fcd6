"""The vision plugin's registrations. Light: heavy imports live in the factories."""
from hub_core import hookimpl
from hub_core.specs import BackboneSpec, InputSpec, ModalitySpec

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
