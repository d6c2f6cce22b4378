"""Download a video from an http(s) URL for `POST /v1/videos {"url": ...}`, without becoming a
proxy into the gateway's own network (SSRF).

Every address the host name resolves to must be public; the connection then goes to the very
address that was checked (so a DNS answer that changes between check and connect cannot
redirect it), with the original Host header and TLS server name. Redirects are followed by hand
and each hop is checked again. Size and time are limited while streaming."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import anyio
import httpx

from app.errors import InvalidUrl, UploadTooLarge, UrlFetchFailed, UrlNotAllowed
from app.settings import FetchSettings

REDIRECTS = {301, 302, 303, 307, 308}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass
class Fetched:
    path: Path
    filename: str
    size: int


def address_allowed(ip: IPAddress) -> bool:
    """Only globally routable unicast addresses: no loopback, private, link-local (cloud
    metadata at 169.254.169.254), shared, reserved, multicast or unspecified ones."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


def parse_url(raw: str) -> httpx.URL:
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as e:
        raise InvalidUrl(f"not a valid URL: {e}") from None
    if url.scheme not in ("http", "https"):
        raise UrlNotAllowed("only http and https URLs can be fetched")
    if not url.host:
        raise InvalidUrl("the URL has no host")
    if url.userinfo:
        raise UrlNotAllowed("URLs with credentials are not fetched")
    return url


async def resolve(host: str, port: int, allow_private: bool) -> str:
    """The first address of `host`, after checking all of them. Raises UrlNotAllowed."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addrs = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as e:
            raise UrlFetchFailed(f"cannot resolve host {host!r}: {e}") from None
        addrs = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addrs:
        raise UrlFetchFailed(f"host {host!r} has no address")
    if not allow_private:
        bad = [str(a) for a in addrs if not address_allowed(a)]
        if bad:
            raise UrlNotAllowed(f"{host!r} resolves to a non-public address ({bad[0]})")
    return str(addrs[0])


def _filename(url: httpx.URL) -> str:
    name = unquote(url.path.rstrip("/").rsplit("/", 1)[-1])
    name = re.sub(r"[^\w.\- ]+", "_", name).strip(" .")[:200]
    return name or "download"


async def fetch(raw_url: str, tmp_dir: Path, max_bytes: int, cfg: FetchSettings) -> Fetched:
    """Download `raw_url` into a new file in `tmp_dir` (the caller removes it)."""
    url = parse_url(raw_url)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    dest = tmp_dir / f"fetch-{uuid.uuid4().hex}.part"
    timeout = httpx.Timeout(cfg.read_timeout_s, connect=cfg.connect_timeout_s)
    try:
        with anyio.fail_after(cfg.total_timeout_s):
            async with httpx.AsyncClient(
                timeout=timeout, follow_redirects=False, trust_env=False
            ) as client:
                for _ in range(cfg.max_redirects + 1):
                    location = await _get(client, url, dest, max_bytes, cfg)
                    if location is None:
                        return Fetched(dest, _filename(url), dest.stat().st_size)
                    url = parse_url(str(url.join(location)))
                raise UrlFetchFailed(f"more than {cfg.max_redirects} redirects")
    except TimeoutError:
        dest.unlink(missing_ok=True)
        raise UrlFetchFailed(f"the download took longer than {cfg.total_timeout_s:.0f} s") from None
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


async def _get(
    client: httpx.AsyncClient, url: httpx.URL, dest: Path, max_bytes: int, cfg: FetchSettings
) -> str | None:
    """One request to the checked address; the redirect target, or None when saved."""
    host = url.host
    ip = await resolve(host, url.port or (443 if url.scheme == "https" else 80), cfg.allow_private)
    pinned = url.copy_with(host=ip)
    headers = {"Host": url.netloc.decode("ascii"), "User-Agent": "vidrag/1 (+video fetch)"}
    ext = {"sni_hostname": host} if url.scheme == "https" else {}
    try:
        async with client.stream("GET", pinned, headers=headers, extensions=ext) as resp:
            if resp.status_code in REDIRECTS and "location" in resp.headers:
                return resp.headers["location"]
            if resp.status_code != 200:
                raise UrlFetchFailed(f"the server answered HTTP {resp.status_code}")
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise UploadTooLarge(f"the remote file ({declared} bytes) exceeds {max_bytes}")
            size = 0
            f = await anyio.to_thread.run_sync(dest.open, "wb")
            try:
                async for chunk in resp.aiter_bytes(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise UploadTooLarge(f"the remote file exceeds {max_bytes} bytes")
                    await anyio.to_thread.run_sync(f.write, chunk)
            finally:
                with contextlib.suppress(OSError):
                    f.close()
    except httpx.HTTPError as e:
        raise UrlFetchFailed(f"download failed: {type(e).__name__}: {e}") from None
    return None
