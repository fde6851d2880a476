#!/usr/bin/env bash
# Builds the busybox root filesystem the tests and benchmarks use, from Debian's busybox-static
# (no internet needed beyond the apt archive). Idempotent. Usage: make-rootfs.sh [DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$top/var/rootfs/busybox}
[ -x "$dest/bin/busybox" ] && [ -e "$dest/bin/sh" ] && exit 0

cache=$top/var/cache
mkdir -p "$cache"
deb=$(ls "$cache"/busybox-static_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
  (cd "$cache" && apt-get download busybox-static >/dev/null)
  deb=$(ls "$cache"/busybox-static_*.deb | head -n1)
fi
tmp=$(mktemp -d "$cache/rootfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg -x "$deb" "$tmp/pkg"
mkdir -p "$tmp/root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,run,var/tmp}
chmod 1777 "$tmp/root/tmp" "$tmp/root/var/tmp"
install -m 0755 "$tmp/pkg/bin/busybox" "$tmp/root/bin/busybox"
# One symlink per applet, at the path busybox itself lists for it.
"$tmp/root/bin/busybox" --list-full | while read -r applet; do
  [ -e "$tmp/root/$applet" ] || ln -s /bin/busybox "$tmp/root/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$tmp/root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$tmp/root/etc/group"
echo "cryo" > "$tmp/root/etc/hostname"
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$tmp/root" "$dest"
echo "rootfs: $dest"
