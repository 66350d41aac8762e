"""HTTP(S) downloads for `downloads` and remote SSH keys.

TLS certificates are verified (yip turns verification off; we do not), every
attempt has a timeout, transient failures are retried a bounded number of
times, and the body is capped so a wrong URL cannot fill the memory.
"""

from __future__ import annotations

import time

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
          limit: int = MAX_BYTES) -> bytes:
    """The body of `url`; StepError when it cannot be had."""
    import urllib.error
    import urllib.request

    if not url.startswith(("https://", "http://")):
        raise StepError(f"{url}: only http and https URLs can be fetched")
    delay = BACKOFF
    last = ""
    for attempt in range(retries + 1):
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "stage-executor"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body: bytes = response.read(limit + 1)
            if len(body) > limit:
                raise StepError(f"{url}: larger than {limit} bytes")
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
            time.sleep(delay)
            delay *= 2
    raise StepError(f"cannot fetch {url}: {last}")
