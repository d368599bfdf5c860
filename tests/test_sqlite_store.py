"""SqliteStore on real files: what it keeps across a reopen, how it bounds memory, and that an engine
stopped and restarted on it at any point sends exactly what one uninterrupted run sends."""
from __future__ import annotations

import functools
import os
import random
import sqlite3
import tempfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from journeyctl.dsl.compiler import compile_text
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import BadEvent, Event
from journeyctl.engine.store.sqlite import SCHEMA_VERSION, SchemaError, SqliteStore
from journeyctl.engine.core.state import Customer, Instance
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.store.open import checkpoint, open_store

# the journeys of the language contract's own cases, copied into tests/cases/
SPEC_CASES = [Path(__file__).resolve().parent / "cases" / name for name in (
    "v1_trial_absence", "v2_when_otherwise", "v3_quiet_hours_timezone", "v4_goal_and_exit", "v5_reentry_after")]

# The 20 journeys of the throughput benchmark (make-bench-input) ...
BENCH_JOURNEYS = {
    "cart_abandon": 'on cart_abandoned within 30m unless purchase -> send whatsapp "cart" or sms "cart_sms" '
                    'with value = cart_value\n',
    "payment_failed": 'on payment_failed -> send sms "payment_failed" with amount = amount\n',
    "running_shoes": 'on product_viewed where category == "running_shoes" and profile.loyal == true -> '
                     'send whatsapp "running_picks" with name = profile.first_name\n',
    "big_cart": 'journey big_cart\n  cap email 1 per 1d\n  on cart_abandoned where cart_value > 150\n'
                '  wait 2h unless purchase\n  send email "big_cart"\n',
    "onboarding": 'journey onboarding\n  reentry once\n  on signup_completed\n  send email "welcome"\n'
                  '  when app_opened within 1d\n    send push "tips"\n  otherwise\n    send sms "need_help"\n',
    "inactivity": 'journey inactivity\n  reentry restart\n  on app_opened within 3d unless app_opened -> '
                  'send email "we_miss_you"\n',
    "win_back": 'on app_opened where last_seen(app_opened) != null and now() - last_seen(app_opened) > 2d -> '
                'send push "welcome_back"\n',
    "loyalty": 'journey loyalty\n  reentry once\n  audience profile.tier != "gold"\n  on purchase where amount >= 180\n'
               '  set profile.tier = "gold"\n  emit tier_upgraded with tier = "gold"\n  send email "gold"\n',
    "gold_perks": 'on tier_upgraded where tier == "gold" -> send push "gold_perks"\n',
    "quiet_push": 'journey quiet_push\n  quiet hours 22:00-07:00\n  on price_dropped -> send push "price_drop" '
                  'with sku = sku\n',
    "review": 'journey review\n  reentry concurrent by order_id\n  on order_delivered within 1d unless '
              'review_submitted where order_id == trigger.order_id -> send email "review"\n',
    "vip_branch": 'journey vip_branch\n  on purchase\n  if profile.ltv > 500\n    send email "vip_thanks"\n'
                  '  else if profile.ltv > 100\n    send email "thanks"\n  else\n    send push "thanks"\n',
    "ab_test": 'journey ab_test\n  on signup_completed\n  split\n    a 50%\n      send email "variant_a"\n'
               '    b 50%\n      send push "variant_b"\n',
    "holdout": 'journey holdout\n  holdout 10%\n  on email_clicked where campaign == "spring" -> '
               'send push "spring_follow_up"\n',
    "goal_upsell": 'journey goal_upsell\n  goal purchase within 1d\n  exit on account_closed\n'
                   '  on product_viewed where price > 190\n  wait 1h\n  send email "upsell"\n',
    "count_third": 'on purchase where count(purchase) == 3 -> send email "third_purchase"\n',
    "morning": 'journey morning\n  timezone "Asia/Kolkata"\n  reentry after 1d\n  on newsletter_signup\n'
               '  wait until 09:00\n  send email "digest"\n',
    "fraud": 'on payment_failed where amount > 150 -> send sms "fraud_check" or email "fraud_check"\n',
    "uninstall": 'on app_uninstalled within 1h unless app_installed -> send email "come_back"\n',
    "email_chain": 'journey email_chain\n  on email_clicked\n  wait 10m unless purchase\n'
                   '  send push "still_interested"\n  wait 1h unless purchase\n  send sms "last_chance"\n',
}
# ... and a segment with aggregates, plus a journey reading last(), avg(), in_segment() and a cap, so that
# every field of a customer's state is written, evicted, reread and continued from.
EXTRA_JOURNEYS = {
    "big_spenders": 'segment big_spenders "Big spenders"\n'
                    '  where sum(purchase.amount within 2d) > 200 and count(app_opened) >= 1\n',
    "vip_welcome": 'journey vip_welcome\n  cap 2 per 1d\n  on segment_entered where segment == "big_spenders"\n'
                   '  send email "vip" with last_amount = last(purchase).amount, avg_amount = avg(purchase.amount), '
                   'member = in_segment(big_spenders)\n  wait 1h\n  send push "vip_push"\n',
}
CHANNELS = {"whatsapp": "phone", "sms": "phone"}
CASE_EVENTS = ["trial_started", "subscription_started", "account_created", "first_project_created",
               "price_dropped", "plan_limit_reached", "upgrade", "account_closed", "wishlist_item_on_sale"]
