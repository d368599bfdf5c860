"""The delivery half of `journeyctl demo`: local receivers, `deliver` beside `run`, what each customer got.

The demo starts a local SMTP server and a local webhook receiver (engine/deliver/local.py),
points email at the first and every other channel at the second, runs the delivery loop in a
thread of its own on the demo's broker and state file, and prints each message as it is
accepted. A scripted customer, Alex, looks at running shoes twice as the demo starts, so the
first message is always the seed example: "Hi Alex, check out the latest running shoes picked
just for you."
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from journeyctl.engine.core.events import format_instant

CHANNELS = ("whatsapp", "sms", "push", "in_app", "webhook")


class _Report:
    """Prints each accepted message, rendered; keeps what each customer received."""

    def __init__(self, console: Console, err: Console, templates):
        self.console, self.err, self.templates = console, err, templates
        self.received: dict = defaultdict(list)
        self.latest = None

    def note(self, text: str) -> None:
        if "cannot" in text or "failed" in text:
            self.err.print(Text(f"journeyctl deliver: {text}"), soft_wrap=True)

    def outcome(self, action: dict, outcome, attempts: int, latency_ms) -> None:
        if outcome.kind != "sent":
            self.console.print(Text(f"  ✗ {action['customer_id']:<13} {action['channel']:<9} not delivered: "
                                    f"{outcome.answer}", style="red"))
            return
        try:
            message = self.templates.render(action)
        except Exception:  # noqa: BLE001 - it was rendered once already; only the display would suffer
            return
        self.received[action["customer_id"]].append((action["channel"], message))
        line = Text("  ✉ ", style="green")
        line.append(f"{action['customer_id']:<13}", style="bold")
        line.append(f" {action['channel']:<9}{str(action.get('to') or ''):<28}", style="dim")
        line.append((f"[{message['subject']}] " if "subject" in message else "") + message["body"])
        self.console.print(line, soft_wrap=True)

    def status(self, d) -> None:
        pass

    def summary(self, limit: int = 12) -> Table:
        t = Table(title="What customers received (the last few)")
        t.add_column("customer")
        t.add_column("messages", justify="right")
        t.add_column("last message")
        for cid, got in list(self.received.items())[-limit:]:
            channel, message = got[-1]
            t.add_row(cid, str(len(got)), f"{channel}: {message['body']}")
        return t


class DemoDelivery:
    """Receivers plus the delivery loop, started and stopped with the demo."""

    def __init__(self, kafka, state_url: str, root: Path, console: Console, err: Console, actions_topic: str,
                 dead_letter_topic: str):
        from journeyctl.engine.deliver.local import LocalSmtp, LocalWebhook
        from journeyctl.engine.deliver.loop import DeliverSettings, Deliverer, Topics
        from journeyctl.engine.deliver.settings import build, channels_from
        from journeyctl.engine.deliver.templates import TemplateSet
        from journeyctl.engine.live.kafka_edge import KafkaCluster
        from journeyctl.engine.store.open import open_store

        self.hook = LocalWebhook().start()
        self.smtp = LocalSmtp().start()
        delivery = {"email": {"provider": "smtp", "port": self.smtp.port, "from": "shop@example.com"},
                    **{ch: {"provider": "webhook", "url": f"{self.hook.url}/{ch}"} for ch in CHANNELS}}
        channels = channels_from(delivery)
        providers = {ch: build(c, {}) for ch, c in channels.items()}
        self.templates = TemplateSet(root / "templates")
        self.report = _Report(console, err, self.templates)
        settings = DeliverSettings(topics=Topics(actions_topic, "journey.deliveries", dead_letter_topic),
                                   create_topics=True, fetch_wait_ms=10)
        # the store is opened by the loop's own thread: a SQLite connection stays in the thread that made it
        self._open = lambda: open_store(state_url)
        self.loop = Deliverer(None, KafkaCluster(kafka), settings, channels, providers, self.templates, self.report)
        self._thread = threading.Thread(target=self._run, name="journeyctl-demo-deliver", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        store = None
        try:
            store = self.loop.store = self._open()
            store.deliver_tables()
            self.loop.run()
        except BaseException as e:  # noqa: BLE001 - said at the end of the demo
            self.error = e
        finally:
            if store is not None:
                store.close()

    def start(self) -> "DemoDelivery":
        self._thread.start()
        return self

    def where(self) -> str:
        return f"email to SMTP on 127.0.0.1:{self.smtp.port}, other channels to a webhook on {self.hook.url}"

    def stop(self) -> None:
        self.loop.stop()
        self._thread.join(15)
        if self.error is not None:
            self.report.err.print(Text(f"journeyctl deliver: {self.error}"), soft_wrap=True)
        self.hook.stop()
        self.smtp.stop()


def alex(kafka, topic: str) -> None:
    """The scripted first customer: identified, then two looks at running shoes."""
    from journeyctl.engine.live.kafka_edge import Producer

    now = int(time.time() * 1000)
    events = [{"type": "identify", "userId": "alex", "timestamp": format_instant(now), "messageId": f"alex-{now}-0",
               "traits": {"first_name": "Alex", "phone": "+351910000042", "email": "alex@example.com",
                          "marketing_consent": True, "timezone": "Europe/Lisbon"}}]
    for i, sku in enumerate(("RUN-42", "RUN-7"), 1):
        events.append({"event": "product_viewed", "customer_id": "alex", "timestamp": format_instant(now + i * 100),
                       "message_id": f"alex-{now}-{i}", "properties": {"category": "running_shoes", "sku": sku}})
    p = Producer(kafka)
    try:
        for ev in events:
            p.send(topic, b"alex", orjson.dumps(ev))
        p.flush(10)
    finally:
        p.close()
