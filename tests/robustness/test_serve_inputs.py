"""What one request can do to ``hub serve``: sizes are checked before memory is taken (the
limit named, a 413), and a client's string is a text, never a path: the answer to a string is
the same whether or not a file of that name exists on the server, and nothing is looked up.

The app runs in-process (ASGI calls, no socket); the served model is the real ServedModel
with a real preprocessor, only its graph replaced by an echo, so these run in milliseconds.
"""
from __future__ import annotations

import asyncio
import base64
import json
import struct
import time

import numpy as np
import pytest

from hub_core.deploy.serve.app import Settings, create_app
from hub_core.deploy.serve.models import ServedModel


class Echo(ServedModel):
    """A ServedModel whose graph answers what its preprocessor made of each input."""

    def __init__(self, preprocessor, file_inputs=False, file_parts=None):
        self.name, self.preprocessor, self.ranker = "m", preprocessor, None
        self.file_inputs, self.file_parts = file_inputs, file_parts or {}

    def run(self, items, groups):
        return [[{"got": str(items[i].arrays[0])[:60]} for i in range(start, stop)] for start, stop, _ in groups]


class TextPreprocessor:
    """Texts in, the text out (the echo shows what the model was given)."""

    def windows(self, raw):
        return None

    def __call__(self, raw, train=False):
        if not isinstance(raw, str):
            raise ValueError(f"expected a text, got {type(raw).__name__}")
        return raw


text_preprocessor = TextPreprocessor()


def post(model, body, settings=None) -> tuple[int, dict]:
    """(status, JSON answer) of one POST /v1/models/m:predict, through the whole app."""
    app = create_app({"m": model}, settings or Settings())

    async def call():
        async with app.state.service.lifespan(app):
            return await request(app, body)

    return asyncio.run(call())