BENCH_MIX = [("product_viewed", 40), ("app_opened", 15), ("cart_abandoned", 8), ("purchase", 10),
             ("email_clicked", 6), ("payment_failed", 3), ("signup_completed", 3), ("price_dropped", 4),
             ("order_delivered", 3), ("review_submitted", 2), ("newsletter_signup", 2), ("app_uninstalled", 1),
             ("app_installed", 1), ("account_closed", 1)]
T0 = 1_772_452_800_000  # 2026-03-02T12:00:00Z


@functools.cache
def program():
    texts = dict(BENCH_JOURNEYS)
    texts.update(EXTRA_JOURNEYS)
    spec_journeys = [f for case in SPEC_CASES for f in sorted(case.glob("journeys/*.journey"))]
    assert len(spec_journeys) == len(SPEC_CASES), spec_journeys
    for f in spec_journeys:
        texts[f.stem] = f.read_text()
    journeys, segments = [], []
    for name, text in texts.items():
        compiled = compile_text(text, f"{name}.journey")
        assert compiled.ir is not None, (name, compiled.diagnostics)
        (segments if compiled.ir.kind == "segment" else journeys).append(compiled.ir)
    return journeys, segments


@functools.cache
def event_stream(n: int = 400, customers: int = 25, seed: int = 3) -> tuple:
    """A few days of traffic: identify calls, duplicates, stragglers within the allowed lateness and
    the odd late event, so timers fire both on the customer's next event and on the clock."""
    rnd = random.Random(seed)
    names = [name for name, w in BENCH_MIX for _ in range(w)] + CASE_EVENTS * 2
    out, t = [], T0
    for i in range(n):
        t += rnd.randrange(0, 30 * 60_000)
        cid = f"c{rnd.randrange(customers)}"
        when = t - rnd.randrange(0, 4_000) if rnd.random() < 0.1 else t
        if rnd.random() < 0.02:
            when = t - 3_600_000  # late: dead-lettered in every run alike
        mid = f"m{i}"
        if rnd.random() < 0.04 and out:
            prev = rnd.choice(out)
            cid, mid = prev.customer_id, prev.message_id  # a duplicate delivery
        if rnd.random() < 0.1:
            traits = {"first_name": rnd.choice(["Ana", "Bo", "Chen"]), "loyal": rnd.random() < 0.5,
                      "ltv": rnd.randrange(1000), "timezone": rnd.choice(["Europe/Berlin", "America/New_York"])}
            if rnd.random() < 0.7:
                traits["phone"] = f"+4917{rnd.randrange(10**7):07d}"
            out.append(Event("identify", cid, when, {}, mid, traits))
            continue
        props = {"cart_value": round(rnd.random() * 200, 2), "amount": round(rnd.random() * 200, 2),
                 "category": rnd.choice(["running_shoes", "hats"]), "price": rnd.randrange(200),
                 "sku": f"s{rnd.randrange(50)}", "order_id": f"o{rnd.randrange(3)}",
                 "campaign": rnd.choice(["spring", "fall"])}
        out.append(Event(rnd.choice(names), cid, when, props, mid))
    return tuple(out)


