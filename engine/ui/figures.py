"""The numbers of every page of the web UI, and of `journeyctl status --format json`: one function per
page, reading the store through engine/ui/reader.py inside one read transaction.

Where each number comes from, so that none needs a scan of the customers:
- totals (entered, completed, converted, ..., sends, dead letters, segment changes) and the counts of
  each step and move: the engine's stats meta value (one per worker on a shared store, summed);
- "active" (waiting now): entered minus every way of ending, from the same totals, which the engine
  writes in the transaction that changes the instances, so it equals a count of the stored instances;
- a period (last hour, 24 h, 7 d): the `counts` table, minutes at the period's two ragged ends and
  whole hours between; minutes are kept two days, so a longer period starts at a whole hour;
- what `journeyctl deliver` made of the sends (delivered, failed, retried, rate-limited, per journey
  and channel): its own series in the `counts` table, written in the transaction that records the
  delivered ids; its totals are rows of their own there (counts.TOTAL), so "all" reads a few rows;
- one customer: its row, by id, and its rows of `recent_actions`, each looked up by action id in
  deliver's `deliveries` table (its primary key).
"""
from __future__ import annotations

from collections import Counter

from journeyctl.dsl import graph as journey_graph
from journeyctl.dsl.ir import JourneyIR
from journeyctl.engine.core.events import show_instant as format_instant  # a stored timer may lie past 9999
from journeyctl.engine.core.state import HELD_OUT
from journeyctl.engine.core.stats import ENTRY, MINUTE, OUTCOMES, Stats
from journeyctl.engine.obs.render import entries_shown
from journeyctl.engine.store.counts import DELIVERY, DELIVERY_OUTCOMES, KEEP, TRACE
from journeyctl.engine.ui.layout import layout
from journeyctl.engine.ui.uplift import compare

PERIODS = {"1h": 60, "24h": 24 * 60, "7d": 7 * 24 * 60, "all": None}  # minutes
# the points of a chart: (resolution of the buckets read, minutes per point)
CHART_STEP = {"1h": (1, 1), "24h": (60, 60), "7d": (60, 60), "all": (60, 60)}  # all: days past 8 of them
FUNNEL_KEYS = ("entered", "active", *OUTCOMES)
SEND_STATUSES = ("send", "suppressed", "held_out", "unreachable")


class NotFound(LookupError):
    """No such journey, segment or customer in the store."""


# ---- what every page shares -----------------------------------------------------------------------

def _state(meta: dict) -> tuple[Stats, int | None, dict]:
    """(the counts of every worker added up, the latest clock, per-worker details)."""
    stats = Stats()
    workers = {}
    current: dict = {}
    clocks = {k.partition(":")[2] or "-": v for k, v in meta.items() if k.split(":")[0] == "clock"}
    for key, value in sorted(meta.items()):
        name, _, worker = key.partition(":")
        if name != "stats" or not isinstance(value, dict):
            continue
        stats.add(value)
        worker = worker or "-"
        workers[worker] = {"clock": _iso(clocks.get(worker)), "lag": value.get("lag")}
        for j, v in (value.get("current") or {}).items():
            current.setdefault(j, []).append((clocks.get(worker) or 0, v))
    stats.current = {j: max(vs)[1] for j, vs in current.items()}
    known = [c for c in clocks.values() if isinstance(c, int)]
    return stats, max(known) if known else None, workers


def _iso(ms) -> str | None:
    return format_instant(ms) if isinstance(ms, int) else None


def period_window(clock: int | None, period: str) -> tuple[int, int] | None:
    """[start, end) in minutes of the period ending with the clock's minute; None for all."""
    minutes = PERIODS[period]
    if minutes is None or clock is None:
        return None
    end = clock // MINUTE + 1
    start = end - minutes
    if start < end - KEEP[1]:  # older than the minutes kept (KEEP is in buckets): from the start of that hour
        start -= start % 60
    return start, end


def _since(clock: int | None, period: str) -> str | None:
    window = period_window(clock, period)
    return format_instant(window[0] * MINUTE) if window else None


