#!/usr/bin/python3
"""Interoperability test: our DHT node (dht-crawl node) against real libtorrent DHT nodes.

Eight libtorrent-rasterbar sessions run in this one process, each on its own loopback address
(BASE.1 .. BASE.8, port 6881), and form a small private DHT among themselves.  dht-crawl nodes
join it from BASE.100 and BASE.101, and four checks prove that both implementations understand
each other in both directions:

  1. bootstrap    a) our node bootstraps from libtorrent nodes and learns the others through
                  them; b) libtorrent keeps our node in its routing tables;
  2. search       a libtorrent session seeds a torrent and announces it; our get_peers lookup
                  finds that session's listen address;
  3. get_peers/announce_peer, both ways
                  a) our announce_peer is stored by libtorrent: its dht_get_peers finds our peer;
                  b) libtorrent's announce_peer reaches our node and is stored;
                  c) libtorrent's get_peers to our node gets the stored peer back as "values";
  4. BEP 51       libtorrent's dht_sample_infohashes, sent to our node, returns what it stores.

Everything stays on 127.0.0.0/8.  Every wait polls a condition under its own deadline; the whole
run is capped by an alarm (115 s; a passing run takes 4-10 s).  Our nodes run with --rate 20:
libtorrent's DoS blocker silently ignores an IP that sends it more than ~50 packets in 10 s.
Progress goes to stderr, then one summary line "interop: P passed, F failed".  Exit status: 0
all passed, 1 a check failed, 77 libtorrent is missing (automake SKIP), 99 the test could not
run (automake ERROR).  INTEROP_VERBOSE=1 (or --verbose) echoes every line our nodes print.

usage: lt_dht.py [--base 127.0.60] [--verbose] PATH-TO-dht-crawl
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings

try:
    import libtorrent as lt
except ImportError as e:
    print("interop: SKIP: cannot import libtorrent (%s); install python3-libtorrent" % e,
          file=sys.stderr)
    sys.exit(77)

HARD_CAP_S = 115          # whole run, below the 120 s the suite allows
N_LT = 8                  # libtorrent sessions
PORT = 6881
OUR_PEER_PORT = 40123     # the made-up peer port our node announces
RATE = 20                 # our node's queries per second: far below libtorrent's DoS blocker
VERBOSE = False
T0 = time.monotonic()


def log(msg):
    print("[%5.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


class Abort(Exception):
    """The run was cut short: hard cap or signal.  Checks not reached count as failed."""


class SetupError(Exception):
    """The test cannot run here (libtorrent alone misbehaves): automake ERROR, not FAIL."""


def on_alarm(signum, frame):
    raise Abort("hard cap of %d s reached" % HARD_CAP_S)


def on_term(signum, frame):
    # timeout(1) or make sends SIGTERM: leave through the finally block that stops our nodes.
    raise Abort("terminated by signal %d" % signum)


def lt_settings(ip):
    """Settings that make libtorrent 2.0.8's DHT accept nodes on 127.0.0.0/8.

    Measured with eight sessions bootstrapped as in bootstrap_swarm(): with these, every routing
    table holds the 7 others within 1-6 s; each setting marked "needed", left at its default,
    breaks that as said.  The torrent is added in seed mode (seed_torrent()), so it seeds and
    may announce at once, without hashing its file first.
    """
    return {
        # Needed: an explicit IP.  With 0.0.0.0:port libtorrent 2.0 flags the loopback socket
        # as local-network and runs no DHT on it (measured: every table stays at 0 nodes).  One
        # IP per session lets eight sessions share port 6881 and gives each its own identity.
        "listen_interfaces": "%s:%d" % (ip, PORT),
        # Needed to stay on loopback: the default (dht.libtorrent.org:25401) is off the machine.
        # Passed to the constructor, so the default is never used, not even for a moment.
        "dht_bootstrap_nodes": "",
        "enable_dht": True,
        # Needed: with the default True, the routing table keeps one node per /24 and lookups
        # ask one node per /24; everyone here is in 127.0.60.0/24, so every table holds 1 node.
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        # These multicast or talk to the router, i.e. leave loopback.
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        # Only "active" torrents announce to the DHT and by default only a few seeds are
        # active: harmless with our one torrent, needed as soon as a test seeds more.
        "active_seeds": 100,
        "active_limit": 100,
        "alert_mask": (lt.alert_category.dht | lt.alert_category.dht_operation
                       | lt.alert_category.error | lt.alert_category.status),
        # Left at their defaults on purpose, as a peer on the Internet would meet them:
        #   dht_block_ratelimit = 5   the DoS blocker ignores an IP that sends more than
        #                             5 x 10 packets in 10 s, silently, for 5 minutes (hence
        #                             our --rate 20 and few queries per libtorrent node);
        #   dht_upload_rate_limit = 8000 B/s;  dht_enforce_node_id = False (BEP 42 ids are
        #   not enforced; 127/8 is exempt from BEP 42 anyway);  dht_ignore_dark_internet =
        #   True (127/8 is not in its list);  dht_read_only = False.
    }


class Crawl:
    """One dht-crawl process; its NDJSON events are collected by a reader thread."""

    def __init__(self, name, argv):
        self.name = name
        self.events = []
        self.errlines = []
        self.lock = threading.Lock()
        self.dumped = False
        log("%s: %s" % (name, " ".join(argv)))
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        for f, fn in ((self.proc.stdout, self._out), (self.proc.stderr, self._err)):
            threading.Thread(target=fn, args=(f,), daemon=True).start()

    def _out(self, f):
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "unparsable", "line": line.rstrip("\n")}
                log("%s: not JSON on stdout: %r" % (self.name, line))
            if VERBOSE:
                log("%s> %s" % (self.name, line.rstrip()))
            with self.lock:
                self.events.append(ev)

    def _err(self, f):
        for line in f:
            if VERBOSE:
                log("%s! %s" % (self.name, line.rstrip()))
            with self.lock:
                self.errlines.append(line.rstrip("\n"))

    def find(self, pred):
        with self.lock:
            return [e for e in self.events if pred(e)]

    def dump(self):
        """Show what the node printed, once: the first failure says it all."""
        if self.dumped:
            log("%s: exit status %s (output shown above)" % (self.name, self.proc.poll()))
            return
        self.dumped = True
        with self.lock:
            ev, err = list(self.events), list(self.errlines)
        log("%s: exit status %s, %d events; last events:" % (self.name, self.proc.poll(), len(ev)))
        for e in ev[-15:]:
            print("    " + json.dumps(e), file=sys.stderr)
        for line in err[-15:]:
            print("    stderr: " + line, file=sys.stderr)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: the node prints its stats line and exits
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


class Swarm:
    """The libtorrent sessions, and the alerts they posted, by kind."""

    def __init__(self, base):
        self.ips = ["%s.%d" % (base, i + 1) for i in range(N_LT)]
        self.sessions = [lt.session(lt_settings(ip)) for ip in self.ips]
        self.peers = [dict() for _ in self.sessions]      # info_hash hex -> set of (ip, port)
        self.samples = [list() for _ in self.sessions]    # dht_sample_infohashes_alert fields
        self.live = [dict() for _ in self.sessions]       # endpoint -> node id hex
        self.pkts = [list() for _ in self.sessions]       # decoded incoming/outgoing DHT packets
        self.table = [0] * N_LT                           # nodes in the routing table
        self.errors = []
        self.ids = [None] * N_LT

    def node_id(self, i):
        """Session i's DHT node id (the handle dht_live_nodes wants).  dht_state() is the only way
        to it in the 2.0.8 binding; it lists 20 id bytes + 4 address bytes per socket."""
        if self.ids[i] is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                st = self.sessions[i].dht_state()
            ids = st.get(b"node-id") or st.get("node-id") or []
            if ids:
                self.ids[i] = lt.sha1_hash(as_bytes(ids[0])[:20])
        return self.ids[i]

    def ask_live(self, i):
        nid = self.node_id(i)
        if nid is not None:
            self.sessions[i].dht_live_nodes(nid)

    def ask_stats(self):
        for s in self.sessions:
            s.post_dht_stats()

    def pump(self):
        for i, s in enumerate(self.sessions):
            for a in s.pop_alerts():
                self._alert(i, a)

    def _alert(self, i, a):
        if isinstance(a, lt.dht_get_peers_reply_alert):
            self.peers[i].setdefault(str(a.info_hash), set()).update(
                (ip, port) for ip, port in a.peers())
        elif isinstance(a, lt.dht_sample_infohashes_alert):
            self.samples[i].append({"endpoint": tuple(a.endpoint), "num": a.num_infohashes,
                                    "samples": [str(h) for h in a.samples],
                                    "interval": int(a.interval.total_seconds())})
        elif isinstance(a, lt.dht_live_nodes_alert):
            self.live[i] = {tuple(n["endpoint"]): str(n["nid"]) for n in a.nodes}
        elif isinstance(a, lt.dht_pkt_alert):
            try:
                self.pkts[i].append(lt.bdecode(a.pkt_buf))
            except Exception:  # a packet libtorrent could not decode either
                pass
        elif isinstance(a, lt.dht_stats_alert):
            self.table[i] = sum(b["num_nodes"] for b in a.routing_table)
        elif a.category() & lt.alert_category.error:
            self.errors.append("lt%d: %s: %s" % (i + 1, a.what(), a.message()))
            if VERBOSE:
                log("lt%d error alert: %s" % (i + 1, a.message()))

    def close(self):
        for s in self.sessions:
            try:
                s.pause()
            except Exception:
                pass
        self.sessions = []


def wait_for(cond, timeout, swarm=None, every=None, period=1.0, step=0.05):
    """Poll cond() until it returns something true or timeout seconds pass; return its value.

    every, if given, is called every period seconds, to re-request the alerts that answer a
    request (dht_live_nodes, post_dht_stats)."""
    end = time.monotonic() + timeout
    next_every = 0.0
    while True:
        now = time.monotonic()
        if every and now >= next_every:
            every()
            next_every = now + period
        if swarm:
            swarm.pump()
        v = cond()
        if v or now >= end:
            return v
        time.sleep(step)


def make_torrent(dirpath):
    """A small v1-only torrent over a random file: a new info-hash each run, one DHT key."""
    data = os.path.join(dirpath, "payload.bin")
    with open(data, "wb") as f:
        f.write(os.urandom(16 * 1024))
    fs = lt.file_storage()
    lt.add_files(fs, data)
    ct = lt.create_torrent(fs, 16 * 1024, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, dirpath)
    return lt.torrent_info(lt.bdecode(lt.bencode(ct.generate())))


def xor_distance(a_hex, b_hex):
    return int(a_hex, 16) ^ int(b_hex, 16)


def compact_peers(values):
    """Decode a get_peers "values" list (6-byte compact IPv4 peers) to (ip, port) tuples."""
    out = set()
    for v in values or []:
        if isinstance(v, str):
            v = v.encode("latin-1")
        if len(v) == 6:
            out.add(("%d.%d.%d.%d" % tuple(v[:4]), v[4] << 8 | v[5]))
    return out


def bget(d, k):
    """Field k of a bdecoded dict whose keys may be bytes or str."""
    if not isinstance(d, dict):
        return None
    if k in d:
        return d[k]
    return d.get(k.encode())


def as_bytes(v):
    return v.encode("latin-1") if isinstance(v, str) else v


class Run:
    """What the checks share: the swarm, our nodes, the results."""

    def __init__(self, args, swarm, tmpdir):
        self.args = args
        self.swarm = swarm
        self.S = swarm.sessions
        self.tmpdir = tmpdir
        self.procs = []
        self.results = []  # (name, ok, message)
        self.lt_addrs = {"%s:%d" % (ip, PORT) for ip in swarm.ips}
        self.our_ip = "%s.100" % args.base
        self.our_ep = (self.our_ip, PORT)
        self.our_addr = "%s:%d" % self.our_ep
        self.our_id = None       # hex, as libtorrent's routing tables know it
        self.ih_ours = os.urandom(20).hex()
        self.ih_lt = None        # the torrent the seeder announces
        self.seeder = 4          # lt5
        self.seed_ep = (swarm.ips[self.seeder], PORT)
        self.seed_addr = "%s:%d" % self.seed_ep
        self.a = None            # node A, our long-running node

    def check(self, name, ok, msg, node=None):
        if not ok and node and node.proc.poll() is not None:
            msg += " [%s had exited, status %s]" % (node.name, node.proc.poll())
        self.results.append((name, bool(ok), msg))
        log("%s %s: %s" % ("PASS" if ok else "FAIL", name, msg))
        if not ok and node:
            node.dump()

    def crawl(self, name, argv):
        c = Crawl(name, [self.args.crawl, "node"] + argv)
        self.procs.append(c)
        return c

    def a_dead(self):
        """Node A exited (could not bind, crashed): the waits on it end at once."""
        return self.a.proc.poll() is not None


def bootstrap_swarm(run):
    """The libtorrent sessions find each other: add_dht_node (not add_dht_router: libtorrent
    never keeps a router in its table) to the next three in a ring, then one random lookup each
    so that the tables fill now rather than at the next refresh."""
    swarm, S = run.swarm, run.S
    for i, s in enumerate(S):
        for d in (1, 2, 3):
            s.add_dht_node((swarm.ips[(i + d) % N_LT], PORT))
    wait_for(lambda: all(n >= 3 for n in swarm.table), 10, swarm, swarm.ask_stats, 0.25)
    for s in S:
        s.dht_get_peers(lt.sha1_hash(os.urandom(20)))
    ok = wait_for(lambda: all(n >= N_LT - 2 for n in swarm.table), 20, swarm,
                  swarm.ask_stats, 0.25)
    log("libtorrent routing tables: %s nodes" % swarm.table)
    if not ok:
        raise SetupError("the libtorrent sessions did not find each other within 30 s")


def check_1a_bootstrap(run):
    """Node A bootstraps from three libtorrent nodes and hears from >= 4: at least one was
    learnt from their find_node answers."""
    run.a = run.crawl("ourA", [
        "--bind", run.our_addr,
        "--bootstrap", "%s:%d" % (run.swarm.ips[0], PORT),
        "--bootstrap", "%s:%d" % (run.swarm.ips[1], PORT),
        "--bootstrap", "%s:%d" % (run.swarm.ips[2], PORT),
        "--announce", "%s:%d" % (run.ih_ours, OUR_PEER_PORT),
        "--rate", str(RATE), "--duration", "100"])

    def seen():
        return {e.get("addr") for e in run.a.find(lambda e: e.get("event") == "node")} \
            & run.lt_addrs

    wait_for(lambda: len(seen()) >= 4 or run.a_dead(), 15)
    got = sorted(seen())
    run.check("1a bootstrap", len(got) >= 4,
              "our node heard from %d libtorrent nodes (want >= 4): %s"
              % (len(got), " ".join(got) or "none"), node=run.a)


def check_3a_our_announce(run):
    """Node A's --announce (a get_peers lookup, then announce_peer to the closest nodes,
    search_done after) is stored by libtorrent: lt8's dht_get_peers returns our peer."""
    swarm = run.swarm

    def done():
        return run.a.find(lambda e: e.get("event") == "search_done"
                          and e.get("infohash") == run.ih_ours)

    wait_for(lambda: done() or run.a_dead(), 20)
    asker = N_LT - 1  # lt8: not one of our bootstrap nodes
    want = (run.our_ip, OUR_PEER_PORT)
    if not done():
        run.check("3a our announce_peer -> libtorrent", False,
                  "our announce of %s did not finish (no search_done within 20 s)" % run.ih_ours,
                  node=run.a)
        return
    run.S[asker].dht_get_peers(lt.sha1_hash(bytes.fromhex(run.ih_ours)))
    wait_for(lambda: want in swarm.peers[asker].get(run.ih_ours, ()), 15, swarm)
    got = swarm.peers[asker].get(run.ih_ours, set())
    run.check("3a our announce_peer -> libtorrent", want in got,
              "lt%d's dht_get_peers(%s) returned %s (want %s:%d, announced by our node)"
              % (asker + 1, run.ih_ours, sorted(got) or "no peer", want[0], want[1]),
              node=run.a)


