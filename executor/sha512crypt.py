"""SHA-512 crypt (`$6$`), as glibc's crypt(3) computes it.

Plain `passwd` values in users, entities and systemd_firstboot are hashed
with it before they reach the root's /etc/shadow. The stdlib `crypt` module
is deprecated and removed in Python 3.13, and running `openssl passwd -6`
would spawn a process on the boot path (and need the tool in the root or on
the host); this is the published algorithm (Ulrich Drepper, "Unix crypt using
SHA-256 and SHA-512"), a few dozen lines over hashlib, checked in the tests
against the specification's own vectors and against libcrypt and openssl.

`verify` lets a re-run keep an existing hash of the same password instead of
rewriting /etc/shadow with a new salt on every boot.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ROUNDS_DEFAULT = 5000
ROUNDS_MIN, ROUNDS_MAX = 1000, 999_999_999
SALT_MAX = 16
ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# The order in which the 64 digest bytes are taken, three at a time, into
# the 86 characters of the result (the last group is one byte).
_PERMUTATION = (
    (0, 21, 42),
    (22, 43, 1),
    (44, 2, 23),
    (3, 24, 45),
    (25, 46, 4),
    (47, 5, 26),
    (6, 27, 48),
    (28, 49, 7),
    (50, 8, 29),
    (9, 30, 51),
    (31, 52, 10),
    (53, 11, 32),
    (12, 33, 54),
    (34, 55, 13),
    (56, 14, 35),
    (15, 36, 57),
    (37, 58, 16),
    (59, 17, 38),
    (18, 39, 60),
    (40, 61, 19),
    (62, 20, 41),
)


def new_salt(length: int = SALT_MAX) -> str:
    """A random salt from the crypt alphabet."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def sha512_crypt(password: str | bytes, setting: str = "") -> str:
    """Hash `password`; `setting` is `$6$[rounds=N$]salt` (a new salt when empty)."""
    rounds, explicit, salt = _parse_setting(setting or f"$6${new_salt()}")
    key = password.encode("utf-8") if isinstance(password, str) else password
    raw_salt = salt.encode("ascii")
    digest = _digest(key, raw_salt, rounds)
    head = f"$6$rounds={rounds}$" if explicit else "$6$"
    return f"{head}{salt}${_encode(digest)}"


def verify(password: str, hashed: str) -> bool:
    """True when `hashed` is a `$6$` hash of `password`."""
    if not hashed.startswith("$6$"):
        return False
    setting = hashed.rsplit("$", 1)[0]
    try:
        candidate = sha512_crypt(password, setting)
    except ValueError:
        return False
    return hmac.compare_digest(candidate, hashed)


def _parse_setting(setting: str) -> tuple[int, bool, str]:
    if not setting.startswith("$6$"):
        raise ValueError(f"not a SHA-512 crypt setting: {setting!r}")
    rest = setting[3:]
    rounds, explicit = ROUNDS_DEFAULT, False
    if rest.startswith("rounds="):
        number, sep, rest = rest[len("rounds=") :].partition("$")
        if not sep or not number.isdigit():
            raise ValueError(f"bad rounds in {setting!r}")
        rounds = min(max(int(number), ROUNDS_MIN), ROUNDS_MAX)
        explicit = True
    salt = rest.split("$", 1)[0][:SALT_MAX]
    if any(c in ":\n" for c in salt):
        raise ValueError(f"bad salt in {setting!r}")
    return rounds, explicit, salt


def _digest(key: bytes, salt: bytes, rounds: int) -> bytes:
    def sha(*parts: bytes) -> bytes:
        h = hashlib.sha512()
        for part in parts:
            h.update(part)
        return h.digest()

    alt = sha(key, salt, key)
    a = hashlib.sha512(key + salt)
    a.update(_repeat(alt, len(key)))
    length = len(key)
    while length:  # one bit of the key length at a time, lowest first
        a.update(alt if length & 1 else key)
        length >>= 1
    result = a.digest()

    p_bytes = _repeat(sha(key * len(key)), len(key))
    s_bytes = _repeat(sha(salt * (16 + result[0])), len(salt))

    for i in range(rounds):
        c = hashlib.sha512()
        c.update(p_bytes if i & 1 else result)
        if i % 3:
            c.update(s_bytes)
        if i % 7:
            c.update(p_bytes)
        c.update(result if i & 1 else p_bytes)
        result = c.digest()
    return result


def _repeat(block: bytes, length: int) -> bytes:
    """`block` repeated and cut to `length` bytes."""
    whole, part = divmod(length, len(block))
    return block * whole + block[:part]


def _encode(digest: bytes) -> str:
    out = []
    for a, b, c in _PERMUTATION:
        out.append(_b64_from_24bit(digest[a], digest[b], digest[c], 4))
    out.append(_b64_from_24bit(0, 0, digest[63], 2))
    return "".join(out)


def _b64_from_24bit(b2: int, b1: int, b0: int, count: int) -> str:
    word = (b2 << 16) | (b1 << 8) | b0
    chars = []
    for _ in range(count):
        chars.append(ALPHABET[word & 0x3F])
        word >>= 6
    return "".join(chars)
