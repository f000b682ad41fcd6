"""The parity suite: every registered preset x every compatible head, exported to ONNX and
validated against torch with onnxruntime at >= 3 input shapes.

Each model is built exactly as ``hub finetune`` builds it (``train.build_model``: backbone,
fitted preprocessor, task, head) from a small generated data set of its modality, saved as a
model directory, then exported by ``export_dir``, which validates on generated inputs. Presets,
heads and tasks come from the catalogue, so new ones are picked up; a modality or task with
no sample data below is skipped with the reason.

A head is compatible with a preset when it consumes a feature kind the backbone yields and
either some task for the preset's modality uses it, or no task names it (a generic head such
as ``mlp``). Its task is that task, or the modality's default for generic heads.

Kept within CI's budget in two ways; ``PLUGHUB_PARITY=full`` lifts both:
  - every preset is exported with its primary head (that of its modality's usual task), and
    every other head once, on the cheapest model it fits (a pooled-feature head does not
    care which backbone feeds it): about half the exports of the full product;
  - large presets are shrunk: ``SHRINK`` merges config overrides (``backbone_options``, as
    ``--backbone-option`` does) or replaces the config of a named architecture that takes no
    size options.
"""
import json
import os
from pathlib import Path

import pytest

from tests.example_scripts import example
from tests.tinyplug import make_blobs

FULL = os.environ.get("PLUGHUB_PARITY") == "full"
TINY_WAV2VEC2 = {
    "extractor_conv_layer_config": [[16, 10, 5], [16, 3, 2], [16, 3, 2], [16, 3, 2], [16, 2, 2], [16, 2, 2]],
    "encoder_embed_dim": 32, "encoder_pos_conv_kernel": 16, "encoder_pos_conv_groups": 4, "encoder_num_layers": 2,
    "encoder_num_heads": 2, "encoder_ff_interm_features": 64,
}
SHRINK = {  # preset -> {"backbone_options": {...}, "preprocess": {...}, "config": {...} (replaces the preset's)}
    "nlp/bert-small": {"backbone_options": {"num_hidden_layers": 1}},
    "nlp/bert-mini": {"backbone_options": {"num_hidden_layers": 1}},
    "nlp/minilm-l6": {"backbone_options": {"num_hidden_layers": 1}},
    "speech/wav2vec2-base": {"config": TINY_WAV2VEC2},
    "speech/hubert-base": {"config": TINY_WAV2VEC2},
    **{name: {"backbone_options": {"image_size": 64}} for name in (
        "vision/resnet18", "vision/mobilenetv3_small_100", "vision/efficientnet_b0", "vision/convnext_atto",
        "vision/vit_tiny_patch16_224", "vision/tf_efficientnet_lite0")},
}
PRIMARY_TASK = {"interactions": "recsys/rating"}  # a preset's primary head is its usual task's (default: classification)
GENERIC_TASK = {"interactions": "regression"}  # the task of a generic head (default: classification)
EXTRA_BACKBONES = ("tiny/mlp",)  # registered backbones without presets that the suite covers too
CHEAP_FIRST = ("tiny/mlp", "nlp/bert-tiny", "recsys/mf", "speech/logmel-tiny")  # where the other heads are tried


