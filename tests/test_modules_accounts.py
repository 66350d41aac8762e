"""users, ensure/delete_entities, authorized_keys: the ROOT's account files,
edited whole and atomically, never the host's."""

from __future__ import annotations

import builtins
import grp
import os
import pwd
from pathlib import Path

import pytest

from executor import accounts, sha512crypt
from executor.modules import authorized_keys as ak
from executor.modules import entities
from executor.root import DryRunRoot, Root
from tests.modhelp import assert_dry_run_matches, run_config, tree

TODAY = 20000
PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "bin:x:1:1::/:/sbin/nologin\n"
    "builder:x:1000:1000::/home/builder:/bin/sh\n"
    "ci:x:1001:1001::/home/ci:/bin/sh\n"
)
GROUP = "root:x:0:\nbin:x:1:\nbuilder:x:1000:\nci:x:1001:\nadmin:x:900:\n"
SHADOW = "root:*:19000:0:99999:7:::\nbuilder:!:19000:0:99999:7:::\n"
GSHADOW = "root:*::\nadmin:!::\n"


@pytest.fixture(autouse=True)
def _fixed_time_and_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (accounts, entities):
        monkeypatch.setattr(module, "days_since_epoch", lambda: TODAY)
    monkeypatch.setattr(sha512crypt, "new_salt", lambda length=16: "fixedsaltfixedsa"[:length])


def image(base: Path, extra: dict[str, str] | None = None) -> Path:
    files = {
        "/etc/passwd": PASSWD,
        "/etc/group": GROUP,
        "/etc/shadow": SHADOW,
        "/etc/gshadow": GSHADOW,
        "/home/.keep": "",
    }
    files.update(extra or {})
    root = tree(base, files)
    os.chmod(root / "etc/shadow", 0o640)
    os.chmod(root / "etc/gshadow", 0o640)
    return root


def lines(root: Path, name: str) -> list[str]:
    return (root / "etc" / name).read_text().splitlines()


USERS = """
stages:
  test:
    - users:
        kairos:
          passwd: kairos
          shell: /bin/bash
          groups: [admin, docker]
          ssh_authorized_keys: ["ssh-ed25519 AAAAkey kairos@example"]
"""


