"""systemd units in a root: names, lookup, [Install] sections, and the links
`systemctl --root=DIR enable|disable|mask|unmask` makes, planned natively.

- `names`: unit name rules and systemctl's mangling (`foo` -> `foo.service`);
- `install`: the [Install] parser; `specifiers`: %n %i ... in its values;
- `lookup`: the unit search path, aliases, linked units, drop-ins;
- `links`: the four verbs as Actions recorded in a `view.Plan`.
"""

from executor.units.links import plan_disable, plan_enable, plan_mask, plan_unmask
from executor.units.lookup import CONFIG_DIR, UNIT_PATHS
from executor.units.names import mangle
from executor.units.view import Plan

__all__ = [
    "CONFIG_DIR",
    "UNIT_PATHS",
    "Plan",
    "mangle",
    "plan_disable",
    "plan_enable",
    "plan_mask",
    "plan_unmask",
]
