#!/bin/sh
# Debian's qemu-user-static, for the tests that run int8 files on an AVX2-only x86 CPU (tests/test_isa.py):
# on a VNNI host they run Python under `qemu-x86_64-static -cpu Haswell`, whose emulated cpuid makes
# onnxruntime pick the same saturating u8*s8 kernels a real AVX2-only CPU runs. (make test-arm64 uses the
# same package.) As root: apt-get install. Otherwise unpack the package into .cache/qemu; the binary is static.
set -eu
if command -v qemu-x86_64-static >/dev/null 2>&1 || [ -x .cache/qemu/usr/bin/qemu-x86_64-static ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null; }
    exit 0
fi
mkdir -p .cache/qemu/debs
(cd .cache/qemu/debs && apt-get download -qq qemu-user-static)
for deb in .cache/qemu/debs/*.deb; do dpkg -x "$deb" .cache/qemu; done