def _key(action: dict) -> bytes:
    return orjson.dumps(action.as_dict(), option=orjson.OPT_SORT_KEYS)


def replay(store_factory, events, stops=()) -> list[dict]:
    """Run `events`; before each index in `stops`, checkpoint, close, and start a new engine on a new store."""
    journeys, segments = program()
    store = store_factory()
    engine = Engine(journeys, segments, store=store, channels=CHANNELS)
    actions = []
    for i, ev in enumerate(events):
        if i in stops:
            checkpoint(engine)
            store.close()
            store = store_factory()
            engine = Engine(journeys, segments, store=store, channels=CHANNELS)
        try:
            actions += engine.process(ev)
        except BadEvent:
            pass
    actions += engine.advance_to(max(ev.time for ev in events) + 5 * 86_400_000)
    checkpoint(engine)
    store.close()
    return sorted(actions, key=_key)


@functools.cache
def one_run() -> tuple:
    with tempfile.TemporaryDirectory() as tmp:
        return tuple(replay(lambda: SqliteStore(Path(tmp) / "one.db"), event_stream()))


# ---- restart equivalence ---------------------------------------------------------------------

def test_one_sqlite_run_matches_memory_and_does_something():
    actions = list(one_run())
    assert actions == replay(MemoryStore, event_stream())
    statuses = {a["status"] for a in actions}
    assert {"send", "unreachable", "suppressed"} <= statuses
    assert {a["journey"] for a in actions} >= {"cart_abandon", "vip_welcome", "gold_perks", "inactivity"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(min_value=1, max_value=len(event_stream()) - 1),
       cache_size=st.sampled_from([1, 7, 100_000]))
@example(k=1, cache_size=1)
@example(k=len(event_stream()) - 1, cache_size=7)
def test_restart_after_any_event_gives_the_same_actions(k, cache_size):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        actions = replay(lambda: SqliteStore(path, cache_size=cache_size), event_stream(), stops={k})
    assert actions == list(one_run())


@settings(max_examples=10, deadline=None)
@given(stops=st.sets(st.integers(min_value=1, max_value=len(event_stream()) - 1), min_size=2, max_size=6))
def test_many_restarts_give_the_same_actions(stops):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        actions = replay(lambda: SqliteStore(path, cache_size=5), event_stream(), stops=stops)
    assert actions == list(one_run())


def test_restart_uses_the_saved_clock_to_reject_late_events(tmp_path):
    journeys, _ = program()
    path = tmp_path / "s.db"
    engine = Engine(journeys, store=SqliteStore(path))
    engine.process(Event("app_opened", "c1", T0, {}, "m1"))
    checkpoint(engine)
    engine.store.close()
    engine = Engine(journeys, store=SqliteStore(path))
    assert engine.clock == T0
    with pytest.raises(BadEvent):
        engine.process(Event("app_opened", "c2", T0 - 60_000, {}, "m2"))
    engine.store.close()


# ---- the store on its own ------------------------------------------------------------------------

