"""Templating where yip applies it (commands, file content) with the root's
facts, and the keys yip itself reads (`ownerstring`)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from executor.modules.environment import merge_env, parse_env
from executor.modules.templating import system_values
from executor.root import Root
from tests.modhelp import run_config, tree

OS_RELEASE = 'PRETTY_NAME="Kairos 3.2"\nID=kairos\nVERSION_ID=3.2\n'


def test_file_content_is_rendered_with_the_roots_facts(tmp_path: Path) -> None:
    root = tree(
        tmp_path / "r",
        {"/etc/os-release": OS_RELEASE, "/etc/hostname": "# set by the installer\nedge-1\n"},
    )
    run = run_config(
        root,
        """
stages:
  test:
    - files:
        - path: /etc/motd
          content: "Welcome to {{ .Values.os.name }} on {{ .Values.node.hostname | upper }}\\n"
""",
    )
    assert run.statuses == ["applied"], run.reasons()
    assert (root / "etc/motd").read_text() == "Welcome to Kairos 3.2 on EDGE-1\n"


def test_encoded_content_is_rendered_after_decoding(tmp_path: Path) -> None:
    import base64

    encoded = base64.b64encode(b"id={{ .Values.os.vendor }}\n").decode()
    root = tree(tmp_path / "r", {"/etc/os-release": OS_RELEASE})
    run_config(
        root, f"stages:\n  test:\n    - files: [{{path: /x, content: {encoded}, encoding: b64}}]\n"
    )
    assert (root / "x").read_text() == "id=kairos\n"


def test_a_file_template_error_fails_the_step_naming_the_file(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {})
    config = 'stages:\n  test:\n    - files: [{path: /x, content: "{{ .Release.Name }}"}]\n'
    run = run_config(root, config)
    assert run.statuses == ["failed"]
    assert "files: /x: content: template 1:4: .Release has no value" in run.reasons()
    assert not (root / "x").exists()


def test_commands_are_rendered_before_they_run(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {"/etc/os-release": OS_RELEASE})
    run = run_config(
        root, 'stages:\n  test:\n    - commands: ["echo {{ .Values.os.version }}"]\n', dry_run=True
    )
    assert run.actions()[0][0]["command"] == "echo 3.2"
    bad = run_config(
        root, 'stages:\n  test:\n    - commands: ["{{ if true }}x{{ end }}"]\n', dry_run=True
    )
    assert bad.statuses == ["failed"] and "commands[0]: template 1:4: `if`" in bad.reasons()


def test_values_come_from_the_root_and_the_kernel_only_on_slash(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {"/etc/os-release": OS_RELEASE, "/etc/machine-id": "ab" * 16})
    values = system_values(Root(str(root)))
    assert values == {
        "node": {"machineid": "ab" * 16},
        "os": {"name": "Kairos 3.2", "vendor": "kairos", "version": "3.2", "release": "3.2"},
    }
    assert "kernel" in system_values(Root("/"))


def test_yips_own_ownerstring_key_is_accepted(tmp_path: Path) -> None:
    root = tree(
        tmp_path / "r", {"/etc/passwd": "app:x:700:701::/:/bin/sh\n", "/etc/group": "app:x:701:\n"}
    )
    run = run_config(
        root, "stages:\n  test:\n    - files: [{path: /x, content: y, ownerstring: app}]\n"
    )
    assert run.statuses == ["applied"], run.reasons()
    st_ = (root / "x").stat()
    assert (st_.st_uid, st_.st_gid) == (700, 701)


KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
VALUES = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=6), st.dictionaries(KEYS, VALUES, max_size=6))
def test_env_merge_reads_back_what_was_set_and_keeps_the_rest(
    first: dict[str, str], second: dict[str, str]
) -> None:
    text = merge_env("", first)
    merged = merge_env(text, second)
    assert parse_env(merged) == {**first, **second}
    assert merge_env(merged, second) == merged  # idempotent


def test_if_is_rendered_before_it_is_evaluated(tmp_path: Path) -> None:
    """yip renders `if` with the system data, then runs it."""
    root = tree(tmp_path / "r", {"/etc/os-release": OS_RELEASE})
    run = run_config(
        root,
        """
stages:
  test:
    - if: '[ "{{ .Values.os.vendor }}" = "kairos" ]'
      files: [{path: /yes, content: "y"}]
    - if: '[ "{{ .Values.os.vendor }}" = "debian" ]'
      files: [{path: /no, content: "n"}]
    - if: '[ "{{ .Values.nothing.here }}" = "" ]'
      files: [{path: /never, content: "n"}]
""",
    )
    assert run.statuses == ["applied", "skipped", "failed"], run.reasons()
    assert (root / "yes").is_file() and not (root / "no").exists()
    assert run.steps[0].condition is not None
    assert run.steps[0].condition.expr == '[ "kairos" = "kairos" ]'
    assert run.steps[0].condition.by == "native"
    assert 'if: `[ "debian" = "kairos" ]`' not in run.reasons()
    assert '`[ "kairos" = "debian" ]` is false' in run.steps[1].reason
    assert "condition: if: template" in run.steps[2].reason and not (root / "never").exists()


def test_validate_checks_the_template_and_the_shell_of_an_if() -> None:
    from executor.validate import check_condition

    assert check_condition('[ "{{ .Values.os.vendor }}" = "kairos" ]') == []
    (bad,) = check_condition('[ "{{ .Values.os.vendor " = "kairos" ]')
    assert bad.severity == "error" and bad.message.startswith("template:")
    (shell,) = check_condition('[ "{{ .Values.os.vendor }}" = x ] &&')
    assert shell.severity == "error" and "not valid shell" in shell.message
