"""The one HTTP(S) fetcher: URL sources, `downloads`, remote SSH keys and
the datasource providers.

TLS certificates are verified (yip turns verification off; we do not), every
connect and read has a timeout, an attempt and the whole call can have a
deadline (body included, so a server that drips bytes cannot hold a boot),
transient failures are retried a bounded number of times, and the body is
capped so a wrong URL cannot fill the memory.
"""

from __future__ import annotations

import time
from typing import Any

from executor import __version__
from executor.errors import StepError

RETRIES = 3
BACKOFF = 1.0  # seconds before the first retry, doubled each time
DEFAULT_TIMEOUT = 60.0
MAX_BYTES = 512 << 20
USER_AGENT = f"stage-executor/{__version__}"
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


class FetchError(StepError):
    """A URL that could not be had: `reason` says why; `exhausted` when every
    attempt was made (a retryable failure), False when retrying was pointless."""

    def __init__(self, url: str, reason: str, *, exhausted: bool, attempts: int) -> None:
        super().__init__(f"cannot fetch {url}: {reason}")
        self.reason = reason
        self.exhausted = exhausted
        self.attempts = attempts


class _Retry(Exception):
    """A failure worth another attempt (refused, timed out, 5xx, a slow body)."""


def fetch(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = RETRIES,
    limit: int = MAX_BYTES,
    headers: dict[str, str] | None = None,
    deadline: float | None = None,
    attempt_limit: float | None = None,
    backoff: float = BACKOFF,
    direct: bool = False,
    data: bytes | None = None,
) -> bytes:
    """The body of `url`; FetchError (a StepError) when it cannot be had.

    `timeout` bounds each connect and each read. `attempt_limit` bounds one
    attempt, body included, and `deadline` (a time.monotonic() instant) the
    whole call, retries included, so a server that trickles bytes cannot hold
    a boot. `direct` ignores proxy settings (link-local metadata services are
    never behind a proxy). With `data`, the request is a POST of it.
    """
    if not url.startswith(("https://", "http://")):
        raise FetchError(
            url, "only http and https URLs can be fetched", exhausted=False, attempts=0
        )
    delay = backoff
    reason = ""
    made = 0  # attempts made: the deadline can leave retries unused
    for attempt in range(retries + 1):
        if attempt:
            if deadline is not None and time.monotonic() + delay >= deadline:
                break
            time.sleep(delay)
            delay *= 2
        made += 1
        try:
            return _attempt(
                url,
                timeout=timeout,
                limit=limit,
                headers=headers or {},
                deadline=_earliest(deadline, attempt_limit),
                direct=direct,
                data=data,
            )
        except _Retry as exc:
            reason = str(exc)
        except FetchError as exc:
            exc.attempts = attempt + 1
            raise
    raise FetchError(url, reason, exhausted=True, attempts=made)


def _earliest(deadline: float | None, attempt_limit: float | None) -> float | None:
    if attempt_limit is None:
        return deadline
    mine = time.monotonic() + attempt_limit
    return mine if deadline is None else min(deadline, mine)


def _attempt(
    url: str,
    *,
    timeout: float,
    limit: int,
    headers: dict[str, str],
    deadline: float | None,
    direct: bool,
    data: bytes | None = None,
) -> bytes:
    # urllib (and http.client, ssl) only when a URL is actually fetched: boot time.
    import http.client
    import urllib.error
    import urllib.request

    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Retry("out of time")
        timeout = min(timeout, left)
    request = urllib.request.Request(url, data=data, headers={"User-Agent": USER_AGENT, **headers})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({})) if direct else None
    try:
        open_url = opener.open if opener is not None else urllib.request.urlopen
        with open_url(request, timeout=timeout) as response:
            return _read_body(url, response, limit, deadline)
    except urllib.error.HTTPError as exc:
        message = f"HTTP {exc.code} {exc.reason}"
        if exc.code >= 500 or exc.code == 429:
            raise _Retry(message) from None
        raise FetchError(url, message, exhausted=False, attempts=1) from None  # it answered
    except urllib.error.URLError as exc:
        reason = str(exc.reason)
        if "CERTIFICATE_VERIFY_FAILED" in reason:
            raise FetchError(url, reason, exhausted=False, attempts=1) from None
        raise _Retry(reason) from None
    except ValueError as exc:  # a malformed URL: no point in trying again
        raise FetchError(url, str(exc), exhausted=False, attempts=1) from None
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise _Retry(str(exc) or type(exc).__name__) from None


def _read_body(url: str, response: Any, limit: int, deadline: float | None) -> bytes:
    """The body, read in chunks so that the deadline is checked between them."""
    chunks: list[bytes] = []
    size = 0
    start = time.monotonic()
    while chunk := response.read(65536):
        size += len(chunk)
        if size > limit:
            raise FetchError(
                url, f"refused: larger than {limit} bytes", exhausted=False, attempts=1
            )
        chunks.append(chunk)
        if deadline is not None and time.monotonic() > deadline:
            raise _Retry(f"reading took longer than {time.monotonic() - start:.3g}s")
    return b"".join(chunks)