def full_customer() -> Customer:
    c = Customer()
    c.profile = {"first_name": "Zoë", "ltv": 812.5, "loyal": True, "tags": ["a", "b"], "address": {"city": "Köln"}}
    c.instances = [Instance("cart", "abc123def456", "m1", "s1", T0 + 1_800_000, T0, {"cart_value": 19.99, "sku": "s1"},
                            "m1", 2, None),
                   Instance("review", "0123456789ab", "m2", "s3", None, T0, {"order_id": "o1"}, "m2", 0, "o1")]
    c.entries = {"cart": [T0, 3], "review": [T0 - 10, 1]}
    c.sends = {"cart": [[T0, "email"], [T0 + 5, "sms"]]}
    c.seen = {"m1": T0 - 5, "m2": T0, "h:ffee": T0 + 9}
    c.last_seen = {"app_opened": T0 - 86_400_000}
    c.last_props = {"purchase": {"amount": 12.5, "meta.kind": None}}
    c.aggs = {"count:app_opened:x": 4, "sum:purchase:y": (T0, 12.5, T0 + 9, 1), "avg:purchase:z": (25.0, 2)}
    c.segments = {"big_spenders", "loyal"}
    return c


def fields(c: Customer) -> dict:
    """The customer's fields, instances as their stored lists (an Instance equals only itself)."""
    return {name: [i.fields() for i in c.instances] if name == "instances" else getattr(c, name)
            for name in Customer.__slots__}


# full_customer() as the encoding wrote it when instances were lists (before they had names, issue 19):
# the bytes of a stored customer did not change.
FULL_CUSTOMER_BLOB = (
    b'{"p":{"first_name":"Zo\xc3\xab","ltv":812.5,"loyal":true,"tags":["a","b"],"address":{"city":"K\xc3\xb6ln"}},'
    b'"i":[["cart","abc123def456","m1","s1",1772454600000,1772452800000,{"cart_value":19.99,"sku":"s1"},"m1",2,null],'
    b'["review","0123456789ab","m2","s3",null,1772452800000,{"order_id":"o1"},"m2",0,"o1"]],'
    b'"e":{"cart":[1772452800000,3],"review":[1772452799990,1]},"s":{"cart":[[1772452800000,"email"],'
    b'[1772452800005,"sms"]]},"m":{"m1":1772452799995,"m2":1772452800000,"h:ffee":1772452800009},'
    b'"l":{"app_opened":1772366400000},"lp":{"purchase":{"amount":12.5,"meta.kind":null}},'
    b'"a":{"count:app_opened:x":4,"sum:purchase:y":[1772452800000,12.5,1772452800009,1],"avg:purchase:z":[25.0,2]},'
    b'"g":["big_spenders","loyal"]}')


def test_named_instances_encode_to_the_bytes_lists_did():
    """Instances got names, not a new stored form: state written before loads, and the same state
    encodes to the same bytes."""
    assert full_customer().encode() == FULL_CUSTOMER_BLOB
    again = Customer.decode(FULL_CUSTOMER_BLOB)
    assert all(type(i) is Instance for i in again.instances) and again.instances[0].due == T0 + 1_800_000
    assert fields(again) == fields(full_customer()) and again.encode() == FULL_CUSTOMER_BLOB


def test_windows_written_as_pairs_read_back_flat(tmp_path):
    """State from before windows went flat ([[t, v], ...]) still reads, as the same entries."""
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        store.put("c1", full_customer())
        store.commit()
    with sqlite3.connect(path) as conn:
        blob = orjson.loads(conn.execute("SELECT state FROM customers").fetchone()[0])
        blob["a"]["sum:purchase:y"] = [[T0, 12.5], [T0 + 9, 1]]
        conn.execute("UPDATE customers SET state = ?", (orjson.dumps(blob),))
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
        for column in ("clock", "fingerprint"):  # what migration 6 added: a file at schema 3 has neither
            conn.execute(f"ALTER TABLE offsets DROP COLUMN {column}")
    with SqliteStore(path) as store:
        assert store.get("c1").aggs == full_customer().aggs
        assert store.get_meta("schema_version") == SCHEMA_VERSION == 6  # an older journeyctl now refuses it


def test_customer_state_round_trips_through_the_file(tmp_path):
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        store.put("c1", full_customer())
        store.commit()
    with SqliteStore(path) as store:
        again = store.get("c1")
        assert fields(again) == fields(full_customer())
        assert again.next_due() == T0 + 1_800_000
        assert store.get("nobody") is None


