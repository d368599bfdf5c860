"""A seeded stream of events for comparing replays of the repository's journeys/ (`--jobs N` against one
process, the compiled build against the pure one): every trigger and wait those journeys use, identify
calls with the traits they read, and the input a real stream carries besides: late events, re-sent
messages, messages re-sent with a later time, events without a message id, and lines that cannot be used."""
from __future__ import annotations

import json
import random

START_MS = 1_772_323_200_000  # 2026-03-01T00:00:00Z
NAMES = ("product_viewed", "cart_abandoned", "purchase", "session_started", "app_opened", "signed_up",
         "account_deleted", "subscription_started", "subscription_cancelled", "payment_failed",
         "payment_succeeded", "fraud_suspected", "transaction_confirmed", "transaction_disputed",
         "teammate_invited", "first_project_created", "price_dropped", "item_wishlisted", "checkout_started")
BAD = (b"{not json", b"[1, 2]", b'{"event": "purchase", "timestamp": "2026-03-01T00:00:00Z"}',
       b'{"event": "purchase", "customer_id": "c1", "timestamp": "yesterday"}', b"")


def _iso(ms: int) -> str:
    seconds, milli = divmod(ms, 1000)
    from datetime import datetime, timezone
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{milli:03d}Z"


def event_lines(n: int, seed: int = 19, customers: int = 150, resent_later: bool = True) -> list[bytes]:
    """`resent_later=False` leaves out the re-sends stamped later than the clock (a split replay stays split)."""
    rng = random.Random(seed)
    t = START_MS
    sent: list[dict] = []
    lines: list[bytes] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.01:
            lines.append(rng.choice(BAD))
            continue
        if roll < 0.03 and sent:  # a re-sent message, exactly as before
            lines.append(json.dumps(rng.choice(sent)).encode())
            continue
        if roll < 0.035 and sent and resent_later:  # re-sent with a fresh, later time (the clock case --jobs must notice)
            again = dict(rng.choice(sent), timestamp=_iso(t + rng.randrange(1, 3_000)))
            lines.append(json.dumps(again).encode())
            continue
        t += rng.choice((0, 0, 250, 1_000, 30_000, 600_000, 3_600_000))
        stamp = t - rng.choice((6_000, 60_000, 600_000)) if roll < 0.06 else t - rng.randrange(0, 4_000)
        cid = f"c{rng.randrange(customers)}"
        if roll < 0.12:
            record = {"type": "identify", "userId": cid, "timestamp": _iso(stamp), "messageId": f"m{i}",
                      "traits": {"first_name": f"N{i % 7}", "email": f"{cid}@example.com" if rng.random() < .8
                                 else None, "phone": "+351900000000" if rng.random() < .5 else None,
                                 "plan": rng.choice(("trial", "pro", "enterprise")), "ltv": rng.randrange(0, 900),
                                 "marketing_consent": rng.random() < .8, "tier": rng.choice(("gold", "silver")),
                                 "account_manager": rng.choice((None, "Ana")), "company": "ACME",
                                 "timezone": rng.choice(("Europe/Lisbon", "America/New_York", None))}}
        else:
            props = {"cart_value": rng.choice((20, 60, 120.5)), "amount": rng.randrange(1, 400),
                     "category": rng.choice(("running", "running_shoes", "hats")), "sku": f"s{rng.randrange(9)}",
                     "risk_score": rng.randrange(0, 100), "transaction_id": f"t{rng.randrange(20)}",
                     "cart_url": f"https://shop.example/c/{i}", "segment": "window_shoppers",
                     "wishlisted": rng.random() < .5}
            record = {"event": rng.choice(NAMES), "customer_id": cid, "timestamp": _iso(stamp), "properties": props}
            if rng.random() < 0.9:
                record["message_id"] = f"m{i}"
        sent.append(record)
        lines.append(json.dumps(record).encode())
    return lines


def write_events(path, n: int, seed: int = 19, resent_later: bool = True) -> None:
    path.write_bytes(b"\n".join(event_lines(n, seed, resent_later=resent_later)) + b"\n")


def write_many(path, n: int, seed: int = 23, customers: int = 100_000) -> None:
    """A long stream of the same kinds of lines as event_lines, written fast enough for a test of a million
    events (event_lines takes a minute for that): the properties and traits are drawn from a few hundred
    variants written once, times advance by at most two seconds, and re-sent messages copy one of the last
    thousand lines as they were written."""
    rng = random.Random(seed)
    props = [json.dumps({"cart_value": rng.choice((20, 60, 120.5)), "amount": rng.randrange(1, 400),
                         "category": rng.choice(("running", "running_shoes", "hats")), "sku": f"s{rng.randrange(9)}",
                         "risk_score": rng.randrange(0, 100), "transaction_id": f"t{rng.randrange(20)}",
                         "segment": "window_shoppers", "wishlisted": rng.random() < .5}) for _ in range(512)]
    traits = [json.dumps({"first_name": f"N{k % 7}", "email": "x@example.com" if rng.random() < .8 else None,
                          "phone": "+351900000000" if rng.random() < .5 else None,
                          "plan": rng.choice(("trial", "pro", "enterprise")), "ltv": rng.randrange(0, 900),
                          "marketing_consent": rng.random() < .8, "tier": rng.choice(("gold", "silver")),
                          "timezone": rng.choice(("Europe/Lisbon", "America/New_York", None))}) for k in range(128)]
    minutes: dict = {}

    def iso(ms: int) -> str:
        minute, rest = divmod(ms, 60_000)
        prefix = minutes.get(minute)
        if prefix is None:
            prefix = minutes[minute] = _iso(minute * 60_000)[:17]
        return f"{prefix}{rest // 1000:02d}.{rest % 1000:03d}Z"

    t = START_MS
    recent: list[str] = []
    rand, choice, below = rng.random, rng.choice, rng.randrange
    with open(path, "w") as f:
        for i in range(n):
            roll = rand()
            if roll < 0.005:
                line = choice(BAD).decode()
            elif roll < 0.02 and recent:
                line = choice(recent)  # re-sent as it was
            else:
                t += choice((0, 250, 500, 1_000, 2_000))
                stamp = t - choice((6_000, 60_000)) if roll < 0.03 else t - below(0, 4_000)
                cid = f"c{below(customers)}"
                if roll < 0.1:
                    line = (f'{{"type":"identify","userId":"{cid}","timestamp":"{iso(stamp)}","messageId":"m{i}",'
                            f'"traits":{choice(traits)}}}')
                else:
                    line = (f'{{"event":"{choice(NAMES)}","customer_id":"{cid}","timestamp":"{iso(stamp)}",'
                            f'"message_id":"m{i}","properties":{choice(props)}}}')
                recent.append(line)
                if len(recent) > 2_000:
                    del recent[:1_000]
            f.write(line + "\n")
