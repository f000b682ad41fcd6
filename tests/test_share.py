"""``hub push`` / ``hub pull``: round trips through a folder and a real S3-compatible server
(moto, on 127.0.0.1), verification of what is pulled, resumed pushes, and the interop
layouts that transformers and timm load without the hub."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.test_runtime import image_case, text_case
from tests.test_serve import RUN_HUB, free_port, hub, serving, tiny_models  # noqa: F401 - the fixture, shared


def run_hub(*args, env=None):
    return subprocess.run(RUN_HUB + [str(a) for a in args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def push(model_dir, target, env=None) -> str:
    done = run_hub("push", model_dir, target, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_push_pull_through_a_folder_round_trips_and_serves(tiny_models, tmp_path):  # noqa: F811
    repo, mlp = tmp_path / "repo", tiny_models["mlp"]
    first = push(mlp, repo)
    assert len(first) == 64 and push(mlp, repo) == first  # the same content is the same revision
    files = json.loads((repo / "revisions" / first / "plughub-repo.json").read_text())["files"]
    assert {"hub.json", "model.safetensors", "model.onnx", "export.json", "README.md"} <= set(files)
    assert not any(name.startswith(("checkpoints", "tb/", "run.json")) for name in files)  # what stays home
    card = (repo / "revisions" / first / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: plughub\n") and "model-index:" in card and '"accuracy"' in card
    done = run_hub("pull", f"{repo}@{first[:12]}", tmp_path / "got")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "got" / "model.safetensors").read_bytes() == (mlp / "model.safetensors").read_bytes()
    inputs = tmp_path / "in.csv"
    inputs.write_text("x0,x1,x2,x3,x4,x5,x6,x7\n" + "\n".join(",".join(map(str, v)) for v in tiny_models["vectors"][:5]))
    assert hub("predict", tmp_path / "got", inputs, "--onnx", "--json") == hub("predict", mlp, inputs, "--onnx", "--json")
    with serving(tmp_path, tmp_path / "got") as server:
        assert len(server.answers("got", tiny_models["vectors"][:3])) == 3
    hub("finetune", tmp_path / "got", "--data", mlp.parent / "train.csv", "--out", tmp_path / "further",
        "--epochs", "1", "--quiet")  # a pulled model is a starting point like any model directory
    assert json.loads((tmp_path / "further" / "hub.json").read_text())["source"]["kind"] != "backbone"
    # a pull never replaces a folder unasked, and names what is wrong in one line
    done = run_hub("pull", repo, tmp_path / "got")
    assert done.returncode != 0 and "already exists" in done.stderr and "Traceback" not in done.stderr
    done = run_hub("pull", f"{repo}@abcdef", tmp_path / "other")
    assert done.returncode != 0 and "no revision 'abcdef'" in done.stderr


def test_a_tampered_or_cut_file_fails_the_pull_and_leaves_nothing(tiny_models, tmp_path):  # noqa: F811
    repo = tmp_path / "repo"
    revision = push(tiny_models["mlp"], repo)
    weights = repo / "revisions" / revision / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    weights.write_bytes(bytes(data))
    done = run_hub("pull", repo, tmp_path / "got")
    assert done.returncode == 1 and "model.safetensors: its content does not match" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "got").exists() and not list(tmp_path.glob(".got.*"))  # no half-pulled folder
    weights.write_bytes(bytes(data[:100]))  # an upload cut short
    assert run_hub("pull", repo, tmp_path / "got").returncode == 1 and not (tmp_path / "got").exists()
    index = repo / "revisions" / revision / "plughub-repo.json"  # the index edited to match: its digest is the id
    text = json.loads(index.read_text())
    text["files"]["model.safetensors"]["size"] = 100
    index.write_text(json.dumps(text))
    done = run_hub("pull", repo, tmp_path / "got")
    assert done.returncode == 1 and "changed after the push" in done.stderr, done.stderr


def test_a_pickle_is_never_pulled(tmp_path):
    from hub_core.common.errors import ModelDirError
    from hub_core.share.repository import sha256_of
    from hub_core.share.store import verify_file

    for name in ("state.pt", "state.data"):  # by its name, or by its first bytes
        pickled = tmp_path / name
        pickled.write_bytes(b"\x80\x04K\x01.")
        with pytest.raises(ModelDirError, match="pickled"):
            verify_file(pickled, {"sha256": sha256_of(pickled), "size": 5}, name)
    weights = tmp_path / "model.safetensors"  # a safetensors header length may start like a pickle
    weights.write_bytes(b"\x80\x03" + bytes(6))
    verify_file(weights, {"sha256": sha256_of(weights), "size": 8}, "model.safetensors")


def test_an_interrupted_push_resumes_and_is_never_half_visible(tiny_models, tiny_hub, tmp_path,  # noqa: F811
                                                               monkeypatch):
    import fsspec.implementations.local as local

    from hub_core.share import store
    from hub_core.share.publish import publish

    catalogue, repo, sent = tiny_hub.catalogue, tmp_path / "repo", []
    real_put = local.LocalFileSystem.put_file

    def failing_put(self, source, target, *args, **kwargs):
        if len(sent) == 2:
            raise OSError("the network went away")
        sent.append(target)
        return real_put(self, source, target, *args, **kwargs)

    monkeypatch.setattr(local.LocalFileSystem, "put_file", failing_put)
    with pytest.raises(OSError):
        publish(catalogue, tiny_models["mlp"], str(repo), license="mit", datasets=[], interop=False)
    assert store.revisions(str(repo)) == [] and not (repo / "refs" / "main").exists()  # nothing to pull
    monkeypatch.setattr(local.LocalFileSystem, "put_file", real_put)
    announced = []
    revision = publish(catalogue, tiny_models["mlp"], str(repo), license="mit", datasets=[], interop=False,
                       announce=announced.append)
    assert len(announced) == len(revision.files) - 2  # the two files already up are not sent again
    assert store.revisions(str(repo)) == [revision.id]


@pytest.mark.slow
def test_push_pull_through_an_s3_server(tiny_models, tmp_path):  # noqa: F811
    port = free_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    try:
        os.environ.update(env)  # this process's s3fs too (restored below)
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=env["AWS_ENDPOINT_URL"], skip_instance_cache=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                fs.mkdir("models")
                break
            except Exception:  # noqa: BLE001 - the server is still starting
                assert time.monotonic() < deadline and server.poll() is None, "moto's server did not start"
                time.sleep(0.3)
        revision = push(tiny_models["mlp"], "s3://models/mlp", env=env)
        assert fs.exists(f"models/mlp/revisions/{revision}/plughub-repo.json")
        done = run_hub("pull", f"s3://models/mlp@{revision[:8]}", tmp_path / "got", env=env)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "got" / "model.safetensors").read_bytes() == \
            (tiny_models["mlp"] / "model.safetensors").read_bytes()
        fs.pipe_file(f"models/mlp/revisions/{revision}/hub.json", b"{}")  # tampered in the bucket
        done = run_hub("pull", "s3://models/mlp", tmp_path / "again", env=env)
        assert done.returncode == 1 and "hub.json: its content does not match" in done.stderr, done.stderr
    finally:
        for key in env:
            os.environ.pop(key, None)
        server.kill()
        server.wait(timeout=30)


@pytest.mark.slow
def test_transformers_and_timm_load_the_pushed_backbones_without_the_hub(tmp_path):
    import timm
    import torch
    from transformers import AutoModel, AutoTokenizer

    from hub_core.model.build import load_model
    from hub_core.plugin.manager import load_hub

    catalogue = load_hub().catalogue
    for name, make_case in (("text", text_case), ("image", image_case)):
        folder = tmp_path / name
        folder.mkdir()
        finetune, inputs = make_case(folder)
        hub("finetune", *finetune, "--out", folder / "model", "--quiet", "--seed", "0", "--epochs", "1")
        revision = push(folder / "model", folder / "repo")
        pulled = folder / "repo" / "revisions" / revision
        model = load_model(catalogue, folder / "model").eval()
        arrays = model.preprocessor.collate([model.preprocessor(inputs[0], train=False)])
        tensors = {k: torch.as_tensor(v) for k, v in arrays.items()}
        with torch.no_grad():
            if name == "text":
                own = AutoModel.from_pretrained(pulled, subfolder="transformers").eval()
                tokenizer = AutoTokenizer.from_pretrained(pulled, subfolder="transformers")
                ids = tokenizer([inputs[0]], truncation=True, max_length=16, return_tensors="pt")
                assert ids["input_ids"].tolist() == arrays["input_ids"].tolist() and tokenizer.pad_token
                got = own(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).last_hidden_state
                want = model.backbone(**tensors)["sequence"]
            else:
                config = json.loads((pulled / "timm" / "config.json").read_text())
                own = timm.create_model(config["architecture"], pretrained=True, num_classes=0,
                                        pretrained_cfg_overlay=dict(file=str(pulled / "timm" / "model.safetensors")))
                got, want = own.eval()(tensors["pixel_values"]), model.backbone(**tensors)["pooled"]
        assert np.allclose(got.numpy(), want.numpy(), atol=1e-5), name
        assert "## Without plughub" in (pulled / "README.md").read_text()
