#!/usr/bin/env bash
# Runs the OCI runtime-spec conformance programs of opencontainers/runtime-tools (cmd/runtimetest
# and validation/*) against cryo, and against runc when it is installed, and prints a table.
# As root. Everything lives under var/oci-conformance (ignored by git); nothing of runtime-tools
# is part of this repository.
#
# Usage: scripts/oci-conformance.sh [--cryo PATH] [--no-runc] [TEST...]
#   TEST: a directory name under validation/ (default: all of them).
#
# Where the pieces come from (no internet beyond Debian's archive):
#   - runtime-tools: Debian's source package, golang-github-opencontainers-runtime-tools, through
#     a temporary deb-src list on the machine's own mirror (bookworm's orig tarball is missing from
#     the mirror; trixie's and sid's are there, so the suites are tried in that order);
#   - its Go dependencies: Debian's golang-*-dev packages (GOPATH mode, GO111MODULE=off), except
#     github.com/mndrix/tap-go, which Debian does not package: a small stand-in with the same
#     calls is written below;
#   - the bundles' root filesystem: cryo's busybox root (scripts/make-rootfs.sh) as
#     rootfs-amd64.tar.gz.
# Each test runs under `timeout 60`. The bundles go to a private TMPDIR; mounts a runtime leaves
# there in the host's mount namespace (runc does, for a config without a mount namespace) are
# unmounted afterwards, and the empty cgroups the tests name (/testdir/cgrouptest) are removed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cryo=$top/build/bin/cryo
use_runc=1
tests=()
while [ $# -gt 0 ]; do
  case $1 in
    --cryo) cryo=$(realpath "$2"); shift 2 ;;
    --no-runc) use_runc=0; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) tests+=("$1"); shift ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "oci-conformance: run as root" >&2; exit 1; }
[ -x "$cryo" ] || { echo "oci-conformance: no cryo at $cryo (scripts/build.sh)" >&2; exit 1; }

work=$top/var/oci-conformance
mkdir -p "$work"

# ---- runtime-tools source -------------------------------------------------------------------
src=$(ls -d "$work"/tree/golang-github-opencontainers-runtime-tools-*/ 2>/dev/null | head -n1 || true)
if [ -z "$src" ]; then
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  orig=
  for suite in bookworm trixie sid; do
    apt_dir=$work/apt-$suite
    mkdir -p "$apt_dir/lists/partial" "$work/download"
    echo "deb-src $mirror $suite main" > "$apt_dir/sources.list"
    opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt_dir/lists")
    apt-get "${opts[@]}" update >/dev/null 2>&1 || continue
    # apt reports an error when the .dsc or debian.tar is missing; only the orig tarball matters.
    (cd "$work/download" && apt-get "${opts[@]}" source --download-only golang-github-opencontainers-runtime-tools >/dev/null 2>&1) || true
    orig=$(ls "$work"/download/golang-github-opencontainers-runtime-tools_*.orig.tar.* 2>/dev/null | head -n1 || true)
    [ -n "$orig" ] && { echo "runtime-tools: $(basename "$orig") (suite $suite)"; break; }
  done
  [ -n "$orig" ] || { echo "oci-conformance: no runtime-tools source tarball on $mirror" >&2; exit 1; }
  rm -rf "$work/tree" && mkdir -p "$work/tree"
  tar -xf "$orig" -C "$work/tree"
  src=$(ls -d "$work"/tree/golang-github-opencontainers-runtime-tools-*/ | head -n1)
fi
src=${src%/}
[ -d "$src/validation" ] && [ -d "$src/cmd/runtimetest" ] ||
  { echo "oci-conformance: $src has no validation/ or cmd/runtimetest" >&2; exit 1; }

# ---- build ---------------------------------------------------------------------------------
deps=(golang-go golang-github-blang-semver-dev golang-github-google-uuid-dev golang-github-hashicorp-go-multierror-dev
      golang-github-mrunalp-fileutils-dev golang-github-opencontainers-selinux-dev golang-github-opencontainers-specs-dev
      golang-github-sirupsen-logrus-dev golang-github-urfave-cli-dev golang-github-xeipuuv-gojsonschema-dev
      golang-gocapability-dev golang-golang-x-sys-dev)
missing=()
for p in "${deps[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null

gopath=$work/gopath
mkdir -p "$gopath/src/github.com/opencontainers" "$gopath/src/github.com/mndrix/tap-go"
ln -sfn "$src" "$gopath/src/github.com/opencontainers/runtime-tools"
cat > "$gopath/src/github.com/mndrix/tap-go/tap.go" <<'EOF'
// Package tap stands in for github.com/mndrix/tap-go, which Debian does not package: the calls
// runtime-tools makes, writing TAP version 13. Written by scripts/oci-conformance.sh.
package tap

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

type T struct {
	next   *int
	todo   bool
	Writer io.Writer
}

func New() *T { n := 1; return &T{next: &n, Writer: os.Stdout} }

func (t *T) Header(n int) {
	fmt.Fprintln(t.Writer, "TAP version 13")
	if n > 0 {
		fmt.Fprintf(t.Writer, "1..%d\n", n)
	}
}

func (t *T) Ok(pass bool, description string) {
	word := "ok"
	if !pass {
		word = "not ok"
	}
	if t.todo {
		fmt.Fprintf(t.Writer, "%s %d # TODO %s\n", word, *t.next, description)
	} else {
		fmt.Fprintf(t.Writer, "%s %d - %s\n", word, *t.next, description)
	}
	*t.next++
}

