"""Message templates: rendering, `validate`'s template checks, `preview`, `simulate --render`, `to`.

Real files in a temporary project, the real CLI in a subprocess where exit codes and output matter.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from journeyctl.engine.deliver.templates import TemplateError, TemplateSet, parse_template

ROOT = Path(__file__).resolve().parents[1]
JOURNEYCTL = [str(Path(sys.executable).parent / "journeyctl")]


def cli(*args, cwd=None, stdin=None):
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([*JOURNEYCTL, *args], cwd=cwd, capture_output=True, text=True, env=env, input=stdin,
                          timeout=120)


def project(tmp_path, templates: dict, journey: str, config: str = "channels:\n  whatsapp: phone\n") -> Path:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "cart.journey").write_text(journey)
    (tmp_path / "journeyctl.yaml").write_text(config)
    folder = tmp_path / "templates"
    folder.mkdir()
    for name, text in templates.items():
        (folder / name).write_text(text)
    return tmp_path


# ---- rendering --------------------------------------------------------------------------------

def test_render_with_subject_variables_and_builtins():
    t = parse_template("t/x.email.liquid", "---\nsubject: Hi {{ name }}\n---\n{{ name }} ({{ customer_id }}, {{ channel }})\n",
                       "x", "email")
    assert t.problems == []
    assert t.render({"name": "Alex", "customer_id": "c1", "channel": "email"}) == \
        {"subject": "Hi Alex", "body": "Alex (c1, email)"}


@pytest.mark.parametrize("variables", [{}, {"name": None}])
def test_an_undefined_or_null_variable_is_an_error_never_an_empty_string(variables):
    t = parse_template("t/x.sms.liquid", "line one\nHi {{ name }}!", "x", "sms")
    with pytest.raises(TemplateError) as e:
        t.render(variables)
    assert "t/x.sms.liquid:2:7: variable name has no value" in str(e.value)


def test_default_and_if_may_meet_a_missing_variable():
    t = parse_template("t/x.sms.liquid", 'Hi {{ name | default: "there" }}{% if coupon %}, use {{ coupon }}{% endif %}.',
                       "x", "sms")
    assert t.uses() == []
    assert t.render({}) == {"body": "Hi there."}
    assert t.render({"name": "Alex", "coupon": "X1"}) == {"body": "Hi Alex, use X1."}


def test_a_template_changed_on_disk_is_read_again(tmp_path):
    path = tmp_path / "a.sms.liquid"
    path.write_text("one {{ n }}")
    templates = TemplateSet(tmp_path)
    assert templates.render({"template": "a", "channel": "sms", "variables": {"n": 1}})["body"] == "one 1"
    path.write_text("two {{ n }}")
    os.utime(path, (1, 1))
    assert templates.render({"template": "a", "channel": "sms", "variables": {"n": 1}})["body"] == "two 1"


def test_the_seed_example_renders():
    templates = TemplateSet(ROOT / "templates")
    message = templates.render({"template": "running_picks", "channel": "whatsapp", "customer_id": "alex",
                                "variables": {"name": "Alex"}})
    assert message == {"body": "Hi Alex, check out the latest running shoes picked just for you."}


# ---- validate -----------------------------------------------------------------------------------

JOURNEY = ('journey cart\n  on cart_abandoned\n'
           '  send whatsapp "cart_reminder" or sms "cart_reminder" with name = profile.first_name\n'
           '  send email "welcome"\n')


def test_validate_reports_each_template_problem_where_it_is(tmp_path):
    root = project(tmp_path, {
        "cart_reminder.whatsapp.liquid": "Hi {{ name }}, your cart: {{ cart_url }}\n",
        "cart_reminder.smss.liquid": "Hi {{ name }}\n",
        "welcome.email.liquid": "---\nsubjet: hi\n---\nHello\n",
        "broken.sms.liquid": "line\n{{ name | upcas }}\n",
        "unclosed.sms.liquid": "a\nb {{ 1 + }}\n",
    }, JOURNEY)
    r = cli("validate", "journeys/", "--format", "json", cwd=root)
    assert r.returncode == 1, r.stderr
    found = {(d["code"], d["path"], d["line"], d["column"], d["message"], d["hint"]) for d in json.loads(r.stdout)}
    assert found == {
        ("J201", "templates/broken.sms.liquid", 2, 11, "unknown filter 'upcas'", 'did you mean "upcase"?'),
        ("J201", "templates/unclosed.sms.liquid", 2, 8, "Liquid syntax error: unexpected '+'", None),
        ("J204", "templates/welcome.email.liquid", 2, 1, 'unknown front matter key "subjet"', 'did you mean "subject"?'),
        ("J203", "templates/cart_reminder.whatsapp.liquid", 1, 30,
         "variable cart_url is not passed by the send at journeys/cart.journey:3 (it passes name)",
         'add `cart_url = ...` to that send\'s `with`, or give a fallback: {{ cart_url | default: "..." }}'),
        ("J202", "journeys/cart.journey", 3, 36, "no template file templates/cart_reminder.sms.liquid for this send",
         'did you mean "cart_reminder.smss.liquid"? (a template file is named <template>.<channel>.liquid)'),
    }


def test_validate_text_shows_the_template_line(tmp_path):
    root = project(tmp_path, {"cart_reminder.whatsapp.liquid": "Hi {{ name }}, {{ cart_url }}\n",
                              "cart_reminder.sms.liquid": "Hi {{ name }}\n",
                              "welcome.email.liquid": "---\nsubject: Hi\n---\nHello\n"}, JOURNEY)
    r = cli("validate", "journeys/", cwd=root)
    assert r.returncode == 1
    assert "templates/cart_reminder.whatsapp.liquid:1:19: J203 error" in r.stdout
    assert "1 | Hi {{ name }}, {{ cart_url }}" in r.stdout


def test_validate_passes_a_clean_project_and_ignores_missing_folder(tmp_path):
    root = project(tmp_path, {"cart_reminder.whatsapp.liquid": "Hi {{ name }}\n",
                              "cart_reminder.sms.liquid": "Hi {{ name | default: 'x' }}\n",
                              "welcome.email.liquid": "---\nsubject: Hi\n---\nHello {{ customer_id }}\n"}, JOURNEY)
    assert cli("validate", "journeys/", cwd=root).returncode == 0
    (root / "templates").rename(root / "elsewhere")
    r = cli("validate", "journeys/", cwd=root)
    assert r.returncode == 0 and "J20" not in r.stdout
    (root / "journeyctl.yaml").write_text("templates: missing_folder\n")
    r = cli("validate", "journeys/", "--format", "json", cwd=root)
    assert r.returncode == 2
    assert [d["message"] for d in json.loads(r.stdout)] == ["the templates folder missing_folder does not exist"]


def test_validate_checks_the_delivery_section(tmp_path):
    root = project(tmp_path, {"cart_reminder.whatsapp.liquid": "Hi\n", "cart_reminder.sms.liquid": "Hi\n",
                              "welcome.email.liquid": "---\nsubject: Hi\n---\nHello\n"}, JOURNEY,
                   config="delivery:\n  whatsapp: {provider: webhok, url: 'http://x'}\n"
                          "  email: {provider: smtp, from: a@b.c, password: hunter2}\n  sms: {provider: twilio, frm: x}\n")
    r = cli("validate", "journeys/", "--format", "json", cwd=root)
    assert r.returncode == 2
    messages = [(d["line"], d["message"]) for d in json.loads(r.stdout)]
    assert messages == [
        (2, 'delivery.whatsapp: unknown provider "webhok"; did you mean "webhook"?'),
        (3, "delivery.email: a password does not belong in the config; give password_env (an environment "
            "variable) or password_file"),
        (4, 'delivery.sms: unknown option "frm" for provider twilio; did you mean "from"?'),
        (4, "delivery.sms: from is missing"),
    ]
    assert "hunter2" not in r.stdout


def test_the_projects_own_journeys_have_every_template():
    r = cli("validate", "journeys/", "examples/", "--format", "json", cwd=ROOT)
    assert r.returncode == 0, r.stdout
    assert not [d for d in json.loads(r.stdout) if d["code"].startswith("J2")]


# ---- preview ------------------------------------------------------------------------------------

def test_preview_prints_the_message(tmp_path):
    r = cli("preview", "running_picks", "--channel", "whatsapp", "--var", "name=Alex", cwd=ROOT)
    assert (r.returncode, r.stdout) == (0, "Hi Alex, check out the latest running shoes picked just for you.\n")
    r = cli("preview", "cart_reminder_vip", "--channel", "email", "--var", "name=Ana", "--var", "discount=15%",
            "--var", "cart_url=https://x", cwd=ROOT)
    assert r.returncode == 0
    assert r.stdout.startswith("Subject: 15% off your cart, Ana\n\nHi Ana,")


def test_preview_of_an_action_file_and_its_errors(tmp_path):
    action = tmp_path / "a.json"
    action.write_text(json.dumps({"template": "cart_reminder", "channel": "whatsapp", "customer_id": "ana",
                                  "variables": {"name": "Ana", "cart_url": "https://c"}}))
    r = cli("preview", "--action", str(action), "--format", "json", cwd=ROOT)
    assert (r.returncode, json.loads(r.stdout)) == (0, {"body": "Hi Ana, you left something in your cart: https://c"})
    r = cli("preview", "cart_reminder", "--channel", "whatsapp", cwd=ROOT)
    assert r.returncode == 1 and "variable cart_url has no value" in r.stderr and "Traceback" not in r.stderr
    r = cli("preview", "nope", "--channel", "sms", cwd=ROOT)
    assert r.returncode == 2 and "templates/nope.sms.liquid does not exist" in r.stderr
    action.write_text("{not json")
    r = cli("preview", "--action", str(action), cwd=ROOT)
    assert r.returncode == 2 and "is not one JSON action" in r.stderr


# ---- simulate --render and `to` --------------------------------------------------------------------

def test_simulate_render_adds_the_message_and_to():
    r = cli("simulate", "journeys/", "--events", "examples/events.jsonl", "--format", "jsonl", "--render", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    actions = [json.loads(line) for line in r.stdout.splitlines()]
    assert actions and all("message" in a and "body" in a["message"] for a in actions)
    ana = next(a for a in actions if a["customer_id"] == "ana" and a["template"] == "cart_reminder")
    assert ana["to"] == "+351900000001"
    assert ana["message"] == {"body": "Hi Ana, you left something in your cart: https://shop.example/c/ana"}
    email = next(a for a in actions if a["channel"] == "email" and a["status"] == "send")
    assert set(email["message"]) == {"subject", "body"} and "@" in email["to"]
    plain = cli("simulate", "journeys/", "--events", "examples/events.jsonl", "--format", "jsonl", cwd=ROOT)
    assert all("message" not in json.loads(line) for line in plain.stdout.splitlines())


def test_to_is_the_channel_address_for_sends_only():
    from journeyctl.dsl.compiler import compile_text
    from journeyctl.engine.core.engine import Engine
    from journeyctl.engine.core.events import parse_event
    from journeyctl.engine.store.memory import MemoryStore

    ir = compile_text("journey j\n  on a\n  send whatsapp\n  send in_app\n  send email\n").ir
    engine = Engine([ir], [], store=MemoryStore(), channels={"whatsapp": "phone", "email": "email"})
    engine.process(parse_event(json.dumps({"type": "identify", "userId": "c", "timestamp": 1000,
                                           "traits": {"phone": "+351900"}})))
    out = [a.as_dict() for a in engine.process(parse_event(json.dumps({"event": "a", "customer_id": "c",
                                                                        "timestamp": 2000})))]
    assert [(a["channel"], a["status"], a["to"]) for a in out] == [
        ("whatsapp", "send", "+351900"), ("in_app", "send", None), ("email", "unreachable", None)]
