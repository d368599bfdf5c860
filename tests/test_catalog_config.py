"""The project config (journeyctl.yaml) and the event catalog: what they add, and how they complain."""
from pathlib import Path

import pytest

from journeyctl.dsl.project.catalog import Catalog, load_catalog
from journeyctl.dsl.compiler import Options, compile_text
from journeyctl.dsl.ir import BUILTIN_CHANNELS
from journeyctl.dsl.project.config import ConfigError, find_config, load_config


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def records(diags):
    return [(d.code, d.span.line, d.span.column, d.message, d.hint) for d in diags]


# ---- config ----------------------------------------------------------------------------------

FULL = """\
channels:
  whatsapp: phone
  sms: profile.phone
  line:
default_timezone: Europe/Paris
catalog: schemas/events.yaml
allowed_lateness: 1m30s
run:
  state: sqlite:///state.db
  anything: [goes, here]
"""


def test_full_config(tmp_path, monkeypatch):
    write(tmp_path, "schemas/events.yaml", "events:\n  signup: {}\n")
    path = write(tmp_path, "project/journeyctl.yaml", FULL.replace("schemas/", "../schemas/"))
    monkeypatch.chdir(tmp_path)  # the catalog path is relative to the config file, not to here
    config = load_config(path)
    assert config.diagnostics == []
    assert config.options.channels == (*BUILTIN_CHANNELS, "line")
    assert config.options.default_timezone == "Europe/Paris"
    assert config.contacts == {"whatsapp": "phone", "sms": "phone"}
    assert config.allowed_lateness == 90_000
    assert config.run == {"state": "sqlite:///state.db", "anything": ["goes", "here"]}
    assert isinstance(config.options.catalog, Catalog)
    assert "signup" in config.options.catalog.events


