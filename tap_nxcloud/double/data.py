"""The double's rows, generated deterministically from a seed in the canonical types of the
contract (wall-clock times "yyyy-MM-dd HH:mm:ss" in the double's zone), sorted by time.

`Table` (table.py) keeps them; it is re-exported here, where tests have always found it.
"""

from __future__ import annotations

import datetime as dt
import math
import random

from .table import Table, encode

__all__ = ["WALL", "Table", "cc_rows", "did_rows", "encode", "flash_rows", "sip_rows",
           "sms_rows", "voice_rows"]

FLASH_FIELDS = ("id", "customerId", "appId", "msisdn", "callingNumber", "token", "requestId",
                "ip", "price", "gmtCreate", "gmtModified", "callStartAt", "callEndAt",
                "callbackAt", "callStatus")
NAMES = [(None, None), ("NX094450006938", "Sample Agent"), ("NX0001", "牛小信"),
         ("NX0002", "Zoë Müller-Łukasiewicz"), ("NX0003", "José Ñúñez"), ("NX0004", "李雷 🎧")]
WALL = "%Y-%m-%d %H:%M:%S"


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


# --- SMS, voice, SIP and DID ---------------------------------------------------------------
COUNTRIES = [("62", "Indonesia"), ("91", "India"), ("55", "Brasil"), ("852", "Hong Kong"),
             ("84", "Việt Nam"), ("66", "Thailand"), ("52", "México")]
SMS_TEXTS = ["Your verification code is {c}. It expires in 5 minutes.",
             "【牛小信】您的验证码是{c}，5分钟内有效。",  # noqa: RUF001 (real Chinese punctuation)
             "Código de verificação: {c} ✅",
             "Ваш код подтверждения: {c}", "Mã xác minh của bạn là {c}",
             "รหัสยืนยันของคุณคือ {c}", "Kode OTP Anda {c}. Jangan berikan kode ini kepada siapa pun.",
             "🎉 Flash sale: 50% off today only! Reply STOP to opt out. Ref {c}"]
SMS_REPORTS = [("DELIVRD", "Successful", "Yes")] * 6 + [
    ("UNDELIV", "Failed", "No"), ("EXPIRED", "Failed", "No"), ("REJECTD", "Failed", "Yes")]
NETWORKS = ["893", "791", "46000", "51010", "72405", "45400", "45201", None]
HANGUPS = ["NO_ANSWER", "USER_BUSY", "CALL_REJECTED", "ORIGINATOR_CANCEL", "UNALLOCATED_NUMBER",
           "NORMAL_TEMPORARY_FAILURE", "RECOVERY_ON_TIMER_EXPIRE"]
DID_ENDS = [("-7", "Caller Hang-up"), ("-8", "Callee Hang-up"), ("486", "Busy Here"),
            ("480", "Temporarily Unavailable"), ("487", "Request Terminated")]


def _clock(rng: random.Random, n: int, start: str, span_seconds: int):
    """n sorted naive datetimes in [start, start + span_seconds)."""
    base = dt.datetime.strptime(start, WALL)
    offsets = sorted(rng.randrange(max(1, span_seconds)) for _ in range(n))
    return [base + dt.timedelta(seconds=o) for o in offsets]


def _wall(t: dt.datetime | None) -> str | None:
    return t.strftime(WALL) if t is not None else None


def _later(t: dt.datetime, seconds: int) -> dt.datetime:
    return t + dt.timedelta(seconds=seconds)


def _number(rng: random.Random, cc: str) -> str:
    return f"{cc}{rng.randrange(10**8, 10**10)}"


def _unset(rng: random.Random) -> str | None:
    """A time not (yet) known: the API writes null or ""."""
    return None if rng.random() < 0.5 else ""


