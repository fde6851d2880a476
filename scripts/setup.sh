#!/usr/bin/env bash
# Installs everything cryo needs on a fresh Debian 12 machine. Idempotent: a no-op when all is present.
#  - build and test dependencies from apt
#  - CRIU >= 4.2 under /usr/local when the installed criu is older or missing, built from the source
#    package that Debian's archive serves for its newest suite (bookworm's 3.17 fails on this kernel)
#  - CRIU's rpc.proto kept in /usr/local/share/criu/rpc.proto for the build
set -euo pipefail

readonly CRIU_MIN=4.2
readonly RPC_PROTO=/usr/local/share/criu/rpc.proto

APT_PACKAGES=(
  build-essential cmake pkg-config git
  libseccomp-dev libcap-dev libprotobuf-dev protobuf-compiler
  libboost-program-options-dev libgtest-dev libgmock-dev nlohmann-json3-dev
  libarchive-dev libsqlite3-dev libcpp-httplib-dev libssl-dev
  busybox-static runc hyperfine iproute2 iptables python3 xz-utils procps util-linux clang libclang-rt-14-dev
  containerd podman docker.io
  # CRIU's build dependencies
  libprotobuf-c-dev protobuf-c-compiler libnl-3-dev libnet1-dev libbsd-dev libgnutls28-dev
  libnftables-dev libaio-dev uuid-dev
)

log() { echo "setup: $*" >&2; }

install_apt_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing from apt: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}

version_at_least() { # $1 >= $2 ?
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

installed_criu_version() {
  local bin
  bin=$(command -v criu 2>/dev/null) || return 1
  "$bin" --version 2>/dev/null | awk '/^Version:/ {print $2}'
}

criu_ok() {
  local v
  v=$(installed_criu_version) || return 1
  [ -n "$v" ] && version_at_least "$v" "$CRIU_MIN" && [ -f "$RPC_PROTO" ]
}

# The machine's own mirror URI, read from its deb822 or one-line sources.
mirror_uri() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '/^deb / && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

build_criu() {
  local work; work=$(mktemp -d /tmp/cryo-criu.XXXXXX)
  trap "rm -rf '$work'" RETURN
  mkdir -p "$work/lists/partial" "$work/src"
  echo "deb-src $(mirror_uri) sid main" > "$work/sources.list"
  local aptopts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
                 -o "Dir::State::Lists=$work/lists")
  log "fetching CRIU source from the archive's newest suite"
  apt-get "${aptopts[@]}" update -q >/dev/null
  # The debian.tar.xz may be missing from the mirror; only the orig tarball matters.
  (cd "$work/src" && apt-get "${aptopts[@]}" source --download-only criu) || true
  local tarball; tarball=$(ls "$work"/src/criu_*.orig.tar.* 2>/dev/null | sort -V | tail -n1)
  [ -n "$tarball" ] || { log "could not fetch criu's orig tarball"; return 1; }
  local version; version=$(basename "$tarball" | sed -E 's/^criu_([0-9.]+)\.orig.*/\1/')
  version_at_least "$version" "$CRIU_MIN" || { log "archive offers criu $version < $CRIU_MIN"; return 1; }
  log "building criu $version"
  tar -xf "$tarball" -C "$work/src"
  local dir; dir=$(find "$work/src" -maxdepth 1 -type d -name 'criu-*' | head -n1)
  make -C "$dir" -j"$(nproc)" criu >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; return 1; }
  install -D -m 0755 "$dir/criu/criu" /usr/local/sbin/criu
  install -D -m 0644 "$dir/images/rpc.proto" "$RPC_PROTO"
  hash -r
  log "installed criu $(installed_criu_version) to /usr/local/sbin/criu"
}

main() {
  [ "$(id -u)" -eq 0 ] || { log "must run as root"; exit 1; }
  install_apt_packages
  criu_ok || build_criu
  criu_ok || { log "CRIU >= $CRIU_MIN is not available"; exit 1; }
}

main "$@"