def period_sums(reader, clock: int | None, period: str) -> Counter | None:
    """series -> count over the period (None for all: the totals answer that)."""
    window = period_window(clock, period)
    if window is None:
        return None
    start, end = window
    first_hour, last_hour = -(-start // 60), end // 60
    out: Counter = Counter()
    if first_hour >= last_hour:
        out.update(reader.sums(1, start, end))
    else:
        out.update(reader.sums(1, start, first_hour * 60))
        out.update(reader.sums(60, first_hour, last_hour))
        out.update(reader.sums(1, last_hour * 60, end))
    return out


def _journey_counts(stats: Stats, sums: Counter | None, jid: str) -> dict:
    """entered, active and each outcome (and blocked) of a journey: totals, or the period's from `sums`
    (active is always now)."""
    c = stats.journeys.get(jid, Counter())
    active = c.get("entered", 0) - sum(c.get(o, 0) for o in OUTCOMES)
    if sums is None:
        counts = {"entered": c.get("entered", 0), "active": active, **{o: c.get(o, 0) for o in OUTCOMES}}
    else:
        counts = {"entered": sums[f"entered:{jid}"], "active": active,
                  **{o: sums[f"{o}:{jid}"] for o in OUTCOMES}}
    return counts


def _conversion(stats: Stats, sums: Counter | None, jid: str) -> dict:
    if sums is None:
        c, h = stats.journeys.get(jid, Counter()), stats.holdout.get(jid, Counter())
        entered, converted = c.get("entered", 0), c.get("converted", 0)
        h_entered, h_converted = h.get("entered", 0), h.get("converted", 0)
    else:
        entered, converted = sums[f"entered:{jid}"], sums[f"converted:{jid}"]
        h_entered, h_converted = sums[f"holdout_entered:{jid}"], sums[f"holdout_converted:{jid}"]
    return compare((converted - h_converted, entered - h_entered), (h_converted, h_entered))


def _sends(stats: Stats, sums: Counter | None, journey: str | None = None) -> dict:
    """{channel: {status: n}} (of one journey, or all)."""
    out: dict = {}
    if sums is None:
        items = ((j, ch, st, n) for (j, ch, st), n in stats.actions.items())
    else:
        items = (tuple(k.split(":", 3)[1:]) + (n,) for k, n in sums.items() if k.startswith("action:"))
    for j, ch, st, n in items:
        if journey is None or j == journey:
            out.setdefault(ch, {}).setdefault(st, 0)
            out[ch][st] += n
    return {ch: dict(sorted(v.items())) for ch, v in sorted(out.items())}


def _delivery_figures(reader, sums: Counter | None, journey: str | None = None) -> tuple[dict, list[str]]:
    """What deliver made of the sends (of one journey, or all): ({channel: {delivered, failed, retried,
    rate_limited}} over the period, and deliver's series of delivered messages, for a chart)."""
    totals = reader.totals()
    delivered = sorted(k for k in totals if k.startswith(DELIVERY) and k.endswith(":delivered")
                       and journey in (None, k.split(":")[1]))
    return _deliveries(totals if sums is None else sums, journey), delivered


def _deliveries(counts: dict, journey: str | None) -> dict:
    """{channel: {outcome: n}} from deliver's series among `counts` (its totals, or a period's sums)."""
    out: dict = {}
    for k, n in counts.items():
        if not k.startswith(DELIVERY):
            continue
        parts = k.split(":")
        if len(parts) != 4 or parts[3] not in DELIVERY_OUTCOMES or journey not in (None, parts[1]):
            continue
        out.setdefault(parts[2], dict.fromkeys(DELIVERY_OUTCOMES, 0))[parts[3]] += n
    return dict(sorted(out.items()))


# what deliver recorded of an action (the deliveries table's outcome) as the customer page says it
DELIVERY_WORD = {"sent": "delivered", "failed": "failed"}  # any other: a status deliver only recorded


def _journey_ids(reader, stats: Stats) -> list[str]:
    ids = set(stats.journeys) | set(stats.current)
    for v in reader.version_ids():
        ir = reader.version(v)
        if ir and ir.get("kind", "journey") == "journey":
            ids.add(ir["id"])
    return sorted(ids)


# ---- the overview ------------------------------------------------------------------------------------

def overview(reader, period: str = "all", waiting: int = 10) -> dict:
    """Every journey and segment with its counts, conversion against the holdout, sends by channel and
    status, dead letters by reason, the clock, the lag, the first timers and how far each input partition is read."""
    with reader.snapshot():
        stats, clock, workers = _state(reader.meta())
        sums = period_sums(reader, clock, period)
        journeys = {}
        for jid in _journey_ids(reader, stats):
            ir = reader.version(stats.current[jid]) if jid in stats.current else None
            journeys[jid] = {**_journey_counts(stats, sums, jid), "blocked": stats.journeys.get(jid, {}).get("blocked", 0)
                             if sums is None else None,
                             "title": (ir or {}).get("title"), "conversion": _conversion(stats, sums, jid)}
        segments = {s: {"members": c.get("entered", 0) - c.get("exited", 0),
                        "entered": c.get("entered", 0) if sums is None else sums[f"segment_entered:{s}"],
                        "exited": c.get("exited", 0) if sums is None else sums[f"segment_exited:{s}"]}
                    for s, c in sorted(stats.segments.items())}
        dead = dict(stats.dead_letters) if sums is None else \
            {k.split(":", 1)[1]: n for k, n in sums.items() if k.startswith("dead_letter:")}
        ids = list(journeys)
        deliveries, delivered = _delivery_figures(reader, sums)
        wanted = {"entered": [f"entered:{j}" for j in ids], "converted": [f"converted:{j}" for j in ids],
                  "sent": [f"action:{j}:{ch}:send" for (j, ch, st) in stats.actions if st == "send"]}
        if delivered:
            wanted["delivered"] = delivered
        chart = _chart(reader, clock, period, wanted)
        first = _waiting(reader, waiting)
        outbox = reader.outbox_size()
        partitions = [{"topic": t, "partition": p, "offset": o, "clock": _iso(c)} for t, p, o, c in reader.positions()]
    lags = [w["lag"] for w in workers.values() if w.get("lag")]
    return {
        "clock": _iso(clock), "period": period,
        "since": _since(clock, period),
        "events": stats.events, "duplicates": stats.duplicates, "unused": stats.unused,
        "journeys": {j: {k: v[k] for k in FUNNEL_KEYS} for j, v in journeys.items()},
        "journey_details": {j: {"title": v["title"], "blocked": v["blocked"], "conversion": v["conversion"]}
                            for j, v in journeys.items()},
        "segments": segments,
        "sends": _sends(stats, sums),
        # `journeyctl deliver`: what became of the sends, per channel (empty while no deliver wrote here)
        "deliveries": deliveries,
        "dead_letters": dict(sorted(dead.items())),
        "lag": sum(x["lag"] for x in lags if isinstance(x.get("lag"), int)) if lags else None,
        "workers": workers,
        "outbox": outbox,
        # `run`: where each input partition is read up to, and its stream time (lateness is judged against it)
        "partitions": partitions,
        # every running instance waits on a timer (a wait, a when's window, a wait until, quiet hours)
        "pending_timers": sum(c["active"] for c in journeys.values()),
        "parked_timers": stats.parked,  # timers a bug of ours parked (engine_error); `status` lists them
        "waiting": first,
        "chart": chart,
    }


def _waiting(reader, limit: int) -> list[dict]:
    """The first `limit` waiting instances by due time: read from the customers whose timers come first
    (the next_due index), a handful of rows by id."""
    out = []
    for _, cid in reader.first_timers(limit):
        cust = reader.customer(cid)
        for inst in cust.instances if cust is not None else ():
            if inst.due is not None:
                ir = reader.version(inst.version) or {}
                kind = ((ir.get("states") or {}).get(inst.state) or {}).get("kind", "?")
                out.append((inst.due, cid, inst.journey, inst.state, kind))
    out.sort()
    return [{"due": format_instant(d), "customer_id": c, "journey": j, "step": s, "kind": k}
            for d, c, j, s, k in out[:limit]]


# ---- one journey --------------------------------------------------------------------------------------

def journey(reader, jid: str, period: str = "all", version: str | None = None) -> dict:
    """The journey drawn as `journeyctl graph` draws it, with the count on every step and edge, the
    funnel from entry to goal, its versions and the instances still on each, and its charts."""
    with reader.snapshot():
        stats, clock, _ = _state(reader.meta())
        versions = [v for v in reader.version_ids() if (reader.version(v) or {}).get("id") == jid]
        if not versions and jid not in stats.journeys:
            raise NotFound(f"no journey {jid!r} in this store")
        current = stats.current.get(jid) or (versions[-1] if versions else None)
        shown = version if version in versions else current
        sums = period_sums(reader, clock, period)
        deliveries, delivered = _delivery_figures(reader, sums, jid)
        wanted = {"entered": [f"entered:{jid}"], "converted": [f"converted:{jid}"],
                  "sent": [f"action:{jid}:{ch}:send" for ch in _channels(stats, jid)]}
        if delivered:
            wanted["delivered"] = delivered
        chart = _chart(reader, clock, period, wanted)
    per_version = _per_version(stats, versions)
    ir = reader.version(shown) if shown else None
    picture = steps = funnel = None
    if ir is not None:
        jir = JourneyIR.from_dict(ir)
        g = journey_graph.build(jir)
        picture = layout(g)
        steps, edges = _step_counts(stats, shown, jir, g)
        for e in picture["edges"]:
            e["count"] = edges.get(e["id"], 0)
        funnel = _funnel(stats, jid, jir, steps)
    return {"journey": jid, "title": (ir or {}).get("title"), "clock": _iso(clock), "period": period,
            "since": _since(clock, period),
            "version": shown, "current": current,
            "counts": _journey_counts(stats, sums, jid), "conversion": _conversion(stats, sums, jid),
            "sends": _sends(stats, sums, jid), "deliveries": deliveries,
            "versions": [{"version": v, "current": v == current, **per_version.get(v, {"entered": 0, "active": 0})}
                         for v in versions],
            "graph": picture, "steps": steps, "funnel": funnel, "chart": chart}


def _channels(stats: Stats, jid: str) -> list[str]:
    return sorted({ch for (j, ch, _), n in stats.actions.items() if j == jid}) or ["email"]


def _per_version(stats: Stats, versions: list[str]) -> dict:
    out = {v: {"entered": 0, "active": 0} for v in versions}
    for (v, step, _), n in stats.moves.items():
        if step == ENTRY and v in out:
            out[v]["entered"] += n
            out[v]["active"] += n
    for (v, _, _), n in stats.ends.items():
        if v in out:
            out[v]["active"] -= n
    return out


def _step_counts(stats: Stats, version: str, ir: JourneyIR, g) -> tuple[dict, dict]:
    """({step: {passed, waiting, left: {reason: n}}}, {edge id: n}) of one version."""
    steps = {sid: {"passed": 0, "waiting": 0, "left": {}} for sid in ir.states}
    out_of: Counter = Counter()
    moved: Counter = Counter()
    for (v, a, b), n in stats.moves.items():
        if v != version:
            continue
        moved[(a or "start", b)] += n
        out_of[a] += n
        if b in steps:
            steps[b]["passed"] += n
    ended_at: Counter = Counter()
    by_reason: Counter = Counter()
    for (v, sid, reason), n in stats.ends.items():
        if v != version:
            continue
        by_reason[reason] += n
        ended_at[(sid, reason)] += n
        if sid in steps:
            steps[sid]["left"][reason] = steps[sid]["left"].get(reason, 0) + n
    for sid, s in steps.items():
        s["waiting"] = s["passed"] - out_of[sid] - sum(s["left"].values())
    edges, drawn = {}, Counter()
    for k, e in enumerate(g.edges):
        if e.target.startswith("r_"):
            reason = e.target[2:]
            if e.source == "running":
                continue  # what no step's own edge shows: filled in below
            n = ended_at[(e.source, reason)]
        else:
            n = moved[(e.source, e.target)]
        edges[f"e{k}"] = n
        if e.target.startswith("r_"):
            drawn[e.target[2:]] += n
    for k, e in enumerate(g.edges):
        if e.source == "running":
            reason = e.target[2:]
            edges[f"e{k}"] = by_reason[reason] - drawn[reason]
            drawn[reason] = by_reason[reason]
    steps["start"] = {"passed": sum(n for (a, _), n in moved.items() if a == "start"), "waiting": 0, "left": {}}
    for reason in ("completed", "converted", "cancelled", "exited", "restarted"):
        steps["r_" + reason] = {"passed": by_reason[reason], "waiting": 0, "left": {}}
    return steps, edges


def _funnel(stats: Stats, jid: str, ir: JourneyIR, steps: dict) -> list[dict]:
    """Entry, each send in the order of the flow, the goal (converted)."""
    out = [{"stage": "entered", "count": steps["start"]["passed"]}]
    for sid, st in ir.states.items():
        if st["kind"] == "send":
            label = " ".join(journey_graph.step_text(ir, st)[:1])
            out.append({"stage": f"{sid}: {label}", "count": steps[sid]["passed"]})
    if ir.goal:
        out.append({"stage": "converted", "count": steps["r_converted"]["passed"]})
    return out


def _chart(reader, clock: int | None, period: str, wanted: dict[str, list[str]]) -> dict:
    """{"t": [epoch seconds of each point], name: [count per point]}: each name sums its series."""
    if clock is None:
        return {"t": [], **{name: [] for name in wanted}}
    res, step = CHART_STEP[period]
    minutes = PERIODS[period] or KEEP[60] * 60
    end = clock // MINUTE + 1
    end += -end % step  # the point holding the clock is whole
    start = max(end - minutes - (-minutes % step), end - (KEEP[res] * res // step) * step)
    start -= start % step
    points = list(range(start, end, step))
    out = {"t": [p * 60 for p in points]}
    values = {}
    for name, series in wanted.items():
        got = reader.points(res, start // res, -(-end // res), step, series)
        values[name] = [got.get(p // step, 0) for p in points]
    if PERIODS[period] is None:  # all: from the first point with something in it, hours or days
        first = min((i for v in values.values() for i, n in enumerate(v) if n), default=len(points) - 1)
        first = max(0, first - 1)
        out["t"] = out["t"][first:]
        values = {name: v[first:] for name, v in values.items()}
        if len(out["t"]) > 8 * 24:
            cut = -len(out["t"]) % 24  # whole days, the last one holding the clock
            out["t"] = out["t"][cut::24]
            values = {name: [sum(v[i:i + 24]) for i in range(cut, len(v), 24)] for name, v in values.items()}
    out.update(values)
    return out


# ---- one segment ---------------------------------------------------------------------------------------

def segment(reader, sid: str, period: str = "24h") -> dict:
    """Members now and over time, entries and exits per point of the chart (an hour, or a minute in
    the last hour)."""
    with reader.snapshot():
        stats, clock, _ = _state(reader.meta())
        if sid not in stats.segments:
            raise NotFound(f"no segment {sid!r} in this store")
        c = stats.segments[sid]
        chart = _chart(reader, clock, period,
                       {"entered": [f"segment_entered:{sid}"], "exited": [f"segment_exited:{sid}"]})
    members = c.get("entered", 0) - c.get("exited", 0)
    over_time, level = [], members
    for i in range(len(chart["t"]) - 1, -1, -1):  # back from now: each point ends with `level` members
        over_time.append(level)
        level -= chart["entered"][i] - chart["exited"][i]
    chart["members"] = over_time[::-1]
    return {"segment": sid, "clock": _iso(clock), "period": period, "members": members,
            "entered": c.get("entered", 0), "exited": c.get("exited", 0), "chart": chart}


# ---- one customer ---------------------------------------------------------------------------------------

def customer(reader, cid: str, actions: int = 50) -> dict:
    """`journeyctl inspect` in a browser: profile, segments, running instances with where each waits and
    until when, the customer's recent actions with their status, and the trace of decisions when a
    replay kept one (`simulate --trace CUSTOMER --state URL`)."""
    with reader.snapshot():
        cust = reader.customer(cid)
        recent = reader.recent_actions(cid, actions)
        delivered = reader.deliveries([r[1] for r in recent])
        kept = reader.keeps_deliveries()
        trace = reader.meta_value(TRACE + cid) or []
        kinds = {}
        for inst in cust.instances if cust is not None else ():
            ir = reader.version(inst.version) or {}
            kinds[(inst.version, inst.state)] = ((ir.get("states") or {}).get(inst.state) or {}).get("kind", "?")
    if cust is None and not recent and not trace:
        raise NotFound(f"no state for customer {cid!r} in this store")
    instances = [] if cust is None else [
        {"journey": i.journey, "version": i.version, "step": i.state, "kind": kinds.get((i.version, i.state), "?"),
         "entered_at": format_instant(i.entered),
         "waiting_until": format_instant(i.due) if i.due is not None else None,
         "trigger_message_id": i.trigger_message, "holdout": bool(i.flags & HELD_OUT)} for i in cust.instances]
    return {"customer_id": cid, "profile": cust.profile if cust else {},
            "segments": sorted(cust.segments) if cust else [], "instances": instances,
            "entries": entries_shown(cust.entries) if cust else {},
            "actions": [{"at": format_instant(at), "action_id": aid, "journey": j, "step": st, "channel": ch,
                         "template": tpl, "status": status, "delivery": _delivery(delivered.get(aid))}
                        for at, aid, j, st, ch, tpl, status in recent],
            "deliveries_kept": kept,  # deliver writes to this store: an action without a delivery is not settled yet
            "trace": [{"at": format_instant(t), "journey": j, "decision": text} for t, j, text in trace]}


def _delivery(row: tuple[str, int] | None) -> dict | None:
    """What deliver recorded of one action: {"outcome": delivered | failed | recorded, "at": when settled}."""
    if row is None:
        return None
    outcome, at = row
    return {"outcome": DELIVERY_WORD.get(outcome, "recorded"), "at": format_instant(at)}
