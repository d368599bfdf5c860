"""Live traffic for the demo: customers doing plausible things, each event stamped at wall-clock now.

Visits start at random (a Poisson stream of `rate` per second). Each visit is a small
script of events spread over the next seconds: a shopper browses and leaves a cart
(some come back and buy, some before the reminder, some after); a card payment
fails (some retry and succeed); somebody signs up (most open the app, some never
do); a big purchase makes a gold member; a card transaction looks like fraud and
the customer confirms it, disputes it or says nothing. Customers are identified
first (name, contacts, consent, lifetime value, time zone), so audiences, channel
reachability and branches all have something to work on.
"""
from __future__ import annotations

import heapq
import random
import threading
import time

import orjson

from journeyctl.engine.core.events import format_instant

FIRST_NAMES = ["Ana", "Ben", "Chloé", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Mo",
               "Nia", "Omar", "Pia", "Quinn", "Rui", "Sara", "Tom", "Uma", "Vik", "Wen", "Yara", "Zoe"]
ZONES = ["Europe/Lisbon", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Tokyo", "UTC"]
CATEGORIES = ["running_shoes", "jackets", "bags", "hats", "watches"]
MERCHANTS = ["Coffee Lab", "MegaStore", "AirTix", "BookNook", "GadgetHub"]


class Traffic:
    """`due(now_ms)` returns the events whose moment has come, as dicts ready to send."""

    def __init__(self, rate: float = 2.0, customers: int = 400, seed: int | None = None):
        self.rate = rate
        self.rng = random.Random(seed)
        self.customers = customers
        self.known: set[str] = set()       # identified customers
        self._known_list: list[str] = []   # the same, in order, to pick from
        self._heap: list = []
        self._seq = 0
        self._next_visit: float | None = None
        self.scripts = [(self._shopper, 40), (self._payment, 15), (self._signup, 15), (self._big_spender, 8),
                        (self._fraud, 7), (self._browser, 15)]

    def due(self, now_ms: int) -> list[dict]:
        if self._next_visit is None:
            self._next_visit = now_ms
        while self._next_visit <= now_ms:
            self._visit(int(self._next_visit))
            self._next_visit += self.rng.expovariate(self.rate) * 1000
        out = []
        while self._heap and self._heap[0][0] <= now_ms:
            _, _, customer, name, extra = heapq.heappop(self._heap)
            self._seq += 1
            msg = f"live-{now_ms}-{self._seq}"
            if name == "identify":
                out.append({"type": "identify", "userId": customer, "timestamp": format_instant(now_ms),
                            "messageId": msg, "traits": extra})
            else:
                out.append({"event": name, "customer_id": customer, "timestamp": format_instant(now_ms),
                            "message_id": msg, "properties": extra})
        return out

    # ---- visits -------------------------------------------------------------------------------

    def _at(self, t: float, customer: str, name: str, extra: dict) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (int(t), self._seq, customer, name, extra))

    def _visit(self, now: int) -> None:
        script = self.rng.choices([s for s, _ in self.scripts], [w for _, w in self.scripts])[0]
        new = script == self._signup
        customer = self._customer(new)
        t = float(now)
        if customer not in self.known:
            self.known.add(customer)
            self._known_list.append(customer)
            self._at(t, customer, "identify", self._traits(customer))
            t += 50
        script(customer, t)

    def _customer(self, new: bool) -> str:
        """A brand-new customer for a sign-up; else mostly one seen before, sometimes a returning stranger."""
        if new:
            return f"cust-{self.rng.randrange(10_000_000):07d}"
        if not self.known or self.rng.random() < 0.2:
            return f"cust-{self.rng.randrange(self.customers):04d}"
        return self.rng.choice(self._known_list)

    def _traits(self, customer: str) -> dict:
        r = self.rng
        name = r.choice(FIRST_NAMES)
        traits = {"first_name": name, "email": f"{name.lower()}.{customer[-4:]}@example.com",
                  "marketing_consent": r.random() < 0.85, "ltv": r.randrange(0, 1500), "timezone": r.choice(ZONES),
                  "plan": r.choice(["trial", "pro", "free"])}
        if r.random() < 0.7:
            traits["phone"] = f"+3519{r.randrange(10_000_000, 99_999_999)}"
        if r.random() < 0.6:
            traits["push_token"] = f"tok-{customer}"
        return traits

    def _seconds(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high) * 1000

    def _shopper(self, c: str, t: float) -> None:
        r = self.rng
        category = r.choice(CATEGORIES)
        for _ in range(r.randint(1, 4)):
            self._at(t, c, "product_viewed", {"category": category, "sku": f"{category[:3].upper()}-{r.randrange(99)}",
                                              "price": r.randrange(15, 250)})
            t += self._seconds(0.5, 3)
        value = round(r.uniform(20, 320), 2)
        self._at(t, c, "cart_abandoned", {"cart_value": value, "cart_url": f"https://shop.example/cart/{c}"})
        if r.random() < 0.4:  # comes back and buys: sometimes before the reminder, sometimes after
            self._at(t + self._seconds(4, 45), c, "purchase", {"amount": value, "category": category})

    def _payment(self, c: str, t: float) -> None:
        amount = round(self.rng.uniform(9, 400), 2)
        self._at(t, c, "payment_failed", {"amount": amount, "reason": self.rng.choice(["expired_card", "declined"])})
        if self.rng.random() < 0.5:
            self._at(t + self._seconds(5, 40), c, "payment_succeeded", {"amount": amount})

    def _signup(self, c: str, t: float) -> None:
        self._at(t, c, "signup_completed", {"source": self.rng.choice(["ads", "friend", "search"])})
        if self.rng.random() < 0.6:
            self._at(t + self._seconds(3, 45), c, "app_opened", {})

    def _big_spender(self, c: str, t: float) -> None:
        self._at(t, c, "purchase", {"amount": round(self.rng.uniform(150, 600), 2),
                                    "category": self.rng.choice(CATEGORIES)})

    def _fraud(self, c: str, t: float) -> None:
        r = self.rng
        tx = f"tx-{r.randrange(10**9)}"
        props = {"transaction_id": tx, "risk_score": r.randrange(60, 100), "amount": round(r.uniform(50, 900), 2),
                 "merchant": r.choice(MERCHANTS)}
        self._at(t, c, "fraud_suspected", props)
        answer = r.random()
        if answer < 0.45:
            self._at(t + self._seconds(3, 25), c, "transaction_confirmed", {"transaction_id": tx})
        elif answer < 0.7:
            self._at(t + self._seconds(3, 25), c, "transaction_disputed", {"transaction_id": tx})

    def _browser(self, c: str, t: float) -> None:
        self._at(t, c, "app_opened", {})
        self._at(t + self._seconds(1, 5), c, "product_viewed", {"category": self.rng.choice(CATEGORIES),
                                                                "price": self.rng.randrange(15, 250)})


def key_of(event: dict) -> bytes:
    return str(event.get("customer_id") or event.get("userId")).encode()


def produce_traffic(kafka, topic: str, stop: threading.Event, *, rate: float = 2.0, seed: int | None = None,
                    on_error=None) -> None:
    """Send traffic to `topic` until `stop` is set (run it in a thread)."""
    from journeyctl.engine.live.kafka_edge import EdgeError, Producer

    traffic = Traffic(rate=rate, seed=seed)
    producer = None
    while not stop.is_set():
        try:
            producer = producer or Producer(kafka)
            for ev in traffic.due(int(time.time() * 1000)):
                producer.send(topic, key_of(ev), orjson.dumps(ev))
        except EdgeError as e:
            if on_error:
                on_error(str(e))
            stop.wait(1.0)
        stop.wait(0.1)
    if producer is not None:
        try:
            producer.flush(2.0)
        except EdgeError:
            pass  # the demo is stopping; what was not sent does not matter
        finally:
            producer.close()