func (t *T) Pass(description string) { t.Ok(true, description) }
func (t *T) Fail(description string) { t.Ok(false, description) }

func (t *T) Skip(count int, description string) {
	for i := 0; i < count; i++ {
		fmt.Fprintf(t.Writer, "ok %d # SKIP %s\n", *t.next, description)
		*t.next++
	}
}

func (t *T) Todo() *T { c := *t; c.todo = true; return &c }
func (t *T) Count() int { return *t.next - 1 }
func (t *T) AutoPlan() { fmt.Fprintf(t.Writer, "1..%d\n", t.Count()) }

func (t *T) Diagnostic(message string) {
	fmt.Fprintf(t.Writer, "# %s\n", strings.ReplaceAll(message, "\n", "\n# "))
}

func (t *T) Diagnosticf(format string, a ...interface{}) { t.Diagnostic(fmt.Sprintf(format, a...)) }

// YAML writes the value as an indented JSON block (JSON is YAML).
func (t *T) YAML(v interface{}) error {
	b, err := json.MarshalIndent(v, "  ", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(t.Writer, "  ---\n  %s\n  ...\n", b)
	return nil
}
EOF

export GO111MODULE=off GOPATH=$gopath:/usr/share/gocode GOCACHE=$work/gocache GOFLAGS=
run=$work/run
mkdir -p "$run"
(
  cd "$gopath/src/github.com/opencontainers/runtime-tools"
  # runtimetest runs inside the busybox bundle: static.
  [ -x "$run/runtimetest" ] || CGO_ENABLED=0 go build -tags "netgo osusergo" -o "$run/runtimetest" ./cmd/runtimetest
  for dir in validation/*/; do
    name=$(basename "$dir")
    [ "$name" = util ] && continue
    [ -x "$run/bin/$name.t" ] || CGO_ENABLED=0 go build -o "$run/bin/$name.t" "./$dir"
  done
)

bash "$top/scripts/make-rootfs.sh" >/dev/null
[ -f "$run/rootfs-amd64.tar.gz" ] || tar -C "$top/var/rootfs/busybox" -czf "$run/rootfs-amd64.tar.gz" .

# ---- run -----------------------------------------------------------------------------------
[ ${#tests[@]} -gt 0 ] || mapfile -t tests < <(cd "$run/bin" && ls *.t | sed 's/\.t$//')
runtimes=("cryo=$cryo")
[ $use_runc = 1 ] && command -v runc >/dev/null && runtimes+=("runc=$(command -v runc)")

cleanup_after_test() {
  local tmp=$1
  # Mounts a runtime made in the host's own mount namespace, deepest first.
  awk -v t="$tmp/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "${tmp:?}"/* 2>/dev/null || true
  for h in /sys/fs/cgroup/*/testdir /sys/fs/cgroup/testdir; do
    [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

# verdict: pass (exit 0, no `not ok`, no error), fail, timeout. Tests that only check for an
# error print no TAP when they pass.
for rt in "${runtimes[@]}"; do
  name=${rt%%=*} bin=${rt#*=}
  out=$work/results/$name
  rm -rf "$out" && mkdir -p "$out"
  tmp=$work/tmp-$name
  mkdir -p "$tmp"
  for t in "${tests[@]}"; do
    [ -x "$run/bin/$t.t" ] || { echo "oci-conformance: no test $t" >&2; continue; }
    rc=0
    (cd "$run" && TMPDIR=$tmp RUNTIME=$bin timeout -k 5 60 "$run/bin/$t.t" >"$out/$t.tap" 2>"$out/$t.err") || rc=$?
    cleanup_after_test "$tmp"
    ok=$(grep -E '^ok' "$out/$t.tap" | grep -vc '# SKIP' || true)
    notok=$(grep -c '^not ok' "$out/$t.tap" || true)
    skip=$(grep -c '# SKIP' "$out/$t.tap" || true)
    # Some tests (the hook ones) report a failure only as an "error" in a YAML block, with no
    # test line at all.
    yaml_error=0
    [ "$ok$notok" = 00 ] && grep -qE '"error": "[^"]' "$out/$t.tap" && yaml_error=1
    if [ $rc = 124 ] || [ $rc = 137 ]; then verdict=timeout
    elif [ $rc = 0 ] && [ "$notok" = 0 ] && [ $yaml_error = 0 ]; then verdict=pass
    else verdict=fail; fi
    echo "$t $verdict $ok $notok $skip $rc" >> "$out/summary.txt"
  done
done

# ---- table ---------------------------------------------------------------------------------
printf '%-32s' test
for rt in "${runtimes[@]}"; do printf ' %-26s' "${rt%%=*} verdict ok/notok/skip"; done
printf '\n'
for t in "${tests[@]}"; do
  printf '%-32s' "$t"
  for rt in "${runtimes[@]}"; do
    line=$(awk -v t="$t" '$1 == t' "$work/results/${rt%%=*}/summary.txt")
    set -- $line
    [ -n "$line" ] && printf ' %-26s' "$2 $3/$4/$5" || printf ' %-26s' -
  done
  printf '\n'
done
for rt in "${runtimes[@]}"; do
  n=${rt%%=*}
  echo "$n: $(awk '$2 == "pass"' "$work/results/$n/summary.txt" | wc -l) of $(wc -l < "$work/results/$n/summary.txt") pass" \
       "(TAP and stderr per test: $work/results/$n/)"
done