def text_rows(folder: Path, task: str):
    nlp = example("nlp/generate.py")
    if task == "token-classification":
        nlp.write_conll(folder / "ner.conll", nlp.ner_rows(40, seed=4))
        return folder / "ner.conll", {}
    if task == "mlm":
        (folder / "corpus.txt").write_text("\n".join(t for t, _ in nlp.topic_rows(200, seed=1)) + "\n")
        return folder / "corpus.txt", {"labelled": False}
    if task == "extractive-qa":  # the word after a sentence's first, asked of the sentence
        rows = []
        for text, _ in nlp.topic_rows(40, seed=2):
            first, answer = text.split()[:2]
            rows.append({"question": f"which word follows {first}?", "context": text, "answer_text": answer,
                         "answer_start": text.index(answer, len(first))})
        (folder / "qa.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        return folder / "qa.jsonl", {}
    nlp.write_csv(folder / "train.csv", nlp.topic_rows(60, seed=2))
    return folder / "train.csv", {}


def images(folder: Path, task: str):
    return example("vision/make_shapes.py").make_shapes(folder / "shapes", per_class=4, size=48), {}


def sounds(folder: Path, task: str):
    from hub_speech.signals import write_dataset
    from hub_speech.spelled import write_transcribed

    if task == "speech-recognition":  # words spelt in two-tone letters, a transcript beside each clip
        write_transcribed(folder / "clips", 12, seed=0)
        return folder / "clips", {}

    write_dataset(folder / "sounds", 4, kinds=("low", "high"), seconds=(0.3, 0.8), seed=0)
    return folder / "sounds", {}


def interactions(folder: Path, task: str):
    example("recsys/generate.py").generate(folder, users=40, items=30, per_user=6, seed=0)
    return folder / "interactions.csv", {} if task.startswith("recsys/") else {"label_column": "rating"}


def vectors(folder: Path, task: str):
    return make_blobs(folder / "blobs.csv", n=60), {}


SAMPLES = {"text": text_rows, "image": images, "audio": sounds, "interactions": interactions, "vectors": vectors}
SAMPLE_TASKS = ("classification", "regression", "token-classification", "mlm", "recsys/rating", "extractive-qa",
                "speech-recognition")  # in order of preference


def catalogue_with_tiny():
    from hub_core.plugin import manager as plugins

    saved = dict(plugins.BUILTINS)
    plugins.BUILTINS["tiny"] = "tests.tinyplug"
    try:
        hub = plugins.load_hub()
    finally:
        plugins.BUILTINS.clear()
        plugins.BUILTINS.update(saved)
    return hub.catalogue


def compatible_heads(catalogue, backbone) -> list[tuple[str, str]]:
    """(head, task) pairs for a backbone spec (see the module docstring)."""
    tasks = [catalogue.task(name) for name in catalogue.names("task")]
    pairs = []
    for head_name in catalogue.names("head"):
        head = catalogue.head(head_name)
        if head.consumes not in backbone.features:
            continue
        users = [t for t in tasks if t.head == head_name]
        fitting = [t for t in users if t.modalities is None or backbone.modality in t.modalities]
        fitting.sort(key=lambda t: (t.pretraining, SAMPLE_TASKS.index(t.name) if t.name in SAMPLE_TASKS else 99, t.name))
        if fitting and fitting[0].modalities is not None:
            pairs.append((head_name, fitting[0].name))  # the head's own task for this modality
        elif fitting or not users:
            pairs.append((head_name, GENERIC_TASK.get(backbone.modality, "classification")))
    primary = PRIMARY_TASK.get(backbone.modality, "classification")
    return sorted(pairs, key=lambda pair: pair[1] != primary)  # the primary head first


def matrix():
    catalogue = catalogue_with_tiny()
    names = [n for n in EXTRA_BACKBONES if catalogue.find("backbone", n)] + catalogue.names("preset")
    names.sort(key=lambda n: CHEAP_FIRST.index(n) if n in CHEAP_FIRST else len(CHEAP_FIRST))
    params, tried = [], set()
    for name in names:
        for index, (head, task) in enumerate(compatible_heads(catalogue, catalogue.resolve_model(name).spec)):
            if FULL or index == 0 or head not in tried:
                params.append(pytest.param(name, head, task, id=f"{name}+{head}"))
            tried.add(head)
    return params


def build_and_save(catalogue, model_name: str, head: str, task: str, folder: Path) -> Path:
    from hub_core.train.config import TrainConfig
    from hub_core.model.contracts import ReadOptions
    from hub_core.data.sets import read_examples
    from hub_core.model.directory import save_model
    from hub_core.train.loop import Job, build_model

    backbone = catalogue.resolve_model(model_name).spec
    if backbone.modality not in SAMPLES:
        pytest.skip(f"no sample data for modality {backbone.modality!r} in the parity suite")
    if task not in SAMPLE_TASKS:
        pytest.skip(f"no sample data for task {task!r} in the parity suite")
    shrink = {} if FULL else SHRINK.get(model_name, {})
    if "config" in shrink:  # a named architecture without size options: the same backbone, a small config
        registry = folder / "registry.toml"
        registry.write_text(f'[presets."{model_name}"]\nbackbone = "{backbone.name}"\n'
                            f"config = {{ {', '.join(f'{k} = {json.dumps(v)}' for k, v in shrink['config'].items())} }}\n")
        catalogue.add_presets_file(registry)
    data, read = SAMPLES[backbone.modality](folder, task)
    read = ReadOptions(**read)
    out = folder / "model"
    job = Job(model=model_name, task=task, data=str(data), out=str(out), read=read)
    config = TrainConfig(head=head, backbone_options=shrink.get("backbone_options", {}),
                         preprocess=shrink.get("preprocess", {}))
    modality = catalogue.modality(backbone.modality)
    model = build_model(catalogue, job, config, read_examples(modality, data, read))
    save_model(model.eval(), out)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("model_name,head,task", matrix())
def test_every_preset_and_head_exports_and_validates(model_name, head, task, tmp_path):
    import torch

    from hub_core.deploy.export import export_dir

    torch.manual_seed(0)
    catalogue = catalogue_with_tiny()
    model_dir = build_and_save(catalogue, model_name, head, task, tmp_path)
    report = export_dir(catalogue, model_dir)
    failed = [(c["name"], c.get("error") or {k: v.get("max_abs") for k, v in c["outputs"].items()})
              for c in report["validation"]["cases"] if not c["ok"]]
    assert report["status"] == "ok", (report.get("dynamo_error"), failed)
    assert report["validation"]["distinct_shapes"] >= 3
    assert (model_dir / "model.onnx").is_file()
