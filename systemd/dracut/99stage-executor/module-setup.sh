#!/bin/bash
# dracut module: run the "initramfs" cloud-config stage in a systemd initrd.
#
# It puts stage-executor-initramfs.service into the initrd and enables it
# there (an initrd.target.wants link). Nothing else is needed in the initrd:
# the unit runs the executor chrooted in /sysroot (RootDirectory=), so the
# program and its Python come from the real root once it is mounted.
# Install this directory as /usr/lib/dracut/modules.d/99stage-executor and
# the unit in the image's /usr/lib/systemd/system, then rebuild the initrd.

UNIT=stage-executor-initramfs.service

# Included whenever the image has the unit: installing the unit is asking
# for the stage.
check() {
    [[ -f "$dracutsysrootdir$systemdsystemunitdir/$UNIT" ]] || return 1
    return 0
}

depends() {
    echo systemd
}

install() {
    inst_simple "$systemdsystemunitdir/$UNIT"
    # The unit's [Install] says WantedBy=initrd.target: the same link
    # `systemctl enable` makes, inside the initrd.
    $SYSTEMCTL -q --root "$initdir" enable "$UNIT"
}