def check_1b_in_tables(run):
    """libtorrent keeps node A in its routing tables: it accepted our id, queries and answers
    (libtorrent announces only to nodes it found, so 3b needs this too)."""
    swarm = run.swarm

    def holders():
        return [i + 1 for i in range(N_LT) if run.our_ep in swarm.live[i]]

    wait_for(lambda: (run.seeder + 1 in holders() and len(holders()) >= N_LT // 2)
             or run.a_dead(), 15, swarm, every=lambda: [swarm.ask_live(i) for i in range(N_LT)])
    h = holders()
    if h:
        run.our_id = swarm.live[h[0] - 1][run.our_ep]
    run.check("1b libtorrent keeps our node", run.seeder + 1 in h and len(h) >= N_LT // 2,
              "our node %s (id %s) is in the routing table of %d libtorrent sessions: %s "
              "(want >= %d, lt%d among them)" % (run.our_addr, run.our_id, len(h),
                                                 " ".join("lt%d" % i for i in h) or "none",
                                                 N_LT // 2, run.seeder + 1), node=run.a)


def seed_torrent(run):
    """lt5 seeds a new torrent and announces it at once.

    libtorrent announces to the 8 nodes closest to the info-hash among those its lookup reached,
    itself included: with 9 candidates our node is left out about one run in nine (seen).  So
    the torrent is made again until our node is the closest of all to its info-hash (~9 tries
    of a 16 KiB file; bounded)."""
    swarm = run.swarm
    lt_ids = [swarm.node_id(i) for i in range(N_LT)]
    for tries in range(1, 501):
        ti = make_torrent(run.tmpdir)
        ih = str(ti.info_hash())
        if run.our_id is None or None in lt_ids:
            break
        ours = xor_distance(ih, run.our_id)
        if all(ours < xor_distance(ih, str(x)) for x in lt_ids):
            break
    run.ih_lt = ih
    h = run.S[run.seeder].add_torrent({"ti": ti, "save_path": run.tmpdir,
                                       "flags": lt.torrent_flags.seed_mode})
    log("lt%d seeds %s (torrent %d of those made: closest to our node)"
        % (run.seeder + 1, ih, tries))
    # force_dht_announce: the 2.0.8 binding cannot call session.dht_announce().
    wait_for(lambda: h.status().state == lt.torrent_status.seeding, 10, swarm)
    h.force_dht_announce()


def check_3b_lt_announce(run):
    """lt5's announce_peer reaches node A, which reports it with the seeder's listen port."""
    def announced():
        return run.a.find(lambda e: e.get("event") == "infohash" and e.get("source") == "announce"
                          and e.get("infohash") == run.ih_lt)

    wait_for(lambda: announced() or run.a_dead(), 20, run.swarm)
    ann = announced()
    ok = any(e.get("peer") == run.seed_addr for e in ann)
    run.check("3b libtorrent announce_peer -> our node", ok,
              "our node reported %s (want source=announce, infohash %s, peer %s)"
              % (json.dumps(ann[0]) if ann else "no announce within 20 s", run.ih_lt,
                 run.seed_addr), node=run.a)


def check_3c_lt_get_peers(run):
    """lt2's get_peers lookup asks node A, which answers with the seeder in "values".  lt2's
    packet alerts (dht_log category, on for this check only) show which answer came from our
    node: the one whose "id" is our node's."""
    swarm, getter = run.swarm, 1  # lt2
    mask = lt_settings(swarm.ips[getter])["alert_mask"]
    run.S[getter].apply_settings({"alert_mask": mask | lt.alert_category.dht_log})
    swarm.pump()
    swarm.pkts[getter].clear()
    run.S[getter].dht_get_peers(lt.sha1_hash(bytes.fromhex(run.ih_lt)))

    def values_from_us():
        for m in swarm.pkts[getter]:
            r = bget(m, "r")
            if bget(m, "y") not in (b"r", "r") or not isinstance(r, dict):
                continue
            rid = as_bytes(bget(r, "id"))
            if run.our_id and rid and rid.hex() == run.our_id and \
                    run.seed_ep in compact_peers(bget(r, "values")):
                return True
        return False

    def asked_us():
        return run.a.find(lambda e: e.get("event") == "infohash"
                          and e.get("source") == "get_peers" and e.get("infohash") == run.ih_lt
                          and e.get("from") == "%s:%d" % (swarm.ips[getter], PORT))

    wait_for(lambda: (values_from_us() and asked_us()) or run.a_dead(), 15, swarm)
    run.S[getter].apply_settings({"alert_mask": mask})
    swarm.pump()
    run.check("3c libtorrent get_peers -> our node", values_from_us() and asked_us(),
              "our node %s lt%d's get_peers for %s; lt%d %s an answer from our node (id %s) "
              "with %s in values" % ("saw" if asked_us() else "did NOT see", getter + 1,
                                     run.ih_lt, getter + 1,
                                     "got" if values_from_us() else "did NOT get", run.our_id,
                                     run.seed_addr), node=run.a)


def check_4_sample(run):
    """BEP 51: lt3's dht_sample_infohashes to node A returns what node A stores."""
    swarm, sampler = run.swarm, 2  # lt3
    run.S[sampler].dht_sample_infohashes(run.our_ep, lt.sha1_hash(os.urandom(20)))

    def answers():
        return [x for x in swarm.samples[sampler] if x["endpoint"] == run.our_ep]

    wait_for(lambda: answers() or run.a_dead(), 10, swarm)
    got = answers()
    ok = bool(got) and got[0]["num"] >= 1 and run.ih_lt in got[0]["samples"]
    run.check("4 sample_infohashes", ok,
              "lt%d's dht_sample_infohashes of our node: %s (want num >= 1 and %s among the "
              "samples)" % (sampler + 1, ("num=%(num)d interval=%(interval)d samples=%(samples)s"
                                          % got[0]) if got else "no answer within 10 s",
                            run.ih_lt), node=run.a)


def check_2_search(run):
    """A fresh node of ours (node B) looks the seeder's torrent up and finds the seeder."""
    b = run.crawl("ourB", ["--bind", "%s.101:%d" % (run.args.base, PORT),
                           "--bootstrap", "%s:%d" % (run.swarm.ips[5], PORT),
                           "--bootstrap", "%s:%d" % (run.swarm.ips[6], PORT),
                           "--search", run.ih_lt, "--rate", str(RATE), "--duration", "40"])

    def peers():
        return [e.get("peer") for e in b.find(lambda e: e.get("event") == "peer"
                                               and e.get("infohash") == run.ih_lt)]

    # A peer is printed before its search's search_done; an exit ends the wait too.
    wait_for(lambda: run.seed_addr in peers() or b.proc.poll() is not None
             or b.find(lambda e: e.get("event") == "search_done"), 20, run.swarm)
    run.check("2 search", run.seed_addr in peers(),
              "our search for %s found %s (want %s, lt%d's listen address)"
              % (run.ih_lt, " ".join(peers()) or "no peer", run.seed_addr, run.seeder + 1),
              node=b)


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description="dht-crawl vs libtorrent DHT interop test")
    ap.add_argument("--base", default="127.0.60", help="first three octets, inside 127.0.0.0/8")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("crawl", help="path to the dht-crawl binary")
    args = ap.parse_args()
    VERBOSE = args.verbose or os.environ.get("INTEROP_VERBOSE") == "1"
    if not args.base.startswith("127.") or args.base.count(".") != 2:
        print("interop: --base must be like 127.0.60 (loopback only)", file=sys.stderr)
        return 99

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(HARD_CAP_S)
    log("libtorrent %s, dht-crawl %s" % (lt.__version__, args.crawl))

    run, swarm, error = None, None, None
    tmp = tempfile.TemporaryDirectory(prefix="interop-lt-")
    try:
        swarm = Swarm(args.base)
        run = Run(args, swarm, tmp.name)
        bootstrap_swarm(run)
        # Ordered by what each step needs, not by number: node A must be in the tables
        # before lt5 announces, and the announce must be out before node B searches.
        check_1a_bootstrap(run)
        check_3a_our_announce(run)
        check_1b_in_tables(run)
        seed_torrent(run)
        check_3b_lt_announce(run)
        check_3c_lt_get_peers(run)
        check_4_sample(run)
        check_2_search(run)
    except Abort as e:
        log("ERROR: %s; the checks not reached count as failed" % e)
        if "signal" in str(e):
            error = str(e)  # interrupted: no verdict
    except SetupError as e:
        log("ERROR: %s; not a verdict on our node" % e)
        error = str(e)
    finally:
        signal.alarm(0)
        for p in run.procs if run else ():
            p.stop()
        if swarm:
            for e in swarm.errors[:10]:
                log("libtorrent error alert: %s" % e)
            swarm.close()
        tmp.cleanup()

    # A check passes when all its parts ran and passed; a part not reached fails it.
    parts = {"1": ("1a", "1b"), "2": ("2",), "3": ("3a", "3b", "3c"), "4": ("4",)}
    done = {name.split()[0]: ok for name, ok, msg in (run.results if run else ())}
    for name, ok, msg in run.results if run else ():
        if not ok:
            log("failed: %s: %s" % (name, msg))
    passed = sum(1 for p in parts.values() if all(done.get(x) for x in p))
    failed = len(parts) - passed
    print("interop: %d passed, %d failed (%.1f s)" % (passed, failed, time.monotonic() - T0),
          file=sys.stderr, flush=True)
    if error:
        return 99
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