def test_a_value_orjson_cannot_write_still_round_trips(tmp_path):
    """One customer with an integer beyond 64 bits must not make every later commit fail."""
    path = tmp_path / "s.db"
    c = full_customer()
    c.profile["score"] = 7 ** 40
    with SqliteStore(path) as store:
        store.put("c1", c)
        store.put("c2", full_customer())
        store.commit()
    with SqliteStore(path) as store:
        assert store.get("c1").profile["score"] == 7 ** 40
        assert fields(store.get("c2")) == fields(full_customer())


def test_get_after_put_returns_the_same_object_before_and_after_commit(tmp_path):
    with SqliteStore(tmp_path / "s.db") as store:
        c = full_customer()
        store.put("c1", c)
        assert store.get("c1") is c
        store.commit()
        assert store.get("c1") is c


def test_nothing_is_durable_before_commit(tmp_path):
    path = tmp_path / "s.db"
    with SqliteStore(path, cache_size=2) as store:
        store.put("kept", full_customer())
        store.set_meta("clock", 1)
        store.commit()
        for i in range(10):  # more than the cache: some are written into the open transaction
            store.put(f"c{i}", full_customer())
        store.set_meta("clock", 2)
        store.save_version("v2", {"id": "j"})
    with SqliteStore(path) as store:
        assert [cid for cid, _ in store.customers()] == ["kept"]
        assert store.get_meta("clock") == 1
        assert store.load_version("v2") is None


def test_an_emptied_customer_is_deleted(tmp_path):
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        store.put("c1", full_customer())
        store.commit()
        store.put("c1", Customer())
        store.commit()
        assert store.get("c1") is None
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 0
    conn.close()


def test_timers_survive_a_reopen(tmp_path):
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        for i, due in enumerate([T0 + 30, None, T0 + 10, T0 + 20]):
            c = Customer()
            c.instances = [Instance("j", "v", f"m{i}", "s1", due, T0, {}, f"m{i}", 0, None)]
            store.put(f"c{i}", c)
        store.commit()
        c = store.get("c0")
        c.instances[0].due = T0 + 5  # moved, not yet committed: timers() must see it
        store.put("c0", c)
        assert list(store.timers()) == [(T0 + 5, "c0"), (T0 + 10, "c2"), (T0 + 20, "c3")]
        store.commit()
    with SqliteStore(path) as store:
        assert list(store.timers()) == [(T0 + 5, "c0"), (T0 + 10, "c2"), (T0 + 20, "c3")]


def test_timers_and_customers_page_through_large_tables(tmp_path, monkeypatch):
    monkeypatch.setattr("journeyctl.engine.store.sqlite._PAGE", 7)
    with SqliteStore(tmp_path / "s.db", cache_size=3) as store:
        for i in range(50):
            c = Customer()
            c.instances = [Instance("j", "v", "m", "s1", T0 + i % 5, T0, {}, "m", 0, None)]
            store.put(f"c{i:02d}", c)
        store.commit()
        timers = list(store.timers())
        assert timers == sorted((T0 + i % 5, f"c{i:02d}") for i in range(50))
        assert [cid for cid, _ in store.customers()] == [f"c{i:02d}" for i in range(50)]


def test_customers_lists_uncommitted_changes_as_the_same_objects(tmp_path):
    with SqliteStore(tmp_path / "s.db") as store:
        committed, pending = full_customer(), full_customer()
        store.put("", committed)  # an empty id is a key like any other
        store.commit()
        store.put("b", pending)
        listed = dict(store.customers())
        assert listed.keys() == {"", "b"}
        assert listed["b"] is pending and listed[""] is committed


def test_meta_and_versions_survive_a_reopen(tmp_path):
    path = tmp_path / "s.db"
    ir = {"id": "cart", "states": {"s1": {"kind": "wait", "duration": 1800000, "next": None}}}
    with SqliteStore(path) as store:
        store.set_meta("clock", T0)
        store.set_meta("offsets", {"events": {"0": 41, "1": 7}})
        store.save_version("abc123def456", ir)
        store.save_version("abc123def456", {"id": "other"})  # the first IR saved under a version wins
        assert store.load_version("abc123def456") == ir
        store.commit()
    with SqliteStore(path) as store:
        assert store.get_meta("clock") == T0
        assert store.get_meta("offsets") == {"events": {"0": 41, "1": 7}}
        assert store.get_meta("missing") is None
        assert store.load_version("abc123def456") == ir
        assert store.load_version("nope") is None


