#!/usr/bin/python3
"""A swarm of libtorrent-rasterbar sessions for the crawl interop test (interop-crawl-libtorrent.sh).

Run by /usr/bin/python3 (the only interpreter that sees the Debian python3-libtorrent).  Every
address it opens is on 127.0.0.0/8 (it refuses any other base); every wait has a deadline.

  lt_swarm.py swarm [--base 127.0.67] [--port 6881] [--sessions S] [--torrents T]
                    [--sample-interval N] [--time MAX] [--stats FILE] DATADIR READY.json
        S sessions (default 10) in this one process, session i on BASE.i:PORT (i = 1..S), DHT
        on, bootstrapped from each other (add_dht_node + a random dht_get_peers each).  Then
        each session makes T (default 3) small v1 torrents over random content under DATADIR
        (the first single-file, the others multi-file), seeds them (seed mode) and announces
        them (force_dht_announce).  Once every announce is stored by another node (that
        session's dht_announce_alert names it and its seeder) it writes READY.json (by rename):
          {"bootstrap":["BASE.1:PORT",...],"port":PORT,"sample_interval":N,
           "torrents":[{"infohash":HEX,"name":..,"length":..,"single":bool,
                        "files":[{"path":..,"length":..}],"seeder":"BASE.i:PORT"}]}
        and serves DHT and metadata until stdin reaches EOF, SIGTERM/SIGINT, or MAX seconds
        (default 180) pass.  At the end it prints (stderr, and to FILE with --stats) what the
        sessions' DHT counters say: packets in, packets dropped, and the IPs libtorrent's DoS
        blocker banned ("BANNING PEER" in its DHT log), as one JSON line.
        libtorrent's defences are left at their defaults (dht_block_ratelimit = 5, i.e. more
        than 50 packets from one IP within ~10 s gets that IP ignored for 5 minutes;
        dht_upload_rate_limit = 8000 B/s): a crawler that passes has stayed under them.
        Exit: 0 ok, 77 no libtorrent, 99 the swarm did not come up (bind, bootstrap, announce).

  lt_swarm.py watch READY.json CRAWL.ndjson PIDFILE [--timeout S]
        Exit 0 once CRAWL lists every torrent of READY, after sending SIGTERM to the process
        whose id is in PIDFILE (dht-crawl, which then stops with status 143); exit 1 if that
        process ends first or S seconds (default 120) pass.

  lt_swarm.py check READY.json CRAWL.ndjson META.ndjson [--crawl-seconds S]
        Every torrent of READY must be in CRAWL (dht-crawl's lines, by "infohash") and have a
        status "ok" line in META (meta-fetch's) whose name and files (path, length) equal the
        swarm's.  Prints one line per torrent that is not right, and a summary line.  Exit 0
        all right, 1 otherwise.
"""
import argparse
import ipaddress
import json
import os
import random
import re
import signal
import sys
import threading
import time

T0 = time.monotonic()
PIECE = 16 * 1024
lt = None


def need_lt():
    global lt
    if lt is None:
        try:
            import libtorrent
        except ImportError as e:
            print("lt_swarm: SKIP: cannot import libtorrent (%s); install python3-libtorrent, "
                  "run with /usr/bin/python3" % e, file=sys.stderr)
            sys.exit(77)
        lt = libtorrent
    return lt


