"""`journeyctl preview`: one template rendered, as a customer would get it.

    journeyctl preview running_picks --channel whatsapp --var name=Alex
    journeyctl preview --action action.json          # one action (a line of simulate's jsonl)

A `--var` value that reads as JSON (a number, true, null, a list) is that value; anything
else is text. Exit 0: printed; 1: the template cannot be rendered (an undefined variable, a
Liquid error); 2: usage (no such template, a bad action file).
"""
from __future__ import annotations

import sys

import click
import orjson

from journeyctl.engine.cli.name_values import name_values
from journeyctl.engine.cli.startup import UsageProblem


def _action(path: str) -> dict:
    try:
        with open(path, "rb") if path != "-" else sys.stdin.buffer as f:
            data = orjson.loads(f.read())
    except OSError as e:
        raise UsageProblem(f"cannot read {path}: {e.strerror or e}") from None
    except orjson.JSONDecodeError as e:
        raise UsageProblem(f"{path} is not one JSON action: {e}") from None
    if not isinstance(data, dict):
        raise UsageProblem(f"{path} is not one JSON action (an object like a line of simulate --format jsonl)")
    return data


@click.command()
@click.argument("template", required=False)
@click.option("--channel", help="The channel whose file to render (templates/TEMPLATE.CHANNEL.liquid).")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="A variable, as `with` passes it; repeat.")
@click.option("--action", "action_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Render for one action (JSON: a line of simulate --format jsonl); --var adds to its variables.")
@click.option("--customer", "customer_id", default="preview-customer", show_default=True,
              help="customer_id the template sees.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--config", "config_path", type=click.Path(), help="Project config (default: ./journeyctl.yaml).")
def preview(template, channel, variables, action_path, customer_id, fmt, config_path):
    """Print TEMPLATE rendered for --channel with --var values (or for one --action)."""
    from journeyctl.dsl.project import load_project
    from journeyctl.dsl.project.config import ConfigError
    from journeyctl.engine.deliver.templates import TemplateError, project_templates

    try:
        project = load_project([], config_path).config  # the project's config alone
        action = _action(action_path) if action_path else {}
        action = {"customer_id": customer_id, "journey": "preview", "action_id": "preview", **action}
        action["template"] = template or action.get("template")
        action["channel"] = channel or action.get("channel")
        if not action["template"] or not action["channel"]:
            raise UsageProblem("give TEMPLATE and --channel, or --action FILE")
        extra = name_values(variables, lambda item: UsageProblem(f"--var {item!r}: write NAME=VALUE"))
        action["variables"] = {**(action.get("variables") or {}), **extra}
        templates = project_templates(project)
    except (UsageProblem, ConfigError) as e:
        click.echo(f"journeyctl preview: {e}", err=True)
        sys.exit(2)
    try:
        message = templates.render(action)
    except TemplateError as e:
        missing = "does not exist" in str(e)
        click.echo(f"journeyctl preview: {e}", err=True)
        sys.exit(2 if missing else 1)
    if fmt == "json":
        click.echo(orjson.dumps(message).decode())
    else:
        if "subject" in message:
            click.echo(f"Subject: {message['subject']}\n")
        click.echo(message["body"])