def test_wal_mode_and_schema_version(tmp_path):
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        assert store.pragma("journal_mode") == "wal"
        assert store.pragma("synchronous") == 1  # NORMAL
        assert store.get_meta("schema_version") == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # stays set in the file
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"customers", "meta", "versions"} <= tables
    plan = " ".join(str(r) for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT next_due, customer_id FROM customers WHERE next_due IS NOT NULL "
        "ORDER BY next_due, customer_id"))
    assert "customers_next_due" in plan
    conn.close()


def test_a_file_from_a_newer_journeyctl_is_refused(tmp_path):
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match="newer journeyctl"):
        SqliteStore(path)


def test_staged_rows_commit_with_the_state(tmp_path):
    """The hook a transactional outbox will use: its rows land in the same transaction as the state."""
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        store._conn.execute("CREATE TABLE staged_rows (id TEXT PRIMARY KEY)")
        store.put("c1", full_customer())
        store.stage("INSERT INTO staged_rows (id) VALUES (?)", [("a1",), ("a2",)])
        store.commit()
        store.put("c2", full_customer())
        store.stage("INSERT INTO staged_rows (id) VALUES (?)", [("a1",)])  # duplicate key: the commit fails
        with pytest.raises(sqlite3.IntegrityError):
            store.commit()
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT id FROM staged_rows ORDER BY id")] == ["a1", "a2"]
    assert [r[0] for r in conn.execute("SELECT customer_id FROM customers")] == ["c1"]
    conn.close()


# ---- open_store -------------------------------------------------------------------------------

def test_open_store_urls(tmp_path, monkeypatch):
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store("memory:"), MemoryStore)
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///state/rel.db")
    assert isinstance(store, SqliteStore) and os.path.abspath(store.path) == str(tmp_path / "state" / "rel.db")
    store.close()
    absolute = tmp_path / "abs.db"
    store = open_store(f"sqlite:///{absolute}")  # sqlite:////tmp/...: four slashes for an absolute path
    assert store.path == str(absolute)
    store.close()
    store = open_store("plain.db")
    assert isinstance(store, SqliteStore) and store.path == "plain.db"
    store.close()
    assert (tmp_path / "state" / "rel.db").exists() and absolute.exists() and (tmp_path / "plain.db").exists()


@pytest.mark.parametrize("url, message", [
    ("postgresql:u@db/journeys", "a PostgreSQL location is postgresql://"),
    ("redis://localhost", "supported: memory:, sqlite:///"),
    ("state.json", "supported: memory:"),
    ("sqlite://state.db", "sqlite:/// followed by a path"),
    ("sqlite:///", "names no file"),
])
def test_open_store_refuses_what_it_cannot_use(url, message):
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_an_unread_event_fires_due_timers_even_before_the_clock_is_known(tmp_path):
    """A store with timers but no saved clock (written by hand, or a shared store's first worker)."""
    two_waits = compile_text('journey j\n  on signup\n  wait 10m\n  send email "a"\n  wait 10m\n  send email "b"\n',
                             "j.journey").ir
    path = tmp_path / "s.db"
    first = Engine([two_waits], store=SqliteStore(path))
    first.process(Event("signup", "c1", T0, {}, "m1"))
    first.store.commit()  # customers and timers, no clock
    first.store.close()
    engine = Engine([two_waits], store=SqliteStore(path))
    assert engine.clock is None
    out = engine.process(Event("page_view", "c1", T0 + 15 * 60_000, {}, "m2"))
    assert [a["template"] for a in out] == ["a"]
    assert engine.next_due() == T0 + 20 * 60_000
    engine.store.close()
