"""`journeyctl send`: put an event on the events topic by hand, to try a journey or help a customer.

Each event is checked exactly as `run` will read it (engine/core/events.py parse_event) before
anything is produced: a bad one is refused with the reason `run` would dead-letter it for, and
never reaches Kafka. Events are keyed by customer id, as `run` needs them (a worker owns a
customer through the partition its id hashes to).

One event from options, or many from a JSONL file (or - for stdin), each line sent as written.
From a file, the good lines are sent and each bad one is reported with its line number (exit 1):
a bad line never costs the good ones.
"""
from __future__ import annotations

import sys
import time
import uuid

import click
import orjson

from journeyctl.engine.cli.kafka_opts import kafka_options
from journeyctl.engine.cli.name_values import name_values
from journeyctl.engine.core.events import BadEvent, format_instant, parse_event, parse_instant


def _pairs(items, what: str) -> dict:
    return name_values(items, lambda item: click.UsageError(f"{what} {item!r} is not NAME=VALUE"))


@click.command()
@kafka_options
@click.option("--topic", default="events", show_default=True, envvar="JOURNEYCTL_EVENTS_TOPIC",
              help="The events topic `run` reads.")
@click.option("--event", "name", help="The event's name (cart_abandoned).")
@click.option("--customer", help="The customer id (the message key).")
@click.option("--prop", "props", multiple=True, metavar="NAME=VALUE", help="A property; repeat for more. "
              "Values read as JSON when they can (80, true, \"text\"), else as text.")
@click.option("--trait", "traits", multiple=True, metavar="NAME=VALUE",
              help="With --identify: a profile trait; repeat for more.")
@click.option("--identify", is_flag=True, help="An identify call (traits merged into the profile) instead of an event.")
@click.option("--at", help="Its time, RFC 3339 (default: now).")
@click.option("--message-id", help="Its id, for de-duplication (default: a new one).")
@click.option("--file", "path", type=click.Path(allow_dash=True, dir_okay=False),
              help="Send every line of this JSONL file (- for stdin) instead.")
def send(kafka, topic, name, customer, props, traits, identify, at, message_id, path):
    """Send events to the events topic, checked as `run` reads them (a bad one never reaches Kafka)."""
    if path is not None:
        if name or customer or props or traits or identify or at or message_id:
            raise click.UsageError("give either --file or one event's options (--event, --customer, ...), not both")
        lines = _file_lines(path)
    else:
        lines = [(0, _one(name, customer, props, traits, identify, at, message_id))]
    from journeyctl.engine.live.kafka_edge import EdgeError, Producer

    producer = None
    sent, refused = [], 0
    try:
        for line, raw in lines:
            try:
                ev = parse_event(raw)
            except BadEvent as e:
                refused += 1
                where = f"line {line}: " if line else ""
                click.echo(f"journeyctl send: {where}refused, {e.reason}: {e.detail}", err=True)
                continue
            if producer is None:
                producer = Producer(kafka, linger_ms=20)
            sent.append((ev, producer.send(topic, ev.customer_id.encode(), raw)))
        if producer is not None:
            producer.flush(30)
        failed = [(ev, f.exception) for ev, f in sent if f.failed()]
        if failed:
            ev, exc = failed[0]
            click.echo(f"journeyctl send: {len(failed)} of {len(sent)} not acknowledged by {kafka.bootstrap_servers} "
                       f"(first: {ev.name} of {ev.customer_id}: {exc})", err=True)
            sys.exit(2)
    except EdgeError as e:
        click.echo(f"journeyctl send: {e}", err=True)
        sys.exit(2)
    finally:
        if producer is not None:
            producer.close()
    for ev, f in sent[:1] if path is None else []:
        meta = f.value
        click.echo(f"sent {ev.name} of {ev.customer_id} at {format_instant(ev.time)} to {topic}[{meta.partition}] "
                   f"offset {meta.offset} (message id {ev.message_id})")
    if path is not None:
        click.echo(f"sent {len(sent)} event{'s' if len(sent) != 1 else ''} to {topic}"
                   + (f"; {refused} refused" if refused else ""), err=True)
    sys.exit(1 if refused else 0)


def _one(name, customer, props, traits, identify, at, message_id) -> bytes:
    if not customer:
        raise click.UsageError("--customer is required (or --file)")
    if not identify and not name:
        raise click.UsageError("--event is required (or --identify, or --file)")
    if traits and not identify:
        raise click.UsageError("--trait goes with --identify; an event carries --prop")
    try:
        when = format_instant(parse_instant(at)) if at else format_instant(int(time.time() * 1000))
    except Exception as e:  # noqa: BLE001 - BadEvent or ValueError from the time text
        raise click.UsageError(f"--at {at!r}: {getattr(e, 'detail', e)}") from None
    obj = {"customer_id": customer, "timestamp": when, "message_id": message_id or str(uuid.uuid4())}
    if identify:
        obj = {"type": "identify", **obj, "traits": _pairs(traits, "--trait")}
    else:
        obj = {"event": name, **obj, "properties": _pairs(props, "--prop")}
    return orjson.dumps(obj)


def _file_lines(path: str):
    """(line number, bytes) of each non-blank line."""
    try:
        f = sys.stdin.buffer if path == "-" else open(path, "rb")
    except OSError as e:
        raise click.UsageError(f"cannot read {path}: {e.strerror}") from None
    with f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line:
                yield n, line