def test_config_is_found_in_the_current_folder_only(tmp_path, monkeypatch):
    write(tmp_path, "journeyctl.yaml", "channels:\n  line:\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert find_config() == Path("journeyctl.yaml")
    assert "line" in load_config().options.channels
    monkeypatch.chdir(tmp_path / "sub")
    assert find_config() is None
    assert load_config().options == Options()


def test_empty_config_is_the_defaults(tmp_path):
    config = load_config(write(tmp_path, "journeyctl.yaml", "# nothing yet\n"))
    assert config.diagnostics == [] and config.options == Options() and config.contacts == {}


def test_missing_config_or_catalog_named_on_the_command_line(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config .*nope.yaml: no such file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="cannot read catalog .*nope.yaml: no such file"):
        load_config(catalog=tmp_path / "nope.yaml", cwd=tmp_path)


CONFIG_ERRORS = {
    "unknown_key": ("catalogue: x.yaml\n", [("J009", 1, 1, 'unknown key "catalogue"', 'did you mean "catalog"?')]),
    "unknown_key_far": ("colour: red\n", [
        ("J009", 1, 1, 'unknown key "colour"',
         "keys: channels, default_timezone, catalog, allowed_lateness, dedup_window, run, templates, delivery")]),
    "trait_type": ("channels:\n  whatsapp: 5\n", [
        ("J009", 2, 13, "`channels.whatsapp` must be a text or empty, not a whole number",
         "give the profile trait a customer needs for this channel, like phone, or leave it empty")]),
    "channel_name": ('channels:\n  "bad name": phone\n', [
        ("J009", 2, 3, '"bad name" is not a valid name here', "channel names are like whatsapp or in_app")]),
    "channels_list": ("channels: [sms, line]\n", [
        ("J009", 1, 11, "`channels` must be a mapping (key: value lines), not a list",
         "map each channel to its contact trait, e.g.  whatsapp: phone")]),
    "timezone": ("default_timezone: Europe/Pari\n", [
        ("J009", 1, 19, '"Europe/Pari" is not a time zone', 'did you mean "Europe/Paris"?')]),
    "lateness": ("allowed_lateness: soon\n", [
        ("J009", 1, 19, "`allowed_lateness` cannot be 'soon'", "a duration like 5s or 1m")]),
    "run_list": ("run: [1]\n", [
        ("J009", 1, 6, "`run` must be a mapping (key: value lines), not a list", "engine settings, as a mapping")]),
    "top_level_list": ("- channels\n", [
        ("J009", 1, 1, "the file must be a mapping (key: value lines), not a list",
         "the config is a mapping of keys: channels, default_timezone, catalog, allowed_lateness, dedup_window, "
         "run, templates, delivery")]),
    "twice": ("channels:\n  sms:\nrun: {}\nchannels:\n  line:\n", [
        ("J009", 4, 1, 'key "channels" is given twice', "the first one is at line 1; keep one")]),
    "bad_yaml": ("channels:\n  whatsapp: phone\n sms: x\n", [
        ("J009", 3, 2, "this config file is not valid YAML: expected <block end>, but found '<block mapping start>'"
                       " (while parsing a block mapping opened at line 1)",
         "check the indentation and the colons around this spot")]),
    "two_documents": ("channels: {}\n---\nrun: {}\n", [
        ("J009", 2, 1, "this config file is not valid YAML: expected a single document in the stream, "
                       "but found another document", None)]),
    "python_tag": ("run: !!python/object:os.system {}\n", [
        ("J009", 1, 6, "this config file is not valid YAML: could not determine a constructor for the tag "
                       "'tag:yaml.org,2002:python/object:os.system'", None)]),
    "number_as_channel": ("channels:\n  1: phone\n", [
        ("J009", 2, 3, '"1" is not a valid name here', "channel names are like whatsapp or in_app")]),
    "catalog_missing": ("catalog: events.yaml\n", [
        ("J009", 1, 10, "catalog file events.yaml does not exist", "the path is relative to this config file")]),
    "catalog_folder": ("catalog: .\n", [
        ("J009", 1, 10, "catalog file . is not a file", "the path is relative to this config file")]),
    # a lateness past the longest duration once fell back to the default 5s without a word
    "lateness_too_long": ("allowed_lateness: 99999999d\n", [
        ("J009", 1, 19, "99999999d is longer than 36500d (100 years), the longest duration there is",
         "a few seconds is usual: 5s")]),
}


@pytest.mark.parametrize("name", CONFIG_ERRORS)
def test_config_errors_point_at_the_yaml_line(tmp_path, name):
    text, expected = CONFIG_ERRORS[name]
    config = load_config(write(tmp_path, "journeyctl.yaml", text))
    assert records(config.diagnostics) == expected
    assert {d.path for d in config.diagnostics} == {str(tmp_path / "journeyctl.yaml")}
    assert not config.ok


def test_schema_errors_and_bad_values_are_all_reported(tmp_path):
    config = load_config(write(tmp_path, "journeyctl.yaml", "catalogue: x\ndefault_timezone: Mars/Base\n"))
    assert [(d.span.line, d.message) for d in config.diagnostics] == [
        (1, 'unknown key "catalogue"'), (2, '"Mars/Base" is not a time zone')]


# ---- catalog: loading --------------------------------------------------------------------------

CATALOG = """\
events:
  cart_abandoned:
    properties:
      cart_value: {type: number}
      cart_url: {type: string}
      items: {type: integer}
      express: {type: boolean}
      coupon: {type: [string, "null"]}
      tier: {enum: [gold, silver]}
      address:
        type: object
        properties:
          city: {type: string}
  purchase:
    properties:
      amount: {type: number}
    required: [amount]
  "Order Completed": {}
  page_viewed:
    properties:
      url: {type: string}
    additionalProperties: true
  app_opened:
"""


@pytest.fixture
def catalog(tmp_path):
    cat, problems = load_catalog(write(tmp_path, "events.yaml", CATALOG))
    assert problems == []
    return cat


CATALOG_ERRORS = {
    "no_events": ("evnts: {}\n", [
        ("J010", 1, 1, '"events" is missing', "the catalog is a mapping with one key, events"),
        ("J010", 1, 1, 'unknown key "evnts"', 'did you mean "events"?')]),
    "not_a_mapping": ("events: [a, b]\n", [
        ("J010", 1, 9, "`events` must be a mapping (key: value lines), not a list",
         "map each event name to a JSON Schema of its properties")]),
    "event_not_a_schema": ("events:\n  purchase: 5\n", [
        ("J010", 2, 13, "`events.purchase` must be a mapping (key: value lines) or empty, not a whole number",
         "each event maps to a JSON Schema of its properties, e.g. {properties: {cart_value: {type: number}}}")]),
    "bad_type": ("events:\n  purchase:\n    properties:\n      amount: {type: numbr}\n", [
        ("J010", 4, 22, "the schema of purchase names the type 'numbr', which JSON Schema does not have",
         "types: string, number, integer, boolean, object, array, null")]),
    "yes_as_event_name": ("events:\n  yes: {}\n", [
        ("J010", 2, 3, '"True" is not a valid name here',
         "quote event names that YAML would read as numbers or true/false")]),
    "bad_keyword_value": ("events:\n  purchase:\n    required: amount\n", [
        ("J010", 3, 15, "the schema of purchase is not a valid JSON Schema: 'amount' is not of type 'array'",
         "see https://json-schema.org/understanding-json-schema/")]),
}


@pytest.mark.parametrize("name", CATALOG_ERRORS)
def test_catalog_errors_point_at_the_yaml_line(tmp_path, name):
    text, expected = CATALOG_ERRORS[name]
    cat, problems = load_catalog(write(tmp_path, "events.yaml", text))
    assert cat is None
    assert records(problems) == expected


def test_catalog_from_the_command_line_replaces_the_configs(tmp_path):
    write(tmp_path, "a.yaml", "events:\n  from_config: {}\n")
    write(tmp_path, "b.yaml", "events:\n  from_flag: {}\n")
    config = load_config(write(tmp_path, "journeyctl.yaml", "catalog: a.yaml\n"), catalog=tmp_path / "b.yaml")
    assert "from_flag" in config.options.catalog.events and "from_config" not in config.options.catalog.events


def test_a_broken_catalog_is_reported_through_the_config(tmp_path):
    write(tmp_path, "events.yaml", "events: 5\n")
    config = load_config(write(tmp_path, "journeyctl.yaml", "catalog: events.yaml\n"))
    assert [(d.code, d.path) for d in config.diagnostics] == [("J010", str(tmp_path / "events.yaml"))]
    assert config.options.catalog is None and not config.ok


# ---- catalog: what it knows ----------------------------------------------------------------------

@pytest.mark.parametrize("parts, kind", [
    (("cart_value",), "number"), (("items",), "number"), (("cart_url",), "string"), (("express",), "bool"),
    (("coupon",), "string"), (("tier",), "string"), (("address", "city"), "string"), (("address",), None),
    (("nothing",), None),
])
def test_property_kind(catalog, parts, kind):
    assert catalog.property_kind("cart_abandoned", parts) == kind


def test_property_kind_of_unknown_or_open_events(catalog):
    assert catalog.property_kind("nope", ("x",)) is None
    assert catalog.property_kind(None, ("x",)) is None
    assert catalog.property_kind("page_viewed", ("anything",)) is None


def test_validate_event(catalog):
    assert catalog.validate_event("purchase", {"amount": 5}) == []
    assert catalog.validate_event("purchase", {}) == ["'amount' is a required property"]
    assert catalog.validate_event("cart_abandoned", {"cart_value": "x", "address": {"city": 3}}) == [
        "address.city: 3 is not of type 'string'", "cart_value: 'x' is not of type 'number'"]
    assert catalog.validate_event("purchse", {}) == ['unknown event "purchse" (did you mean "purchase"?)']
    assert catalog.validate_event("zzz", {}) == ['unknown event "zzz"']
    assert catalog.validate_event("segment_entered", {"segment": "vips"}) == []
    assert catalog.validate_event("app_opened", {"anything": 1}) == []


# ---- catalog: in the compiler --------------------------------------------------------------------

def check(source, catalog):
    """Catalog findings; the J129 note every aggregate gets is tested elsewhere."""
    found = compile_text(source, "j.journey", Options(catalog=catalog)).diagnostics
    return records([d for d in found if d.code != "J129"])


def test_a_clean_journey_passes(catalog):
    source = ('journey ok\n  goal purchase where amount > 0 within 3d\n  exit on "Order Completed"\n'
              "  on cart_abandoned where cart_value >= 50 and address.city == \"Paris\" and express == true\n"
              "  wait 1h unless page_viewed where anything == 1 or app_opened\n"
              "  if cart_value > 100 and sum(purchase.amount within 7d) > 10 and last(purchase).amount > 1\n"
              "    send email with url = trigger.cart_url, n = items * 2\n"
              "  send sms\n")
    assert check(source, catalog) == []


def test_segment_events_come_with_the_engine(catalog):
    assert check('on segment_entered where segment == "vips" -> send email\n', catalog) == []


def test_unknown_events_everywhere_they_can_be_written(catalog):
    source = ('journey j\n  goal purchse within 3d\n  exit on "Order Complete"\n  on cart_abandond\n'
              "  when signup within 1d\n    send email\n  if count(zzz) > 1\n    send sms\n")
    assert check(source, catalog) == [
        ("J011", 2, 8, 'unknown event "purchse"', 'did you mean "purchase"?'),
        ("J011", 3, 11, 'unknown event "Order Complete"', 'did you mean "Order Completed"?'),
        ("J011", 4, 6, 'unknown event "cart_abandond"', 'did you mean "cart_abandoned"?'),
        ("J011", 5, 8, 'unknown event "signup"', f"add it to the event catalog ({catalog.path})"),
        ("J011", 7, 12, 'unknown event "zzz"', f"add it to the event catalog ({catalog.path})"),
    ]


def test_quoted_event_name_is_underlined_with_its_quotes(catalog):
    d = compile_text('on "Order Complete" -> send email\n', "j.journey", Options(catalog=catalog)).diagnostics[0]
    assert (d.span.column, d.span.end_column) == (4, 20)


def test_unknown_properties_everywhere_they_can_be_read(catalog):
    source = ("journey j\n  on cart_abandoned where cart_valu > 1\n"
              "  wait 1d unless purchase where amout > 1\n"
              "  send email with a = trigger.cart_urll, b = cart_urll, c = sum(purchase.amont), d = last(purchase).amont\n"
              "  if adress.city == \"x\" or address.ctiy == \"y\"\n    send sms\n")
    assert check(source, catalog) == [
        ("J012", 2, 27, 'cart_abandoned has no property "cart_valu"', 'did you mean "cart_value"?'),
        ("J012", 3, 33, 'purchase has no property "amout"', 'did you mean "amount"?'),
        ("J012", 4, 23, 'cart_abandoned has no property "cart_urll"', 'did you mean "cart_url"?'),
        ("J012", 4, 46, 'cart_abandoned has no property "cart_urll"', 'did you mean "cart_url"?'),
        ("J012", 4, 61, 'purchase has no property "amont"', 'did you mean "amount"?'),
        ("J012", 4, 86, 'purchase has no property "amont"', 'did you mean "amount"?'),
        ("J012", 5, 6, 'cart_abandoned has no property "adress"', 'did you mean "address"?'),
        ("J012", 5, 28, 'cart_abandoned has no property "address.ctiy"', 'did you mean "address.city"?'),
    ]


def test_unknown_property_without_a_close_name_lists_the_known_ones(catalog):
    assert check("on purchase where zzz > 1 -> send email\n", catalog) == [
        ("J012", 1, 19, 'purchase has no property "zzz"', "its properties: amount")]


def test_no_property_checks_where_the_schema_does_not_say(catalog):
    assert check("on page_viewed where whatever > 1 -> send email\n", catalog) == []
    assert check('on "Order Completed" where total > 1 -> send email\n', catalog) == []
    assert check("on app_opened where x > 1 -> send email\n", catalog) == []
    # an unknown event gets J011 only, not a J012 for each of its properties
    assert [r[0] for r in check("on nope where x > 1 -> send email\n", catalog)] == ["J011"]


def test_type_mismatches(catalog):
    assert check('on cart_abandoned where cart_value >= "50" -> send email\n', catalog) == [
        ("J013", 1, 25, "cart_value is a number in the event catalog, but is compared with a text",
         "remove the quotes: 50")]
    assert check('on cart_abandoned where "https://x" == items -> send email\n', catalog) == [
        ("J013", 1, 25, "items is a number in the event catalog, but is compared with a text",
         "compare it with a number")]
    assert check("on cart_abandoned where express == 1 -> send email\n", catalog) == [
        ("J013", 1, 25, "express is true or false in the event catalog, but is compared with a number",
         "compare it with true or false")]
    assert check("on cart_abandoned -> send email\n  \n", catalog) == []
    assert check("journey j\n  on cart_abandoned\n  if trigger.cart_url > 5\n    send email\n", catalog) == [
        ("J013", 3, 6, "trigger.cart_url is a text in the event catalog, but is compared with a number",
         "compare it with a text")]


def test_comparisons_that_agree_with_the_catalog_pass(catalog):
    assert check('on cart_abandoned where cart_value > 5 and tier == "gold" and coupon == null and '
                 "cart_value > items -> send email\n", catalog) == []
    # ordering against null stays J114: it is wrong with or without a catalog
    assert [r[0] for r in check("on cart_abandoned where cart_value > null -> send email\n", catalog)] == ["J114"]
