#!/bin/sh
# An emulated arm64 board for `make test-arm64`: a Debian bookworm arm64 root made with debootstrap, run
# through qemu-user-static and binfmt_misc, with python3 + numpy, pillow, onnxruntime and ai-edge-litert
# (aarch64 wheels from PyPI) in /opt/board, and its own (arm64) sshd on 127.0.0.1. Needs root.
#   sh scripts/arm64-board.sh build   # minutes: debootstrap, then pip under emulation (idempotent)
#   sh scripts/arm64-board.sh start   # sshd on 127.0.0.1:$ARM64_PORT; writes .cache/arm64/target.toml
#   sh scripts/arm64-board.sh stop
set -eu
CACHE=$(pwd)/.cache/arm64
ROOT=$CACHE/root
PORT=${ARM64_PORT:-2222}
# Newer aarch64 wheels crash under Debian bookworm's qemu-user 7.2 (SIGSEGV in the emulator): onnxruntime
# from 1.28 on import, ai-edge-litert from 2.2 when an interpreter is made. 1.27.0 and 2.1.6 run. Real
# boards are unaffected; only the emulated one pins them.
ORT=${ARM64_ONNXRUNTIME:-onnxruntime==1.27.0}
LITERT=${ARM64_LITERT:-ai-edge-litert==2.1.6}
# A Cortex-A76 (Raspberry Pi 5's core: NEON + dot product). qemu's default "max" CPU also offers newer int8
# instructions that it emulates wrongly: XNNPACK's int8 kernels then returned garbage (top-1 10%).
export QEMU_CPU=${QEMU_CPU:-cortex-a76}

need_root() { [ "$(id -u)" = 0 ] || { echo "arm64-board: needs root (debootstrap, chroot, binfmt_misc)" >&2; exit 1; }; }

mounts() {  # the pseudo-filesystems Python and sshd need inside the root
    for fs in proc dev dev/pts sys; do
        mountpoint -q "$ROOT/$fs" || mount --bind "/$fs" "$ROOT/$fs"
    done
}

unmounts() {
    for fs in sys dev/pts dev proc; do
        ! mountpoint -q "$ROOT/$fs" || umount -l "$ROOT/$fs"
    done
}

build() {
    need_root
    command -v debootstrap >/dev/null && command -v qemu-aarch64-static >/dev/null ||
        apt-get install -y -qq --no-install-recommends debootstrap qemu-user-static binfmt-support
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable qemu-aarch64 2>/dev/null || true
    mkdir -p "$CACHE"
    if [ ! -x "$ROOT/usr/bin/python3" ]; then
        debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,openssh-server,ca-certificates \
            bookworm "$ROOT" http://deb.debian.org/debian
    fi
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    mounts
    trap unmounts EXIT
    [ -x "$ROOT/opt/board/bin/python" ] || chroot "$ROOT" python3 -m venv /opt/board
    if ! chroot "$ROOT" /opt/board/bin/python -c "import numpy, PIL, onnxruntime, ai_edge_litert" 2>/dev/null; then
        # aarch64 wheels fetched by this machine's pip (its index and certificate settings), installed offline
        pyver=$(chroot "$ROOT" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
        mkdir -p "$ROOT/opt/wheels"
        ${PYTHON:-python3} -m pip download -q -d "$ROOT/opt/wheels" --only-binary=:all: --python-version "$pyver" \
            --implementation cp --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
            --platform manylinux_2_27_aarch64 --platform manylinux_2_28_aarch64 \
            numpy pillow "$ORT" "$LITERT"
        chroot "$ROOT" /opt/board/bin/pip install -q --no-index --find-links /opt/wheels \
            numpy pillow "$ORT" "$LITERT"
    fi
    chroot "$ROOT" /opt/board/bin/python -c "import platform, onnxruntime, ai_edge_litert, numpy; \
print('board ready:', platform.machine(), 'onnxruntime', onnxruntime.__version__, 'numpy', numpy.__version__)"
}

start() {
    need_root
    mounts
    mkdir -p "$ROOT/run/sshd" "$CACHE/keys"
    [ -f "$CACHE/keys/user" ] || ssh-keygen -q -t ed25519 -N '' -f "$CACHE/keys/user"
    [ -f "$ROOT/etc/ssh/ssh_host_ed25519_key" ] || chroot "$ROOT" ssh-keygen -q -A
    cp "$CACHE/keys/user.pub" "$ROOT/etc/ssh/edgeres_authorized_keys"
    chroot "$ROOT" /usr/sbin/sshd -p "$PORT" -o ListenAddress=127.0.0.1 -o PasswordAuthentication=no \
        -o AuthorizedKeysFile=/etc/ssh/edgeres_authorized_keys -o PermitRootLogin=prohibit-password \
        -o UsePAM=no -o PidFile=/run/sshd-edgeres.pid -o SetEnv=QEMU_CPU="$QEMU_CPU"
    echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$ROOT/etc/ssh/ssh_host_ed25519_key.pub")" >"$CACHE/keys/known_hosts"
    cat >"$CACHE/target.toml" <<TOML
# The emulated arm64 board of scripts/arm64-board.sh (qemu-user: latency numbers are meaningless).
name = "arm64-emulated"
transport = "ssh"
host = "127.0.0.1"
port = $PORT
user = "root"
identity = "$CACHE/keys/user"
known_hosts = "$CACHE/keys/known_hosts"
python = "/opt/board/bin/python"
workdir = "/tmp"
threads = 1
quantize_target = "arm64"
TOML
    for _ in $(seq 50); do
        ssh -q -o BatchMode=yes -o UserKnownHostsFile="$CACHE/keys/known_hosts" -i "$CACHE/keys/user" -p "$PORT" \
            root@127.0.0.1 true 2>/dev/null && { echo "arm64 board listening on 127.0.0.1:$PORT"; return; }
        sleep 0.5
    done
    echo "arm64-board: sshd did not come up" >&2
    exit 1
}

stop() {
    [ ! -f "$ROOT/run/sshd-edgeres.pid" ] || kill "$(cat "$ROOT/run/sshd-edgeres.pid")" 2>/dev/null || true
    rm -f "$ROOT/run/sshd-edgeres.pid"
    unmounts
}

"${1:?usage: arm64-board.sh build|start|stop}"
