"""`journeyctl tail`: follow what the engine writes to Kafka, readable, until Ctrl-C.

actions (what `run` decided), dead-letter (what it could not read, and why), profiles (trait and
segment changes), deliveries (what `deliver` reports back), or any topic with --topic. Reads without
a consumer group, so tailing never moves anyone's offsets.
"""
from __future__ import annotations

import sys
import time

import click
import orjson

from journeyctl.dsl.report import visible  # text from a topic reaches the terminal only as visible characters
from journeyctl.engine.cli.kafka_opts import kafka_options

TOPICS = {"actions": "journey.actions", "dead-letter": "journey.dead-letter", "profiles": "journey.profiles",
          "deliveries": "journey.deliveries", "events": "events"}


def try_it(port: int, events_topic: str = "events") -> str:
    """Ready-to-paste commands for a broker `run --embedded-broker` started on `port`."""
    topic = f" --topic {events_topic}" if events_topic != "events" else ""
    return ("try it, in another terminal:\n"
            f"  journeyctl send --embedded-broker-port {port}{topic} --event cart_abandoned --customer ana "
            "--prop cart_value=80\n"
            f"  journeyctl tail actions --embedded-broker-port {port}\n"
            f"  journeyctl tail dead-letter --embedded-broker-port {port} --from-beginning")


def _action(v: dict) -> str:
    return (f"{v.get('due_at', '?')}  {v.get('status', '?'):<11} {v.get('channel', '?'):<9} "
            f"{v.get('template', '?'):<22} -> {v.get('customer_id', '?')}  ({v.get('journey', '?')} {v.get('step', '')})")


def _dead(v: dict) -> str:
    where = f"{v.get('topic', '?')}[{v.get('partition', '?')}]@{v.get('offset', '?')}"
    original = v.get("value", v.get("value_base64", ""))
    return f"{v.get('reason', '?'):<16} {where}  {v.get('detail', '')}  {str(original)[:120]}"


def _profile(v: dict) -> str:
    traits = ", ".join(f"{k}: {orjson.dumps(c.get('old')).decode()} -> {orjson.dumps(c.get('new')).decode()}"
                       for k, c in (v.get("traits") or {}).items())
    segs = " ".join([*(f"+{s}" for s in v.get("segments_entered") or ()), *(f"-{s}" for s in v.get("segments_exited") or ())])
    return f"{v.get('at', '?')}  {v.get('customer_id', '?')}  {traits}{'  ' if traits and segs else ''}{segs}"


def _generic(v) -> str:
    if not isinstance(v, dict):
        return orjson.dumps(v).decode()
    return "  ".join(f"{k}={orjson.dumps(x).decode() if not isinstance(x, str) else x}" for k, x in v.items())


LINES = {"actions": _action, "dead-letter": _dead, "profiles": _profile}


@click.command()
@click.argument("what", type=click.Choice(sorted(TOPICS)))
@kafka_options
@click.option("--topic", help="The topic, when not the default name (journey.actions for actions, ...).")
@click.option("--from-beginning", is_flag=True, help="Everything on the topic, not only what arrives from now.")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table", show_default=True,
              help="table: one readable line per message; jsonl: each message as it is on the topic.")
@click.option("--count", type=click.IntRange(1), help="Stop after this many messages.")
def tail(what, kafka, topic, from_beginning, fmt, count):
    """Follow a topic the engine writes (actions, dead-letter, profiles, deliveries) in readable form."""
    from journeyctl.engine.live.kafka_edge import EdgeError, Reader

    topic = topic or TOPICS[what]
    line = LINES.get(what, _generic)
    out = sys.stdout
    try:
        reader = Reader(kafka, topic, from_start=from_beginning)
    except EdgeError as e:
        click.echo(f"journeyctl tail: {e}", err=True)
        sys.exit(2)
    click.echo(f"journeyctl tail: {topic} on {kafka.bootstrap_servers}"
               f"{', from the beginning' if from_beginning else ', from now'}; Ctrl-C stops", err=True)
    seen = 0
    try:
        while count is None or seen < count:
            try:
                records = reader.read(500)
            except EdgeError as e:
                click.echo(f"journeyctl tail: {e}; retrying", err=True)
                time.sleep(1)
                continue
            for r in records:
                raw = r.value or b""
                if fmt == "jsonl":
                    try:
                        text = orjson.dumps(orjson.loads(raw)).decode()
                    except orjson.JSONDecodeError:
                        text = orjson.dumps(raw.decode("utf-8", "replace")).decode()
                else:
                    try:
                        text = visible(line(orjson.loads(raw)))
                    except (orjson.JSONDecodeError, AttributeError, TypeError):
                        text = visible(raw.decode("utf-8", "replace"))
                out.write(text + "\n")
                seen += 1
                if count is not None and seen >= count:
                    break
            out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        reader.close()
