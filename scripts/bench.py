"""Benchmark: the tap against a plain-Python floor, on the API double (its own process, 127.0.0.1).

Prints, with goals:
1. CPU (user+sys) of the tap and of the floor (scripts/floor.py) over every registered stream
   into /dev/null, best of K: N rows each of the big windowed streams (flash, cc, SMS, DID, email,
   AI-agent calls), fewer of voice and SIP (paced), some hundreds of the full tables (cc agents
   and agent groups), a task per 100 AI-agent calls, one balance and an SMS statement a day; rows
   per CPU-second and the ratio. Both shape every row with the tap's own rows.Shaper, so the
   ratio measures everything but per-row conversion.
2. Requests per stream against the minimum for the tap's own windows, for each kind of stream
   (incremental, full table, snapshot, child).
3. Wall time with 50 ms latency per response against the sequential minimum: flash and cc (goal
   <= 0.4), SMS and DID (no goal: day windows).
4. Voice and SIP wall time, each alone, against their rate limits.
5. A long run: 1 000 000 rows per stream through a 10 % fault mix: exact?, peak RSS, threads and
   sockets over the run.
Usage: ./scripts/bench [--rows 20000] [--long-rows 0] [--rate-rows 0] ... (see --help);
figures 1 and 2 alone: ./scripts/bench --latency-ms 0 --rate-rows 0 --long-rows 0 --accounts 0
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import collections
import contextlib
import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import requests

from nxcloud_double.endpoints import ENDPOINTS
from nxcloud_double.endpoints.ai_agent_calls import CALLS_PER_TASK
from tap_nxcloud.clock import parse_bookmark
from tap_nxcloud.spec import SNAPSHOT, Single
from tap_nxcloud.streams import BY_NAME, STREAMS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ZONE = "Asia/Shanghai"
NAMES = tuple(spec.name for spec in STREAMS)
PACED = tuple(spec.name for spec in STREAMS if spec.min_interval)  # voice, SIP
SIX = NAMES[:6]  # the CDR streams (flash, cc, SMS, voice, SIP, DID): the long run's default
# figures 1 and 2: rows of the full tables (some hundreds; pages of 200); the other streams'
# rows: see `figure_rows`
TABLE_ROWS = {"cc_agents": 500, "cc_agent_groups": 120}
SHORT = {e.stream: e.alias for e in ENDPOINTS}  # the double's --<alias>-rows options
FAULT_KINDS = ("429", "500", "502", "503", "reset", "timeout", "truncated", "html", "busy")
# PYTHONUNBUFFERED (set on some machines and schedulers) would cost the floor a system call per
# line; neither the tap nor the floor gets it, so the floor is not handicapped.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def num(n: float) -> str:
    return f"{n:,.0f}".replace(",", " ")


# --- the API double --------------------------------------------------------------------------
class Double:
    """The API double in a process of its own: the benchmark's own process stays small, since a
    forked child's peak RSS counts the parent's pages until exec. Starts at once; `ready()`
    waits for its data (a million rows a stream take minutes to build)."""

    def __init__(self, rows: dict[str, int], span_days: float) -> None:
        cmd = [sys.executable, "-m", "nxcloud_double", "--port", "0", "--seed", "1",
               "--timezone", ZONE, "--span-days", str(span_days)]
        for name, short in SHORT.items():
            n = rows.get(name, 0)
            cmd += [f"--{short.replace('_', '-')}-rows", str(n)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.info: dict = {}
        atexit.register(self.stop)  # also when a run fails and the benchmark exits

    def ready(self) -> Double:
        if not self.info:
            line = self.proc.stdout.readline()
            if not line:
                sys.exit("the API double did not start")
            self.info = json.loads(line)
        return self

    @property
    def url(self) -> str:
        return self.ready().info["config"]["api_url"]

    def rows(self, name: str) -> int:
        return self.ready().info[f"{SHORT[name]}_rows"]

    def expected(self, name: str) -> int:
        """Rows a run over the stream's window reads: the double's rows; for what the double
        derives instead of keeping rows, one balance (a snapshot) or one statement a day of the
        window (sms_daily_reports: a day window of one request, Single)."""
        spec = BY_NAME[name]
        if spec.kind == SNAPSHOT:
            return 1
        if isinstance(spec.paging, Single) and spec.window == "day":
            zone = ZoneInfo(ZONE)
            first, end = (dt.datetime.fromisoformat(t).astimezone(zone)
                          for t in self.ready().info["windows"][name])
            return ((end - dt.timedelta(seconds=1)).date() - first.date()).days + 1
        return self.rows(name)

    def control(self, **command) -> None:
        requests.post(f"{self.url}/_double/control", json=command, timeout=30).raise_for_status()

    def stats(self) -> dict:
        return requests.get(f"{self.url}/_double/stats", timeout=30).json()

    def config(self, folder: Path, streams: tuple[str, ...], **settings) -> Path:
        """A tap config with the credentials of `streams` only, ending where their data ends;
        `floor_ranges` (ignored by the tap) tells the floor where each stream's data lies.
        Other streams that those credentials enable too (the SMS statements and the balance
        with SMS's keys, the agents and agent groups with the contact center's) are deselected
        by a catalog beside the config (`catalog_of`)."""
        info = self.ready().info
        mine = {key for name in streams for key in BY_NAME[name].credentials}
        others = {key for name in NAMES if name not in streams
                  for key in BY_NAME[name].credentials} - mine
        config = {k: v for k, v in info["config"].items() if k not in others}
        ranges = {name: info["windows"][name] for name in streams}
        end = max(dt.datetime.fromisoformat(r[1]) for r in ranges.values())
        config |= {"end_date": end.isoformat(), "floor_ranges": ranges, **settings}
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".json", delete=False) as f:
            json.dump(config, f)
        path = Path(f.name)
        if any(name not in streams and set(BY_NAME[name].credentials) <= mine for name in NAMES):
            select(path, streams)
        return path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


# --- running a program -----------------------------------------------------------------------
def measure(cmd: list[str], out: Path | None = None) -> dict:
    """Run cmd, stdout to /dev/null (or `out`): CPU (user+sys), peak RSS and wall of that
    process, and its stderr."""
    with open(out or os.devnull, "wb") as sink, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=err, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = status  # reaped here; Popen must not wait for it again
        wall = time.perf_counter() - started
        err.seek(0)
        log = err.read().decode(errors="replace")
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{log[-3000:]}")
    return {"cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "wall": wall, "log": log}


def catalog_of(config: Path) -> Path:
    return config.with_suffix(".catalog.json")


def select(config: Path, streams: tuple[str, ...]) -> None:
    """Write the catalog of `config` (the tap's --discover) with only `streams` of the registry
    selected; `tap` passes it."""
    found = subprocess.run([str(BIN / "tap-nxcloud"), "--config", str(config), "--discover"],
                           capture_output=True, check=True, env=ENV).stdout
    catalog = json.loads(found)
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] in BY_NAME:
            for item in entry["metadata"]:
                if not item["breadcrumb"]:
                    item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    catalog_of(config).write_text(json.dumps(catalog))


def tap(config: Path) -> list[str]:
    """The tap's command for `config`, with its catalog when it has one (see Double.config)."""
    catalog = catalog_of(config)
    return [str(BIN / "tap-nxcloud"), "--config", str(config),
            *(("--catalog", str(catalog)) if catalog.exists() else ())]


DONE = re.compile(r"\| (\w+): done: .*, ([\d.]+) s$", re.MULTILINE)


def seconds_per_stream(log: str) -> dict[str, float]:
    """Each stream's own sync time, from the tap's "done:" log lines."""
    return {m.group(1): float(m.group(2)) for m in DONE.finditer(log)}


# --- reading the tap's output ----------------------------------------------------------------
class Message(msgspec.Struct):
    type: str
    stream: str = ""
    record: msgspec.Raw = msgspec.Raw(b"{}")
    value: dict = msgspec.field(default_factory=dict)


class Tally:
    """Reads the tap's Singer output line by line: per stream the records, the distinct keys
    (hashed: 64 bits, a collision among a million keys has odds of about 1 in 10^7) and the rows
    of each window, split per variant (voice: request_voice_type).

    Windows by kind of stream:
    - incremental: a window ends where a STATE carries a new bookmark for the stream (each
      window's STATE carries that window's end);
    - child (AI-agent calls): the same per partition (a parent task), its rows told apart by the
      parent key in each record; only while the child is read (its parent, read first, sets each
      partition's first bookmark: no window);
    - a stream whose open rows hold its bookmark back (spec.still_open: AI-agent tasks still
      calling) keeps one bookmark over many windows, so no STATE delimits them: they are
      replayed from its rows' times with the tap's own planner (`config`: the run's config; see
      `replayed_windows`);
    - full table and snapshot: one pass, no windows, no bookmark.
    Records of a stream outside the registry are not counted."""

    def __init__(self, config: Path | None = None) -> None:
        self.config = config
        self.decode = msgspec.json.Decoder(Message).decode
        self.keys, self.ident, self.variant_keys, self.part_key, self.time_key = {}, {}, {}, {}, {}
        for spec in STREAMS:
            variant = tuple(dict.fromkeys(k for v in spec.queries for k in v.columns))
            ident = tuple(dict.fromkeys((*spec.primary_keys, *variant)))
            extra = ((spec.child.key,) if spec.child else ()) + (
                (spec.replication_key,) if spec.still_open else ())
            fields = tuple(dict.fromkeys((*ident, *extra)))
            struct = msgspec.defstruct(f"{spec.name}_key", [(f, object) for f in fields])
            self.keys[spec.name] = msgspec.json.Decoder(struct).decode
            self.ident[spec.name] = len(ident)
            self.variant_keys[spec.name] = tuple(fields.index(k) for k in variant)
            self.part_key[spec.name] = fields.index(spec.child.key) if spec.child else None
            self.time_key[spec.name] = (fields.index(spec.replication_key) if spec.still_open
                                        else None)
        # streams whose STATE messages delimit their windows (per partition, for a child)
        self.delimited = {s.name for s in STREAMS if s.windowed and not s.still_open}
        self.records: collections.Counter = collections.Counter()
        self.seen: dict[str, set] = collections.defaultdict(set)
        self.windows: dict[str, list[collections.Counter]] = collections.defaultdict(list)
        # (stream, partition: the parent key of a child's rows, else None) -> rows per variant
        self.open: dict[tuple, collections.Counter] = collections.defaultdict(
            collections.Counter)
        self.times: dict[str, list[tuple]] = collections.defaultdict(list)  # replayed streams
        self.bookmarks: dict[tuple, object] = {}  # (stream, partition) -> its bookmark
        self.current = ""  # the stream being read
        self.order: list[str] = []
        self._replayed: dict[str, list[collections.Counter]] = {}

    def feed(self, line: bytes) -> None:
        msg = self.decode(line)
        if msg.type == "RECORD":
            name = msg.stream
            decode = self.keys.get(name)
            if decode is None:
                return
            key = msgspec.structs.astuple(decode(msg.record))
            self.records[name] += 1
            self.seen[name].add(hash(key[:self.ident[name]]))
            variant = tuple(key[i] for i in self.variant_keys[name])
            if self.time_key[name] is not None:
                self.times[name].append((key[self.time_key[name]], variant))
            elif name in self.delimited:
                part = None if self.part_key[name] is None else key[self.part_key[name]]
                self.open[(name, part)][variant] += 1
        elif msg.type == "STATE":
            for name, entry in msg.value.get("bookmarks", {}).items():
                if name not in self.delimited:
                    continue
                spec = BY_NAME[name]
                if spec.child:
                    marks = {(name, (p.get("context") or {}).get(spec.child.key)):
                             p.get("replication_key_value") for p in entry.get("partitions", [])}
                else:
                    marks = {(name, None): entry.get("replication_key_value")}
                for part, mark in marks.items():
                    if mark is not None and mark != self.bookmarks.get(part):
                        self.bookmarks[part] = mark
                        if not spec.child or self.current == name:
                            self.windows[name].append(self.open.pop(part, collections.Counter()))
        elif msg.type == "SCHEMA":
            self.current = msg.stream
            self.order.append(msg.stream)

    def exact(self, name: str, rows: int) -> bool:
        """Every row once, and (where STATE messages delimit windows) every row in a window."""
        left = any(n == name and counts for (n, _), counts in self.open.items())
        return len(self.seen[name]) == rows == self.records[name] and not left

    def stream_windows(self, name: str) -> list[collections.Counter]:
        """The stream's windows, each its rows per variant (a full table or a snapshot: its one
        pass)."""
        spec = BY_NAME[name]
        if not spec.windowed:
            return [collections.Counter({(): self.records[name]})]
        if spec.still_open:
            return self.replayed_windows(name)
        return self.windows[name]

    def minimum(self, name: str) -> int:
        """Sum over windows and variants of max(1, ceil(rows / page size)), or 1 a window where
        a window is one request (Single: a day's statement, a balance). A full table: its one
        pass, max(1, ceil(rows / page size)); a snapshot 1; a child: over every window of every
        parent's partition."""
        spec = BY_NAME[name]
        size = spec.paging.size
        single = isinstance(spec.paging, Single)
        return sum(1 if single else max(1, math.ceil(window[tuple(v.columns.values())] / size))
                   for window in self.stream_windows(name) for v in spec.queries)

    def replayed_windows(self, name: str) -> list[collections.Counter]:
        """The windows of a stream whose STATE messages do not delimit them, replayed (in a
        process of its own, see `replay_main`: the tap's modules stay out of this one)."""
        if name not in self._replayed:
            if self.config is None:
                sys.exit(f"{name}: its windows are replayed from the run's config; none given")
            times = [t for t, _ in self.times[name]]
            proc = subprocess.run([sys.executable, __file__, "--replay-windows",
                                   str(self.config), name], input=json.dumps(times),
                                  capture_output=True, text=True, env=ENV, check=False)
            if proc.returncode:
                sys.exit(f"replaying the windows of {name} failed:\n{proc.stderr[-3000:]}")
            answer = json.loads(proc.stdout)
            windows = [collections.Counter() for _ in range(answer["windows"])]
            for (_, variant), index in zip(self.times[name], answer["index"], strict=True):
                if index >= 0:  # -1: an unreadable time (the tap keeps it, in its window)
                    windows[index][variant] += 1
            self._replayed[name] = windows
        return self._replayed[name]


def replay_main(config: str, name: str) -> None:
    """`bench.py --replay-windows CONFIG STREAM` < JSON list of the rows' replication-key values
    as emitted: the windows the tap cut for the stream over that config's range (no state),
    as {"windows": count, "index": each row's window (-1: unreadable)}.

    The tap's own planner (`Lane.planner` over `Lane.ticks`, the settings of the config), fed
    the rows each window held as the tap feeds it, and asked for windows as scheduler.iter_lanes
    asks: one until the first is observed, then up to 2 x workers planned ahead, one more after
    each window ends. The tap's own count of windows (its "done:" log line) checks the result."""
    from tap_nxcloud.tap import TapNXCloud  # noqa: PLC0415 (singer-sdk: this process only)

    times = json.load(sys.stdin)
    tap = TapNXCloud(config=config)
    stream = tap.streams[name]
    (lane,) = stream.lanes  # the one account
    ticks = []
    for value in times:
        try:
            ticks.append(lane.clock.from_instant(parse_bookmark(value)))
        except (TypeError, ValueError):
            ticks.append(None)
    ordered = sorted(t for t in ticks if t is not None)
    workers = 1 if stream.spec.min_interval else tap.settings.workers
    planner = lane.planner(*lane.ticks())
    planned: collections.deque = collections.deque()

    def fill() -> None:
        limit = 2 * max(1, workers) if planner.observed else 1
        while len(planned) < limit:
            window = planner.next()
            if window is None:
                return
            planned.append(window)

    fill()
    windows = []
    while planned:
        window = planned.popleft()
        held = (bisect.bisect_left(ordered, window.end)
                - bisect.bisect_left(ordered, window.start))
        planner.observe(window, held)
        fill()
        windows.append(window)
    starts = [w.start for w in windows]
    index = [-1 if t is None else bisect.bisect_right(starts, t) - 1 for t in ticks]
    print(json.dumps({"windows": len(windows), "index": index}))


# --- 1 and 2: CPU against the floor, requests against the minimum -----------------------------
def figure_rows(n: int, paced: int) -> dict[str, int]:
    """Rows of each stream for figures 1 and 2: `n` for the big windowed streams (flash, cc,
    SMS, DID, email, AI-agent calls), `paced` for voice and SIP, TABLE_ROWS for the full tables,
    one AI-agent task per CALLS_PER_TASK calls (the double spreads the calls over exactly those
    tasks, so every call's task is listed: tens to hundreds of tasks), none of its own for the
    balance and the SMS statements (the double derives their one row, a run or a day)."""
    rows = {}
    for spec in STREAMS:
        name = spec.name
        if spec.min_interval:
            rows[name] = paced
        elif name in TABLE_ROWS:
            rows[name] = TABLE_ROWS[name]
        elif isinstance(spec.paging, Single):
            rows[name] = 0
        else:
            rows[name] = n
    for spec in STREAMS:  # a parent: a task per CALLS_PER_TASK rows of its child
        if spec.child:
            rows[spec.child.parent] = max(1, math.ceil(rows[spec.name] / CALLS_PER_TASK))
    return rows


WINDOWS = re.compile(r"\| (\w+): done: \d+ rows(?: of \d+ \w+ rows)?(?: of \d+ accounts?)? in "
                     r"(\d+) windows?,",
                     re.MULTILINE)


def cpu_and_requests(args, folder: Path) -> tuple[Double, float]:
    n, paced = args.rows, args.paced_rows
    double = Double(figure_rows(n, paced), args.span_days).ready()
    config = double.config(folder, NAMES)
    floor_cmd = [sys.executable, str(ROOT / "scripts" / "floor.py"), str(config)]
    expected = {name: double.expected(name) for name in NAMES}
    total = sum(expected.values())

    # a first tap run into a file: figure 2 reads its windows; it also warms the page cache
    double.control(clear_log=True, reset_rate_limits=True)
    output = folder / "tap-output.jsonl"
    first = measure(tap(config), out=output)
    sent = double.stats()["requests"]
    tap_windows = {m.group(1): int(m.group(2)) for m in WINDOWS.finditer(first["log"])}
    tally = Tally(config)
    with open(output, "rb") as lines:
        for line in lines:
            tally.feed(line)
    output.unlink()

    tap_runs, floor_runs = [], []
    for _ in range(args.repeat):
        double.control(reset_rate_limits=True)
        tap_runs.append(measure(tap(config)))
        double.control(reset_rate_limits=True)
        floor_runs.append(measure(floor_cmd))
    best_tap = min(tap_runs, key=lambda r: r["cpu"])
    best_floor = min(floor_runs, key=lambda r: r["cpu"])
    floor_rows = json.loads(best_floor["log"].strip().splitlines()[-1])
    about = measure([str(BIN / "tap-nxcloud"), "--about"])
    ratio = best_tap["cpu"] / best_floor["cpu"]

    parent = next((s.child.parent for s in STREAMS if s.child), "")
    days = expected.get("sms_daily_reports", 0)
    print("\n1. CPU (user+sys) of the tap against the floor, both shaping every row with the "
          "tap's own\n   rows.Shaper (per-row conversion costs the same on both sides; the ratio "
          f"measures everything\n   else). All {len(NAMES)} streams into /dev/null, best of "
          f"{args.repeat}: {num(n)} rows each of flash, cc, SMS, DID, email\n   and AI-agent "
          f"calls (of {num(expected.get(parent, 0))} tasks), {num(paced)} each of voice and SIP, "
          f"{num(expected.get('cc_agents', 0))} cc agents, "
          f"{num(expected.get('cc_agent_groups', 0))} agent groups,\n   one balance and "
          f"{days} daily SMS statements ({num(total)} rows over {args.span_days:g} days)")
    print(f"   tap    {best_tap['cpu']:6.2f} s  {num(total / best_tap['cpu']):>7} rows/CPU-s  "
          f"(of which {about['cpu']:.2f} s start-up, as `--about` takes)")
    print(f"   floor  {best_floor['cpu']:6.2f} s  {num(total / best_floor['cpu']):>7} rows/CPU-s  "
          "(requests + json, one session, no SDK, no windows, no threads)")
    print(f"   ratio tap/floor {ratio:.2f}  (goal <= 1.25)")
    print(f"   Voice and SIP carry {num(paced)} rows each: at one request a second and one every "
          "two seconds, more rows\n   would add waiting (no CPU) to every run.")
    wrong = [name for name in NAMES
             if not tally.records[name] == floor_rows.get(name, 0) == expected[name]]
    if wrong:
        print("   WARNING: rows read, tap / floor / expected, differ for " + ", ".join(
            f"{name} {tally.records[name]} / {floor_rows.get(name, 0)} / {expected[name]}"
            for name in wrong))
    else:
        print(f"   Rows read, tap and floor alike: exactly the {num(total)} expected, stream "
              f"by stream ({len(NAMES)} streams).")

    print("\n2. Requests per stream against the minimum for the tap's own windows: the sum over "
          "its windows (and voice's\n   two voiceTypes) of max(1, ceil(rows in the window / page "
          "size)), from the STATE messages of one run;\n   a window of a statement a day "
          "(Single) is one request; a full table is one pass, max(1, ceil(rows / page\n   "
          "size)), a snapshot one request; a child (AI-agent calls) sums over every window of "
          "each parent task's\n   partition; AI-agent tasks (open tasks hold the bookmark: no "
          "STATE ends their windows) in windows\n   replayed with the tap's own planner. The "
          "double counts requests per endpoint (credential checks\n   included).")
    print(f"   {'stream':17} {'kind':11} {'rows':>6} {'exact':>5} {'windows':>7} {'page':>4} "
          f"{'requests':>8} {'minimum':>7}  ratio (goal <= 1.1)")
    # A stream that checks each completed day against another's statement (sms_cdrs against
    # sms_daily_reports) sends those requests to the other's endpoint, which the double counts
    # there: they are the checker's, one a day (part of its minimum).
    checks = {}
    for spec in STREAMS:
        statement = getattr(spec, "statement", None)
        if statement and statement[0] in sent and spec.name in NAMES:
            checks[spec.name] = len(tally.stream_windows(spec.name))
            sent[statement[0]] -= checks[spec.name]
            sent[spec.name] += checks[spec.name]
    for name in NAMES:
        spec = BY_NAME[name]
        minimum = tally.minimum(name) + checks.get(name, 0)
        over = "  MISSES the goal" if sent[name] > 1.1 * minimum else ""
        print(f"   {name:17} {spec.kind:11} {tally.records[name]:6d} "
              f"{'yes' if tally.exact(name, expected[name]) else 'NO':>5} "
              f"{len(tally.stream_windows(name)):7d} {spec.paging.size:4d} "
              f"{sent[name]:8d} {minimum:7d}  {sent[name] / minimum:.3f}{over}")
        if spec.child:
            parts = {p for (s, p) in tally.bookmarks if s == name}
            print(f"   {'':17} ({len(parts)} partitions, one per {spec.child.parent} row; their "
                  "windows are summed)")
    for name, n in checks.items():
        print(f"   {name}: its requests and minimum include {n} statement requests, one a day "
              f"checked against {BY_NAME[name].statement[0]} (reconciliation)")
    differ = [f"{name} {len(tally.stream_windows(name))} / {tap_windows.get(name)}"
              for name in NAMES if len(tally.stream_windows(name)) != tap_windows.get(name)]
    if differ:
        print("   WARNING: windows counted here / by the tap's own log differ: "
              + ", ".join(differ))
    return double, best_tap["rss_mb"]


# --- 3: latency ------------------------------------------------------------------------------
def latency(args, double: Double, folder: Path) -> None:
    print(f"\n3. Wall time with {args.latency_ms:g} ms latency per response against the "
          "sequential minimum (requests x latency)")
    groups = ((("flash_call_cdrs", "cc_cdrs"), "(goal <= 0.4, as since v0.1)"),
              (("sms_cdrs", "did_cdrs"), "(no goal: one calendar day a request, so no more "
               "requests in flight than days in the range, and a day's pages in sequence)"))
    for names, goal in groups:
        double.control(latency_ms=args.latency_ms, clear_log=True, reset_rate_limits=True)
        run = measure(tap(double.config(folder, names)))
        stats = double.stats()
        sent = sum(stats["requests"][name] for name in names)
        sequential = sent * args.latency_ms / 1000
        took = seconds_per_stream(run["log"])
        print(f"   {' and '.join(BY_NAME[n].label for n in names)}: tap {run['wall']:.2f} s for "
              f"{sent} requests; sequential {sequential:.2f} s; ratio "
              f"{run['wall'] / sequential:.2f}  {goal}")
        print("     per stream: " + ", ".join(
            f"{BY_NAME[name].label} {stats['requests'][name]} in {took.get(name, 0):.2f} s"
            for name in names) + "; SMS refused as too frequent: "
            f"{stats['rate_violations'].get('sms_cdrs', 0)}")
    double.control(latency_ms=0)


# --- 4: pacing -------------------------------------------------------------------------------
def pacing(args, folder: Path) -> None:
    double = Double(dict.fromkeys(PACED, args.rate_rows), 30).ready()
    print(f"\n4. Voice and SIP, each alone, {num(args.rate_rows)} rows (voice: half per "
          "voiceType) over their retention (7 and 15 days):\n   wall time against the rate "
          "limit, (requests - 1) x interval; goal <= 1.15")
    for name in PACED:
        interval = BY_NAME[name].min_interval
        double.control(clear_log=True, reset_rate_limits=True)
        run = measure(tap(double.config(folder, (name,))))
        stats = double.stats()
        sent = stats["requests"][name]
        least = (sent - 1) * interval
        print(f"   {name:11} {sent:3d} requests {interval:g} s apart: minimum {least:5.1f} s, "
              f"wall {run['wall']:5.1f} s, ratio {run['wall'] / least:.3f}; refused as too "
              f"frequent: {stats['rate_violations'][name]}")
    double.stop()


# --- 5: the long run -------------------------------------------------------------------------
class Sampler(threading.Thread):
    """About once a second: the tap's VmRSS, threads and open sockets, and the stream it reads."""

    def __init__(self, pid: int, tally: Tally) -> None:
        super().__init__(daemon=True)
        self.pid, self.tally = pid, tally
        self.samples: list[tuple[str, float, int, int]] = []
        self.stop = threading.Event()

    def sample(self) -> None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            fds = os.listdir(f"/proc/{self.pid}/fd")
            sockets = 0
            for fd in fds:
                with contextlib.suppress(OSError):  # closed meanwhile
                    sockets += os.readlink(f"/proc/{self.pid}/fd/{fd}").startswith("socket:")
        except OSError:  # the process has ended
            return
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if "VmRSS" not in fields:  # a zombie
            return
        self.samples.append((self.tally.current, int(fields["VmRSS"].split()[0]) / 1024,
                             int(fields["Threads"]), sockets))

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.sample()


def long_run(args, double: Double, folder: Path, tap_rss: float | None) -> None:
    waited = time.perf_counter()
    double.ready()
    waited = time.perf_counter() - waited
    # a short Retry-After: the tap honours it (up to backoff_max), and every worker waits
    faults = {"rate": args.fault_rate, "kinds": list(FAULT_KINDS), "seed": 1,
              "timeout_sleep": args.long_timeout + 1.0, "retry_after": 0.2}
    double.control(faults=faults, clear_log=True, reset_rate_limits=True)
    names = args.long_streams
    config = double.config(folder, names, request_timeout=args.long_timeout,
                           backoff_base_seconds=0.05, backoff_max_seconds=2.0)
    counts = ", ".join(f"{num(double.rows(n))} {SHORT[n]}" for n in names)
    print(f"\n5. Long run, {len(names)} stream{'s' * (len(names) > 1)} in one run: {counts}\n   "
          "(SMS within its 31 days; at 1 000 000 rows the rate limits of voice and SIP alone "
          "take ~17 and ~35 min);\n   "
          f"{args.fault_rate:.0%} of requests faulty ({', '.join(FAULT_KINDS)});\n   "
          f"request_timeout {args.long_timeout:g} s (the timeout fault sleeps "
          f"{faults['timeout_sleep']:g} s), backoff 0.05 s doubling up to 2 s, Retry-After "
          f"{faults['retry_after']:g} s\n   (the double built its data meanwhile; {waited:.0f} s "
          "were left to wait for it)")
    tally = Tally(config)
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(tap(config), stdout=subprocess.PIPE, stderr=err, env=ENV)
        sampler = Sampler(proc.pid, tally)
        sampler.sample()
        sampler.start()
        for line in proc.stdout:
            tally.feed(line)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = status
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        err.seek(0)
        log = err.read().decode(errors="replace")
    if status != 0:
        print(f"   the tap FAILED (status {status}):\n{log[-3000:]}")
    stats = double.stats()
    counted = stats["faults"]  # injected by the double, per stream
    per_stream = collections.defaultdict(list)
    for name, rss, threads, sockets in sampler.samples:
        per_stream[name].append((rss, threads, sockets))
    took = seconds_per_stream(log)
    print(f"   {'stream':16} {'rows':>9} {'exact':>5} {'requests':>8} {'minimum':>7} "
          f"{'faults':>7} {'seconds':>7}  max RSS MB  threads  sockets")
    for name in dict.fromkeys([*tally.order, *names]):  # in the order the tap read them
        if name not in BY_NAME:  # a stream outside the registry (not counted)
            continue
        seen = per_stream.get(name, [(0, 0, 0)])
        print(f"   {name:16} {tally.records[name]:9d} "
              f"{'yes' if tally.exact(name, double.expected(name)) else 'NO':>5} "
              f"{stats['requests'][name]:8d} {tally.minimum(name):7d} "
              f"{counted.get(name, 0):7d} {took.get(name, 0):7.0f}  "
              f"{max(s[0] for s in seen):10.1f}  {max(s[1] for s in seen):7d}  "
              f"{max(s[2] for s in seen):7d}")
    peak = usage.ru_maxrss / 1024
    syncing = [s for s in sampler.samples if s[0]] or sampler.samples
    threads = [s[2] for s in syncing]
    sockets = [s[3] for s in syncing]
    against = (f" against {tap_rss:.1f} MB in the {num(args.rows)}-row run "
               f"({peak / tap_rss - 1:+.0%}; goal: flat, <= +10%)" if tap_rss else "")
    print(f"   peak RSS {peak:.1f} MB{against}")
    rss = [s[1] for s in syncing]
    if len(rss) >= 10:  # flat over time too: the most RSS seen in each tenth of the run
        tenths = [max(rss[i * len(rss) // 10:(i + 1) * len(rss) // 10]) for i in range(10)]
        half = len(rss) // 2
        print(f"   RSS over the run, the most in each tenth (MB): "
              f"{' '.join(f'{t:.0f}' for t in tenths)}; second half against first "
              f"{max(rss[half:]) / max(rss[:half]) - 1:+.0%}")
    print("   (max RSS, threads, sockets: the most seen in the samples while that stream was read)")
    print(f"   threads while syncing: {threads[0]} at the start, min {min(threads)}, max "
          f"{max(threads)}, {threads[-1]} at the end; sockets: {sockets[0]}, min {min(sockets)}, "
          f"max {max(sockets)}, {sockets[-1]}")
    print(f"   {wall:.0f} s wall, {usage.ru_utime + usage.ru_stime:.0f} CPU-s, "
          f"{len(sampler.samples)} samples; exact: "
          f"{'yes' if all(tally.exact(n, double.expected(n)) for n in names) else 'NO'}")


# --- figure 6: many accounts ------------------------------------------------------------------
ACCOUNT_ROWS = {"flash_call_cdrs": 1000, "cc_cdrs": 1000, "sms_cdrs": 1000, "voice_cdrs": 200,
                "sip_cdrs": 100, "did_cdrs": 1000}


class Accounts:
    """N accounts, each a double of its own, served by one process (`nxcloud-double
    --accounts N`): their own keys, rows and rate limits."""

    def __init__(self, n: int, hours: float) -> None:
        cmd = [sys.executable, "-m", "nxcloud_double", "--accounts", str(n), "--seed", "1",
               "--timezone", ZONE, "--span-days", f"{hours / 24:.6f}"]
        for name, rows in ACCOUNT_ROWS.items():
            cmd += [f"--{SHORT[name].replace('_', '-')}-rows", str(rows)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        atexit.register(self.stop)
        line = self.proc.stdout.readline()
        if not line:
            sys.exit("the API doubles did not start")
        self.info = json.loads(line)

    def stats(self) -> list[dict]:
        return [requests.get(f"{url}/_double/stats", timeout=30).json()
                for url in self.info["urls"]]

    def config(self, folder: Path, only: int | None = None) -> Path:
        ends = [dt.datetime.fromisoformat(w[1]) for w in self.info["windows"].values()]
        now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=2)
        config = {**self.info["config"], "end_date": min(*ends, now).isoformat()}
        if only is not None:
            config["only_accounts"] = [a["name"] for a in config["accounts"][:only]]
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".json", delete=False) as f:
            json.dump(config, f)
        return Path(f.name)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


def run_accounts(config: Path) -> dict:
    """The tap over the accounts of `config`: wall, CPU, peak RSS, STATE bytes, distinct rows per
    stream (keys with their account), and rows seen twice."""
    seen: dict[str, set] = collections.defaultdict(set)
    dupes = state_bytes = states = 0
    decode = msgspec.json.Decoder(Message).decode
    keys = {spec.name: msgspec.json.Decoder(msgspec.defstruct(
        f"{spec.name}_akey", [(f, object) for f in ("account", *spec.primary_keys)])).decode
        for spec in STREAMS}
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(tap(config), stdout=subprocess.PIPE, stderr=err, env=ENV)
        for line in proc.stdout:
            if line.startswith(b'{"type":"RECORD"'):
                msg = decode(line)
                if msg.stream not in keys:  # the run's own sync_audit
                    continue
                key = hash(msgspec.structs.astuple(keys[msg.stream](msg.record)))
                dupes += key in seen[msg.stream]
                seen[msg.stream].add(key)
            elif b'"type":"STATE"' in line[:20]:
                state_bytes += len(line)
                states += 1
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = status
        wall = time.perf_counter() - started
        err.seek(0)
        log = err.read().decode(errors="replace")
    if status != 0:
        sys.exit(f"the tap failed:\n{log[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024, "state_bytes": state_bytes, "states": states,
            "rows": {s: len(k) for s, k in seen.items()}, "dupes": dupes,
            "seconds": seconds_per_stream(log)}


def many_accounts(args, folder: Path) -> None:
    n = args.accounts
    print(f"\n6. Many accounts in one process: {n} accounts, each a double of its own with "
          f"{', '.join(f'{v} {SHORT[k]}' for k, v in ACCOUNT_ROWS.items())} rows over "
          f"{args.accounts_hours:g} h (building the data...)")
    doubles = Accounts(n, args.accounts_hours)
    try:
        runs = {}
        for count in sorted({1, max(1, n // 10), n}):
            for url in doubles.info["urls"]:
                requests.post(f"{url}/_double/control", json={"clear_log": True,
                              "reset_rate_limits": True}, timeout=30)
            runs[count] = run_accounts(doubles.config(folder, only=count))
            sent = collections.Counter()
            voice_most = 0
            for stats in doubles.stats():
                sent.update(stats["requests"])
                voice_most = max(voice_most, stats["requests"].get("voice_cdrs", 0))
            runs[count]["sent"], runs[count]["voice_most"] = sent, voice_most
    finally:
        doubles.stop()
    print("   accounts    wall s   CPU-s   peak RSS MB   STATE msgs   STATE bytes   bytes/acct"
          "   rows exact")
    for count, r in runs.items():
        exact = all(r["rows"].get(s, 0) == rows * count for s, rows in ACCOUNT_ROWS.items())
        twice = f" ({r['dupes']} twice)" if r["dupes"] else ""
        print(f"   {count:8d} {r['wall']:9.1f} {r['cpu']:7.1f} {r['rss_mb']:13.1f} "
              f"{r['states']:12d} {num(r['state_bytes']):>13} "
              f"{num(r['state_bytes'] / count):>12}   "
              f"{'yes' if exact and not r['dupes'] else 'NO'}{twice}")
    one, many = runs[1], runs[n]
    sip = many["sent"].get("sip_cdrs", 0) * 2.0
    voice = many["voice_most"] * 1.0
    bound = max(many["cpu"], sip, voice)
    seq = sum(t for s, t in many["seconds"].items() if s not in PACED) + sip + voice
    print(f"   peak RSS, {n} accounts / one: {many['rss_mb'] / one['rss_mb']:.2f} (goal <= 2)")
    print(f"   wall time against what the rate limits and the CPU allow: {many['wall']:.0f} s / "
          f"max(CPU {many['cpu']:.0f} s, SIP {many['sent'].get('sip_cdrs', 0)} requests x 2 s = "
          f"{sip:.0f} s, voice {many['voice_most']} requests of one key x 1 s = {voice:.0f} s) "
          f"= {many['wall'] / bound:.2f} (goal <= 1.2)")
    print(f"   (voice and SIP read from the start, beside the others: one after another, the "
          f"other streams' own time plus SIP and voice paced would be {seq:.0f} s)")
    per = [r["state_bytes"] / c for c, r in runs.items()]
    print(f"   STATE bytes per account: {', '.join(num(b) for b in per)} for "
          f"{', '.join(map(str, runs))} accounts (linear: the same per account)")


def main() -> None:
    if sys.argv[1:2] == ["--replay-windows"]:  # the benchmark's own helper: see replay_main
        replay_main(*sys.argv[2:4])
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20_000,
                   help="rows per stream of flash, cc, SMS, DID, email and AI-agent calls for "
                        "figures 1 to 3 (0 skips them; the other streams: see the docstring)")
    p.add_argument("--paced-rows", type=int, default=2_000,
                   help="rows of voice and SIP in those runs (default 2 000)")
    p.add_argument("--span-days", type=float, default=3.0,
                   help="days the data of figures 1 to 3 spreads over (default 3: voice and "
                        "SIP take at least a request per 24 h, one a second or every 2 s)")
    p.add_argument("--repeat", type=int, default=3, help="CPU runs of each; the best is kept")
    p.add_argument("--latency-ms", type=float, default=50.0, help="figure 3 (0 skips it)")
    p.add_argument("--rate-rows", type=int, default=20_000,
                   help="rows of voice and of SIP for figure 4 (0 skips it; ~1.5 min)")
    p.add_argument("--long-rows", type=int, default=1_000_000,
                   help="rows per stream of flash, cc, SMS and DID in the long run (0 skips it)")
    p.add_argument("--long-paced-rows", type=int, default=20_000,
                   help="rows of voice and of SIP in the long run")
    p.add_argument("--long-streams", type=lambda v: tuple(v.split(",")), default=SIX,
                   help="comma-separated streams of the long run (default: the six CDR "
                        "streams, flash, cc, SMS, voice, SIP and DID), e.g. "
                        "voice_cdrs,sip_cdrs with --long-paced-rows 1000000 (~1 hour)")
    p.add_argument("--fault-rate", type=float, default=0.1, help="faulty share, long run")
    p.add_argument("--long-timeout", type=float, default=1.0,
                   help="the tap's request_timeout in the long run (seconds)")
    p.add_argument("--accounts", type=int, default=200,
                   help="figure 6: accounts in one run (0 skips it; 200: ~10 min)")
    p.add_argument("--accounts-hours", type=float, default=20.0,
                   help="figure 6: hours each account's data spreads over (one SIP window)")
    args = p.parse_args()
    unknown = set(args.long_streams) - set(NAMES)
    if unknown:
        p.error(f"--long-streams: no stream {', '.join(sorted(unknown))}; streams: "
                f"{', '.join(NAMES)}")
    with tempfile.TemporaryDirectory(prefix="tap-nxcloud-bench-") as folder:
        benchmark(args, Path(folder))


def benchmark(args, folder: Path) -> None:
    started = time.perf_counter()
    print(f"tap-nxcloud benchmark: API double on 127.0.0.1 (its own process), {os.cpu_count()} "
          f"cores, Python {sys.version.split()[0]}")
    tap_rss = None
    if args.rows:
        double, tap_rss = cpu_and_requests(args, folder)
        if args.latency_ms:
            latency(args, double, folder)
        double.stop()
    big = None
    if args.long_rows:  # built in the background while figure 4 runs (mostly waiting): minutes
        big = Double({name: args.long_paced_rows if name in PACED else args.long_rows
                      for name in args.long_streams}, 30)
    if args.rate_rows:
        pacing(args, folder)
    if big is not None:
        long_run(args, big, folder, tap_rss)
        big.stop()
    if args.accounts:
        many_accounts(args, folder)
    print(f"\n(benchmark: {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
