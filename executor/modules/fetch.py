"""HTTP(S) downloads for `downloads` and remote SSH keys.

TLS certificates are verified (yip turns verification off; we do not), every
attempt has a timeout, transient failures are retried a bounded number of
times, and the body is capped so a wrong URL cannot fill the memory.
"""

from __future__ import annotations

import time
from typing import Any

from executor.errors import StepError

RETRIES = 3
BACKOFF = 1.0  # seconds before the first retry, doubled each time
DEFAULT_TIMEOUT = 60.0
MAX_BYTES = 512 << 20
KEY_PROVIDERS = {"github": "https://github.com/{}.keys", "gitlab": "https://gitlab.com/{}.keys"}


def key_url(key: str) -> str | None:
    """The URL a remote key names (`github:USER`, `gitlab:USER`, http(s)://), else None."""
    scheme, sep, rest = key.partition(":")
    if not sep or not rest:
        return None
    if scheme in KEY_PROVIDERS and not rest.startswith("//"):
        return KEY_PROVIDERS[scheme].format(rest.strip())
    if scheme in ("http", "https") and rest.startswith("//"):
        return key.strip()
    return None


def fetch(url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = RETRIES,
          limit: int = MAX_BYTES, headers: dict[str, str] | None = None,
          deadline: float | None = None, direct: bool = False) -> bytes:
    """The body of `url`; StepError when it cannot be had.

    `timeout` bounds each connect and each read; `deadline` (a time.monotonic()
    instant) bounds the whole transfer, retries and slow bodies included, so a
    server that trickles bytes cannot hold a boot. `direct` ignores proxy
    settings (link-local metadata services are never behind a proxy).
    """
    import urllib.error
    import urllib.request

    if not url.startswith(("https://", "http://")):
        raise StepError(f"{url}: only http and https URLs can be fetched")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({})) if direct else None
    delay = BACKOFF
    last = ""
    for attempt in range(retries + 1):
        try:
            each = _time_left(url, timeout, deadline)
            request = urllib.request.Request(
                url, headers={"User-Agent": "stage-executor", **(headers or {})})
            open_url = opener.open if opener is not None else urllib.request.urlopen
            with open_url(request, timeout=each) as response:
                body = _read_body(url, response, limit, deadline)
            return body
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code} {exc.reason}"
            if exc.code < 500 and exc.code != 429:
                break  # the server answered: retrying will not help
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            last = str(reason)
            if "CERTIFICATE_VERIFY_FAILED" in last:
                break
        if attempt < retries:
            if deadline is not None and time.monotonic() + delay >= deadline:
                break
            time.sleep(delay)
            delay *= 2
    raise StepError(f"cannot fetch {url}: {last}")


def _time_left(url: str, timeout: float, deadline: float | None) -> float:
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise StepError(f"cannot fetch {url}: out of time")
    return min(timeout, left)


def _read_body(url: str, response: Any, limit: int, deadline: float | None) -> bytes:
    """The body, read in chunks so that the overall deadline is checked between them."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if deadline is not None and time.monotonic() > deadline:
            raise StepError(f"cannot fetch {url}: the body did not arrive in time")
        chunk: bytes = response.read(min(65536, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise StepError(f"{url}: larger than {limit} bytes")
