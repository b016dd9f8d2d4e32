"""The double's rows: generated deterministically from a seed, kept sorted, added to at run time.

Rows are stored JSON-encoded beside their sort keys, so that a million of them cost little memory
and a page is a join of bytes; `rows()` decodes them for tests that compare.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import random
import threading

FLASH_FIELDS = ("id", "customerId", "appId", "msisdn", "callingNumber", "token", "requestId",
                "ip", "price", "gmtCreate", "gmtModified", "callStartAt", "callEndAt",
                "callbackAt", "callStatus")
NAMES = [(None, None), ("NX094450006938", "Sample Agent"), ("NX0001", "牛小信"),
         ("NX0002", "Zoë Müller-Łukasiewicz"), ("NX0003", "José Ñúñez"), ("NX0004", "李雷 🎧")]
WALL = "%Y-%m-%d %H:%M:%S"


def encode(row: dict) -> bytes:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()


class Table:
    """Rows sorted by key (with a tiebreak), thread-safe for the server's handler threads."""

    def __init__(self, key: str, tiebreak: str) -> None:
        self.key, self.tiebreak = key, tiebreak
        self.keys: list = []  # (key, tiebreak), sorted
        self.primary: list = []  # key alone, for range look-ups
        self.blobs: list[bytes] = []
        self.lock = threading.Lock()

    def add(self, rows: list[dict]) -> None:
        with self.lock:
            if not self.keys and rows == sorted(rows, key=self._order):
                self.keys = [self._order(r) for r in rows]
                self.primary = [k[0] for k in self.keys]
                self.blobs = [encode(r) for r in rows]
                return
            for row in rows:
                k = self._order(row)
                i = bisect.bisect_left(self.keys, k)
                if i < len(self.keys) and self.keys[i] == k:  # same id: an update in place
                    self.blobs[i] = encode(row)
                    continue
                self.keys.insert(i, k)
                self.primary.insert(i, k[0])
                self.blobs.insert(i, encode(row))

    def _order(self, row: dict) -> tuple:
        return (row[self.key], row[self.tiebreak])

    def span(self, lo, hi, *, include_hi: bool = True) -> tuple[int, int]:
        """Index range of rows with lo <= key <= hi (or < hi)."""
        left = bisect.bisect_left(self.primary, lo)
        right = (bisect.bisect_right(self.primary, hi) if include_hi
                 else bisect.bisect_left(self.primary, hi))
        return left, right

    def rows(self) -> list[dict]:
        with self.lock:
            return [json.loads(b) for b in self.blobs]

    def __len__(self) -> int:
        return len(self.keys)


def flash_rows(n: int, *, seed: int, start: str, span_seconds: int, first_id: int = 1,
               ) -> list[dict]:
    """n flash-call rows with `gmtCreate` wall-clock strings spread over span_seconds."""
    rng = random.Random(f"flash-{seed}")
    base = dt.datetime.strptime(start, WALL)
    offsets = sorted(rng.randrange(span_seconds) for _ in range(n))
    out = []
    for i, off in enumerate(offsets):
        created = base + dt.timedelta(seconds=off)
        done = rng.random() < 0.9
        calling = f"21{rng.randrange(10**8):08d}"
        start_at = created + dt.timedelta(seconds=rng.randrange(1, 5)) if done else None
        end_at = start_at + dt.timedelta(seconds=rng.randrange(1, 9)) if start_at else None
        out.append({
            "id": first_id + i, "customerId": 1, "appId": rng.randrange(1, 4),
            "msisdn": f"86{rng.randrange(10**10):010d}", "callingNumber": calling,
            "token": calling[-4:], "requestId": f"{rng.getrandbits(128):032x}",
            "ip": None if rng.random() < 0.5 else f"10.{rng.randrange(256)}.{rng.randrange(256)}.7",
            "price": rng.choice([0.0, 0.012, 0.035, 0.1]),
            "gmtCreate": created.strftime(WALL),
            "gmtModified": end_at.strftime(WALL) if end_at else None,
            "callStartAt": start_at.strftime(WALL) if start_at else None,
            "callEndAt": end_at.strftime(WALL) if end_at else None,
            "callbackAt": (end_at + dt.timedelta(seconds=1)).strftime(WALL)
            if end_at and rng.random() < 0.3 else None,
            "callStatus": rng.randrange(0, 4) if done else 0,
        })
    return out


def cc_rows(n: int, *, seed: int, start_ms: int, span_ms: int, prefix: str = "") -> list[dict]:
    """n contact-center rows with `startTime` (epoch ms) spread over span_ms."""
    rng = random.Random(f"cc-{seed}-{prefix}")
    times = sorted(start_ms + rng.randrange(span_ms) for _ in range(n))
    out = []
    for i, start in enumerate(times):
        answered = rng.random() < 0.7
        agent, nick = rng.choice(NAMES[1:]) if answered else rng.choice(NAMES)
        queue_in = start + rng.randrange(0, 200)
        ring = queue_in + rng.randrange(1000, 30000)
        answer = ring + rng.randrange(1000, 8000) if answered else 0
        end = (answer or ring) + rng.randrange(2000, 600000)
        out.append({
            "agentName": agent, "agentNickName": nick, "answered": answered,
            "answerTime": answer, "callDuration": (end - answer) // 1000 if answered else 0,
            "callee": f"852{rng.randrange(10**8):08d}", "caller": f"852{rng.randrange(10**8):08d}",
            "callId": f"{prefix}{rng.getrandbits(100):025x}{i:x}", "direction": rng.randrange(3),
            "dtmfKeys": rng.choice([None, "1", "1,2", "0,#"]), "endTime": end,
            "hangupBy": rng.randrange(3), "hangupCode": rng.choice([1001, 1103, 1200]),
            "callStatus": "Normal termination" if answered else "Missed call",
            "hangupReason": rng.choice(["Agent hung up", "User abandoned the queue",
                                        "Caller hung up"]),
            "inQueueTime": queue_in, "leaveMsgUrl": None, "orderId": "", "other": None,
            "intent": None, "outQueueTime": ring, "queueDuration": ring - queue_in,
            "recordUrl": f"https://records.example/{i}.mp3" if answered else None,
            "ringDuration": (answer - ring) // 1000 if answered else 0,
            "ringTime": ring, "startTime": start, "taskId": "",
            "totalCustomerPrice": rng.choice([0.0, 0.035, 0.07, 1.25]),
        })
    return out
