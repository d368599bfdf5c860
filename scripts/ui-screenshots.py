#!/usr/bin/env python3
"""The committed pictures of the web UI (docs/ui/*.png, linked from the README), made again:
`make screenshots`, or `python scripts/ui-screenshots.py OUT_DIR`.

Three hours of the demo's seeded traffic replayed by a real `journeyctl simulate --state` into a
fresh SQLite store, `journeyctl ui` over it, each page photographed by Debian's Chromium once its
numbers are in.
"""
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from journeyctl.engine.ui.app import UiServer
from journeyctl.engine.ui.reader import open_reader
from journeyctl.engine.testing.ui_sample import launch_browser, simulate_into

PAGES = {"overview": "/", "journey": "/journeys/demo_cart_recovery", "segment": None, "customer": None}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.db"
        simulate_into(f"sqlite:///{state}", Path(tmp))
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


def shoot(page, url: str, name: str, out: Path) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-updated]")
    page.wait_for_timeout(300)  # the chart's first frame
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/ui"))
