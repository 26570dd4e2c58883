#!/bin/sh
# Make OpenSSH's sshd available for the loopback SSH tests (tests/test_remote.py), from Debian packages.
# As root: apt-get install openssh-server (it also creates the privilege-separation user sshd needs).
# Otherwise: unpack the packages into .cache/openssh; the tests run that sshd as this user, where OpenSSH
# needs no privilege separation.
set -eu
if command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || [ -x .cache/openssh/usr/sbin/sshd ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends openssh-server >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; }
    exit 0
fi
mkdir -p .cache/openssh/debs
(cd .cache/openssh/debs && apt-get download -qq openssh-server openssh-sftp-server libwrap0)
for deb in .cache/openssh/debs/*.deb; do dpkg -x "$deb" .cache/openssh; done
