"""`#cloud-config` documents: the standard cloud-init keys mapped into steps.

A document whose header is `#cloud-config` may carry, besides `stages:`, the
cloud-init keys `write_files`, `runcmd`, `hostname`, `users` and
`ssh_authorized_keys`. yip turns them into steps (pkg/schema/loader_cloudinit.go):

- `boot`: one step with `commands` (runcmd), `files` (write_files, `owner`
  becoming `owner_string`, `permissions` an octal string), `users` (by name)
  and `authorized_keys` (each user's keys followed by the global ones; the
  global ones go to `root` when no user is defined);
- `initramfs`: one step with `hostname`;
- `network`: one step with the `authorized_keys` that start with `github` or
  `gitlab` (they need the network to be fetched).

The generated steps come first in their stage, before the document's own
`stages:` steps, and have no name (so their full names are `FILE.0` and so on).
They are built as YAML nodes that reuse the user's own nodes, so the loader
checks them with the step schema and every problem still points at the line
the user wrote.

Differences from yip, on purpose: a step is generated only when its keys are
present (yip always adds an `initramfs` hostname step and a `network` step,
empty or not), and a `stages:` part that does not validate is reported instead
of being dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from executor.convert import parse_mode_string
from executor.errors import Problem
from executor.record import dataclass, field

NETWORK_KEY_PREFIXES = ("github", "gitlab")
# yip's User fields a cloud-config user carries over (`gid` is dropped by yip,
# `ssh_authorized_keys` goes to `authorized_keys`).
USER_FIELDS = (
    "name",
    "passwd",
    "gecos",
    "homedir",
    "no_create_home",
    "primary_group",
    "groups",
    "no_user_group",
    "system",
    "no_log_init",
    "shell",
    "uid",
    "lock_passwd",
)

_TAG = "tag:yaml.org,2002:"

Pairs = Callable[[Node, str], "list[tuple[str, Node, Node]] | None"]


@dataclass
class GeneratedSteps:
    """Step nodes made from the cloud-init keys, by stage, in run order."""

    stages: dict[str, list[MappingNode]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def generate_steps(top: list[tuple[str, Node, Node]], source: str, pairs: Pairs) -> GeneratedSteps:
    """The steps yip makes of a cloud-config's top-level keys.

    `top` is the document's top-level (key, key node, value node) list;
    `pairs` is the loader's mapping reader (merge keys, duplicates).
    """
    out = GeneratedSteps()
    found = {key: (key_node, value) for key, key_node, value in top if not _is_null(value)}
    boot: list[tuple[Node, Node]] = []
    if "runcmd" in found:
        key_node, value = found["runcmd"]
        boot.append((_key("commands", key_node), value))
    if "write_files" in found:
        key_node, value = found["write_files"]
        boot.append((_key("files", key_node), _files(value, source, pairs, out.problems)))
    users = _users(found.get("users"), pairs)
    if users:
        key_node = found["users"][0]
        boot.append((_key("users", key_node), _mapping(key_node, users)))
    local_keys, network_keys = _ssh_keys(found, pairs)
    if local_keys:
        key_node = local_keys[0][0]
        boot.append((_key("authorized_keys", key_node), _mapping(key_node, local_keys)))
    if boot:
        out.stages["boot"] = [_mapping(boot[0][0], boot)]
    if "hostname" in found:
        key_node, value = found["hostname"]
        out.stages["initramfs"] = [_mapping(key_node, [(_key("hostname", key_node), value)])]
    if network_keys:
        key_node = network_keys[0][0]
        keys: list[tuple[Node, Node]] = [
            (_key("authorized_keys", key_node), _mapping(key_node, network_keys))
        ]
        out.stages["network"] = [_mapping(key_node, keys)]
    return out


def _files(value: Node, source: str, pairs: Pairs, problems: list[Problem]) -> Node:
    """write_files entries as `files` entries: owner -> owner_string, octal permissions."""
    if not isinstance(value, SequenceNode):
        return value
    entries: list[Node] = []
    for i, entry in enumerate(value.value):
        fields = pairs(entry, f"write_files[{i}]")
        if fields is None:
            entries.append(entry)
            continue
        mapped: list[tuple[Node, Node]] = []
        for key, key_node, item in fields:
            if key in ("path", "content", "encoding"):
                mapped.append((key_node, item))
            elif key == "owner":
                mapped.append((_key("owner_string", key_node), item))
            elif key == "permissions":
                mode = _octal(item, f"write_files[{i}].permissions", source, problems)
                if mode is not None:
                    mapped.append((key_node, mode))
        entries.append(_mapping(entry, mapped))
    return SequenceNode(_TAG + "seq", entries, value.start_mark, value.end_mark)


def _octal(node: Node, path: str, source: str, problems: list[Problem]) -> Node | None:
    """cloud-init permissions are octal text, even when YAML reads `644` as a number."""
    if not isinstance(node, ScalarNode) or _is_null(node) or node.value == "":
        return None
    mode = parse_mode_string(node.value)
    if mode is None:
        mark = node.start_mark
        problems.append(
            Problem(
                "error",
                source,
                mark.line + 1,
                mark.column + 1,
                path,
                f"invalid permissions {node.value!r}: expected octal like 0644",
            )
        )
        return None
    return ScalarNode(_TAG + "int", f"0{mode:o}", node.start_mark, node.end_mark)


def _users(found: tuple[Node, Node] | None, pairs: Pairs) -> list[tuple[Node, Node]]:
    """cloud-init's list of users as yip's `users` mapping keyed by name."""
    if found is None or not isinstance(found[1], SequenceNode):
        return []
    out: list[tuple[Node, Node]] = []
    for i, entry in enumerate(found[1].value):
        fields = pairs(entry, f"users[{i}]") or []
        by_key = {key: (key_node, value) for key, key_node, value in fields}
        if "name" not in by_key:
            continue  # the schema reports the missing name
        kept = [(by_key[k][0], by_key[k][1]) for k in USER_FIELDS if k in by_key]
        out.append((by_key["name"][1], _mapping(entry, kept)))
    return out


def _ssh_keys(
    found: dict[str, tuple[Node, Node]], pairs: Pairs
) -> tuple[list[tuple[Node, Node]], list[tuple[Node, Node]]]:
    """(user name node, keys node) pairs: those that need no network, and those that do."""
    global_keys = _scalars(found.get("ssh_authorized_keys", (None, None))[1])
    per_user: list[tuple[Node, list[Node]]] = []
    users_value = found.get("users", (None, None))[1]
    if isinstance(users_value, SequenceNode):
        for i, entry in enumerate(users_value.value):
            by_key = {k: v for k, _, v in pairs(entry, f"users[{i}]") or []}
            if "name" in by_key:
                own = _scalars(by_key.get("ssh_authorized_keys"))
                per_user.append((by_key["name"], own + global_keys))
    if not per_user and global_keys:
        key_node = found["ssh_authorized_keys"][0]
        per_user.append((_key("root", key_node), global_keys))
    local: list[tuple[Node, Node]] = []
    network: list[tuple[Node, Node]] = []
    for user, keys in per_user:
        remote = [k for k in keys if str(k.value).startswith(NETWORK_KEY_PREFIXES)]
        plain = [k for k in keys if k not in remote]
        if plain:
            local.append((user, _sequence(user, plain)))
        if remote:
            network.append((user, _sequence(user, remote)))
    return local, network


def _scalars(node: Node | None) -> list[Node]:
    if not isinstance(node, SequenceNode):
        return []
    return [item for item in node.value if isinstance(item, ScalarNode) and not _is_null(item)]


def _key(name: str, at: Node) -> ScalarNode:
    return ScalarNode(_TAG + "str", name, at.start_mark, at.end_mark)


def _mapping(at: Node, pairs: list[tuple[Node, Node]]) -> MappingNode:
    return MappingNode(_TAG + "map", pairs, at.start_mark, at.end_mark)


def _sequence(at: Node, items: list[Node]) -> SequenceNode:
    return SequenceNode(_TAG + "seq", items, at.start_mark, at.end_mark)


def _is_null(node: Node | None) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + "null"
