"""Hand-made unit trees, each checked against the real `systemctl --root`.

Each scenario builds the same tree twice, runs the same systemctl verbs in
both (ours natively, the other with systemctl), and compares, after every
verb, success or failure, every symlink below /etc and the .wants/
directories. The trees aim at the corners of systemd's rules: parsing,
drop-ins, specifiers, templates, aliases, Also=, linked units, masks and
what disable removes. Scenarios run in a split root (exact link targets)
and a merged one (lib -> usr/lib; targets compared resolved).

Where we are stricter than systemctl on purpose (an [Install] entry that is
an error makes the whole step fail, and nothing is applied) the scenario
says `atomic`: both must fail, and ours must have changed nothing.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import have
from tests.units_oracle import compare_outcomes, links, ours, theirs

U = "/usr/lib/systemd/system"
E = "/etc/systemd/system"


@dataclass(frozen=True)
class Link:
    target: str


def svc(*install: str, section: str = "[Service]\nExecStart=/bin/true\n") -> str:
    body = f"[Unit]\nDescription=test\n\n{section}"
    if install:
        body += "\n[Install]\n" + "\n".join(install) + "\n"
    return body


@dataclass(frozen=True)
class Scenario:
    name: str
    tree: dict[str, str | Link | None]
    steps: tuple[tuple[str, ...], ...]
    atomic: frozenset[int] = field(default_factory=frozenset)  # steps where we fail whole


SCENARIOS = [
    Scenario(
        "parse-lines",
        {
            f"{U}/parse.service": (
                "[Unit]\nDescription=parse\n[Service]\nExecStart=/bin/true\nWantedBy=ignored.target\n"
                "[Install]\n"
                "WantedBy=a.target b.target\n"
                "  WantedBy = c.target\n"
                "# WantedBy=commented.target\n"
                "; WantedBy=semicolon.target\n"
                "WantedBy=d.target \\\n"
                "# a comment inside a continuation is dropped\n"
                "  e.target\n"
                'WantedBy="f.target" \'g.tar\'get h"i.target"\n'
                "wantedby=lowercase.target\n"
                "RequiredBy=r1.target\n"
                "RequiredBy=\n"
                "RequiredBy=r2.target\n"
                "Alias=p1.service\n"
                "Alias=\n"
                "Alias=p2.service\n"
                "Unknown=x\n"
                "[install]\n"
                "WantedBy=wrong-case-section.target\n"
                "[X-Custom]\n"
                "WantedBy=custom.target\n"
                "[Install]\n"
                "WantedBy=second-section.target\n"
                "WantedBy=a\\x2db.target c\\\\d.target\n"
            ),
        },
        (("enable", "parse.service"), ("disable", "parse.service")),
    ),
    Scenario(
        "crlf-and-bom",
        {
            f"{U}/crlf.service": "\ufeff[Service]\r\nExecStart=/bin/true\r\n[Install]\r\n"
            "WantedBy=a.target \\\r\n b.target\r\n",
        },
        (("enable", "crlf.service"),),
    ),
    Scenario(
        "dropins",
        {
            f"{U}/di.service": svc("WantedBy=multi-user.target"),
            f"{U}/di.service.d/20-vendor.conf": "[Install]\nAlias=di-alias.service\n",
            f"{U}/di.service.d/10-hidden.conf": "[Install]\nWantedBy=hidden.target\n",
            f"{E}/di.service.d/10-hidden.conf": "[Install]\nRequiredBy=req.target\n",
            f"{E}/di.service.d/30-empty.conf": "",
            f"{E}/di.service.d/notconf.txt": "[Install]\nWantedBy=ignored.target\n",
            f"{U}/rs.service": svc("WantedBy=gone.target"),
            f"{U}/rs.service.d/reset.conf": "[Install]\nWantedBy=\nWantedBy=kept.target\n",
            f"{U}/tp@.service": svc("WantedBy=multi-user.target"),
            f"{U}/tp@.service.d/x.conf": "[Install]\nWantedBy=from-template-dropin.target\n",
            f"{U}/tp@one.service.d/y.conf": "[Install]\nWantedBy=from-instance-dropin.target\n",
        },
        (
            ("enable", "di.service", "rs.service", "tp@one.service"),
            ("disable", "di.service", "rs.service", "tp@.service"),
        ),
    ),
    Scenario(
        "specifiers",
        {
            f"{U}/a-b-c.service": svc(
                "WantedBy=%N.target %n.target %p.target x-%j.target",
                "RequiredBy=%i-req.target",
                "Alias=%p-alias.service",
            ),
            f"{U}/t-x@.service": svc(
                "WantedBy=%N.target %n.target %p.target %j.target %i.target", "DefaultInstance=dflt"
            ),
            f"{U}/sp@.service": svc(
                "WantedBy=getty@%i.target multi-user.target", "Alias=al-%i@.service"
            ),
            f"{U}/sys.service": svc(
                "WantedBy=m-%m.target o-%o.target w-%w.target W-%W.target "
                "B-%B.target A-%A.target M-%M.target a-%a.target U-%U.target "
                "u-%u.target G-%G.target g-%g.target"
            ),
            "/etc/machine-id": "0123456789abcdef0123456789abcdef\n",
            "/etc/os-release": 'ID=myos\nVERSION_ID="12"\nVARIANT_ID=v1\nBUILD_ID=b1\n'
            "IMAGE_VERSION=1.0\nIMAGE_ID=img\n",
        },
        (
            ("enable", "a-b-c.service", "t-x@.service", "sp@tty1.service", "sys.service"),
            ("enable", "t-x@inst.service"),
            ("disable", "t-x@.service", "sp@.service", "a-b-c.service", "sys"),
        ),
    ),
    Scenario(
        "specifier-errors",
        {
            f"{U}/bad1.service": svc("WantedBy=%I.target"),
            f"{U}/bad2.service": svc("WantedBy=%m.target"),
            f"{U}/bad3.service": svc("Also=%f.service"),
            f"{U}/idi@.service": svc("WantedBy=multi-user.target", "DefaultInstance=a/b"),
        },
        (
            ("enable", "bad1.service"),
            ("enable", "bad2.service"),
            ("enable", "bad3.service"),
            ("enable", "idi@.service"),
        ),
    ),
    Scenario(
        "templates",
        {
            f"{U}/foo@.service": svc("WantedBy=multi-user.target"),
            f"{U}/dflt@.service": svc(
                "WantedBy=multi-user.target", "DefaultInstance=def", "Alias=ali@.service"
            ),
            f"{U}/monitor@.service": svc("WantedBy=container@.target"),
            f"{U}/getty@.service": svc("WantedBy=getty.target", "DefaultInstance=tty1"),
            f"{U}/autovt@.service": Link("getty@.service"),
            f"{U}/real@inst.service": svc("WantedBy=real-instance-file.target"),
            f"{U}/real@.service": svc("WantedBy=template-file.target"),
        },
        (
            ("enable", "foo@.service"),
            ("enable", "foo@bar.service", "foo@baz.service"),
            ("enable", "dflt@.service", "dflt@x.service"),
            ("enable", "monitor@.service"),
            ("enable", "monitor@a.service"),
            ("enable", "autovt@tty5.service", "autovt@.service"),
            ("enable", "real@inst.service", "real@other.service"),
            ("disable", "foo@bar.service"),
            ("disable", "foo@.service", "dflt@.service"),
            ("disable", "autovt@.service"),
            ("disable", "real@.service"),
        ),
    ),
    Scenario(
        "template-type-errors",
        {
            f"{U}/m@.mount": "[Mount]\nWhat=/a\nWhere=/b\n[Install]\nWantedBy=x.target\n",
            f"{U}/tal@.service": svc("Alias=plain.service"),
            f"{U}/t2@.service": svc("Alias=bar@x.service"),
            f"{U}/n3.service": svc("Alias=bar@x.service"),
        },
        (
            ("enable", "m@.mount"),
            ("enable", "tal@.service"),
            ("enable", "t2@.service"),
            ("enable", "t2@x.service"),
            ("enable", "t2@y.service"),
            ("enable", "n3.service"),
        ),
    ),
    Scenario(
        "also",
        {
            f"{U}/foo.service": svc("WantedBy=multi-user.target", "Also=foo.socket"),
            f"{U}/foo.socket": svc(
                "WantedBy=sockets.target", section="[Socket]\nListenStream=/x\n"
            ),
            f"{U}/helper.service": svc("Also=foo.socket missing.service"),
            f"{U}/noinst.service": svc(),
            f"{U}/helper2.service": svc("Also=noinst.service"),
            f"{U}/m1.service": svc("WantedBy=x.target", "Also=m2.service"),
            f"{U}/m2.service": svc("WantedBy=y.target", "Also=m1.service"),
            f"{U}/am.service": svc("WantedBy=x.target", "Also=msk.service"),
            f"{U}/msk.service": svc("WantedBy=x.target"),
            f"{U}/main2.service": svc("WantedBy=x.target", "Also=tpl@%p.service"),
            f"{U}/tpl@.service": svc("WantedBy=y.target"),
        },
        (
            ("enable", "foo.service"),
            ("disable", "foo.service"),
            ("enable", "helper.service"),
            ("disable", "helper.service"),
            ("enable", "helper2.service"),
            ("enable", "m1.service"),
            ("disable", "m2.service"),
            ("mask", "msk.service"),
            ("enable", "am.service"),
            ("disable", "am.service"),
            ("unmask", "msk.service"),
            ("enable", "main2.service"),
            ("disable", "main2.service"),
        ),
    ),
    Scenario(
        "aliases",
        {
            f"{U}/foo.service": svc("WantedBy=multi-user.target", "Alias=bar.service baz.service"),
            f"{U}/al.service": svc("Alias=multi-user.target.wants/al.service"),
            f"{U}/self.service": svc("Alias=self.service"),
            f"{U}/mnt.mount": "[Mount]\nWhat=/a\nWhere=/mnt\n[Install]\nWantedBy=x.target\n"
            "Alias=other.mount\n",
            f"{U}/vendor-alias.service": Link("foo.service"),
            f"{U}/abs-alias.service": Link("/lib/systemd/system/foo.service"),
            f"{U}/halt.target": "[Unit]\nDescription=halt\n[Install]\nAlias=ctrl-alt-del.target\n",
            f"{U}/reboot.target": (
                "[Unit]\nDescription=reboot\n[Install]\nAlias=ctrl-alt-del.target\n"
            ),
        },
        (
            ("enable", "vendor-alias.service"),
            ("disable", "bar.service"),
            ("enable", "abs-alias.service", "al.service"),
            ("disable", "foo.service", "al.service"),
            ("enable", "self.service"),
            ("enable", "mnt.mount"),
            ("enable", "halt.target"),
            ("enable", "reboot.target"),
            ("enable", "ctrl-alt-del.target"),
            ("disable", "halt.target"),
        ),
    ),
    Scenario(
        "alias-errors",
        {
            f"{U}/foo.service": svc("Alias=bar.socket"),
            f"{U}/bad.service": Link("s.socket"),
            f"{U}/s.socket": "[Socket]\nListenStream=/x\n",
            f"{U}/dang.socket": Link("missing.socket"),
            f"{U}/e9.service": svc("Alias=#.service"),
        },
        (
            ("enable", "foo.service"),
            ("enable", "bad.service"),
            ("enable", "dang.socket"),
            ("disable", "dang.socket"),
            ("enable", "e9.service"),
        ),
    ),
    Scenario(
        "linked-and-paths",
        {
            "/opt/units/lnk.service": svc("WantedBy=multi-user.target"),
            f"{E}/lnk.service": Link("/opt/units/lnk.service"),
            "/opt/units/byp.service": svc("WantedBy=multi-user.target", "Alias=byp-alias.service"),
            f"{U}/p.service": svc("WantedBy=multi-user.target"),
            f"{U}/sub/q.service": svc("WantedBy=multi-user.target"),
            f"{E}/local.service": svc("WantedBy=multi-user.target"),
            "/usr/local/lib/systemd/system/ul.service": svc("WantedBy=multi-user.target"),
            "/run/systemd/system/rt.service": svc("WantedBy=multi-user.target"),
            "/run/systemd/generator/gen.service": svc("WantedBy=multi-user.target"),
        },
        (
            ("enable", "lnk.service"),
            ("disable", "lnk.service"),
            ("enable", "/opt/units/byp.service"),
            ("disable", "byp.service"),
            ("enable", "/usr/lib/systemd/system/p.service"),
            ("enable", "/usr/lib/systemd/system/sub/q.service"),
            ("disable", "q.service"),
            ("enable", "local.service", "ul.service", "rt.service"),
            ("enable", "gen.service"),
            ("enable", "nope.service"),
            ("enable", "p.service", "nope.service"),
            ("disable", "nope.service"),
            ("disable", "local.service", "ul", "rt", "p"),
        ),
    ),
    Scenario(
        "config-dir-links",
        {
            f"{U}/foo.service": svc("WantedBy=multi-user.target"),
            f"{U}/real.service": svc("WantedBy=multi-user.target"),
            f"{E}/foo.service": Link("/lib/systemd/system/foo.service"),
            f"{E}/other.service": Link("/lib/systemd/system/real.service"),
        },
        (
            ("enable", "foo.service"),
            ("enable", "other.service"),
            ("disable", "foo.service"),
            ("disable", "other.service"),
            ("enable", "foo.service"),
        ),
    ),
    Scenario(
        "masks",
        {
            f"{U}/foo.service": svc("WantedBy=multi-user.target"),
            f"{E}/local.service": svc("WantedBy=multi-user.target"),
            f"{E}/empty.service": "",
            f"{E}/reg.service": svc(),
            f"{E}/ali.service": Link("/lib/systemd/system/foo.service"),
            f"{U}/vmask.service": Link("/dev/null"),
            f"{U}/vempty.service": "",
        },
        (
            ("enable", "foo.service"),
            ("mask", "foo.service"),
            ("enable", "foo.service"),
            ("disable", "foo.service"),
            ("mask", "foo.service"),
            ("unmask", "foo.service"),
            ("unmask", "foo.service"),
            ("mask", "local.service"),
            ("mask", "ali.service"),
            ("unmask", "reg.service", "ali.service", "empty.service"),
            ("mask", "new.service", "other.socket"),
            ("unmask", "new.service"),
            ("enable", "vmask.service"),
            ("enable", "vempty.service"),
            ("disable", "vmask.service"),
            ("mask", "noext"),
            ("unmask", "noext"),
        ),
    ),
    Scenario(
        "disable-removes",
        {
            f"{U}/foo.service": svc("WantedBy=multi-user.target", "Alias=bar.service"),
            f"{U}/other.service": svc("WantedBy=multi-user.target"),
            f"{U}/foo@.service": svc("WantedBy=multi-user.target"),
            f"{E}/extra.target.wants/foo.service": Link("/lib/systemd/system/foo.service"),
            f"{E}/extra.target.wants/renamed.service": Link("/lib/systemd/system/foo.service"),
            f"{E}/extra.target.wants/rel.service": Link(
                "../../../usr/lib/systemd/system/foo.service"
            ),
            f"{E}/extra2.target.requires/foo.service": Link("/usr/lib/systemd/system/foo.service"),
            f"{E}/weird.dir/foo.service": Link("/nonexistent/foo.service"),
            f"{E}/foo-rel.service": Link("foo.service"),
            f"{E}/notaunitname": Link("/lib/systemd/system/foo.service"),
            f"{E}/foo.service.d": None,
            f"{E}/x.target.wants/foo@zzz.service": Link("/nonexistent/other.service"),
            f"{E}/x.target.wants/plainname.service": Link("/lib/systemd/system/foo@.service"),
            f"{E}/x.target.wants/keep.service": Link("/lib/systemd/system/other.service"),
            "/run/systemd/system/multi-user.target.wants/foo.service": Link(
                "/lib/systemd/system/foo.service"
            ),
        },
        (
            ("enable", "foo.service", "other.service"),
            ("disable", "foo.service"),
            ("disable", "foo@.service"),
        ),
    ),
    Scenario(
        "replace-and-idempotence",
        {
            f"{U}/foo.service": svc("WantedBy=multi-user.target", "RequiredBy=r.target"),
            f"{E}/multi-user.target.wants/foo.service": Link("/somewhere/else/foo.service"),
            f"{E}/r.target.requires/foo.service": Link(
                "../../../usr/lib/systemd/system/foo.service"
            ),
            f"{U}/x.service": svc("WantedBy=dev-sda1.device x.slice y.socket z.timer"),
        },
        (
            ("enable", "foo.service"),
            ("enable", "foo.service"),
            ("enable", "x"),
            ("enable", "x"),
            ("disable", "x"),
        ),
    ),
    Scenario(
        "no-install-config",
        {
            f"{U}/static.service": svc(),
            f"{U}/empty-install.service": svc() + "\n[Install]\n",
            f"{U}/onlydefault@.service": svc("DefaultInstance=x"),
        },
        (
            ("enable", "static.service"),
            ("enable", "empty-install.service"),
            ("enable", "onlydefault@.service"),
            ("disable", "static.service"),
        ),
    ),
]

ATOMIC = [
    # systemctl makes the links it can and exits 1; we fail the step and make none.
    Scenario(
        "partial-alias-conflict",
        {
            f"{U}/foo.service": svc("WantedBy=multi-user.target", "Alias=bar.service"),
            f"{E}/bar.service": Link("/lib/systemd/system/other.service"),
            f"{U}/other.service": svc(),
        },
        (("enable", "foo.service"),),
        atomic=frozenset({0}),
    ),
    Scenario(
        "partial-bad-name",
        {
            f"{U}/w.service": svc('WantedBy=a\\x2db.target "sp ace.target" c.target'),
        },
        (("enable", "w.service"),),
        atomic=frozenset({0}),
    ),
    Scenario(
        "partial-also-template",
        {
            f"{U}/main.service": svc("WantedBy=x.target", "Also=tpl@.service"),
            f"{U}/tpl@.service": svc("WantedBy=multi-user.target"),
        },
        (("enable", "main.service"),),
        atomic=frozenset({0}),
    ),
]


def build(root: Path, tree: dict[str, str | Link | None], layout: str) -> Path:
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd/system").mkdir(parents=True)
    if layout == "merged":
        (root / "lib").symlink_to("usr/lib")
    for rel, what in tree.items():
        path = root / rel.lstrip("/")
        if what is None:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(what, Link):
            path.symlink_to(what.target)
        else:
            path.write_bytes(what.encode())
    return root


def compare(tmp_path: Path, scenario: Scenario, layout: str) -> list[str]:
    mine = build(tmp_path / "ours", scenario.tree, layout)
    real = build(tmp_path / "systemctl", scenario.tree, layout)
    problems = []
    for index, (verb, *units) in enumerate(scenario.steps):
        before = links(mine)
        a, b = ours(mine, verb, *units), theirs(real, verb, *units)
        where = f"step {index} `{verb} {' '.join(units)}`"
        if index in scenario.atomic:
            if a.ok or b.ok:
                problems.append(f"{where}: expected both to fail: ours {a}, systemctl {b}")
            if links(mine) != before:
                problems.append(f"{where}: a failed step changed links")
            break  # the trees differ from here on, on purpose
        problems += compare_outcomes(where, a, b, mine, real, resolve=layout == "merged")
    return problems


@pytest.mark.subprocess
@pytest.mark.skipif(not have("systemctl"), reason="systemctl is not installed")
@pytest.mark.parametrize("layout", ["split", "merged"])
@pytest.mark.parametrize("scenario", SCENARIOS + ATOMIC, ids=lambda s: s.name)
def test_scenario_matches_systemctl(tmp_path: Path, scenario: Scenario, layout: str) -> None:
    problems = compare(tmp_path, scenario, layout)
    assert not problems, "\n".join(problems)


def test_scenario_trees_are_distinct() -> None:
    names = [s.name for s in SCENARIOS + ATOMIC]
    assert len(names) == len(set(names))
    assert all(os.sep not in n for n in names)
    assert shutil.which  # keep the import used when systemctl is absent