@pytest.fixture
def host_files_forbidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail on any read of the host's account databases."""
    forbidden = {"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"}
    real_open, real_os_open = builtins.open, os.open

    def guard(path: object) -> None:
        if os.fspath(path) in forbidden:  # type: ignore[arg-type]
            raise AssertionError(f"read the host's {path}")

    def fake_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(file, str | bytes | os.PathLike):
            guard(file)
        return real_open(file, *args, **kwargs)

    def fake_os_open(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        guard(path)
        return real_os_open(path, *args, **kwargs)

    def refuse(*args: object) -> None:
        raise AssertionError("asked the host's user database")

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    for fn in ("getpwnam", "getpwuid", "getpwall"):
        monkeypatch.setattr(pwd, fn, refuse)
    for fn in ("getgrnam", "getgrgid", "getgrall"):
        monkeypatch.setattr(grp, fn, refuse)


@pytest.mark.usefixtures("host_files_forbidden")
def test_new_user_gets_the_next_free_ids_of_the_root_not_the_host(tmp_path: Path) -> None:
    root = image(tmp_path / "r")
    run = run_config(root, USERS)
    assert run.statuses == ["applied"], run.reasons()
    assert lines(root, "passwd")[-1] == (
        "kairos:x:1002:1002:Created by entities:/home/kairos:/bin/bash"
    )
    assert "kairos:x:1002:kairos" in lines(root, "group")
    assert "admin:x:900:kairos" in lines(root, "group")
    assert {"admin:!::kairos", "kairos:!::kairos"} <= set(lines(root, "gshadow"))
    shadow = lines(root, "shadow")[-1].split(":")
    assert shadow[0] == "kairos" and shadow[2] == str(TODAY)
    assert sha512crypt.verify("kairos", shadow[1])
    home = (root / "home/kairos").stat()
    assert (home.st_mode & 0o777, home.st_uid, home.st_gid) == (0o755, 1002, 1002)
    keys = root / "home/kairos/.ssh/authorized_keys"
    assert keys.read_text() == "ssh-ed25519 AAAAkey kairos@example\n"
    assert (keys.stat().st_mode & 0o777, keys.stat().st_uid) == (0o600, 1002)
    assert ((root / "home/kairos/.ssh").stat().st_mode & 0o777) == 0o700
    assert (root / "etc/shadow").stat().st_mode & 0o777 == 0o640  # kept
    notes = [a["detail"] for a in run.actions()[0] if a["change"] == "none"]
    assert notes == ["kairos: groups not in the root's /etc/group: docker"]


def test_a_second_run_leaves_everything_alone(tmp_path: Path) -> None:
    root = image(tmp_path / "r")
    run_config(root, USERS)
    before = {p: (root / p).stat().st_mtime_ns for p in ("etc/passwd", "etc/shadow", "etc/group")}
    again = run_config(root, USERS)
    assert again.statuses == ["unchanged"], again.actions()
    assert {p: (root / p).stat().st_mtime_ns for p in before} == before


def test_existing_user_only_gets_its_password_and_keys(tmp_path: Path) -> None:
    root = image(tmp_path / "r", {"/home/builder/x": ""})
    run = run_config(
        root,
        """
stages:
  test:
    - users:
        builder:
          passwd: "$6$abc$hashed"
          shell: /bin/zsh
          groups: [admin]
          ssh_authorized_keys: [ssh-rsa AAAAB builder]
""",
    )
    assert run.statuses == ["applied"]
    assert "builder:x:1000:1000::/home/builder:/bin/sh" in lines(root, "passwd")
    assert "builder:$6$abc$hashed:20000:0:99999:7:::" in lines(root, "shadow")  # aging kept
    assert "admin:x:900:" in lines(root, "group")
    assert (root / "home/builder/.ssh/authorized_keys").read_text() == "ssh-rsa AAAAB builder\n"


def test_uid_gid_primary_group_and_defaults(tmp_path: Path) -> None:
    root = image(tmp_path / "r", {"/etc/default/useradd": "HOME=/srv/users\nSHELL=/bin/ash\n"})
    run = run_config(
        root,
        """
stages:
  test:
    - users:
        pinned: {uid: 4242, gid: 4343, lock_passwd: true, passwd: ignored}
        member: {primary_group: admin, no_create_home: true}
""",
    )
    assert run.statuses == ["applied"], run.reasons()
    passwd = lines(root, "passwd")
    assert "pinned:x:4242:4343:Created by entities:/srv/users/pinned:/bin/ash" in passwd
    assert "member:x:1002:900:Created by entities:/srv/users/member:/bin/ash" in passwd
    assert "pinned:x:4343:pinned" in lines(root, "group")
    assert "admin:x:900:member" in lines(root, "group")
    shadow = lines(root, "shadow")
    assert "pinned:!:20000::::::" in shadow and "member:*:20000::::::" in shadow
    assert (root / "srv/users/pinned").is_dir() and not (root / "srv/users/member").exists()


def test_missing_primary_group_fails_and_writes_nothing(tmp_path: Path) -> None:
    root = image(tmp_path / "r")
    run = run_config(root, "stages:\n  test:\n    - users: {x: {primary_group: nope}}\n")
    assert run.statuses == ["failed"] and "primary_group 'nope'" in run.reasons()
    assert (root / "etc/passwd").read_text() == PASSWD


def test_an_existing_home_gives_its_ids_and_is_handled_first(tmp_path: Path) -> None:
    """kairos-io/kairos#2949: /home persists while /etc is rebuilt every boot."""
    root = image(tmp_path / "r")
    (root / "home/zed").mkdir()
    os.chown(root / "home/zed", 1002, 1002)
    run = run_config(root, "stages:\n  test:\n    - users: {alpha: {}, zed: {}}\n")
    assert run.statuses == ["applied"]
    passwd = lines(root, "passwd")
    assert any(line.startswith("zed:x:1002:1002:") for line in passwd)
    assert any(line.startswith("alpha:x:1003:1003:") for line in passwd)


def test_users_dry_run_plans_exactly_what_the_real_run_does(tmp_path: Path) -> None:
    dry, _ = assert_dry_run_matches(tmp_path, image, USERS)
    assert dry.statuses == ["planned"]


# -- entities -------------------------------------------------------------------

ENTITIES = """
stages:
  test:
    - ensure_entities:
        - entity: |
            kind: "group"
            group_name: "admin"
            password: "x"
            gid: 900
            users: "ci,builder"
        - entity: |
            kind: "group"
            group_name: "{{ .Values.os.vendor }}-svc"
            gid: -1
        - entity: |
            kind: "user"
            username: "svc"
            password: "x"
            uid: -1
            group: "admin"
            homedir: "/var/lib/svc"
            shell: "/sbin/nologin"
        - entity: |
            kind: "shadow"
            username: "svc"
            password: "secret"
            last_changed: "now"
        - entity: |
            kind: "gshadow"
            name: "admin"
            password: "!"
            members: "ci,builder"
"""


def test_ensure_entities(tmp_path: Path) -> None:
    root = image(tmp_path / "r", {"/etc/os-release": "ID=kairos\n"})
    run = run_config(root, ENTITIES)
    assert run.statuses == ["applied"], run.reasons()
    group = lines(root, "group")
    assert "admin:x:900:ci,builder" in group
    assert "kairos-svc::999:" in group
    assert "svc:x:1002:900:Created by entities:/var/lib/svc:/sbin/nologin" in lines(root, "passwd")
    svc = next(x for x in lines(root, "shadow") if x.startswith("svc:")).split(":")
    assert sha512crypt.verify("secret", svc[1]) and svc[2] == str(TODAY)
    assert "admin:!::ci,builder" in lines(root, "gshadow")
    assert run_config(root, ENTITIES).statuses == ["unchanged"]


def test_group_entity_merges_members_and_keeps_gid(tmp_path: Path) -> None:
    root = image(tmp_path / "r", {"/etc/group": GROUP.replace("admin:x:900:", "admin:x:900:old")})
    run_config(
        root,
        "stages:\n  test:\n    - ensure_entities:\n        - entity: |\n"
        "            kind: group\n            group_name: admin\n"
        "            users: new,old\n",
    )
    assert "admin:x:900:old,new" in lines(root, "group")


def test_delete_entities_by_name_and_custom_path(tmp_path: Path) -> None:
    root = image(tmp_path / "r", {"/srv/passwd": "a:x:1:1::/:/bin/sh\nb:x:2:2::/:/bin/sh\n"})
    run = run_config(
        root,
        """
stages:
  test:
    - delete_entities:
        - entity: "kind: user\\nusername: b"
          path: /srv/passwd
        - entity: "kind: group\\ngroup_name: ci"
        - entity: "kind: group\\ngroup_name: not-there"
""",
    )
    assert run.statuses == ["applied"], run.reasons()
    assert (root / "srv/passwd").read_text() == "a:x:1:1::/:/bin/sh\n"
    assert "ci:x:1001:" not in lines(root, "group")
    assert lines(root, "group")[0] == "root:x:0:"  # yip would drop line 0 for not-there


@pytest.mark.parametrize(
    ("entity", "message"),
    [
        ("kind: alien", "unknown entity kind"),
        ("kind: user", "needs `username`"),
        ("kind: group\\ngroup_name: new", "a new group needs a `gid`"),
        ("kind: user\\nusername: 'a:b'", "cannot be written"),
        ("[not, a, mapping]", "must be a mapping"),
    ],
)
def test_bad_entities_fail_and_write_nothing(tmp_path: Path, entity: str, message: str) -> None:
    root = image(tmp_path / "r")
    run = run_config(root, f'stages:\n  test:\n    - ensure_entities: [{{entity: "{entity}"}}]\n')
    assert run.statuses == ["failed"] and message in run.reasons()
    assert (root / "etc/passwd").read_text() == PASSWD


def test_entities_dry_run_parity(tmp_path: Path) -> None:
    assert_dry_run_matches(
        tmp_path, lambda b: image(b, {"/etc/os-release": "ID=kairos\n"}), ENTITIES
    )


# -- authorized_keys ------------------------------------------------------------

KEYS = """
stages:
  test:
    - authorized_keys:
        builder:
          - ssh-ed25519 AAAAone one@x
          - ssh-ed25519 AAAAtwo two@x
          - github:someone
"""


def test_keys_are_appended_once_with_safe_modes(tmp_path: Path) -> None:
    keys_file = "/home/builder/.ssh/authorized_keys"
    root = image(tmp_path / "r", {keys_file: "ssh-ed25519 AAAAone one@x"})
    os.chmod(root / "home/builder/.ssh", 0o755)
    run = run_config(root, KEYS)
    assert run.statuses == ["applied"], run.reasons()
    path = root / "home/builder/.ssh/authorized_keys"
    assert path.read_text() == "ssh-ed25519 AAAAone one@x\nssh-ed25519 AAAAtwo two@x\n"
    st = path.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o600, 1000, 1000)
    assert (root / "home/builder/.ssh").stat().st_mode & 0o777 == 0o700
    notes = [a["detail"] for a in run.actions()[0] if a["change"] == "none"]
    assert notes == ["skipped: github:someone is fetched only on the running system (root /)"]
    assert run_config(root, KEYS).statuses == ["unchanged"]


