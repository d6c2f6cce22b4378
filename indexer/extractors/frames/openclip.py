"""open_clip image-text embedder: frames and text queries as vectors in one space, so a text
query finds frames.

Weights, in `FramesSettings`: `model` an open_clip architecture (`ViT-B-32`) with `pretrained`
an open_clip tag (`laion2b_s34b_b79k`, fetched from the HuggingFace hub and cached) or a local
checkpoint file; or `model` = `hf-hub:org/repo` or `local-dir:/path` (a folder with
`open_clip_config.json` and the weights). Without real weights the capability is off: random
weights would give vectors that look fine and mean nothing. `open_clip` and torch are imported
only when needed."""

from __future__ import annotations

import importlib.util
import posixpath
import threading
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import numpy as np

from indexer.errors import ModelUnavailable
from indexer.extractors.base import Availability, Image, register, resolve_device
from indexer.extractors.hub import reachable
from indexer.settings import FramesSettings

_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _cached_hf_file(repo: str, filenames: Sequence[str]) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    for name in filenames:
        path = try_to_load_from_cache(repo, name)
        if isinstance(path, str):
            return path
    return None


def _any_hub_weights_cached() -> bool:
    """Whether the HuggingFace cache holds any file named like open_clip weights."""
    from huggingface_hub import constants

    names = {*_WEIGHT_FILES, "pytorch_model.bin", "pytorch_model.safetensors"}
    snapshots = Path(constants.HF_HUB_CACHE).glob("models--*/snapshots/*/*")
    return any(p.name in names for p in snapshots)


class _Plan:
    """How to load: open_clip arguments, or why it cannot be loaded here."""

    def __init__(self, reason: str = "", **kwargs: Any) -> None:
        self.reason = reason
        self.kwargs = kwargs


