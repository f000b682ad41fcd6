"""The transformers backbone: built from configs, directories and the offline HF cache."""
import pytest
import torch

from hub_core.common.errors import HubError, UsageError
from hub_nlp.backbone import build

from conftest import TINY


def tensors(batch):
    return {k: torch.from_numpy(v) for k, v in batch.items()}


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_pooled_features_ignore_padding(fitted, pooling):
    torch.manual_seed(0)
    backbone = build({**TINY, "pooling": pooling}).eval()
    backbone.fit_to(fitted)
    short, long = fitted("rain"), fitted("the guitar and the piano were very loud tonight")
    with torch.no_grad():
        alone = backbone(**tensors(fitted.collate([short])))
        batch = backbone(**tensors(fitted.collate([short, long])))
    assert batch["pooled"].shape == (2, 32) and batch["sequence"].shape == (2, len(long["input_ids"]), 32)
    assert batch["mask"][0].sum() == len(short["input_ids"])
    torch.testing.assert_close(batch["pooled"][0], alone["pooled"][0], atol=1e-5, rtol=1e-5)


def test_fit_to_sizes_embeddings_to_the_trained_tokenizer_and_hub_config_rebuilds_it(fitted):
    backbone = build(dict(TINY))
    assert backbone.preprocessor_config()["vocab_size"] == 8000  # what the WordPiece may grow to
    backbone.fit_to(fitted)
    assert backbone.model.get_input_embeddings().num_embeddings == fitted.vocab_size
    rebuilt = build(backbone.hub_config(), None)
    rebuilt.load_state_dict(backbone.state_dict())
    batch = tensors(fitted.collate([fitted("snow and frost"), fitted("a violin")]))
    backbone.eval(), rebuilt.eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(**batch)["pooled"], backbone(**batch)["pooled"])


def test_blocks_lora_targets_and_no_unused_pooler():
    backbone = build(dict(TINY))
    assert len(backbone.blocks()) == 2 and backbone.lora_targets == ("query", "value")
    assert backbone.model.pooler is None  # unused by cls/mean pooling; DDP would complain about it


def test_save_pretrained_directory_with_its_tokenizer(fitted, tmp_path):
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.for_model("bert", vocab_size=fitted.vocab_size, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=64)
    AutoModel.from_config(config).save_pretrained(tmp_path)
    fitted.save(tmp_path)  # tokenizer.json beside the weights, as save_pretrained of a tokenizer leaves it
    backbone = build({"pooling": "mean"}, str(tmp_path))
    assert backbone.preprocessor_config()["tokenizer"] == str(tmp_path)
    assert backbone.feature_dim == 32 and len(backbone.blocks()) == 1


def test_offline_hf_cache_by_name(fitted, tmp_path, monkeypatch):
    from huggingface_hub import constants
    from transformers import AutoConfig, AutoModel

    snapshot = tmp_path / "models--tiny-org--tiny-bert" / "snapshots" / ("0" * 40)
    config = AutoConfig.for_model("bert", vocab_size=fitted.vocab_size, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=64)
    AutoModel.from_config(config).save_pretrained(snapshot)
    (tmp_path / "models--tiny-org--tiny-bert" / "refs").mkdir()
    (tmp_path / "models--tiny-org--tiny-bert" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert build({}, "hf:tiny-org/tiny-bert").feature_dim == 32
    assert build({"variant": "tiny-org/tiny-bert"}).feature_dim == 32  # nlp/hf:tiny-org/tiny-bert
    with pytest.raises(HubError, match="nor in the local Hugging Face cache"):
        build({}, "hf:nobody/missing")


@pytest.mark.parametrize("config, error, message", [
    ({"hidden_size": 32}, UsageError, "needs config model_type"),
    ({**TINY, "hidden_size": 30, "num_attention_heads": 4}, HubError, "cannot build the model"),
    ({**TINY, "pooling": "max"}, UsageError, "pooling 'max'"),
    ({**TINY, "model_type": "no-such-model"}, HubError, "cannot build the model"),
])
def test_bad_configs_are_clear_errors(config, error, message):
    with pytest.raises(error, match=message):
        build(config)


def test_directory_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(HubError, match="save_pretrained format"):
        build({}, str(tmp_path))


def test_other_encoder_families_without_token_types(fitted):
    """DistilBERT: no token_type_ids (so the preprocessor emits none), q_lin/v_lin attention."""
    from hub_nlp.preprocess import TextPreprocessor

    backbone = build({"model_type": "distilbert", "dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64,
                      "pooling": "mean"}).eval()
    assert backbone.preprocessor_config()["token_type_ids"] is False
    assert backbone.lora_targets == ("q_lin", "v_lin") and len(backbone.blocks()) == 2
    preprocessor = TextPreprocessor({**backbone.preprocessor_config(), "vocab_size": 500}, tokenizer=fitted.tokenizer)
    backbone.fit_to(preprocessor)
    batch = preprocessor.collate([preprocessor("rain and snow"), preprocessor("the drummer")])
    assert "token_type_ids" not in batch
    with torch.no_grad():
        assert backbone(**tensors(batch))["pooled"].shape == (2, 32)


def test_layer_depths_for_layer_decay_embeddings_at_0_each_layer_its_own():
    backbone = build(dict(TINY))
    depths, top = backbone.layer_depths()
    named = {name: depths[id(p)] for name, p in backbone.named_parameters()}
    assert top == 2 and {d for n, d in named.items() if "embeddings" in n} == {0}
    assert {d for n, d in named.items() if "encoder.layer.0." in n} == {1}
    assert {d for n, d in named.items() if "encoder.layer.1." in n} == {2}


def test_export_form_is_eager_attention_and_training_keeps_its_own(fitted):
    backbone = build(dict(TINY)).eval()
    backbone.fit_to(fitted)
    before = backbone.model.config._attn_implementation
    inputs = tensors(fitted.collate([fitted("rain"), fitted("the guitar and the piano were very loud tonight")]))
    with torch.no_grad():
        expected = backbone(**inputs)["pooled"]
        with backbone.exporting():
            assert backbone.model.config._attn_implementation == "eager"
            torch.testing.assert_close(backbone(**inputs)["pooled"], expected, atol=1e-5, rtol=1e-5)
    assert backbone.model.config._attn_implementation == before
    assert backbone.onnx_fusion() == {"model_type": "bert", "num_heads": 2, "hidden_size": 32, "exporter": "torchscript"}


def test_a_repository_is_fetched_only_with_download(monkeypatch):
    """nlp/hf:ORG/NAME reads the local HF cache; --download (PLUGHUB_DOWNLOAD=1) lets it fetch."""
    import huggingface_hub

    from hub_nlp.backbone import locate_pretrained

    asked = []

    def fake_snapshot(repo_id, local_files_only=False, **_):
        asked.append(local_files_only)
        raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    monkeypatch.delenv("PLUGHUB_DOWNLOAD", raising=False)
    with pytest.raises(HubError, match="nothing is downloaded unless asked: --download"):
        locate_pretrained("someone/some-model")
    monkeypatch.setenv("PLUGHUB_DOWNLOAD", "1")
    with pytest.raises(HubError):
        locate_pretrained("someone/some-model")
    assert asked == [True, False]
