# shellcheck shell=bash
# Sourced by scripts/sysroot-arm64.sh, scripts/test-deb.sh and
# scripts/test-deb-arm64.sh.
#
# debian_source sets SUITE (default: this host's Debian codename, else
# bookworm) and MIRROR (default: the first Debian mirror in this host's apt
# sources, else deb.debian.org), keeping values already in the environment.
debian_source() {
  if [ -z "${SUITE:-}" ]; then
    SUITE=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    SUITE=${SUITE:-bookworm}
  fi
  if [ -z "${MIRROR:-}" ]; then
    MIRROR=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
      grep -oE 'https?://[^ ]+' | head -1 || true)
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
  fi
}