@register("frames", "open_clip")
class OpenCLIPEmbedder:
    """Embeds images and texts with an open_clip model.

    `embed_images` / `embed_texts` return L2-normalised float32 arrays of shape (n, dim), in the
    same space. `warm_up()` (implicit on first use, also on reading `dim`) raises
    `ModelUnavailable` when open_clip or real weights cannot be had."""

    name: ClassVar[str] = "open_clip"

    def __init__(self, settings: FramesSettings, *, offline: bool = False) -> None:
        self.settings = settings
        self.offline = offline
        self._plan: _Plan | None = None
        self._model: Any = None
        self._preprocess: Any = None
        self._tokenizer: Any = None
        self._device = "cpu"
        self._dim = 0
        self._lock = threading.Lock()

    @property
    def _label(self) -> str:
        s = self.settings
        return (
            s.model
            if s.model.startswith(("hf-hub:", "local-dir:"))
            else f"{s.model}/{s.pretrained}"
        )

    def availability(self) -> Availability:
        for package in ("open_clip", "torch"):
            if importlib.util.find_spec(package) is None:
                return Availability(False, self.name, self._label, f"{package} is not installed")
        plan = self._resolve()
        return Availability(not plan.reason, self.name, self._label, plan.reason)

    def _hub_ok(self, what: str) -> _Plan | None:
        """None when the hub may be used; else the plan saying why not."""
        from huggingface_hub import constants

        if self.offline or constants.HF_HUB_OFFLINE:
            return _Plan(f"{what} is not cached and hub access is off")
        if not reachable(constants.ENDPOINT):
            return _Plan(f"{what} is not cached and {constants.ENDPOINT} is unreachable")
        return None

    def _resolve(self) -> _Plan:
        if self._plan is None:
            self._plan = self._resolve_uncached()
        return self._plan

    def _resolve_uncached(self) -> _Plan:
        model, pretrained = self.settings.model, self.settings.pretrained
        if model.startswith("local-dir:"):
            folder = Path(model.removeprefix("local-dir:")).expanduser()
            if not (folder / "open_clip_config.json").is_file():
                return _Plan(f"no open_clip_config.json in {folder}")
            weights = [
                p for suffix in (".safetensors", ".bin", ".pth") for p in folder.glob(f"*{suffix}")
            ]
            if not weights:
                return _Plan(f"no weights in {folder}")
            return _Plan(model_name=f"local-dir:{folder}")
        if model.startswith("hf-hub:"):
            repo = model.removeprefix("hf-hub:")
            config = _cached_hf_file(repo, ["open_clip_config.json"])
            if config and _cached_hf_file(repo, _WEIGHT_FILES):
                # load from the cached snapshot: no request to the hub at all
                return _Plan(model_name=f"local-dir:{Path(config).parent}")
            return self._hub_ok(repo) or _Plan(model_name=model)
        if not pretrained:
            return _Plan("no pretrained weights configured (frames.pretrained is empty)")
        path = Path(pretrained).expanduser()
        if path.is_file():
            return _Plan(model_name=model, pretrained=str(path))
        if "/" in pretrained or path.suffix in _CHECKPOINT_SUFFIXES:
            return _Plan(f"checkpoint not found: {path}")
        if not _any_hub_weights_cached():
            # importing open_clip for its tag table takes seconds; with no open_clip weights in
            # the cache at all, only the hub could provide them
            blocked = self._hub_ok(f"{model}/{pretrained}")
            if blocked:
                return blocked
        return self._resolve_tag(model, pretrained)

    def _resolve_tag(self, model: str, tag: str) -> _Plan:
        import open_clip  # the tag -> weights table lives in open_clip

        cfg = open_clip.get_pretrained_cfg(model, tag)
        if not cfg:
            return _Plan(f"open_clip has no pretrained tag {tag!r} for {model!r}")
        # what open_clip would take from the tag when loading a local copy of its weights
        extra: dict[str, Any] = {
            "force_quick_gelu": bool(cfg.get("quick_gelu", False)),
            "image_mean": cfg.get("mean"),
            "image_std": cfg.get("std"),
            "image_interpolation": cfg.get("interpolation"),
            "image_resize_mode": cfg.get("resize_mode"),
        }
        # open_clip's convention: "org/repo/" (default file names) or "org/repo/file.bin", a
        # .safetensors twin preferred; every tag of open_clip 3.x names a hub repo
        repo, filename = posixpath.split(cfg.get("hf_hub", ""))
        if filename in ("", _WEIGHT_FILES[1]):
            names = list(_WEIGHT_FILES)
        else:
            names = [str(PurePosixPath(filename).with_suffix(".safetensors")), filename]
        cached = _cached_hf_file(repo, names) if repo else None
        if cached:
            return _Plan(model_name=model, pretrained=cached, **extra)
        return self._hub_ok(f"{model}/{tag}") or _Plan(model_name=model, pretrained=tag)

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            plan = self._resolve()
            if plan.reason:
                raise ModelUnavailable(f"open_clip {self._label}: {plan.reason}")
            try:
                import open_clip
                import torch
            except ImportError as e:
                raise ModelUnavailable(f"open_clip cannot be imported: {e}") from e
            device = resolve_device(self.settings.device)
            if device == "cuda" and not _cuda_available():
                raise ModelUnavailable("device is cuda but torch sees no GPU")
            kwargs = {k: v for k, v in plan.kwargs.items() if v is not None}
            try:
                # create_model_from_pretrained refuses to hand back randomly initialised weights
                model, preprocess = open_clip.create_model_from_pretrained(device=device, **kwargs)
                tokenizer = open_clip.get_tokenizer(plan.kwargs["model_name"])
            except Exception as e:  # download, unpickling and config errors come in many types
                raise ModelUnavailable(f"open_clip {self._label} failed to load: {e}") from e
            model.eval()
            self._device, self._preprocess, self._tokenizer = device, preprocess, tokenizer
            self._model = model
            with torch.inference_mode():
                self._dim = int(self._encode_texts([""]).shape[1])

    @property
    def dim(self) -> int:
        """Vector size; loads the model on first use."""
        self.warm_up()
        return self._dim

    def embed_images(self, images: Sequence[Image]) -> np.ndarray:
        """One L2-normalised float32 row per RGB image, in batches of `settings.batch_size`."""
        self.warm_up()
        import torch
        from PIL import Image as PILImage

        rows = []
        with torch.inference_mode():
            for k in range(0, len(images), self.settings.batch_size):
                batch = torch.stack(
                    [
                        self._preprocess(PILImage.fromarray(im))
                        for im in images[k : k + self.settings.batch_size]
                    ]
                ).to(self._device)
                rows.append(self._model.encode_image(batch).float().cpu().numpy())
        return _normalised(rows, self._dim)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text, in the images' space."""
        self.warm_up()
        import torch

        with torch.inference_mode():
            return self._encode_texts(texts)

    def _encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for k in range(0, len(texts), self.settings.batch_size):
            tokens = self._tokenizer(list(texts[k : k + self.settings.batch_size])).to(self._device)
            rows.append(self._model.encode_text(tokens).float().cpu().numpy())
        return _normalised(rows, self._dim)


def _normalised(rows: list[np.ndarray], dim: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, dim), dtype=np.float32)
    vectors = np.concatenate(rows).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
