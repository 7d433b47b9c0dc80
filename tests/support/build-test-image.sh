#!/usr/bin/env bash
# Builds the tiny local image the Docker tests run (no registry is reachable, so nothing
# can be pulled): a root filesystem holding Debian's busybox-static, imported with
# `docker import`. The container serves HTTP with busybox httpd so it keeps running.
# Idempotent: does nothing when the image exists.
set -euo pipefail
image="${1:-homelabd-test/busybox:1}"
if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
busybox=""
for candidate in /bin/busybox /usr/bin/busybox; do
  if [ -x "$candidate" ] && file "$candidate" 2>/dev/null | grep -q 'statically linked'; then
    busybox="$candidate"
  fi
done
if [ -z "$busybox" ]; then
  (cd "$work" && apt-get download busybox-static >/dev/null 2>&1) || {
    echo "build-test-image: cannot download Debian's busybox-static (apt-get download)" >&2
    exit 1
  }
  dpkg-deb -x "$work"/busybox-static_*.deb "$work/deb"
  busybox="$work/deb/bin/busybox"
fi
root="$work/rootfs"
mkdir -p "$root/bin" "$root/www" "$root/tmp" "$root/data"
cp "$busybox" "$root/bin/busybox"
for applet in sh sleep httpd cat echo ls env; do
  ln -s busybox "$root/bin/$applet"
done
echo "homelabd test image" >"$root/www/index.html"
tar -C "$root" -c . | docker import \
  --change 'CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]' \
  - "$image" >/dev/null
echo "build-test-image: built $image"
