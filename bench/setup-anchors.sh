#!/bin/sh
# Unpacks the reference implementation's Python binding (Debian's
# python3-safetensors: the safetensors Rust crate compiled into a Python
# extension) into bench/.deps/python, for the anchor rows of
# `go run ./cmd/compare -ops anchors`. Nothing is installed system-wide.
#
# Debian has no package of the crate as a Rust library (no
# librust-safetensors-dev in bookworm, trixie or sid), and Debian 12
# (bookworm) has no python3-safetensors either: the package is taken from
# Debian unstable (sid; 0.8.0 when this was written) with apt-get download
# and a private package list. Its extension is built for the stable ABI
# (abi3), so bookworm's Python 3.11 loads it once it also has the name
# Python 3.11 looks for. (Trixie's 0.4.5 is built for Python 3.13 only.)
#
# torch.load's rows need Debian's python3-torch (apt-get install
# python3-torch).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest=$here/.deps/python
if /usr/bin/python3 -c 'import safetensors' 2>/dev/null; then
	echo "setup-anchors: the binding is installed already; nothing to do"
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" >"$work/sources.list"
apt_opts="-o Dir::Etc::sourcelist=$work/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o APT::Sandbox::User=root"
# shellcheck disable=SC2086
apt-get -q $apt_opts update >/dev/null
# shellcheck disable=SC2086
(cd "$work" && apt-get -q $apt_opts download python3-safetensors)
rm -rf "$here/.deps/root"
mkdir -p "$here/.deps/root"
dpkg-deb -x "$work"/python3-safetensors_*.deb "$here/.deps/root"
rm -rf "$dest"
mkdir -p "$dest"
cp -r "$here/.deps/root/usr/lib/python3/dist-packages/"* "$dest/"
rm -rf "$here/.deps/root"
for so in "$dest"/safetensors/_safetensors_rust.abi3-*.so; do
	if [ ! -e "$so" ]; then
		echo "setup-anchors: the package's extension is not built for the stable ABI; this Python cannot load it" >&2
		exit 1
	fi
	cp "$so" "$dest/safetensors/_safetensors_rust.abi3.so"
done
PYTHONPATH=$dest /usr/bin/python3 -c 'import safetensors; print("setup-anchors: safetensors", safetensors.__version__, "in", "'"$dest"'")'