async def request(app, body) -> tuple[int, dict]:
    """One POST /v1/models/m:predict to a running app."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    scope = {"type": "http", "method": "POST", "path": "/v1/models/m:predict", "raw_path": b"/v1/models/m:predict",
             "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]}
    sent = []

    async def receive():
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message):
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 30)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))


def test_a_slow_input_delays_only_its_own_request():
    """Inputs are preprocessed per request, outside the batch: a request whose input takes
    1.5 s to decode (a large image within the limits) holds up no other client."""
    class Slow(TextPreprocessor):
        def __call__(self, raw, train=False):
            if raw == "slow":
                time.sleep(1.5)
            return super().__call__(raw, train)

    app = create_app({"m": Echo(Slow())}, Settings())

    async def both():
        async with app.state.service.lifespan(app):
            slow = asyncio.create_task(request(app, {"inputs": ["slow"]}))
            await asyncio.sleep(0.2)  # the slow one is decoding
            started = time.perf_counter()
            fast = await request(app, {"inputs": ["fast"]})
            fast_s = time.perf_counter() - started
            return fast, fast_s, await slow

    fast, fast_s, slow = asyncio.run(both())
    assert fast[0] == 200 and fast[1]["predictions"][0]["answer"] == {"got": "fast"}
    assert slow[0] == 200 and fast_s < 0.8, fast_s  # it did not wait for the slow decode


NAMES = ["/etc/passwd", "/root/no_such", ".", "..", "/", "home", "/etc", "/proc/self/environ"]


def test_a_string_is_a_text_whatever_it_names():
    for name in NAMES:
        status, answer = post(Echo(text_preprocessor), {"inputs": [name]})
        assert status == 200 and answer["predictions"][0]["answer"] == {"got": name}, (name, answer)


def test_where_files_are_taken_every_string_gets_the_same_answer():
    opened = []

    def image(raw, train=False):  # would open the path: must never be reached with a client's string
        opened.append(raw)
        raise ValueError("opened")

    answers = {json.dumps(post(Echo(image, file_inputs=True), {"inputs": [name]})) for name in NAMES}
    assert len(answers) == 1 and not opened, answers
    status, answer = json.loads(answers.pop())
    assert status == 400 and "send the file's contents" in answer["error"], answer
    # a fusion part that takes files: the same; a string at the top level (JSON a preprocessor would parse) too
    fusion = Echo(image, file_parts={"text": False, "picture": True})
    assert post(fusion, {"inputs": [{"text": "hi", "picture": "/etc/passwd"}]})[0] == 400
    assert post(fusion, {"inputs": ['{"picture": "/etc/passwd"}']})[0] == 400
    assert not opened


def wav(rate: int, samples: int = 10) -> bytes:
    """A 16-bit mono WAV whose header says ``rate`` Hz."""
    data = struct.pack(f"<{samples}h", *range(samples))
    fmt = struct.pack("<HHIIHH", 1, 1, rate, min(rate * 2, 2**32 - 1), 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


@pytest.mark.parametrize("rate, variable", [(1, "PLUGHUB_MIN_AUDIO_RATE"), (2_147_483_647, "PLUGHUB_MAX_AUDIO_RATE")])
def test_an_audio_header_over_the_limits_is_refused_before_decoding(rate, variable):
    from hub_speech.preprocess import AudioPreprocessor

    model = Echo(AudioPreprocessor({}), file_inputs=True)
    upload = {"base64": base64.b64encode(wav(rate)).decode(), "filename": "bomb.wav"}
    status, answer = post(model, {"inputs": [upload]})
    assert status == 413 and answer["error"].startswith("inputs[0]: ") and variable in answer["error"], answer
    assert "hub-serve-" not in answer["error"]  # the server's private upload path is not shown
    status, answer = post(model, {"inputs": [{"base64": base64.b64encode(wav(16000)).decode()}]})
    assert status == 200, answer  # the next request is answered


def test_audio_duration_and_image_pixels_are_checked_on_the_header(tmp_path, monkeypatch):
    from PIL import Image

    from hub_core.common.limits import LimitExceeded
    from hub_speech.audio import read_audio
    from hub_vision.images import open_rgb

    clip = tmp_path / "long.wav"
    clip.write_bytes(wav(8000, samples=8000 * 3))
    monkeypatch.setenv("PLUGHUB_MAX_AUDIO_SECONDS", "2")
    with pytest.raises(LimitExceeded, match=r"audio duration 3 s: at most 2 allowed \(PLUGHUB_MAX_AUDIO_SECONDS\)"):
        read_audio(clip)
    picture = tmp_path / "big.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(picture)
    monkeypatch.setenv("PLUGHUB_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(LimitExceeded, match=r"image size 2,000 pixels: at most 1,000 allowed"):
        open_rgb(picture)
    monkeypatch.setenv("PLUGHUB_MAX_IMAGE_PIXELS", "inf")
    from hub_core.common.errors import UsageError

    with pytest.raises(UsageError, match="PLUGHUB_MAX_IMAGE_PIXELS must be a finite number"):
        open_rgb(picture)


@pytest.mark.parametrize("depth", [100, 100_000])
def test_a_deeply_nested_body_is_a_413_naming_the_limit(depth):
    status, answer = post(Echo(text_preprocessor), b'{"inputs": [' + b"[" * depth + b"]" * depth + b"]}")
    assert status == 413 and "PLUGHUB_MAX_JSON_DEPTH" in answer["error"], answer


def test_a_text_over_the_limit_and_odd_top_k_are_4xx(monkeypatch):
    monkeypatch.setenv("PLUGHUB_MAX_TEXT_CHARS", "10")
    status, answer = post(Echo(text_preprocessor), {"inputs": ["x" * 11]})
    assert status == 413 and "text length 11 characters: at most 10 allowed (PLUGHUB_MAX_TEXT_CHARS)" in \
        answer["error"], answer
    for top_k in ["²", "٣", "9" * 5000, 2.5, "1e3", None]:
        status, answer = post(Echo(text_preprocessor), {"inputs": ["x"], "top_k": top_k})
        assert status == 400 and "top_k" in answer["error"], (top_k, answer)

