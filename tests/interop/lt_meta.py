#!/usr/bin/python3
"""Helpers for the metadata-exchange (BEP 9 / BEP 10) interop tests of meta-fetch.

Run by /usr/bin/python3 (the only interpreter that sees the Debian python3-libtorrent) from
tests/interop-meta-*.sh.  Everything it opens is on 127.0.0.0/8: each subcommand refuses a
non-loopback address.  Every wait has a deadline; nothing sleeps a fixed time.

Subcommands:
  make OUTDIR --single|--multi
        Content with deterministic pseudo-random bytes in OUTDIR/data/ and a v1-only torrent,
        piece size 16 KiB, no trackers, not private: OUTDIR/single.torrent (one 27 MB file;
        1,700 pieces, info dict ~34 KB = 3 metadata pieces, the last one short) or
        OUTDIR/multi.torrent (4 files in nested directories, one of them with a non-ASCII
        UTF-8 name; 14 MB, ~900 pieces, info dict ~18 KB = 2 metadata pieces).  Prints the
        info-hash (hex).  Same bytes and same info-hash every run.
  seed TORRENT DATADIR IP PORT [--add TORRENT]... [--time S] [--plain]
        One libtorrent session on IP:PORT (DHT, LSD, UPnP, NAT-PMP off) seeding the torrents
        (seed mode; all their data under DATADIR).  Prints "ready" once the listen socket is
        up and every torrent is seeding; then runs until stdin reaches EOF, SIGTERM/SIGINT, or
        S seconds (default 60) pass.  --plain: accept plaintext connections only (no MSE).
  fetch INFOHASH IP PORT OUTFILE [--bind IP] [--timeout S] [--enc enabled|disabled] [--utp]
        A libtorrent session on --bind (default 127.0.61.2, an ephemeral port) adds a magnet
        for INFOHASH (no trackers, DHT off), connect_peer((IP, PORT)), waits for the metadata
        (default 20 s), checks SHA-1(info) == INFOHASH and writes OUTFILE as a torrent file
        "d4:info<exact info bytes>e".  Exit 0 done, 1 timeout / wrong metadata.  --enc
        disabled: plaintext handshake only (default enabled: libtorrent tries MSE first and
        retries in plaintext, as it does on the Internet).  Outgoing uTP is off unless --utp
        (libtorrent's connect_peer prefers uTP; meta-fetch speaks TCP).
  compare A B
        Exit 0 when the info dicts of A and B are byte-identical.  A file is a torrent (its
        top-level "info" value, as raw bytes) or a bare info dict.
  open TORRENT [INFOHASH]
        Exit 0 when lt.torrent_info(TORRENT) opens it (and its v1 info-hash is INFOHASH).
  check ORIG.torrent NDJSON [--torrent-dir DIR] [--peer ADDR]
        Check meta-fetch's NDJSON output (file NDJSON) for ORIG's info-hash: one line,
        status ok, and name, length, files, piece_length, private, metadata_size, peer,
        fetch_ms, torrent as ORIG says; DIR/<hex>.torrent has ORIG's exact info bytes and
        opens in libtorrent.  Prints one line per problem.  Exit 0 all right, 1 otherwise.
  check-error INFOHASH NDJSON
        Exit 0 when NDJSON has exactly one line for INFOHASH, with status "error" and an
        "error" string.
  tracker IP PORT PEER_IP:PEER_PORT [--time S]
        A static HTTP tracker: every GET answers a compact peer list holding just that peer.
        Prints "ready" when listening; stops like seed (stdin EOF, signal, --time, def. 60).
  wait-line FILE TEXT TIMEOUT
        Exit 0 as soon as FILE contains a line containing TEXT; 1 after TIMEOUT seconds.
  wait-port IP PORT TIMEOUT [--from SRCIP]
        Exit 0 as soon as a TCP connect to IP:PORT (from SRCIP) succeeds; 1 after TIMEOUT s.

Exit status: 0 ok, 1 failure, 2 usage, 77 libtorrent missing (for the subcommands that need
it), 99 setup error (address in use, bad file).
"""
import argparse
import hashlib
import http.server
import ipaddress
import json
import os
import random
import signal
import socket
import sys
import tempfile
import threading
import time

