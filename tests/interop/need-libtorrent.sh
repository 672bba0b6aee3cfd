# need-libtorrent.sh - sourced by the interop tests: exits 77 (SKIP) unless $PYTHON (default
# /usr/bin/python3) imports libtorrent.  Debian's python3-libtorrent is visible to the system
# Python only, so another python3 earlier on the PATH would not do.
PYTHON=${INTEROP_PYTHON:-/usr/bin/python3}
if [ ! -x "$PYTHON" ]; then
	echo "SKIP: $PYTHON not found (install python3 and python3-libtorrent)"
	exit 77
fi
if ! err=$("$PYTHON" -c 'import libtorrent' 2>&1); then
	echo "SKIP: $PYTHON cannot import libtorrent: $(printf '%s\n' "$err" | tail -n 1)"
	echo "      (Debian: apt-get install python3-libtorrent; it is visible to /usr/bin/python3 only)"
	exit 77
fi