def test_keys_for_an_unknown_user_fail(tmp_path: Path) -> None:
    config = "stages:\n  test:\n    - authorized_keys: {nobody: [k]}\n"
    run = run_config(image(tmp_path / "r"), config)
    assert run.statuses == ["failed"]
    assert "'nobody' is not in the root's /etc/passwd" in run.reasons()


def test_remote_keys_are_fetched_only_in_a_real_run_on_the_running_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []

    def fake_fetch(url: str, **kwargs: object) -> bytes:
        fetched.append(url)
        return b"ssh-ed25519 AAAAremote r@x\n\n"

    monkeypatch.setattr(ak.fetch, "fetch", fake_fetch)
    root = image(tmp_path / "r")
    monkeypatch.setattr(Root, "is_host_root", property(lambda self: True))
    from executor.context import RunContext

    dry = ak.plan_authorized_keys(
        RunContext(root=DryRunRoot(str(root))), {"builder": ("gitlab:someone",)}
    )
    assert fetched == [] and "not fetched in a dry-run" in dry[-1].detail
    real = ak.plan_authorized_keys(
        RunContext(root=Root(str(root))), {"builder": ("gitlab:someone",)}
    )
    assert fetched == ["https://gitlab.com/someone.keys"]
    assert real[-1].data == b"ssh-ed25519 AAAAremote r@x\n"


def test_authorized_keys_dry_run_parity(tmp_path: Path) -> None:
    assert_dry_run_matches(tmp_path, image, KEYS)
