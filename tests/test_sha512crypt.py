"""SHA-512 crypt against the specification's vectors, libcrypt and openssl."""

from __future__ import annotations

import subprocess
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.sha512crypt import ALPHABET, new_salt, sha512_crypt, verify
from tests.conftest import have

# The test vectors published with the algorithm (Drepper, "Unix crypt using
# SHA-256 and SHA-512"), also used by glibc, libxcrypt and PHP.
VECTORS = [
    (
        "$6$saltstring",
        "Hello world!",
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
    ),
    (
        "$6$rounds=10000$saltstringsaltstring",
        "Hello world!",
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
    ),
    (
        "$6$rounds=5000$toolongsaltstring",
        "This is just a test",
        "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
    ),
    (
        "$6$rounds=1400$anotherlongsaltstring",
        "a very much longer text to encrypt.  This one even stretches over morethan one line.",
        "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
    ),
    (
        "$6$rounds=77777$short",
        "we have a short salt string but not a short password",
        "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0",
    ),
    (
        "$6$rounds=123456$asaltof16chars..",
        "a short string",
        "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1",
    ),
    (
        "$6$rounds=10$roundstoolow",
        "the minimum number is still observed",
        "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
    ),
    (
        "$6$$bar$",
        "foo",
        "$6$$QMXjqd7rHQZPQ1yHsXkQqC1FBzDiVfTHXL.LaeDAeVV.IzMaV9VU4MQ8kPuZa2SOP1A0RPm772EaFYjpEJtdu.",
    ),
]


@pytest.mark.parametrize(("setting", "password", "expected"), VECTORS)
def test_published_vectors(setting: str, password: str, expected: str) -> None:
    assert sha512_crypt(password, setting) == expected
    assert verify(password, expected)
    assert not verify(password + "x", expected)


def _libcrypt():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt  # the deprecated stdlib binding of libcrypt, where it still exists
        except ImportError:
            return None
    return crypt


@pytest.mark.skipif(_libcrypt() is None, reason="no stdlib crypt module (Python >= 3.13)")
@settings(max_examples=60, deadline=None)
@given(
    st.text(min_size=0, max_size=80).filter(lambda s: "\0" not in s),
    st.text(alphabet=ALPHABET, min_size=0, max_size=16),
)
def test_agrees_with_libcrypt(password: str, salt: str) -> None:
    crypt = _libcrypt()
    assert crypt is not None
    setting = f"$6${salt}"
    assert sha512_crypt(password, setting) == crypt.crypt(password, setting)


@pytest.mark.subprocess
@pytest.mark.skipif(not have("openssl"), reason="openssl is not installed")
@pytest.mark.parametrize("password", ["kairos", "pässwörd with spaces", "x" * 100])
def test_agrees_with_openssl_passwd(password: str) -> None:
    salt = new_salt()
    done = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    assert sha512_crypt(password, f"$6${salt}") == done.stdout.strip()


def test_new_hashes_use_a_fresh_full_length_salt() -> None:
    first, second = sha512_crypt("same"), sha512_crypt("same")
    assert first != second
    assert len(first.split("$")[2]) == 16
    assert verify("same", first) and verify("same", second)


def test_verify_refuses_other_schemes() -> None:
    assert not verify("x", "$y$j9T$abc$def")
    assert not verify("x", "!")
