"""Frame embedder (open_clip): off with a reason when no real weights can be had, and the real
loading code on a tiny open_clip model this test builds and saves itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.errors import ModelUnavailable
from indexer.extractors.frames.openclip import OpenCLIPEmbedder
from indexer.settings import FramesSettings

TINY = "vidrag-test-tiny"
TINY_CFG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (48 + 8 * k, 64, 3), dtype=np.uint8) for k in range(n)]


# --- no weights here: off, with the reason -------------------------------------------------------
def test_default_weights_are_off_with_a_reason_when_not_cached():
    offline = OpenCLIPEmbedder(FramesSettings(), offline=True)
    status = offline.availability()
    if status.ok:
        pytest.skip("the default open_clip weights are cached on this machine")
    assert status.reason == "ViT-B-32/laion2b_s34b_b79k is not cached and hub access is off"
    with pytest.raises(ModelUnavailable, match="not cached"):
        offline.warm_up()
    with pytest.raises(ModelUnavailable):
        _ = offline.dim
    online = OpenCLIPEmbedder(FramesSettings()).availability()
    if not online.ok:  # the hub cannot be reached from here: said so
        assert "unreachable" in online.reason


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (FramesSettings(pretrained=""), "no pretrained weights configured"),
        (FramesSettings(pretrained="/nowhere/clip.pt"), "checkpoint not found"),
        (FramesSettings(pretrained="no-such-tag"), "no-such-tag is not cached"),
        (FramesSettings(model="local-dir:/nowhere"), "no open_clip_config.json"),
    ],
)
def test_unusable_settings_are_off_with_a_reason(settings: FramesSettings, reason: str):
    status = OpenCLIPEmbedder(settings, offline=True).availability()
    assert not status.ok and reason in status.reason


# --- a real (tiny, randomly initialised) checkpoint through the real loading code ----------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """(folder, model): the config registered with open_clip, weights saved as a checkpoint."""
    import open_clip
    import torch

    folder = tmp_path_factory.mktemp("tiny_clip")
    (folder / f"{TINY}.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(folder / f"{TINY}.json")
    torch.manual_seed(0)
    model = open_clip.create_model(TINY).eval()
    torch.save(model.state_dict(), folder / "tiny.pt")
    return folder, model


def test_local_checkpoint_embeds_images_and_texts(tiny: tuple[Path, Any]):
    import open_clip
    import torch

    folder, reference = tiny
    settings = FramesSettings(model=TINY, pretrained=str(folder / "tiny.pt"), batch_size=2)
    embedder = OpenCLIPEmbedder(settings, offline=True)
    assert embedder.availability().ok
    assert embedder.dim == 32
    pics = images(5)
    vectors = embedder.embed_images(pics)
    texts = embedder.embed_texts(["a bus in the street", "a red sign", "NO LITTER"])
    assert vectors.shape == (5, 32) and texts.shape == (3, 32)
    assert vectors.dtype == np.float32 and texts.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embedder.embed_images(pics[3:4]), vectors[3:4], atol=1e-5)  # batching
    assert not np.allclose(vectors[0], vectors[1])
    # the weights are the checkpoint's, not a fresh random init
    tokens = open_clip.get_tokenizer(TINY)(["a red sign"])
    with torch.inference_mode():
        expected = reference.encode_text(tokens, normalize=True).numpy()
    assert np.allclose(texts[1], expected[0], atol=1e-5)
    assert embedder.embed_images([]).shape == (0, 32)
    assert embedder.embed_texts([]).shape == (0, 32)


def test_local_dir_in_open_clip_layout(tiny: tuple[Path, Any], tmp_path: Path):
    import torch

    folder, reference = tiny
    settings = FramesSettings(model=f"local-dir:{tmp_path}")
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG}))
    status = OpenCLIPEmbedder(settings, offline=True).availability()
    assert not status.ok and "no weights" in status.reason
    torch.save(reference.state_dict(), tmp_path / "open_clip_pytorch_model.bin")
    from_dir = OpenCLIPEmbedder(settings, offline=True)
    from_file = OpenCLIPEmbedder(
        FramesSettings(model=TINY, pretrained=str(folder / "tiny.pt")), offline=True
    )
    pics = images(2)
    assert np.allclose(from_dir.embed_images(pics), from_file.embed_images(pics), atol=1e-5)
    assert np.allclose(from_dir.embed_texts(["x"]), from_file.embed_texts(["x"]), atol=1e-5)


def fake_hub_cache(root: Path, repo: str, files: dict[str, Any]) -> Path:
    """A HuggingFace cache holding `files` for `repo` at one snapshot; returns the snapshot."""
    import torch

    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0" * 40)
    snapshot = folder / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for name, content in files.items():
        if isinstance(content, dict) and "model_cfg" in content:
            (snapshot / name).write_text(json.dumps(content))
        else:
            torch.save(content, snapshot / name)
    return snapshot


def test_cached_hub_weights_load_without_the_hub(tiny, tmp_path, monkeypatch):
    from huggingface_hub import constants

    folder, reference = tiny
    fake_hub_cache(
        tmp_path,
        "vidrag/tiny-clip",
        {
            "open_clip_config.json": {"model_cfg": TINY_CFG},
            "open_clip_pytorch_model.bin": reference.state_dict(),
        },
    )
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    cached = OpenCLIPEmbedder(FramesSettings(model="hf-hub:vidrag/tiny-clip"), offline=True)
    assert cached.availability().ok
    local = OpenCLIPEmbedder(FramesSettings(model=TINY, pretrained=str(folder / "tiny.pt")))
    pics = images(2)
    assert np.allclose(cached.embed_images(pics), local.embed_images(pics), atol=1e-5)
    missing = OpenCLIPEmbedder(FramesSettings(model="hf-hub:vidrag/other"), offline=True)
    assert "vidrag/other is not cached and hub access is off" in missing.availability().reason
    # with open_clip weights in the cache, a tag is looked up in open_clip's table
    unknown = OpenCLIPEmbedder(FramesSettings(pretrained="no-such-tag"), offline=True)
    assert "no pretrained tag 'no-such-tag'" in unknown.availability().reason
    default = OpenCLIPEmbedder(FramesSettings(), offline=True).availability()
    assert default.reason == "ViT-B-32/laion2b_s34b_b79k is not cached and hub access is off"