def sms_rows(n: int, *, seed: int, start: str, span_seconds: int, prefix: str = "") -> list[dict]:
    """n SMS rows (key msgid+phone): one send to 1-3 phones shares a msgid and date; about one
    in eight still awaits its delivery report (dr, dr_status, billing_status null; dr_time null
    or "")."""
    rng = random.Random(f"sms-{seed}-{prefix}")
    times = _clock(rng, n, start, span_seconds)
    out: list[dict] = []
    while len(out) < n:
        sent = times[len(out)]
        h = f"{rng.getrandbits(128):032x}"
        msgid = prefix + (h if rng.random() < 0.5 else
                          f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        text = rng.choice(SMS_TEXTS).format(c=rng.randrange(1000, 10**6))
        per_part = 160 if text.isascii() else 70  # GSM-7 or UCS-2
        size = max(1, math.ceil(len(text) / per_part))
        cc, _ = rng.choice(COUNTRIES)
        price = rng.choice([0.0042, 0.009, 0.0125, 0.035, 0.09])
        sender = rng.choice(["", "NXCLOUD", "InfoSMS", None])
        for _ in range(min(rng.choice([1, 1, 1, 1, 2, 3]), n - len(out))):
            pending = rng.random() < 0.12
            dr, status, billed = (None, None, None) if pending else rng.choice(SMS_REPORTS)
            out.append({
                "msgid": msgid, "phone": _number(rng, cc), "date": _wall(sent),
                "senderid": sender, "body": text, "dr_status": status, "billing_size": size,
                "billing_price": price,
                "dr_time": _unset(rng) if pending else _wall(_later(sent, rng.randrange(2, 900))),
                "billing_status": billed, "network": rng.choice(NETWORKS), "dr": dr,
            })
    return out


def voice_rows(n: int, *, seed: int, voice_type: int, start: str, span_seconds: int,
               first_id: int = 1) -> list[dict]:
    """n voice rows of one request voiceType (0 group call, 1 OTP/notification), carried as the
    internal field "voiceType". Group rows have basic_price and ivr_result, the others
    voice_type (1 verification, 2 notification), as in the vendor's two examples."""
    rng = random.Random(f"voice-{seed}-{voice_type}")
    out = []
    campaign = str(rng.randrange(10**4, 10**6))
    for i, started in enumerate(_clock(rng, n, start, span_seconds)):
        if voice_type == 1 or rng.random() < 0.05:
            campaign = str(rng.randrange(10**4, 10**6))  # OTP: one messageid a call
        cc, _ = rng.choice(COUNTRIES)
        connected = rng.random() < 0.7
        ring = rng.randrange(2, 30)
        second = rng.randrange(1, 240) if connected else 0
        cycle = rng.choice([1, 6, 20, 60])
        row = {
            "voiceType": voice_type, "id": first_id + i,
            "result": "Successful connection" if connected else rng.choice(
                ["No answer", "Busy", "Rejected", "Empty number"]),
            "cycle": cycle, "time": _wall(_later(started, ring)) if connected else _unset(rng),
            "start_time": _wall(started), "end_time": _wall(_later(started, ring + second)),
            "phone": _number(rng, cc), "second": second, "countryCode": cc,
            "messageid": campaign, "customer_price": rng.choice([0.012, 0.05, 0.0835, 0.1]),
            "show_phone": f"{rng.randrange(10**8, 10**10)}", "size": math.ceil(second / cycle),
        }
        if voice_type == 0:
            row["basic_price"] = rng.choice([0.0, 0.005, 0.01])
            row["ivr_result"] = str(rng.randrange(1, 4)) if connected and rng.random() < 0.5 \
                else None
        else:
            row["voice_type"] = rng.choice([1, 2])
        out.append(row)
    return out


def sip_rows(n: int, *, seed: int, start: str, span_seconds: int, first_id: int = 1,
             ) -> list[dict]:
    """n SIP rows: direction 0 incoming / 1 outgoing, record_url only when someone talked."""
    rng = random.Random(f"sip-{seed}")
    phones = [(f"62822156998{k:02d}", name) for k, name in enumerate(
        ["name", "前台", "Zoë's desk", "Sales 01", None, "José Ñúñez"])]
    out = []
    for i, started in enumerate(_clock(rng, n, start, span_seconds)):
        cc, _ = rng.choice(COUNTRIES)
        answered = rng.random() < 0.65
        ring = rng.randrange(1, 30)
        talk = rng.randrange(1, 900) if answered else 0
        username, nickname = rng.choice(phones)
        phone = f"{rng.randrange(10**8, 10**10)}"
        sid = first_id + i
        out.append({
            "id": sid, "start_time": _wall(started),
            "answer_time": _wall(_later(started, ring)) if answered else _unset(rng),
            "end_time": _wall(_later(started, ring + talk)), "sipid": 1_055_000 + sid,
            "username": username, "mobile_name": nickname, "duration": talk, "phone": phone,
            "orderid": f"FLNK-{rng.getrandbits(64):016x}-{rng.getrandbits(40)}",
            "show_phone": username, "record_url": f"https://sip-records.example/{sid}.wav"
            if talk else None, "direction": rng.choice([0, 1]),
            "effective_called_number": cc + phone,
            "hangup_cause": "NORMAL_CLEARING" if answered else rng.choice(HANGUPS),
            "country_code": cc,
        })
    return out


def did_rows(n: int, *, seed: int, start: str, span_seconds: int, first_id: int = 1,
             ) -> list[dict]:
    """n DID rows: feeType 0 bills whole minutes (60+60), 1 by the second (1+1)."""
    rng = random.Random(f"did-{seed}")
    out = []
    for i, started in enumerate(_clock(rng, n, start, span_seconds)):
        cc, country = rng.choice(COUNTRIES)
        answered = rng.random() < 0.8
        duration = rng.randrange(1, 900) if answered else 0
        fee_type = rng.choice([0, 1])
        minutes = math.ceil(duration / 60) if fee_type == 0 else round(duration / 60, 2)
        unit = rng.choice([0.012, 0.055, 0.1, 0.3])
        reason, reason_name = rng.choice(DID_ENDS)
        out.append({
            "id": first_id + i, "startTime": _wall(started),
            "endTime": _wall(_later(started, duration + rng.randrange(0, 20)))
            if rng.random() < 0.97 else _unset(rng),
            "number": f"66{rng.randrange(10**8, 10**9)}", "callNumber": _number(rng, cc),
            "callType": rng.choice([0, 0, 0, 1]), "countryName": country,
            "callDuration": duration, "feeType": fee_type, "feeDurationMinute": minutes,
            "callPriceUnit": unit, "callPrice": round(unit * minutes, 4),
            "endDirection": rng.choice([0, 1, 2]), "endReason": reason,
            "endReasonName": reason_name,
            "callerIp": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "calleeIp": rng.choice([None, "127.0.0.1", f"172.16.{rng.randrange(256)}.9"]),
        })
    return out
