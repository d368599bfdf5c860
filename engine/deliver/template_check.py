"""`journeyctl validate` for message templates: run after the journeys compile, from their sends.

Three findings, with the codes and positions journeys use: a template that is not valid
Liquid (J201, in the template file), a send whose template has no file for one of its
channels (J202, on the send, with "did you mean"), and a template that needs a variable
some send naming it does not pass (J203, on the template's line, naming the send's).
Without a templates folder (and none named in journeyctl.yaml) nothing is checked.
"""
from __future__ import annotations

import os
import re

from journeyctl.dsl.diagnostics import ERROR, Diagnostic, Span, did_you_mean


def check_project(project, compiled) -> tuple[list[Diagnostic], dict[str, str]]:
    """validate's look at what journeyctl deliver needs: the delivery settings and the templates."""
    diags, sources = check_templates(project, compiled)
    return check_delivery(project) + diags, sources


def check_delivery(project) -> list[Diagnostic]:
    """J009 for a `delivery:` entry that names an unknown channel, provider or option."""
    if not getattr(project, "delivery", None) or project.path is None:
        return []
    from journeyctl.dsl.project.yamlcheck import node_span
    from journeyctl.dsl.project.yamlfile import YamlProblem, read_yaml
    from journeyctl.engine.deliver.settings import problems_of

    try:  # the config loaded cleanly already: this reads it again only for the lines of its nodes
        root = read_yaml(project.path, "config").root
    except YamlProblem:
        root = None
    out = []
    path = str(project.path)
    for ch, opts in project.delivery.items():
        if ch not in project.options.channels:
            close = did_you_mean(ch, project.options.channels)
            out.append(Diagnostic("J009", ERROR, f'delivery: "{ch}" is not a channel', node_span(root, ["delivery", ch],
                                  key=True), f'did you mean "{close}"?' if close else "add it under channels: first",
                                  path))
        for key, message in problems_of(ch, opts):
            keys = ["delivery", ch] + ([key] if key else [])
            out.append(Diagnostic("J009", ERROR, message, node_span(root, keys, key=bool(key)), None, path))
    return out


class Send:
    """One target of one send, as validate needs it: where it is written and what it passes."""

    __slots__ = ("path", "line", "column", "width", "template", "channel", "names")

    def __init__(self, path, line, column, width, template, channel, names):
        self.path, self.line, self.column, self.width = path, line, column, width
        self.template, self.channel, self.names = template, channel, names


def sends_of(compiled) -> list[Send]:
    """Every (template, channel) a journey may send, with the line of its send and its `with` names.
    The IR keeps each state's line; the column is found in that line's text."""
    out = []
    for c in compiled:
        ir = c.ir
        if ir is None or getattr(ir, "kind", "journey") != "journey":
            continue
        lines = (c.source or "").splitlines()
        for state in ir.states.values():
            if state.get("kind") != "send":
                continue
            line = state.get("line", 1)
            text = lines[line - 1] if 0 < line <= len(lines) else ""
            names = frozenset(state.get("variables") or ())
            for target in state["targets"]:
                template = target["template"] or ir.id
                column, width = _locate(text, target)
                out.append(Send(c.path, line, column, width, template, target["channel"], names))
    return out


def _locate(text: str, target: dict) -> tuple[int, int]:
    """Column and width of `channel "template"` (or the bare channel) in the send's line."""
    quoted = f' "{target["template"]}"' if target["template"] else ""
    m = re.search(rf'\b{re.escape(target["channel"])}{re.escape(quoted)}', text)
    if m is None:
        return 1, max(1, len(text))
    return m.start() + 1, m.end() - m.start()


def check_templates(project, compiled) -> tuple[list[Diagnostic], dict[str, str]]:
    """(diagnostics, {template path: text}) for the templates the compiled journeys send."""
    from journeyctl.engine.deliver.templates import BUILTINS, TemplateSet, parse_template, read_text, templates_folder

    folder, named = templates_folder(project)
    if not folder.is_dir():
        if named:
            where = str(project.path) if project.path is not None else None
            return [Diagnostic("J009", ERROR, f"the templates folder {project.templates} does not exist", Span(),
                               "the path is relative to this config file", where)], {}
        return [], {}
    templates = TemplateSet(folder)
    files = templates.files()
    diags: list[Diagnostic] = []
    sources: dict[str, str] = {}
    parsed = {}
    for key, path in files.items():
        text, why = read_text(path)
        if text is None:
            diags.append(Diagnostic("J007", ERROR, why, Span(), None, path))
            continue
        sources[path] = text
        t = parsed[key] = parse_template(path, text, *key)
        diags += [Diagnostic(p.code, ERROR, p.message, Span.point(p.line, p.column, p.width), p.hint, path)
                  for p in t.problems]
    for send in sends_of(compiled):
        key = (send.template, send.channel)
        if key not in files:
            diags.append(_missing(send, files, templates))
            continue
        t = parsed.get(key)
        if t is None or t.body is None:
            continue
        for use in t.uses():
            if use.name in send.names or use.name in BUILTINS:
                continue
            passed = ", ".join(sorted(send.names)) or "no variables"
            diags.append(Diagnostic(
                "J203", ERROR,
                f"variable {use.name} is not passed by the send at {send.path}:{send.line} (it passes {passed})",
                Span.point(use.line, use.column, use.width),
                f"add `{use.name} = ...` to that send's `with`, or give a fallback: "
                f'{{{{ {use.name} | default: "..." }}}}', t.path))
    return _unique(diags), sources


def _missing(send: Send, files: dict, templates) -> Diagnostic:
    from journeyctl.engine.deliver.templates import SUFFIX

    want = f"{send.template}.{send.channel}{SUFFIX}"
    names = [f"{n}.{ch}{SUFFIX}" for n, ch in files]
    close = did_you_mean(want, names)
    other = sorted(ch for n, ch in files if n == send.template)
    if close:
        hint = f'did you mean "{close}"? (a template file is named <template>.<channel>{SUFFIX})'
    elif other:
        hint = f"{send.template} has files for {', '.join(other)}; add {want}"
    else:
        hint = f"create {os.path.join(templates.folder, want)}"
    return Diagnostic("J202", ERROR, f"no template file {os.path.join(templates.folder, want)} for this send",
                      Span.point(send.line, send.column, send.width), hint, send.path)


def _unique(diags: list[Diagnostic]) -> list[Diagnostic]:
    """One finding per place and message: two sends on one line naming the same template say it once."""
    seen, out = set(), []
    for d in diags:
        key = (d.path, d.span, d.code, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