def log(msg):
    print("lt_swarm[%5.1fs]: %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


class Stop(Exception):
    pass


class SetupError(Exception):
    pass


def on_signal(signum, frame):
    raise Stop("signal %d" % signum)


def lt_settings(ip, port, sample_interval):
    return {
        # An explicit IP: with 0.0.0.0 libtorrent 2.0 runs no DHT on the loopback socket.
        "listen_interfaces": "%s:%d" % (ip, port),
        # That port or fail (address in use: another swarm runs): by default libtorrent tries
        # the next 10 ports and would join the other swarm under our names.
        "max_retry_port_bind": 0,
        "listen_system_port_fallback": False,
        "enable_dht": True,
        # The default bootstrap node is off the machine; given to the constructor, never used.
        "dht_bootstrap_nodes": "",
        # Else one node per /24 in routing tables and lookups: all of us share 127.0.67.0/24.
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        # These multicast or talk to the router, i.e. leave loopback.
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        # Only active torrents announce; by default only a few seeds are active.
        "active_seeds": 1000,
        "active_limit": 1000,
        "active_downloads": 1000,
        "active_dht_limit": 1000,
        # BEP 51: the sample is cached this many seconds (default 21,600); 0 = a fresh random
        # sample of at most 20 per request, so that a node storing more than 20 torrents shows
        # them all to a crawler that asks again.
        "dht_sample_infohashes_interval": sample_interval,
        # The crawler's meta-fetch connects from 127.0.0.1, several torrents at once.
        "allow_multiple_connections_per_ip": True,
        # dht_operation: dht_get_peers_reply_alert; dht_log: the DoS blocker's "BANNING PEER".
        "alert_mask": (lt.alert_category.dht | lt.alert_category.dht_operation
                       | lt.alert_category.dht_log | lt.alert_category.error
                       | lt.alert_category.status),
        # dht_log alerts come by the thousand: a short queue would drop the others.
        "alert_queue_size": 100000,
        # Left at their defaults on purpose, as a peer on the Internet would meet them:
        # dht_block_ratelimit (5), dht_block_timeout (300), dht_upload_rate_limit (8000).
    }


class Swarm:
    def __init__(self, a):
        self.a = a
        self.ips = ["%s.%d" % (a.base, i + 1) for i in range(a.sessions)]
        self.sessions = []
        self.listening = [False] * a.sessions
        self.errors = []
        self.table = [0] * a.sessions
        self.peers = [dict() for _ in self.ips]   # ih hex -> set of (ip, port) from get_peers
        self.announced = [dict() for _ in self.ips]  # ih hex -> {(ip, port)} announced to us
        self.banned = {}                          # "session ip" -> {banned ip: count}
        self.counters = [None] * a.sessions
        self.dropped_alerts = 0
        self.torrents = []                        # dicts of the ready file, + "handle", "owner"
        self.metric = {m.name: m.value_index for m in lt.session_stats_metrics()}

    def start(self):
        for ip in self.ips:
            self.sessions.append(lt.session(lt_settings(ip, self.a.port, self.a.sample_interval)))

    def pump(self):
        for i, s in enumerate(self.sessions):
            for al in s.pop_alerts():
                self.alert(i, al)

    def alert(self, i, al):
        if isinstance(al, lt.dht_log_alert):
            m = al.log_message()
            if "BANNING" in m:
                ip = re.search(r"ip:\s*([0-9a-fA-F.:]+)", m)
                ip = ip.group(1) if ip else m
                d = self.banned.setdefault(self.ips[i], {})
                d[ip] = d.get(ip, 0) + 1
                log("%s: libtorrent's DoS blocker: %s" % (self.ips[i], m.strip()))
        elif isinstance(al, lt.dht_announce_alert):
            self.announced[i].setdefault(str(al.info_hash), set()).add((str(al.ip), al.port))
        elif isinstance(al, lt.dht_get_peers_reply_alert):
            self.peers[i].setdefault(str(al.info_hash), set()).update(
                (ip, port) for ip, port in al.peers())
        elif isinstance(al, lt.dht_stats_alert):
            self.table[i] = sum(b["num_nodes"] for b in al.routing_table)
        elif isinstance(al, lt.session_stats_alert):
            self.counters[i] = al.values
        elif isinstance(al, lt.listen_succeeded_alert):
            if al.port != self.a.port:
                self.errors.append("%s: listening on port %d, not %d" % (
                    self.ips[i], al.port, self.a.port))
            elif al.socket_type == lt.socket_type_t.tcp:
                self.listening[i] = True
        elif isinstance(al, lt.listen_failed_alert):
            self.errors.append("%s: %s" % (self.ips[i], al.message()))
        elif isinstance(al, lt.alerts_dropped_alert):
            self.dropped_alerts += 1
            if self.dropped_alerts <= 3:
                log("%s: %s" % (self.ips[i], al.message()))
        elif al.category() & lt.alert_category.error:
            log("%s: libtorrent: %s" % (self.ips[i], al.message()))

    def ask_stats(self):
        for s in self.sessions:
            s.post_dht_stats()

    def wait_for(self, cond, timeout, every=None, period=0.5, stop=None):
        end = time.monotonic() + timeout
        nxt = 0.0
        while True:
            now = time.monotonic()
            if every and now >= nxt:
                every()
                nxt = now + period
            self.pump()
            v = cond()
            if v or now >= end or (stop is not None and stop.is_set()):
                return v
            time.sleep(0.05)

    def close(self):
        for s in self.sessions:
            try:
                s.pause()
            except Exception:
                pass


def bootstrap(sw):
    n = len(sw.sessions)
    if not sw.wait_for(lambda: all(sw.listening) or sw.errors, 10) or sw.errors:
        raise SetupError("listen: %s" % ("; ".join(sw.errors[:2]) + (
            " (and %d more)" % (len(sw.errors) - 2) if len(sw.errors) > 2 else "")
            if sw.errors else "not all sessions listening within 10 s"))
    for i, s in enumerate(sw.sessions):
        for d in (1, 2, 3):
            if d < n:
                s.add_dht_node((sw.ips[(i + d) % n], sw.a.port))
    want = min(3, n - 1)
    sw.wait_for(lambda: all(t >= want for t in sw.table), 10, sw.ask_stats)
    for s in sw.sessions:
        s.dht_get_peers(lt.sha1_hash(os.urandom(20)))
    want = max(1, n - 2)
    ok = sw.wait_for(lambda: all(t >= want for t in sw.table), 20, sw.ask_stats)
    log("routing tables: %s nodes" % sw.table)
    if not ok:
        raise SetupError("the sessions did not find each other within 30 s (tables %s)"
                         % sw.table)


def make_torrents(sw, datadir):
    rnd = random.Random(os.urandom(16))
    tag = os.urandom(3).hex()   # a new set of names (and info-hashes) every run
    for i, s in enumerate(sw.sessions):
        for j in range(sw.a.torrents):
            name = "bitscrape-swarm-%s-s%02d-t%d" % (tag, i + 1, j)
            if j == 0:
                files = [("", rnd.randrange(1000, 50000))]
                name += ".bin"
            else:
                files = [("f%d/part-%d.dat" % (k % 2, k), rnd.randrange(100, 40000))
                         for k in range(1 + j)]
                files.append(("readme-%d.txt" % j, rnd.randrange(10, 500)))
            fs = lt.file_storage()
            for rel, size in files:
                path = os.path.join(datadir, name, rel) if rel else os.path.join(datadir, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(os.urandom(size))
                fs.add_file(os.path.join(name, rel) if rel else name, size)
            ct = lt.create_torrent(fs, PIECE, flags=lt.create_torrent.v1_only)
            ct.set_creator("bitscrape interop swarm")
            lt.set_piece_hashes(ct, datadir)
            ti = lt.torrent_info(lt.bdecode(lt.bencode(ct.generate())))
            h = s.add_torrent({"ti": ti, "save_path": datadir,
                               "flags": lt.torrent_flags.seed_mode})
            single = files[0][0] == ""
            sw.torrents.append({
                "infohash": str(ti.info_hashes().v1), "name": name,
                "length": sum(n for _, n in files), "single": single,
                "files": [{"path": name if single else rel, "length": n} for rel, n in files],
                "seeder": "%s:%d" % (sw.ips[i], sw.a.port),
                "handle": h, "owner": i})


def announce(sw, stop):
    """force_dht_announce every torrent, and wait until another session has stored it: its
    dht_announce_alert (an announce_peer received) names the torrent and the seeder's address.
    No lookups of our own: the sessions' DoS blockers count each other's packets too (50 in
    10 s from one IP gets it ignored for 5 minutes), so the swarm keeps its own traffic low.
    A torrent not stored is announced again every 2 s; 20 s in all."""
    sw.wait_for(lambda: all(t["handle"].status().state == lt.torrent_status.seeding
                            for t in sw.torrents), 10)
    for t in sw.torrents:
        t["handle"].force_dht_announce()

    def stored(t):
        return any((sw.ips[t["owner"]], sw.a.port) in sw.announced[k].get(t["infohash"], ())
                   for k in range(len(sw.sessions)) if k != t["owner"])

    start = time.monotonic()
    end = start + 20
    while not sw.wait_for(lambda: all(stored(t) for t in sw.torrents),
                          min(2, end - time.monotonic()), stop=stop):
        if stop.is_set() or time.monotonic() >= end:
            break
        # libtorrent 2.0.8 sometimes ignores a force_dht_announce made right after the torrent
        # was added (measured: 0-27 of 30); a second one goes through at once.
        pending = [t for t in sw.torrents if not stored(t)]
        log("%d of %d announces not stored yet; announcing them again"
            % (len(pending), len(sw.torrents)))
        for t in pending:
            t["handle"].force_dht_announce()
    pending = [t for t in sw.torrents if not stored(t)]
    copies = sorted(sum(1 for k in range(len(sw.sessions)) if k != t["owner"] and
                        (sw.ips[t["owner"]], sw.a.port) in sw.announced[k].get(t["infohash"], ()))
                    for t in sw.torrents)
    log("announces stored after %.1f s: %d/%d torrents; copies per torrent: min %d, max %d"
        % (time.monotonic() - start, len(sw.torrents) - len(pending), len(sw.torrents),
           copies[0], copies[-1]))
    if pending:
        raise SetupError("%d of %d announces not stored by another session within 20 s"
                         % (len(pending), len(sw.torrents)))


def read_counters(sw, timeout=3):
    sw.counters = [None] * len(sw.sessions)
    for s in sw.sessions:
        s.post_session_stats()
    sw.wait_for(lambda: all(c is not None for c in sw.counters), timeout)
    out = {}
    for name in ("dht.dht_messages_in", "dht.dht_messages_in_dropped",
                 "dht.dht_sample_infohashes_in", "dht.dht_get_peers_in", "dht.dht_torrents"):
        idx = sw.metric.get(name)
        if idx is None:
            continue
        out[name.split(".", 1)[1]] = [None if c is None else c.get(name) if isinstance(c, dict)
                                      else c[idx] for c in sw.counters]
    return out


def stats(sw):
    c = read_counters(sw)
    return {"sessions": len(sw.sessions),
            "messages_in": sum(x or 0 for x in c.get("dht_messages_in", [])),
            "messages_in_dropped": c.get("dht_messages_in_dropped"),
            "sample_infohashes_in": c.get("dht_sample_infohashes_in"),
            "get_peers_in": c.get("dht_get_peers_in"),
            "torrents_stored": c.get("dht_torrents"),
            "banned": sw.banned}


def cmd_swarm(a):
    need_lt()
    base_ip = ipaddress.ip_address(a.base + ".1")
    if not base_ip.is_loopback or not ipaddress.ip_address("%s.%d" % (a.base, a.sessions))\
            .is_loopback or a.sessions > 250 or a.sessions < 2:
        print("lt_swarm: --base must be a loopback /24 and 2 <= --sessions <= 250",
              file=sys.stderr)
        return 2
    os.makedirs(a.datadir, exist_ok=True)
    stop = threading.Event()

    def watch_stdin():
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        stop.set()
    threading.Thread(target=watch_stdin, daemon=True).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    deadline = T0 + a.time
    sw = Swarm(a)
    rc = 0
    try:
        sw.start()
        bootstrap(sw)
        make_torrents(sw, a.datadir)
        announce(sw, stop)
        st = read_counters(sw)
        log("up: %d sessions, %d torrents; torrents stored per node %s; dropped so far %s"
            % (len(sw.sessions), len(sw.torrents), st.get("dht_torrents"),
               st.get("dht_messages_in_dropped")))
        ready = {"bootstrap": ["%s:%d" % (ip, a.port) for ip in sw.ips], "port": a.port,
                 "sample_interval": a.sample_interval,
                 "torrents": [{k: v for k, v in t.items() if k not in ("handle", "owner")}
                              for t in sw.torrents]}
        tmp = a.ready + ".tmp"
        with open(tmp, "w") as f:
            json.dump(ready, f, indent=1)
            f.write("\n")
        os.rename(tmp, a.ready)
        log("ready: wrote %s (%.1f s after start)" % (a.ready, time.monotonic() - T0))
        while not stop.is_set() and time.monotonic() < deadline:
            sw.pump()
            stop.wait(0.1)
        log("stopping: %s" % ("stdin closed" if stop.is_set() else "%g s passed" % a.time))
    except Stop as e:
        log("stopping: %s" % e)
    except SetupError as e:
        log("ERROR: the swarm did not come up: %s" % e)
        rc = 99
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends us for good
        st = stats(sw)
        line = json.dumps(st, sort_keys=True)
        print("lt_swarm stats: " + line, file=sys.stderr, flush=True)
        if a.stats:
            with open(a.stats, "w") as f:
                f.write(line + "\n")
    finally:
        sw.close()
    return rc


def cmd_check(a):
    with open(a.ready) as f:
        ready = json.load(f)

    def lines(path):
        out = []
        try:
            with open(path, "rb") as f:
                for raw in f:
                    try:
                        o = json.loads(raw)
                    except ValueError:
                        print("  %s: not JSON: %r" % (os.path.basename(path), raw[:200]))
                        continue
                    if isinstance(o, dict):
                        out.append(o)
        except OSError as e:
            print("  %s" % e)
        return out

    crawl, meta = lines(a.crawl), lines(a.meta)
    want = {t["infohash"]: t for t in ready["torrents"]}
    found = {}
    for o in crawl:
        ih = str(o.get("infohash", "")).lower()
        found.setdefault(ih, o)
    got_meta = {}
    for o in meta:
        ih = str(o.get("infohash", "")).lower()
        if o.get("status") == "ok" or ih not in got_meta:
            got_meta[ih] = o
    n_found = n_meta = 0
    bad = 0
    for ih, t in sorted(want.items(), key=lambda x: x[1]["name"]):
        probs = []
        if ih in found:
            n_found += 1
        else:
            probs.append("not found by dht-crawl")
        m = got_meta.get(ih)
        if m is None:
            probs.append("no meta-fetch result")
        elif m.get("status") != "ok":
            probs.append("meta-fetch: %s %s (peers_tried %s, peers_known %s)"
                         % (m.get("status"), m.get("error"), m.get("peers_tried"),
                            m.get("peers_known")))
        else:
            mp = []
            if m.get("name") != t["name"]:
                mp.append("name %s, want %s" % (json.dumps(m.get("name")), json.dumps(t["name"])))
            wf = [(f["path"], f["length"]) for f in t["files"]]
            try:
                gf = [(f["path"], f["length"]) for f in m.get("files") or []
                      if not f.get("pad")]
            except (TypeError, KeyError):
                gf = None
            if gf != wf and not (t["single"] and gf == []):
                mp.append("files %s, want %s" % (json.dumps(m.get("files")),
                                                 json.dumps(t["files"])))
            if m.get("length") not in (None, t["length"]):
                mp.append("length %s, want %d" % (m.get("length"), t["length"]))
            if mp:
                probs.append("metadata differs: " + "; ".join(mp))
            else:
                n_meta += 1
        if probs:
            bad += 1
            src = found.get(ih)
            print("  %s %s (seeder %s): %s%s" % (ih, t["name"], t["seeder"], "; ".join(probs),
                                                 "" if src is None else " [crawl line: %s]"
                                                 % json.dumps(src)))
    extra = len(set(found) - set(want))
    print("summary: infohashes found %d/%d, metadata %d/%d, crawl %s s%s"
          % (n_found, len(want), n_meta, len(want),
             a.crawl_seconds if a.crawl_seconds is not None else "?",
             ", %d other infohashes" % extra if extra else ""))
    return 1 if bad else 0


def cmd_watch(a):
    """Stop dht-crawl (SIGTERM to PID) as soon as CRAWL lists every torrent of READY."""
    with open(a.ready) as f:
        want = {t["infohash"] for t in json.load(f)["torrents"]}
    end = time.monotonic() + a.timeout
    pid = None
    while time.monotonic() < end:
        if pid is None:
            try:
                with open(a.pidfile) as f:
                    pid = int(f.read().strip() or "0") or None
            except (OSError, ValueError):
                pass
        got = set()
        try:
            with open(a.crawl, "rb") as f:
                for raw in f:
                    try:
                        got.add(str(json.loads(raw).get("infohash", "")).lower())
                    except (ValueError, AttributeError):
                        pass
        except OSError:
            pass
        if want <= got:
            log("watch: dht-crawl printed all %d infohashes (%d lines) after %.1f s%s"
                % (len(want), len(got), time.monotonic() - T0,
                   "; stopping it (SIGTERM)" if pid else ""))
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    return 1
                return 0
            return 1
        if pid is not None:
            try:
                os.kill(pid, 0)
            except OSError:
                return 1    # it ended by itself
        time.sleep(0.2)
    return 1


def main():
    ap = argparse.ArgumentParser(description="libtorrent swarm for the crawl interop test")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("swarm")
    p.add_argument("--base", default="127.0.67")
    p.add_argument("--port", type=int, default=6881)
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--torrents", type=int, default=3)
    p.add_argument("--sample-interval", type=int, default=0)
    p.add_argument("--time", type=float, default=180)
    p.add_argument("--stats")
    p.add_argument("datadir")
    p.add_argument("ready")
    p.set_defaults(fn=cmd_swarm)
    p = sub.add_parser("check")
    p.add_argument("ready")
    p.add_argument("crawl")
    p.add_argument("meta")
    p.add_argument("--crawl-seconds")
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("watch")
    p.add_argument("ready")
    p.add_argument("crawl")
    p.add_argument("pidfile")
    p.add_argument("--timeout", type=float, default=120)
    p.set_defaults(fn=cmd_watch)
    a = ap.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
