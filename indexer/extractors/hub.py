"""Cheap checks of whether a model hub can be reached, shared by every backend's
`availability()`. They fail fast (seconds) on a machine without network access."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

from indexer.errors import ModelUnavailable

HUB_TIMEOUT_S = 3.0


def reachable(host_or_url: str, timeout_s: float = 2.0) -> bool:
    """True when a TCP connection to the host (port 443, or the URL's port) opens in time."""
    parsed = urlparse(host_or_url if "//" in host_or_url else f"https://{host_or_url}")
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def check_hf_repo(repo: str) -> None:
    """ModelUnavailable unless the Hugging Face hub answers for `repo` within HUB_TIMEOUT_S."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        HfApi().model_info(repo, timeout=HUB_TIMEOUT_S)
    except RepositoryNotFoundError as e:
        raise ModelUnavailable(f"{repo} is not on the Hugging Face hub: {e}") from e
    except Exception as e:  # DNS, refused, timeout, offline mode: transport errors vary by version
        raise ModelUnavailable(
            f"{repo} is not cached and the Hugging Face hub is unreachable "
            f"({type(e).__name__}: {e})"
        ) from e
