"""Render cost of a message: Liquid templates parsed once and cached, rendered per action.

usage: .venv/bin/python bench/deliver_render.py [--n 200000]
Prints µs per message for a short WhatsApp text and an email with a subject and a loop.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from journeyctl.engine.deliver.templates import TemplateSet

TEMPLATES = {
    "picks.whatsapp.liquid": 'Hi {{ name | default: "there" }}, check out the latest running shoes picked just for you.',
    "picks.email.liquid": ("---\nsubject: \"{{ discount }} off running shoes, {{ name }}\"\n---\n"
                           "Hi {{ name }},\n{% for sku in skus %}- {{ sku | upcase }}\n{% endfor %}"
                           "{% if size %}All in size {{ size }}.{% endif %}"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-render-"))
    for name, text in TEMPLATES.items():
        (folder / name).write_text(text)
    templates = TemplateSet(folder)
    for channel, variables in (("whatsapp", {"name": "Alex"}),
                               ("email", {"name": "Alex", "discount": "10%", "skus": ["run-1", "run-2", "run-3"],
                                          "size": 43})):
        action = {"template": "picks", "channel": channel, "customer_id": "c1", "journey": "j", "action_id": "a",
                  "variables": variables}
        templates.render(action)  # parsed and cached
        start = time.perf_counter()
        for _ in range(args.n):
            templates.render(action)
        took = time.perf_counter() - start
        print(f"{channel:<9} {took / args.n * 1e6:7.1f} µs/message ({args.n:,} renders, cached template)")


if __name__ == "__main__":
    main()
