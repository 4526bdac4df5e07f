# Shared by vm-run and run-tests: what the lab needs on this machine. Sourced, not run.

# The newest Debian kernel image whose modules include IPVS.
lab_kernel() {
    if [ -n "${LVSWEB_LAB_KERNEL:-}" ]; then
        echo "$LVSWEB_LAB_KERNEL"
        return
    fi
    local image version
    for image in $(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -rV); do
        version=${image#/boot/vmlinuz-}
        if compgen -G "/lib/modules/$version/kernel/net/netfilter/ipvs/ip_vs.ko*" >/dev/null; then
            echo "$image"
            return
        fi
    done
}

# Space-separated list of what is missing, then " (apt-get install ...)"; empty when all is there.
lab_missing() {
    local missing=() packages=()
    if ! command -v qemu-system-x86_64 >/dev/null; then
        missing+=(qemu-system-x86_64)
        packages+=(qemu-system-x86)
    fi
    if [ -z "$(lab_kernel)" ]; then
        missing+=("/boot/vmlinuz-*-amd64 with ip_vs")
        packages+=(linux-image-amd64)
    elif [ ! -r "$(lab_kernel)" ]; then
        missing+=("read access to $(lab_kernel)")
    fi
    if ! command -v ipvsadm >/dev/null; then
        missing+=(ipvsadm)
        packages+=(ipvsadm)
    fi
    if ! command -v busybox >/dev/null; then
        missing+=(busybox)
        packages+=(busybox-static)
    fi
    if ! command -v ip >/dev/null; then
        missing+=(ip)
        packages+=(iproute2)
    fi
    if [ ! -x /usr/sbin/keepalived ]; then # director HA (tests/lab/test_lab_ha.py)
        missing+=(keepalived)
        packages+=(keepalived)
    fi
    if [ ! -x "$LVSWEB_VENV/bin/vng" ]; then
        missing+=("$LVSWEB_VENV/bin/vng")
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        local IFS=,
        local text="${missing[*]}"
        text=${text//,/, }
        if [ ${#packages[@]} -gt 0 ]; then
            local IFS=' '
            text="$text (apt-get install ${packages[*]})"
        fi
        if [ ! -x "$LVSWEB_VENV/bin/vng" ]; then
            text="$text (pip install virtme-ng into $LVSWEB_VENV)"
        fi
        echo "$text"
    fi
}
