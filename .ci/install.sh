#!/usr/bin/env bash
# What the checks install when it is missing, in one place, so that every
# script works on a machine that has none of it yet. Sourced by test-all.sh,
# fuzz-smoke.sh, embedded.sh and autobahn.sh:
#
#   apt_install PACKAGE...        Debian packages (as root, or through sudo)
#   ensure_nightly COMPONENT...   the `nightly` toolchain with these components
#   ensure_cargo_fuzz             cargo-fuzz on PATH
#   ensure_qemu_arm               qemu-system-arm on PATH

# Runs apt-get install with the flags every install here wants; extra apt-get
# options may come before the packages.
apt_install() {
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  if [[ -z "${APT_UPDATED:-}" ]]; then
    "${sudo[@]}" apt-get update -qq
    APT_UPDATED=1
  fi
  echo "apt-get install $*"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "$@" >/dev/null
}

# A machine that already has a nightly keeps it (installing over it would move
# it to today's nightly); one that has none gets today's, with only the
# components asked for.
ensure_nightly() {
  if rustup toolchain list | grep -q '^nightly'; then
    (($# == 0)) || rustup component add --toolchain nightly "$@" >/dev/null
  else
    echo "installing the nightly toolchain${*:+ with $*}"
    local components
    components=$(IFS=,; echo "$*")
    rustup toolchain install nightly --profile minimal ${components:+--component "$components"}
  fi
  rustc +nightly --version
}

ensure_cargo_fuzz() {
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install --locked cargo-fuzz
  fi
  cargo fuzz --version
}

# qemu-system-arm alone: the machine image may carry a newer qemu-utils from a
# source that is not configured (seen: 10.0, which `Breaks: qemu-system-common
# (< 8.0)`), and naming qemu-utils too would make apt keep it and give up.
# Alone, apt replaces that qemu-utils (nothing here needs qemu-img). If apt
# still refuses, try once more with every QEMU package that is installed pinned
# to the version of qemu-system-arm that the sources offer.
ensure_qemu_arm() {
  command -v qemu-system-arm >/dev/null && return 0
  apt_install qemu-system-arm && return 0
  local version pins pkg
  version=$(apt-cache policy qemu-system-arm | sed -n 's/^ *Candidate: *//p')
  if [[ -z "$version" || "$version" == "(none)" ]]; then
    echo "install: apt offers no qemu-system-arm" >&2
    return 1
  fi
  echo "apt refused; again with the installed QEMU packages pinned to $version"
  pins=("qemu-system-arm=$version")
  for pkg in $(dpkg-query -W -f '${Package} ${Status}\n' 'qemu-*' 2>/dev/null |
    awk '$NF == "installed" { print $1 }'); do
    [[ $pkg == qemu-system-arm ]] || pins+=("$pkg=$version")
  done
  apt_install --allow-downgrades "${pins[@]}"
}