lt = None


def need_lt():
    global lt
    if lt is None:
        try:
            import libtorrent
        except ImportError as e:
            print("lt_meta: SKIP: cannot import libtorrent (%s); install python3-libtorrent, "
                  "run with /usr/bin/python3" % e, file=sys.stderr)
            sys.exit(77)
        lt = libtorrent
    return lt


T0 = time.monotonic()
PIECE = 16 * 1024


def log(msg):
    print("lt_meta[%5.2fs]: %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


def loopback(ip):
    try:
        if not ipaddress.ip_address(ip).is_loopback:
            raise ValueError
    except ValueError:
        print("lt_meta: %s is not a loopback address; refusing" % ip, file=sys.stderr)
        sys.exit(2)
    return ip


class Stop(Exception):
    pass


def on_signal(signum, frame):
    raise Stop("signal %d" % signum)


def watch_stdin(ev):
    """Set ev when stdin reaches EOF: the test script holds the write end of a FIFO, so even
    a SIGKILLed script ends us."""
    def run():
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        ev.set()
    threading.Thread(target=run, daemon=True).start()


def run_until_stopped(ev, seconds, tick=None):
    end = time.monotonic() + seconds
    try:
        while not ev.is_set() and time.monotonic() < end:
            if tick:
                tick()
            ev.wait(0.1)
    except Stop as e:
        log("stopping: %s" % e)
        return
    log("stopping: %s" % ("stdin closed" if ev.is_set() else "%g s passed" % seconds))


# --- bencode, with the raw byte span of the top-level values --------------------------------

def bdec(buf, i=0):
    """Decode the bencoded value at buf[i:]; return (value, end).  Dict keys stay bytes."""
    c = buf[i:i + 1]
    if c == b"i":
        j = buf.index(b"e", i)
        return int(buf[i + 1:j]), j + 1
    if c == b"l":
        i, out = i + 1, []
        while buf[i:i + 1] != b"e":
            v, i = bdec(buf, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i, out = i + 1, {}
        while buf[i:i + 1] != b"e":
            k, i = bdec(buf, i)
            if not isinstance(k, bytes):
                raise ValueError("non-string dict key")
            out[k], i = bdec(buf, i)
        return out, i + 1
    if c.isdigit():
        j = buf.index(b":", i)
        n = int(buf[i:j])
        if j + 1 + n > len(buf):
            raise ValueError("string past the end")
        return buf[j + 1:j + 1 + n], j + 1 + n
    raise ValueError("bad bencode at %d" % i)


def info_bytes(path):
    """The exact bytes of the torrent's "info" value; a bare info dict is returned whole."""
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:1] != b"d":
        raise ValueError("%s: not a bencoded dict" % path)
    i = 1
    while buf[i:i + 1] != b"e":
        k, i = bdec(buf, i)
        start = i
        _, i = bdec(buf, i)
        if k == b"info":
            return buf[start:i]
    d, end = bdec(buf, 0)
    if b"pieces" in d and b"piece length" in d:
        return buf[:end]
    raise ValueError("%s: no info dict" % path)


def info_facts(info_raw):
    """name, total length, files [(path, length)] (no pad files), piece length, private."""
    d, _ = bdec(info_raw)
    name = d[b"name"].decode("utf-8")
    if b"files" in d:
        files = []
        for f in d[b"files"]:
            if b"p" in f.get(b"attr", b""):
                continue  # BEP 47 pad file
            files.append(("/".join(p.decode("utf-8") for p in f[b"path"]), f[b"length"]))
        length = sum(n for _, n in files)
        single = False
    else:
        files, length, single = [(name, d[b"length"])], d[b"length"], True
    return {"name": name, "length": length, "files": files, "single": single,
            "piece_length": d[b"piece length"], "private": d.get(b"private", 0) == 1,
            "pad_files": sum(1 for f in d.get(b"files", []) if b"p" in f.get(b"attr", b""))}


# --- make -------------------------------------------------------------------------------------

def content(seed, n):
    return random.Random(seed).randbytes(n)


SINGLE = ("bitscrape-single.bin", [("", 1700 * PIECE - 1234)])
MULTI = ("bitscrape-multi", [
    ("a/b/c.bin", 5 * 1024 * 1024 + 123),
    ("a/ünïcødé/日本語 ファイル.txt", 2 * 1024 * 1024 + 7),
    ("d/e.dat", 7 * 1024 * 1024 - 5000),
    ("top.txt", 1000),
])


def cmd_make(a):
    need_lt()
    name, files = SINGLE if a.single else MULTI
    data = os.path.join(a.outdir, "data")
    os.makedirs(data, exist_ok=True)
    fs = lt.file_storage()
    for i, (rel, size) in enumerate(files):
        path = os.path.join(data, name, rel) if rel else os.path.join(data, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content("%s/%d" % (name, i), size))
        fs.add_file(os.path.join(name, rel) if rel else name, size)
    ct = lt.create_torrent(fs, PIECE, flags=lt.create_torrent.v1_only)
    ct.set_creator("bitscrape interop")
    lt.set_piece_hashes(ct, data)
    raw = lt.bencode(ct.generate())
    out = os.path.join(a.outdir, "single.torrent" if a.single else "multi.torrent")
    with open(out, "wb") as f:
        f.write(raw)
    info = info_bytes(out)
    ih = hashlib.sha1(info).hexdigest()
    ti = lt.torrent_info(out)
    if str(ti.info_hashes().v1) != ih or ti.info_hashes().has_v2():
        log("libtorrent's info-hash %s != SHA-1 of the info bytes %s (or a v2 hash)"
            % (ti.info_hashes(), ih))
        return 99
    log("%s: %d files, %d pieces, info dict %d bytes (%d metadata pieces), %d pad files"
        % (out, ti.num_files(), ti.num_pieces(), len(info), (len(info) + PIECE - 1) // PIECE,
           info_facts(info)["pad_files"]))
    print(ih)
    return 0


# --- libtorrent sessions ----------------------------------------------------------------------

def lt_settings(listen):
    return {
        "listen_interfaces": listen,     # an explicit loopback IP, never 0.0.0.0
        "enable_dht": False,
        "dht_bootstrap_nodes": "",       # given to the constructor: the default is never used
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "active_seeds": 100,
        "active_limit": 100,
        "active_downloads": 100,
        "alert_mask": (lt.alert_category.error | lt.alert_category.status
                       | lt.alert_category.connect | lt.alert_category.peer),
    }


def cmd_seed(a):
    need_lt()
    loopback(a.ip)
    s = dict(lt_settings("%s:%d" % (a.ip, a.port)))
    if a.plain:
        s["in_enc_policy"] = s["out_enc_policy"] = int(lt.enc_policy.disabled)
    ses = lt.session(s)
    handles = []
    for t in [a.torrent] + a.add:
        ti = lt.torrent_info(t)
        handles.append(ses.add_torrent({"ti": ti, "save_path": a.datadir,
                                        "flags": lt.torrent_flags.seed_mode}))
    listening, errors = [False], []

    def pump():
        for al in ses.pop_alerts():
            if isinstance(al, lt.listen_succeeded_alert):
                if al.socket_type == lt.socket_type_t.tcp:
                    listening[0] = True
            elif isinstance(al, lt.listen_failed_alert):
                errors.append(al.message())
            elif isinstance(al, (lt.peer_connect_alert, lt.peer_disconnected_alert,
                                 lt.incoming_connection_alert)):
                log(al.message())
            elif al.category() & lt.alert_category.error:
                log("libtorrent: %s" % al.message())

    ev = threading.Event()
    watch_stdin(ev)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    end = time.monotonic() + 10
    try:
        while time.monotonic() < end and not errors:
            pump()
            if listening[0] and all(h.status().state == lt.torrent_status.seeding
                                    for h in handles):
                break
            time.sleep(0.02)
        else:
            log("not ready within 10 s: %s" % ("; ".join(errors) or "listening=%s, states %s" % (
                listening[0], [str(h.status().state) for h in handles])))
            return 99
        log("seeding %s on %s:%d" % (" ".join(str(h.info_hashes().v1) for h in handles),
                                      a.ip, a.port))
        print("ready", flush=True)
        run_until_stopped(ev, a.time, pump)
    except Stop as e:
        log("stopping: %s" % e)
    finally:
        ses.pause()
    return 0


def cmd_fetch(a):
    need_lt()
    loopback(a.ip)
    loopback(a.bind)
    s = lt_settings("%s:0" % a.bind)
    s["outgoing_interfaces"] = a.bind  # else TCP connections leave from 127.0.0.1
    if a.enc == "disabled":
        s["in_enc_policy"] = s["out_enc_policy"] = int(lt.enc_policy.disabled)
    if not a.utp:
        s["enable_outgoing_utp"] = False  # meta-fetch speaks TCP only
    ses = lt.session(s)
    tmp = tempfile.TemporaryDirectory(prefix="lt-meta-fetch-")
    atp = lt.parse_magnet_uri("magnet:?xt=urn:btih:%s" % a.infohash)
    atp.save_path = tmp.name
    # Do not start on the content once the metadata is in: we only want the info dict.
    atp.flags |= lt.torrent_flags.upload_mode
    t_start = time.monotonic()
    h = ses.add_torrent(atp)
    h.connect_peer((a.ip, a.port))
    got, end, next_connect = None, t_start + a.timeout, t_start + 2
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while time.monotonic() < end and got is None:
            for al in ses.pop_alerts():
                if isinstance(al, lt.metadata_received_alert):
                    got = al.handle.torrent_file()
                elif isinstance(al, lt.metadata_failed_alert):
                    log("metadata_failed: %s" % al.message())
                elif isinstance(al, (lt.peer_connect_alert, lt.peer_disconnected_alert,
                                     lt.peer_error_alert)):
                    log(al.message())
                elif al.category() & lt.alert_category.error:
                    log("libtorrent: %s" % al.message())
            now = time.monotonic()
            if got is None and now >= next_connect and not h.get_peer_info():
                h.connect_peer((a.ip, a.port))  # the peer may not have been up yet
                next_connect = now + 2
            if got is None:
                ses.wait_for_alert(100)
    except Stop as e:
        log("stopped: %s" % e)
        return 1
    finally:
        ses.pause()
    ms = (time.monotonic() - t_start) * 1000
    if got is None:
        log("no metadata for %s from %s:%d within %g s" % (a.infohash, a.ip, a.port, a.timeout))
        return 1
    info = bytes(got.info_section())
    if hashlib.sha1(info).hexdigest() != a.infohash.lower():
        log("metadata from %s:%d does not hash to %s" % (a.ip, a.port, a.infohash))
        return 1
    with open(a.outfile, "wb") as f:
        f.write(b"d4:info" + info + b"e")
    log("metadata of %s (%d bytes) from %s:%d in %.0f ms" % (a.infohash, len(info), a.ip,
                                                             a.port, ms))
    return 0


def cmd_compare(a):
    try:
        x, y = info_bytes(a.a), info_bytes(a.b)
    except (OSError, ValueError) as e:
        print("compare: %s" % e, file=sys.stderr)
        return 1
    if x == y:
        return 0
    n = next((i for i in range(min(len(x), len(y))) if x[i] != y[i]), min(len(x), len(y)))
    print("compare: info dicts differ: %d vs %d bytes, first difference at byte %d"
          % (len(x), len(y), n), file=sys.stderr)
    return 1


def open_in_lt(path, ih=None):
    """None if libtorrent opens path (with v1 info-hash ih), else what went wrong."""
    need_lt()
    try:
        ti = lt.torrent_info(path)
    except Exception as e:
        return "libtorrent cannot open %s: %s" % (path, e)
    if ih and str(ti.info_hashes().v1) != ih.lower():
        return "libtorrent opens %s with info-hash %s, want %s" % (path, ti.info_hashes().v1, ih)
    return None


def cmd_open(a):
    err = open_in_lt(a.torrent, a.infohash)
    if err:
        print("open: %s" % err, file=sys.stderr)
        return 1
    return 0


def cmd_check(a):
    info = info_bytes(a.orig)
    ih = hashlib.sha1(info).hexdigest()
    want = info_facts(info)
    bad = []
    lines = []
    with open(a.ndjson, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                lines.append(json.loads(raw))
            except ValueError:
                bad.append("line %d of the output is not JSON: %r" % (n, raw[:200]))
    mine = [o for o in lines if isinstance(o, dict) and o.get("infohash") == ih]
    if len(mine) != 1:
        bad.append("want exactly one output line with infohash %s, got %d (of %d lines)"
                   % (ih, len(mine), len(lines)))
    if mine:
        o = mine[0]

        def expect(key, value):
            if o.get(key) != value or type(o.get(key)) is not type(value):
                bad.append("%s: got %s, want %s" % (key, json.dumps(o.get(key)),
                                                    json.dumps(value, ensure_ascii=False)))

        expect("status", "ok")
        expect("name", want["name"])
        expect("length", want["length"])
        expect("piece_length", want["piece_length"])
        expect("private", want["private"])
        expect("metadata_size", len(info))
        if a.peer:
            expect("peer", a.peer)
        if not isinstance(o.get("fetch_ms"), int) or o["fetch_ms"] < 0:
            bad.append("fetch_ms: got %s, want an integer >= 0" % json.dumps(o.get("fetch_ms")))
        files = o.get("files")
        try:
            got = [(f["path"], f["length"]) for f in files]
        except (TypeError, KeyError):
            got = None
        # A single-file torrent may be listed as [] or as one file named after the torrent.
        # Pad files (BEP 47) may be listed or left out (make creates none anyway).
        ok = got == want["files"] or (want["single"] and got == [])
        if not ok and got is not None and want["pad_files"]:
            ok = [x for x in got if not x[0].startswith(".pad/")] == want["files"]
        if not ok:
            bad.append("files: got %s, want %s" % (json.dumps(files, ensure_ascii=False),
                                                   json.dumps([{"path": p, "length": n}
                                                               for p, n in want["files"]],
                                                              ensure_ascii=False)))
        if a.torrent_dir:
            path = os.path.join(a.torrent_dir, ih + ".torrent")
            expect("torrent", path)
            try:
                if info_bytes(path) != info:
                    bad.append("%s: its info dict is not the original's exact bytes" % path)
            except (OSError, ValueError) as e:
                bad.append("%s: %s" % (path, e))
            else:
                err = open_in_lt(path, ih)
                if err:
                    bad.append(err)
    for b in bad:
        print("check %s: %s" % (ih, b))
    if not bad:
        print("check %s: ok (%s, %d bytes, %d files, metadata %d bytes, fetch_ms %s)"
              % (ih, want["name"], want["length"], len(want["files"]), len(info),
                 mine[0].get("fetch_ms")))
    return 1 if bad else 0


def cmd_check_error(a):
    """One output line for INFOHASH, with status "error" and a non-empty "error" string."""
    ih = a.infohash.lower()
    mine = []
    with open(a.ndjson, "rb") as f:
        for raw in f:
            try:
                o = json.loads(raw)
            except ValueError:
                continue
            if isinstance(o, dict) and o.get("infohash") == ih:
                mine.append(o)
    if len(mine) == 1 and mine[0].get("status") == "error" and \
            isinstance(mine[0].get("error"), str) and mine[0]["error"]:
        print("check %s: ok (error: %s)" % (ih, mine[0]["error"]))
        return 0
    print("check %s: want one line with status \"error\" and an \"error\" string, got %s"
          % (ih, " ".join(json.dumps(o, ensure_ascii=False) for o in mine) or "no line"))
    return 1


# --- tracker ----------------------------------------------------------------------------------

def cmd_tracker(a):
    loopback(a.ip)
    pip, _, pport = a.peer.rpartition(":")
    loopback(pip)
    peers = socket.inet_aton(pip) + int(pport).to_bytes(2, "big")
    body = b"d8:completei1e10:incompletei0e8:intervali1800e12:min intervali1800e5:peers6:" \
        + peers + b"e"

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            log("tracker: GET %s from %s:%d" % (self.path[:120], *self.client_address[:2]))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    try:
        srv = http.server.ThreadingHTTPServer((a.ip, a.port), H)
    except OSError as e:
        log("tracker: cannot listen on %s:%d: %s" % (a.ip, a.port, e))
        return 99
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ev = threading.Event()
    watch_stdin(ev)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("ready", flush=True)
    try:
        run_until_stopped(ev, a.time)
    except Stop as e:
        log("stopping: %s" % e)
    srv.shutdown()
    return 0


# --- waits ------------------------------------------------------------------------------------

def cmd_wait_line(a):
    end = time.monotonic() + a.timeout
    while True:
        try:
            with open(a.file, "r", errors="replace") as f:
                if any(a.text in line for line in f):
                    return 0
        except OSError:
            pass
        if time.monotonic() >= end:
            return 1
        time.sleep(0.05)


def cmd_wait_port(a):
    loopback(a.ip)
    if a.source:
        loopback(a.source)
    end = time.monotonic() + a.timeout
    while True:
        try:
            socket.create_connection((a.ip, a.port), timeout=1,
                                     source_address=(a.source, 0) if a.source else None).close()
            return 0
        except OSError:
            pass
        if time.monotonic() >= end:
            return 1
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser(description="metadata-exchange interop helpers")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make")
    p.add_argument("outdir")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--single", action="store_true")
    g.add_argument("--multi", action="store_true")
    p.set_defaults(fn=cmd_make)
    p = sub.add_parser("seed")
    p.add_argument("torrent")
    p.add_argument("datadir")
    p.add_argument("ip")
    p.add_argument("port", type=int)
    p.add_argument("--add", action="append", default=[])
    p.add_argument("--time", type=float, default=60)
    p.add_argument("--plain", action="store_true")
    p.set_defaults(fn=cmd_seed)
    p = sub.add_parser("fetch")
    p.add_argument("infohash")
    p.add_argument("ip")
    p.add_argument("port", type=int)
    p.add_argument("outfile")
    p.add_argument("--bind", default="127.0.61.2")
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("--enc", choices=("enabled", "disabled"), default="enabled")
    p.add_argument("--utp", action="store_true")
    p.set_defaults(fn=cmd_fetch)
    p = sub.add_parser("compare")
    p.add_argument("a")
    p.add_argument("b")
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("open")
    p.add_argument("torrent")
    p.add_argument("infohash", nargs="?")
    p.set_defaults(fn=cmd_open)
    p = sub.add_parser("check")
    p.add_argument("orig")
    p.add_argument("ndjson")
    p.add_argument("--torrent-dir")
    p.add_argument("--peer")
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("check-error")
    p.add_argument("infohash")
    p.add_argument("ndjson")
    p.set_defaults(fn=cmd_check_error)
    p = sub.add_parser("tracker")
    p.add_argument("ip")
    p.add_argument("port", type=int)
    p.add_argument("peer")
    p.add_argument("--time", type=float, default=60)
    p.set_defaults(fn=cmd_tracker)
    p = sub.add_parser("wait-line")
    p.add_argument("file")
    p.add_argument("text")
    p.add_argument("timeout", type=float)
    p.set_defaults(fn=cmd_wait_line)
    p = sub.add_parser("wait-port")
    p.add_argument("ip")
    p.add_argument("port", type=int)
    p.add_argument("timeout", type=float)
    p.add_argument("--from", dest="source")
    p.set_defaults(fn=cmd_wait_port)
    a = ap.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
