#!/usr/bin/python3
"""crawl-check.py - compare what `dht-crawl | meta-fetch` found with dht-sim's ground truth.

    crawl-check.py MANIFEST CRAWL.ndjson META.ndjson [START_UNIX]

MANIFEST is dht-sim's --manifest file, CRAWL.ndjson dht-crawl's output, META.ndjson meta-fetch's.
Prints one JSON object: how many of the simulated infohashes were found, how many with peers,
how many of their metadata were fetched and equal the truth (name, total length, every file's
path and length), how many lines named infohashes the simulation does not have (lying nodes'
fakes), and, given START_UNIX, the seconds after which 50%, 90%, 99% and 100% were found.
Exit status 0, or 2 on unreadable input.
"""
import json
import sys


def lines(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            raw = raw.strip()
            if raw:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    pass
    return out


def main():
    if len(sys.argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        truth = {t["infohash"]: t for t in json.load(f)["torrents"]}
    crawl = lines(sys.argv[2])
    meta = lines(sys.argv[3])
    start = float(sys.argv[4]) if len(sys.argv) > 4 else None

    found, with_peers, fake, times = set(), 0, 0, []
    for c in crawl:
        ih = c.get("infohash", "").lower()
        if ih not in truth:
            fake += 1
            continue
        if ih in found:
            continue
        found.add(ih)
        if c.get("peers"):
            with_peers += 1
        if start is not None and "time" in c:
            times.append(c["time"] - start)

    correct, wrong, failed = 0, [], 0
    for m in meta:
        ih = m.get("infohash", "").lower()
        if ih not in truth:
            continue
        if m.get("status") != "ok":
            failed += 1
            continue
        t = truth[ih]
        want = sorted((x["path"], x["length"]) for x in t["files"])
        got = sorted((x.get("path"), x.get("length")) for x in m.get("files", []))
        if m.get("name") == t["name"] and m.get("length") == t["total_length"] and got == want:
            correct += 1
        else:
            wrong.append(ih)

    n = len(truth)
    res = {
        "torrents": n,
        "found": len(found),
        "found_pct": round(100.0 * len(found) / n, 2) if n else 0,
        "found_with_peers": with_peers,
        "metadata_correct": correct,
        "metadata_correct_pct": round(100.0 * correct / n, 2) if n else 0,
        "metadata_wrong": len(wrong),
        "metadata_failed": failed,
        "fake_infohashes": fake,
    }
    if times:
        times.sort()
        for pct in (50, 90, 99, 100):
            k = max(1, -(-pct * n // 100))
            res["s_to_%d_pct" % pct] = times[k - 1] if k <= len(times) else None
    print(json.dumps(res))
    if wrong:
        sys.stderr.write("wrong metadata: %s\n" % " ".join(wrong[:10]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
