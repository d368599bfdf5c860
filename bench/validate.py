#!/usr/bin/env python3
"""How long does `journeyctl validate` take on a big project? Target: 1,000 files in under 2 s, one core.

Generates 1,000 varied journeys (one-liners, full forms with every setting,
nested branches, splits, aggregates, segments) into a temporary folder, then
validates them in-process exactly as the CLI does (config, loader, compiler,
text rendering), timing from a cold start: the grammar is built inside the timed
part, as it would be in a fresh CI job.

usage: .venv/bin/python bench/validate.py [--files N] [--seed S] [--keep DIR]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EVENTS = ["signup", "purchase", "cart_abandoned", "app_opened", "trial_started", "login", "page_viewed",
          "subscription_started", "order_placed", "account_deleted", '"Order Completed"', "price_dropped"]
CHANNELS = ["email", "sms", "whatsapp", "push", "in_app", "webhook"]
DURATIONS = ["45s", "30m", "2h", "1d", "1h30m", "1d12h", "3d", "1w"]
PROPS = ["amount", "cart_value", "category", "plan", "device", "country"]


def _cond(r: random.Random, depth: int = 0) -> str:
    """A random condition over the whole expression grammar."""
    simple = [
        f"{r.choice(PROPS)} {r.choice(['==', '!=', '<', '<=', '>', '>='])} {r.randint(0, 500)}",
        f'{r.choice(PROPS)} == "{r.choice(["FR", "ios", "pro", "running"])}"',
        f'profile.{r.choice(["ltv", "age", "score"])} > {r.randint(1, 900)}',
        f'{r.choice(PROPS)} in ["a", "b", "c"]',
        f'tags contains "{r.choice(["sale", "new"])}"',
        f"count({r.choice(EVENTS[:6])} within {r.choice(DURATIONS)}) >= {r.randint(1, 5)}",
        f"sum(purchase.amount where category == \"shoes\") > {r.randint(10, 999)}",
        f"now() - last_seen(app_opened) > {r.choice(DURATIONS)}",
        f"(amount + {r.randint(1, 9)}) * 2 > total / 3 - 1",
        "lower(profile.country) == \"fr\"",
    ]
    c = r.choice(simple)
    if depth < 1 and r.random() < 0.3:
        c = f"{c} {r.choice(['and', 'or'])} {'not ' if r.random() < 0.2 else ''}{_cond(r, depth + 1)}"
    return c


def _send(r: random.Random) -> str:
    targets = " or ".join(f'{ch} "t_{r.randint(1, 99)}"' for ch in r.sample(CHANNELS, r.randint(1, 2)))
    if r.random() < 0.3:
        targets += r.choice([' with name = profile.first_name', ' with greeting = "Hi {profile.first_name}"',
                             ' with url = trigger.cart_url, n = amount * 2'])
    return "send " + targets


def _steps(r: random.Random, indent: str, depth: int) -> list[str]:
    """A flow shaped like the ones people write: a handful of steps, blocks at most two deep."""
    out = []
    for _ in range(r.randint(2, 5) if depth == 0 else r.randint(1, 2)):
        kind = r.random()
        if kind < 0.35:
            out.append(f"{indent}wait {r.choice(DURATIONS)}" + (f" unless {r.choice(EVENTS[:6])}" if r.random() < .5 else ""))
        elif kind < 0.65 or depth >= 1:
            out.append(f"{indent}{_send(r)}")
        elif kind < 0.7:
            out += [f"{indent}if {_cond(r)}", *_steps(r, indent + "  ", depth + 1),
                    f"{indent}else", *_steps(r, indent + "  ", depth + 1)]
        elif kind < 0.8:
            out += [f"{indent}when {r.choice(EVENTS[:6])} within 2d", *_steps(r, indent + "  ", depth + 1),
                    f"{indent}otherwise", *_steps(r, indent + "  ", depth + 1)]
        elif kind < 0.9:
            a = r.randint(10, 90)
            out += [f"{indent}split", f"{indent}  a {a}%", *_steps(r, indent + "    ", depth + 1),
                    f"{indent}  b {100 - a}%", *_steps(r, indent + "    ", depth + 1)]
        else:
            out.append(f"{indent}set profile.stage = \"s{r.randint(1, 9)}\"")
    return out


def journey(r: random.Random, n: int) -> str:
    shape = r.random()
    if shape < 0.2:
        return (f"on {r.choice(EVENTS)} within {r.choice(DURATIONS)} unless {r.choice(EVENTS)} "
                f"-> {_send(r)}\n")
    if shape < 0.3:
        return f"segment seg_{n}\n  where {_cond(r)}\n"
    lines = [f'journey j_{n} "Journey {n}"', '  description "generated for the benchmark"']
    settings = [f"  audience {_cond(r)}", f"  reentry {r.choice(['once', 'restart', 'after 7d', 'concurrent'])}",
                f"  goal purchase within {r.choice(['3d', '1w'])}", "  exit on account_deleted",
                "  quiet hours 21:00-08:00", f"  cap {r.choice(CHANNELS)} 1 per 1d", f"  holdout {r.randint(0, 20)}%",
                '  timezone "Europe/Paris"']
    lines += r.sample(settings, r.randint(0, 5))
    lines += ["", f"  # step list {n}", f"  on {r.choice(EVENTS)} where {_cond(r)}", *_steps(r, "  ", 0)]
    return "\n".join(lines) + "\n"


def generate(folder: Path, count: int, seed: int) -> None:
    r = random.Random(seed)
    for n in range(count):
        sub = folder / f"team_{n % 10}"
        sub.mkdir(exist_ok=True)
        (sub / f"journey_{n:04d}.journey").write_text(journey(r, n), encoding="utf-8")


def validate(folder: Path) -> tuple[float, int, int, int]:
    """(seconds, files, errors, characters of text output), timed from before the first import."""
    start = time.perf_counter()
    from journeyctl.dsl import codes
    from journeyctl.dsl.project.loader import load_paths
    from journeyctl.dsl.report import render

    loaded = load_paths([str(folder)])
    out = render(loaded.diagnostics, "text", loaded.sources, color=False, files_checked=loaded.files_checked,
                 rules=codes.titles())
    elapsed = time.perf_counter() - start
    errors = sum(d.severity == "error" for d in loaded.diagnostics)
    return elapsed, loaded.files_checked, errors, len(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        generate(folder, args.files, args.seed)
        elapsed, files, errors, _ = validate(folder)
    print(f"validated {files} files in {elapsed:.2f} s ({elapsed / max(files, 1) * 1000:.2f} ms per file, "
          f"{errors} errors found)")
    return 0 if elapsed < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
