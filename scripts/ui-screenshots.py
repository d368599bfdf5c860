#!/usr/bin/env python3
"""The committed pictures of the web UI (docs/ui/*.png, linked from the README), made again:
`make screenshots`, or `python scripts/ui-screenshots.py OUT_DIR`.

Three hours of the demo's seeded traffic replayed by a real `journeyctl simulate --state` into a
fresh SQLite store, the actions of that replay through a real deliver loop into the same store (on an
embedded broker, to a local webhook receiver), `journeyctl ui` over it, each page photographed by
Debian's Chromium once its numbers are in.
"""
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
from playwright.sync_api import sync_playwright
from rich.console import Console

from journeyctl.engine.deliver.local import LocalWebhook
from journeyctl.engine.deliver.loop import DeliverSettings, Deliverer, Topics
from journeyctl.engine.deliver.monitor import DeliverReport
from journeyctl.engine.deliver.settings import build, channels_from
from journeyctl.engine.deliver.templates import TemplateSet
from journeyctl.engine.live.broker import EmbeddedBroker
from journeyctl.engine.live.kafka_edge import KafkaCluster, KafkaSettings, Producer
from journeyctl.engine.store.open import open_store
from journeyctl.engine.ui.app import UiServer
from journeyctl.engine.ui.reader import open_reader
from journeyctl.engine.testing.ui_sample import ROOT, launch_browser, simulate_into

PAGES = {"overview": "/", "journey": "/journeys/demo_cart_recovery", "segment": None, "customer": None}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.db"
        simulate_into(f"sqlite:///{state}", Path(tmp))
        print("deliver:", deliver_into(f"sqlite:///{state}", Path(tmp)))
        server = UiServer(open_reader(f"sqlite:///{state}"), port=0).start()
        try:
            with sync_playwright() as p:
                browser = launch_browser(p)
                page = browser.new_page(viewport={"width": 1360, "height": 900})
                shoot(page, server.url, "overview", out)
                segment = page.locator("table.segments a").first.get_attribute("href")
                customer = page.locator("#waiting a").first.get_attribute("href")
                shoot(page, server.url.rstrip("/") + "/journeys/demo_cart_recovery?period=24h", "journey", out)
                shoot(page, server.url.rstrip("/") + segment, "segment", out)
                shoot(page, server.url.rstrip("/") + customer, "customer", out)
                browser.close()
        finally:
            server.close()
    print(f"wrote {', '.join(str(out / f'{n}.png') for n in PAGES)}")


REFUSED = "sms"  # the channel the sample's receiver refuses, so the pictures show failures too


def deliver_into(state_url: str, workdir: Path, timeout: float = 120.0) -> dict:
    """The actions simulate_into wrote, through a real deliver loop into the same store: on an embedded
    broker, rendered with the project's templates, to a local webhook receiver that takes every channel
    but REFUSED (400: failed). Returns deliver's counts once every action is settled."""
    lines = [line for line in (workdir / "actions.jsonl").read_bytes().splitlines() if b'"action_id"' in line]
    hook = LocalWebhook().start()
    hook.mode["/" + REFUSED] = "refuse"
    try:
        with EmbeddedBroker() as broker:
            kafka = KafkaSettings(broker.bootstrap)
            settings = DeliverSettings(topics=Topics(), create_topics=True, fetch_wait_ms=10)
            channels = channels_from({ch: {"provider": "webhook", "url": f"{hook.url}/{ch}"}
                                      for ch in ("email", "sms", "whatsapp", "push", "in_app", "webhook")})
            loop = Deliverer(None, KafkaCluster(kafka), settings, channels, {ch: build(c, {}) for ch, c in channels.items()},
                             TemplateSet(ROOT / "templates"), DeliverReport(Console(quiet=True), "quiet", quiet=True))
            failure: list = []

            def run() -> None:  # the store in the loop's own thread: a SQLite connection stays in its thread
                store = loop.store = open_store(state_url)
                try:
                    store.deliver_tables()
                    loop.run()
                except BaseException as e:  # noqa: BLE001 - said by the caller
                    failure.append(e)
                finally:
                    store.close()

            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            producer = Producer(kafka)
            try:
                for line in lines:
                    producer.send(settings.topics.actions, orjson.loads(line)["customer_id"].encode(), line)
                producer.flush(30)
            finally:
                producer.close()
            c = loop.counts
            deadline = time.monotonic() + timeout
            while c.sent + c.failed + c.recorded + c.duplicates < len(lines) and not failure:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"deliver settled {c.sent + c.failed + c.recorded} of {len(lines)} actions")
                time.sleep(0.1)
            loop.stop()
            thread.join(30)
    finally:
        hook.stop()
    if failure:
        raise RuntimeError(f"deliver failed: {failure[0]}")
    return {"sent": c.sent, "failed": c.failed, "recorded": c.recorded}


def shoot(page, url: str, name: str, out: Path) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-updated]")
    page.wait_for_timeout(300)  # the chart's first frame
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/ui"))
