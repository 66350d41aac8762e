"""`validate` on broken configs: every problem with its exact place.

Each case is one or more YAML documents in a directory and the complete list
of problems `validate --json` must report: file, line, column, severity,
config path, and a fragment of the message. Positions were worked out by hand
from the YAML text (1-based line and column of the offending node, or of the
character inside a value when that is exact).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import astuple, dataclass
from pathlib import Path

import pytest

from executor.cli import main
from tests.conftest import REPO


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@dataclass(frozen=True)
class Want:
    file: str
    line: int
    column: int
    severity: str
    path: str
    fragment: str


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str]
    want: list[Want]


def one(text: str, *want: tuple[int, int, str, str, str]) -> tuple[dict[str, str], list[Want]]:
    return {"a.yaml": doc(text)}, [Want("a.yaml", *w) for w in want]


E, W = "error", "warning"

CASES = [
    # -- YAML syntax ------------------------------------------------------------------------
    Case(
        "syntax: unclosed flow sequence",
        *one("stages:\n  boot:\n    - files: [\n", (3, 15, E, "", "YAML syntax")),
    ),  # at the end of the last line, not past it
    Case(
        "syntax: tab indentation",
        *one(
            "stages:\n\tboot: []\n",
            (2, 1, E, "", "YAML syntax: found character that cannot start any token"),
        ),
    ),
    Case(
        "syntax: unknown escape in a double-quoted regex",
        *one(
            """
        stages:
          boot:
            - only_os: "Red\\sHat"
        """,
            (3, 20, E, "", "YAML syntax: found unknown escape character"),
        ),
    ),
    Case(
        "syntax: control character",
        *one(
            "stages:\n  boot:\n    - node: 'x\x0cab('\n",
            (3, 15, E, "", "YAML: character U+000C is not allowed"),
        ),
    ),
    Case(
        "syntax: duplicate key",
        *one(
            """
        stages:
          boot:
            - name: a
              name: b
        """,
            (4, 7, E, "stages.boot[0].name", "duplicate key `name` (first at line 3)"),
        ),
    ),
    # -- wrong types -------------------------------------------------------------------------
    Case(
        "type: document is a list",
        *one("- stages\n- boot\n", (1, 1, E, "", "expected a mapping, got a list")),
    ),
    Case(
        "type: stages is a list",
        *one(
            """
        stages:
          - boot
        """,
            (2, 3, E, "stages", "expected a mapping, got a list"),
        ),
    ),
    Case(
        "type: step is a string",
        *one(
            """
        stages:
          boot:
            - echo hi
        """,
            (3, 7, E, "stages.boot[0]", "expected a mapping, got a string 'echo hi'"),
        ),
    ),
    Case(
        "type: files is a mapping",
        *one(
            """
        stages:
          boot:
            - files:
                path: /etc/x
        """,
            (4, 9, E, "stages.boot[0].files", "expected a list, got a mapping"),
        ),
    ),
    Case(
        "type: file path is a list",
        *one(
            """
        stages: {boot: [{files: [{path: [1]}]}]}
        """,
            (1, 33, E, "stages.boot[0].files[0].path", "expected a string, got a list"),
        ),
    ),
    Case(
        "type: owner is a name",
        *one(
            """
        stages:
          boot:
            - files:
                - path: /etc/x
                  owner: root
        """,
            (5, 18, E, "stages.boot[0].files[0].owner", "expected an integer, got a string 'root'"),
        ),
    ),
    Case(
        "type: command is a mapping",
        *one(
            """
        stages:
          boot:
            - commands:
                - echo: hi
        """,
            (4, 11, E, "stages.boot[0].commands[0]", "expected a string, got a mapping"),
        ),
    ),
    Case(
        "type: systemctl enable is a string",
        *one(
            """
        stages:
          boot:
            - systemctl:
                enable: sshd
        """,
            (4, 17, E, "stages.boot[0].systemctl.enable", "expected a list, got a string 'sshd'"),
        ),
    ),
    Case(
        "type: if_files.any is a string",
        *one(
            """
        stages:
          boot:
            - if_files:
                any: /etc/x
        """,
            (4, 14, E, "stages.boot[0].if_files.any", "expected a list, got a string '/etc/x'"),
        ),
    ),
    Case(
        "type: after entry is a string",
        *one(
            """
        stages:
          boot:
            - after:
                - other.step
        """,
            (4, 11, E, "stages.boot[0].after[0]", "expected a mapping, got a string 'other.step'"),
        ),
    ),
    Case(
        "type: environment is a list",
        *one(
            """
        stages:
          boot:
            - environment:
                - A=1
        """,
            (4, 9, E, "stages.boot[0].environment", "expected a mapping, got a list"),
        ),
    ),
    # -- missing fields ----------------------------------------------------------------------
    Case(
        "missing: file path",
        *one(
            """
        stages:
          boot:
            - files:
                - content: x
        """,
            (4, 11, E, "stages.boot[0].files[0].path", "missing required key `path` in file"),
        ),
    ),
    Case(
        "missing: directory path",
        *one(
            """
        stages:
          boot:
            - directories:
                - permissions: 0755
        """,
            (
                4,
                11,
                E,
                "stages.boot[0].directories[0].path",
                "missing required key `path` in directory",
            ),
        ),
    ),
    Case(
        "missing: override service",
        *one(
            """
        stages:
          boot:
            - systemctl:
                overrides:
                  - content: "[Service]"
        """,
            (
                5,
                13,
                E,
                "stages.boot[0].systemctl.overrides[0].service",
                "missing required key `service` in override",
            ),
        ),
    ),
    Case(
        "missing: after name",
        *one(
            """
        stages:
          boot:
            - after:
                - {}
        """,
            (4, 11, E, "stages.boot[0].after[0].name", "missing required key `name` in after"),
        ),
    ),
    Case(
        "missing: unit name",
        *one(
            """
        stages:
          boot:
            - systemctl:
                enable: ["", ~]
        """,
            (4, 18, E, "stages.boot[0].systemctl.enable[0]", "empty unit name"),
            (4, 22, E, "stages.boot[0].systemctl.enable[1]", "empty unit name"),
        ),
    ),
    # -- modes -------------------------------------------------------------------------------
    Case(
        "mode: above 07777",
        *one(
            """
        stages:
          boot:
            - files:
                - path: /x
                  permissions: 017777
        """,
            (
                5,
                24,
                E,
                "stages.boot[0].files[0].permissions",
                "mode 017777 is out of range (0 to 07777)",
            ),
        ),
    ),
    Case(
        "mode: negative",
        *one(
            """
        stages:
          boot:
            - files:
                - path: /x
                  permissions: -1
        """,
            (5, 24, E, "stages.boot[0].files[0].permissions", "mode -1 is out of range"),
        ),
    ),
    Case(
        "mode: symbolic string",
        *one(
            """
        stages:
          boot:
            - files:
                - path: /x
                  permissions: "rwxr-xr-x"
        """,
            (
                5,
                24,
                E,
                "stages.boot[0].files[0].permissions",
                "invalid mode 'rwxr-xr-x': expected octal like 0644",
            ),
        ),
    ),
    Case(
        "mode: string above 07777",
        *one(
            """
        stages:
          boot:
            - directories:
                - path: /x
                  permissions: "77777"
        """,
            (5, 24, E, "stages.boot[0].directories[0].permissions", "invalid mode '77777'"),
        ),
    ),
    Case(
        "mode: a number with a fraction",
        *one(
            """
        stages:
          boot:
            - files:
                - path: /x
                  permissions: 644.5
        """,
            (
                5,
                24,
                E,
                "stages.boot[0].files[0].permissions",
                "expected a file mode such as 0644, got a number '644.5'",
            ),
        ),
    ),
    Case(
        "mode: decimal-looking 755",
        *one(
            """
        stages:
          boot:
            - directories:
                - path: /x
                  permissions: 755
        """,
            (
                5,
                24,
                W,
                "stages.boot[0].directories[0].permissions",
                "mode 755 is a decimal number, so mode 0363 will be applied (its permission bits,"
                " as yip applies them); write 0755 for octal",
            ),
        ),
    ),
    # -- unknown keys, at every level --------------------------------------------------------
    Case(
        "unknown key: top level",
        *one(
            """
        name: x
        stage:
          boot: []
        """,
            (2, 1, W, "stage", "unknown key `stage` in config; did you mean `stages`?"),
        ),
    ),
    Case(
        "unknown key: stage name",
        *one(
            """
        stages:
          initramfs.afer: []
        """,
            (
                2,
                3,
                W,
                "stages.initramfs.afer",
                "unknown stage `initramfs.afer`; did you mean `initramfs.after`?",
            ),
        ),
    ),
    Case(
        "unknown key: step",
        *one(
            """
        stages:
          boot:
            - systctl:
                vm.swappiness: "10"
        """,
            (
                3,
                7,
                W,
                "stages.boot[0].systctl",
                "unknown key `systctl` in step; did you mean `sysctl`?",
            ),
        ),
    ),
    Case(
        "unknown key: file",
        *one(
            """
        stages:
          boot:
            - files:
                - path: /etc/x
                  permsisions: 0600
        """,
            (
                5,
                11,
                W,
                "stages.boot[0].files[0].permsisions",
                "unknown key `permsisions` in file; did you mean `permissions`?",
            ),
        ),
    ),
    Case(
        "unknown key: directory",
        *one(
            """
        stages:
          boot:
            - directories:
                - path: /x
                  ownr: 0
        """,
            (
                5,
                11,
                W,
                "stages.boot[0].directories[0].ownr",
                "unknown key `ownr` in directory; did you mean `owner`?",
            ),
        ),
    ),
    Case(
        "unknown key: systemctl",
        *one(
            """
        stages:
          boot:
            - systemctl:
                enabled: [sshd]
        """,
            (
                4,
                9,
                W,
                "stages.boot[0].systemctl.enabled",
                "unknown key `enabled` in systemctl; did you mean `enable`?",
            ),
        ),
    ),
    Case(
        "unknown key: override, so its service is missing",
        *one(
            """
        stages:
          boot:
            - systemctl:
                overrides:
                  - services: sshd
                    content: x
        """,
            (
                5,
                13,
                W,
                "stages.boot[0].systemctl.overrides[0].services",
                "unknown key `services` in override; did you mean `service`?",
            ),
            (
                5,
                13,
                E,
                "stages.boot[0].systemctl.overrides[0].service",
                "missing required key `service`",
            ),
        ),
    ),
    Case(
        "unknown key: if_files",
        *one(
            """
        stages:
          boot:
            - if_files:
                al: [/etc/x]
        """,
            (
                4,
                9,
                W,
                "stages.boot[0].if_files.al",
                "unknown key `al` in if_files; did you mean `all`?",
            ),
        ),
    ),
    Case(
        "unknown key: after entry, so its name is missing",
        *one(
            """
        stages:
          boot:
            - after:
                - nmae: x.y
        """,
            (
                4,
                11,
                W,
                "stages.boot[0].after[0].nmae",
                "unknown key `nmae` in after; did you mean `name`?",
            ),
            (4, 11, E, "stages.boot[0].after[0].name", "missing required key `name`"),
        ),
    ),
    Case(
        "unknown key: no close match",
        *one(
            """
        stages:
          boot:
            - frobnicate: true
        """,
            (3, 7, W, "stages.boot[0].frobnicate", "unknown key `frobnicate` in step"),
        ),
    ),
    # -- encodings ---------------------------------------------------------------------------
    Case(
        "encoding: unknown spelling",
        *one(
            """
        stages:
          boot:
            - files:
                - path: /x
                  encoding: base64+gzip
                  content: H4sI
        """,
            (5, 21, E, "stages.boot[0].files[0].encoding", "unknown encoding `base64+gzip`"),
        ),
    ),
    Case(
        "encoding: content is not gzip",
        *one(
            """
        stages:
          boot:
            - files:
                - path: /x
                  encoding: gz
                  content: plain text
        """,
            (6, 20, E, "stages.boot[0].files[0].content", "content is not valid gz"),
        ),
    ),
    Case(
        "encoding: base64 with bad padding",
        *one(
            """
        stages:
          boot:
            - files:
                - path: /x
                  encoding: b64
                  content: abc
        """,
            (6, 20, E, "stages.boot[0].files[0].content", "content is not valid b64"),
        ),
    ),
    # -- regexes -----------------------------------------------------------------------------
    Case(
        "regex: only_os, at the offending character",
        *one(
            """
        stages:
          boot:
            - only_os: "Ubuntu|(Debian"
        """,
            (
                3,
                24,
                E,
                "stages.boot[0].only_os",
                "invalid regex: missing ), unterminated subpattern",
            ),
        ),
    ),
    Case(
        "regex: node",
        *one(
            """
        stages:
          boot:
            - node: '[a-'
        """,
            (3, 14, E, "stages.boot[0].node", "invalid regex: unterminated character set"),
        ),
    ),
    Case(
        "regex: only_arch",
        *one(
            """
        stages:
          boot:
            - only_arch: x86_64|*arm
        """,
            (3, 25, E, "stages.boot[0].only_arch", "invalid regex: nothing to repeat"),
        ),
    ),
    # With an escape in the quoted text, the value's characters are not the
    # file's: the problem points at the value itself.
    Case(
        "regex: only_os_version, escaped, at the value",
        *one(
            """
        stages:
          boot:
            - only_os_version: "24\\\\.(04"
        """,
            (3, 24, E, "stages.boot[0].only_os_version", "invalid regex: missing )"),
        ),
    ),
    # -- templates and shell -----------------------------------------------------------------
    Case(
        "template: unclosed action in a command",
        *one(
            """
        stages:
          boot:
            - commands:
                - echo {{ .Values.node.hostname
        """,
            (4, 16, E, "stages.boot[0].commands[0]", "template: unclosed action"),
        ),
    ),
    Case(
        "template: inside a literal block, on its own line",
        *one(
            """
        stages:
          boot:
            - files:
                - path: /etc/motd
                  content: |
                    Welcome to
                    {{ .Values.node.hostname
        """,
            (7, 13, E, "stages.boot[0].files[0].content", "template: unclosed action"),
        ),
    ),
    Case(
        "template: end without a block",
        *one(
            """
        stages:
          boot:
            - commands: ['{{ end }}']
        """,
            (
                3,
                19,
                E,
                "stages.boot[0].commands[0]",
                "template: `{{end}}` without an open if/range/with",
            ),
        ),
    ),
    Case(
        "template: valid Go, but not rendered by this executor",
        *one(
            """
        stages:
          initramfs:
            - hostname: '{{ printf "edge-%s" .MachineID }}'
        """,
            (
                3,
                21,
                W,
                "stages.initramfs[0].hostname",
                "template: function 'printf' is not supported (supported: field lookups,",
            ),
        ),
    ),
    Case(
        "template: entity text",
        *one(
            """
        stages:
          boot:
            - ensure_entities:
                - entity: |
                    kind: user
                    username: {{ .Values.user
        """,
            (6, 23, E, "stages.boot[0].ensure_entities[0].entity", "template: unclosed action"),
        ),
    ),
    Case(
        "template: empty pipeline stage, in an environment value",
        *one(
            """
        stages:
          boot:
            - environment:
                NODE: "{{ .Values.node.hostname | }}"
        """,
            (4, 16, E, "stages.boot[0].environment.NODE", "template: missing command after `|`"),
        ),
    ),
    Case(
        "template: hostname with an unclosed parenthesis",
        *one(
            """
        stages:
          initramfs:
            - hostname: kairos-{{ trunc 4 (.MachineID }}
        """,
            (3, 24, E, "stages.initramfs[0].hostname", "template: unclosed `(` in action"),
        ),
    ),
    Case(
        "shell: doubled operator in if",
        *one(
            """
        stages:
          boot:
            - if: '[ -e /x ] && && true'
        """,
            (3, 11, E, "stages.boot[0].if", "`if` is not valid shell: unexpected `&&`"),
        ),
    ),
    Case(
        "shell: unterminated quote in if",
        *one(
            """
        stages:
          boot:
            - if: '[ -e "/run/cos/live_mode ]'
        """,
            (3, 11, E, "stages.boot[0].if", "`if` is not valid shell: unterminated double quote"),
        ),
    ),
    # -- units and drop-ins ------------------------------------------------------------------
    Case(
        "unit: a path is not a unit name",
        *one(
            """
        stages:
          boot:
            - systemctl:
                enable: [ foo/bar ]
        """,
            (4, 19, E, "stages.boot[0].systemctl.enable[0]", "`foo/bar` is not a valid unit name"),
        ),
    ),
    Case(
        "unit: drop-in name leaves its directory",
        *one(
            """
        stages:
          boot:
            - systemctl:
                overrides:
                  - service: sshd
                    name: ../evil
                    content: x
        """,
            (
                6,
                19,
                E,
                "stages.boot[0].systemctl.overrides[0].name",
                "drop-in name `../evil` must be a plain file name",
            ),
        ),
    ),
    Case(
        "filter: unknown service manager",
        *one(
            """
        stages:
          boot:
            - only_service_manager: sytemd
        """,
            (
                3,
                29,
                W,
                "stages.boot[0].only_service_manager",
                "`sytemd` is neither systemd nor openrc",
            ),
        ),
    ),
    # -- after: targets and cycles -----------------------------------------------------------
    Case(
        "after: unknown target",
        *one(
            """
        name: conf
        stages:
          boot:
            - name: first
            - name: second
              after:
                - name: conf.frist
        """,
            (
                7,
                17,
                E,
                "stages.boot[1].after[0].name",
                "after: `conf.frist` names no step of stage boot in this source;"
                " did you mean `conf.first`?",
            ),
        ),
    ),
    Case(
        "after: a step of another stage is unknown",
        *one(
            """
        name: conf
        stages:
          initramfs:
            - name: early
          boot:
            - name: late
              after:
                - name: conf.early
        """,
            (8, 17, E, "stages.boot[0].after[0].name", "names no step of stage boot"),
        ),
    ),
    Case(
        "after: waits for itself",
        *one(
            """
        name: c
        stages:
          boot:
            - name: loop
              after:
                - name: c.loop
        """,
            (
                6,
                17,
                E,
                "stages.boot[0].after[0].name",
                "cycle in the step order: c.loop -> c.loop; none of this document's steps will run",
            ),
        ),
    ),
    Case(
        "after: waits for a later step of its file",
        *one(
            """
        name: d
        stages:
          boot:
            - name: one
              after:
                - name: d.two
            - name: two
        """,
            (
                6,
                17,
                E,
                "stages.boot[0].after[0].name",
                "cycle in the step order: d.one -> d.two -> d.one",
            ),
            # d.two waits for d.one by file order, not by an `after`: the step itself
            (7, 7, E, "stages.boot[1].name", "cycle in the step order: d.one -> d.two -> d.one"),
        ),
    ),
    Case(
        "after: a cycle across two files makes both invalid",
        {
            "a.yaml": doc("""
                name: a
                stages:
                  boot:
                    - name: x
                      after:
                        - name: b.y
                """),
            "b.yaml": doc("""
                name: b
                stages:
                  boot:
                    - name: y
                      after:
                        - name: a.x
                """),
        },
        [
            Want(
                "a.yaml",
                6,
                17,
                E,
                "stages.boot[0].after[0].name",
                "cycle in the step order: a.x -> b.y -> a.x",
            ),
            Want(
                "b.yaml",
                6,
                17,
                E,
                "stages.boot[0].after[0].name",
                "cycle in the step order: a.x -> b.y -> a.x",
            ),
        ],
    ),
    Case(
        "after: an invalid file's targets are checked too; a file waiting for it fails",
        {
            "a.yaml": doc("""
                name: a
                stages:
                  boot:
                    - name: x
                      if: '&& true'
                      after:
                        - name: a.nope
                """),
            "b.yaml": doc("""
                name: b
                stages:
                  boot:
                    - name: y
                      after:
                        - name: a.x
                """),
        },
        [
            Want("a.yaml", 5, 11, E, "stages.boot[0].if", "`if` is not valid shell"),
            Want(
                "a.yaml", 7, 17, E, "stages.boot[0].after[0].name", "after: `a.nope` names no step"
            ),
            # a.yaml will not run, so neither can what waits for it (as in a run)
            Want(
                "b.yaml",
                6,
                17,
                E,
                "stages.boot[0].after[0].name",
                "after: `a.x` names no step of stage boot in this source",
            ),
        ],
    ),
]


def run_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str], *extra: str
) -> tuple[int, dict[str, object]]:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for name, text in files.items():
        (src / name).write_text(text)
    code = main(["validate", "--json", "--no-cmdline", *extra, str(src)])
    return code, json.loads(capsys.readouterr().out)


def found(report: dict[str, object], src: Path) -> list[tuple[object, ...]]:
    out = []
    for severity in ("errors", "warnings"):
        items = report[severity]
        assert isinstance(items, list)
        for p in items:
            rel = Path(p["source"]).relative_to(src).as_posix()
            out.append((rel, p["line"], p["column"], p["severity"], p["path"], p["message"]))
    return sorted(out, key=lambda t: tuple(map(str, t[:5])))


def test_at_least_25_broken_configs() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_config_is_reported_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Case
) -> None:
    code, report = run_validate(tmp_path, capsys, case.files)
    got = found(report, tmp_path / "src")
    want = sorted(case.want, key=lambda w: tuple(map(str, astuple(w)[:5])))
    assert [g[:5] for g in got] == [(w.file, w.line, w.column, w.severity, w.path) for w in want], (
        "\n".join(map(str, got))
    )
    for g, w in zip(got, want, strict=True):
        assert w.fragment in str(g[5])
    has_error = any(w.severity == E for w in case.want)
    assert code == (1 if has_error else 0)


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if all(w.severity == W for w in c.want)],
    ids=lambda c: c.id,
)
def test_strict_makes_warnings_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Case
) -> None:
    code, report = run_validate(tmp_path, capsys, case.files, "--strict")
    assert code == 1
    assert report["warnings"] == []
    assert len(report["errors"]) == len(case.want)  # type: ignore[arg-type]


def test_human_output_is_file_line_column_severity_message_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        doc("""
        stages:
          boot:
            - systctl: {}
              files:
                - path: /x
                  permissions: 99999
        """)
    )
    assert main(["validate", "--no-cmdline", str(bad)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{bad}:3:7: warning: unknown key `systctl` in step; did you mean `sysctl`?"
        " (stages.boot[0].systctl)",
        f"{bad}:6:24: error: mode 99999 is out of range (0 to 07777)"
        " (stages.boot[0].files[0].permissions)",
        "validate: 1 error, 1 warning in 1 document",
    ]


def test_clean_sources_exit_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], chdir_repo: Path
) -> None:
    assert main(["validate", "--strict", "--no-cmdline", "configs"]) == 0
    assert capsys.readouterr().out == "validate: 0 errors, 0 warnings in 1 document\n"


def test_default_sources_are_read_inside_the_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oem = tmp_path / "oem"
    oem.mkdir()
    (oem / "90_custom.yaml").write_text("stages:\n  boot:\n    - systemctl: {enable: [a/b]}\n")
    assert main(["validate", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("/oem/90_custom.yaml:3:28: error: `a/b` is not a valid unit name")


def test_json_lists_match_the_run_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_validate(tmp_path, capsys, {"x.yaml": "stages:\n  boot: [1]\n"})
    assert code == 1
    assert report["format"] == 1 and report["command"] == "validate"
    assert report["sources"] == [str(tmp_path / "src" / "x.yaml")]
    assert report["errors"] == [
        {
            "source": str(tmp_path / "src" / "x.yaml"),
            "line": 2,
            "column": 10,
            "path": "stages.boot[0]",
            "severity": "error",
            "message": "expected a mapping, got an integer '1'",
        }
    ]
    assert report["warnings"] == []


def test_unreadable_source_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--no-cmdline", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read source" in capsys.readouterr().out


def test_kairos_top_level_keys_are_not_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = doc("""
        #cloud-config
        install:
          auto: true
        k3s:
          enabled: true
        users:
          - name: kairos
        strict: false
        debug: true
        stages:
          boot:
            - name: fine
        """)
    code, report = run_validate(tmp_path, capsys, {"c.yaml": text}, "--strict")
    assert (code, report["errors"], report["warnings"]) == (0, [], [])


@pytest.mark.subprocess
def test_every_broken_case_at_once_no_traceback(tmp_path: Path) -> None:
    src = tmp_path / "all"
    src.mkdir()
    for i, case in enumerate(CASES):
        for name, text in case.files.items():
            (src / f"{i:02d}-{name}").write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "executor", "validate", "--no-cmdline", str(src)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(str(src))]
    assert len(lines) >= sum(len(c.want) for c in CASES)
    assert all(": error: " in ln or ": warning: " in ln for ln in lines)
    usage = subprocess.run(
        [sys.executable, "-m", "executor", "validate", "--no-such-option"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr
