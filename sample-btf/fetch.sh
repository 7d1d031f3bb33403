#!/usr/bin/env bash
# Regenerate sample-btf/*.btf.xz from Debian's kernel packages.
#
# Run as root on Debian (needs apt-get, xz, sha256sum and the debian-archive-keyring package).
# It sets up a private apt configuration in a temporary directory (the system's sources and
# package lists are not touched), downloads the exact package versions listed below, extracts
# the kernel's .BTF with `bpfls btf extract` and writes sample-btf/<name>.btf.xz.
#
# Environment:
#   DEB_DIR  a directory already holding some of the .deb files (their sha256 is checked)
#   BPFLS    the bpfls command (default: `bpfls`, else `python3 -m bpfls` from this tree)
#   MIRROR   Debian mirror (default: http://deb.debian.org/debian)
#
# Debian drops superseded kernel versions from the suites; if a download fails, fetch the
# .deb from https://snapshot.debian.org/ and pass its directory as DEB_DIR.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mirror=${MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# name  package  version  architecture  suite  sha256 of the .deb
kernels=(
  "5.10-amd64 linux-image-5.10.0-32-amd64 5.10.223-1 amd64 bullseye 86a6792f3a03ab15a643f385830cdaa921f15e3e9c8bf63aa55a9243c62fc797"
  "6.1-amd64 linux-image-6.1.0-50-amd64 6.1.176-1 amd64 bookworm 7b5597492a0a65aee61985a492e6bcc3f2cde830072a0e3b3d8c7e1b90279bd3"
  "6.12-amd64 linux-image-6.12.117+deb13-amd64 6.12.117-1 amd64 trixie ca712d36790184f6ac125ce2b20ea4e2202ae6bb7817b7de268f1f0115ccda73"
  "6.12-arm64 linux-image-6.12.117+deb13-arm64 6.12.117-1 arm64 trixie 73805585385c78e048e63fdfba66da36bab724c2cdebd96a3055a8a4f1ae287a"
)

if [ -n "${BPFLS:-}" ]; then
  read -r -a bpfls <<<"$BPFLS"
elif command -v bpfls >/dev/null; then
  bpfls=(bpfls)
else
  export PYTHONPATH="$here/../server${PYTHONPATH:+:$PYTHONPATH}"
  bpfls=(python3 -m bpfls)
fi

for tool in apt-get xz sha256sum; do
  command -v "$tool" >/dev/null || { echo "fetch.sh: $tool is required" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
debs="$work/debs"
mkdir -p "$debs"

deb_file() {  # package version arch -> the file name apt-get download gives it
  local v=${2//:/%3a}
  echo "${1}_${v}_${3}.deb"
}

# Reuse .debs from DEB_DIR when present and intact.
missing=()
for k in "${kernels[@]}"; do
  read -r name pkg ver arch suite sum <<<"$k"
  f=$(deb_file "$pkg" "$ver" "$arch")
  if [ -n "${DEB_DIR:-}" ] && [ -f "$DEB_DIR/$f" ]; then
    if [ "$(sha256sum "$DEB_DIR/$f" | cut -d' ' -f1)" != "$sum" ]; then
      echo "fetch.sh: $DEB_DIR/$f does not have the expected sha256 $sum" >&2
      exit 1
    fi
    ln -s "$(realpath "$DEB_DIR/$f")" "$debs/$f"
  else
    missing+=("$k")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ ! -r "$keyring" ]; then
    echo "fetch.sh: $keyring is missing (apt-get install debian-archive-keyring)" >&2
    exit 1
  fi
  apt="$work/apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
  suites=$(for k in "${kernels[@]}"; do read -r _ _ _ _ s _ <<<"$k"; echo "$s"; done | sort -u)
  for s in $suites; do
    echo "deb [arch=amd64,arm64 signed-by=$keyring] $mirror $s main"
  done >"$apt/sources.list"
  opts=(
    -o "Dir::Etc::SourceList=$apt/sources.list"
    -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt/lists"
    -o "Dir::Cache=$apt/cache"
    -o APT::Architectures::=amd64
    -o APT::Architectures::=arm64
    -o APT::Sandbox::User=root
  )
  apt-get "${opts[@]}" -q update
  specs=()
  for k in "${missing[@]}"; do
    read -r name pkg ver arch suite sum <<<"$k"
    specs+=("$pkg:$arch=$ver")
  done
  (cd "$debs" && apt-get "${opts[@]}" -q download "${specs[@]}")
  for k in "${missing[@]}"; do
    read -r name pkg ver arch suite sum <<<"$k"
    f=$(deb_file "$pkg" "$ver" "$arch")
    got=$(sha256sum "$debs/$f" | cut -d' ' -f1)
    if [ "$got" != "$sum" ]; then
      echo "fetch.sh: warning: $f has sha256 $got, not $sum (rebuilt package?)" >&2
    fi
  done
fi

for k in "${kernels[@]}"; do
  read -r name pkg ver arch suite sum <<<"$k"
  "${bpfls[@]}" btf extract "$debs/$(deb_file "$pkg" "$ver" "$arch")" -o "$here/$name.btf.xz"
done

echo
printf '%-18s %-7s %-9s %s\n' file types "raw bytes" "sha256 of the .xz, then of the raw BTF"
for k in "${kernels[@]}"; do
  read -r name pkg ver arch suite sum <<<"$k"
  out="$here/$name.btf.xz"
  raw="$work/$name.btf"
  xz -dc "$out" >"$raw"
  types=$("${bpfls[@]}" btf info "$raw" | awk '/^types:/ {print $2}')
  printf '%-18s %-7s %-9s %s\n' "$name.btf.xz" "$types" "$(stat -c %s "$raw")" \
    "$(sha256sum "$out" | cut -d' ' -f1)"
  printf '%-18s %-7s %-9s %s\n' "" "" "" "$(sha256sum "$raw" | cut -d' ' -f1)"
done
