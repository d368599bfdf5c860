"""Message templates: Liquid files beside the journeys, one per template and channel.

Liquid because marketers already write it (Braze, Customer.io, Shopify, Dittofeed) and it
cannot run code. `templates/<template>.<channel>.liquid`; a template may start with YAML
front matter between two `---` lines, holding `subject` (itself Liquid). Email templates
need a subject.

Strict on purpose: a variable the send did not pass, or passed as null, is undefined, and
printing an undefined variable is an error, never an empty string in a customer's inbox.
`{{ name | default: "there" }}` gives a fallback and `{% if coupon %}` tests for one; both
are allowed on a variable some send leaves out. Besides its send's `with` variables a
template sees `customer_id`, `journey`, `channel` and `action_id`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from liquid import Environment, FalsyStrictUndefined, RenderContext
from liquid.builtin.expressions import FilteredExpression, Path as LiquidPath, TernaryFilteredExpression
from liquid.builtin.tags.if_tag import IfNode
from liquid.builtin.tags.unless_tag import UnlessNode
from liquid.exceptions import LiquidError, UndefinedError

DEFAULT_FOLDER = "templates"  # beside journeyctl.yaml, unless its `templates:` names another

SUFFIX = ".liquid"
BUILTINS = ("customer_id", "journey", "channel", "action_id")
NEEDS_SUBJECT = frozenset({"email"})
FRONT_MATTER_KEYS = ("subject",)
MAX_BYTES = 256 * 1024


class _Missing(FalsyStrictUndefined):
    """Undefined: false in `if`, replaced by `default`, an error anywhere else."""

    force_liquid_default = True


ENV = Environment(undefined=_Missing, autoescape=False)
ENV.loop_iteration_limit = 10_000          # a template renders one message, not a report
ENV.output_stream_limit = 512 * 1024


class TemplateError(Exception):
    """A message that cannot be made, in plain words (a missing file, an undefined variable)."""


@dataclass(frozen=True)
class Problem:
    """Something wrong inside a template file, where it is. code: a dsl/codes.py code."""

    code: str
    message: str
    line: int = 1
    column: int = 1
    width: int = 1
    hint: str | None = None


@dataclass(frozen=True)
class Use:
    """A variable the template needs: its name and where it is first used unguarded."""

    name: str
    line: int
    column: int
    width: int


@dataclass
class Template:
    name: str
    channel: str
    path: str
    source: str
    body: object = None                 # liquid BoundTemplate
    subject: object = None
    body_line: int = 1                  # the file line of the body's first line
    subject_at: tuple = (1, 1)          # (line, column) of the subject text in the file
    problems: list = field(default_factory=list)
    subject_text: str = ""
    body_text: str = ""

    @property
    def ok(self) -> bool:
        return self.body is not None and not self.problems

    def render(self, variables: dict) -> dict:
        """{"subject"?, "body"} for these variables; raises TemplateError."""
        data = {k: v for k, v in variables.items() if v is not None}
        out = {}
        try:
            if self.subject is not None:
                out["subject"] = self.subject.render(**data).strip()
            out["body"] = self.body.render(**data).rstrip()
        except UndefinedError as e:
            raise TemplateError(f"{self.path}:{self._where(e)}: {_undefined(e)}") from None
        except LiquidError as e:
            raise TemplateError(f"{self.path}:{self._where(e)}: {e.message}") from None
        return out

    def _where(self, e: LiquidError) -> str:
        line, column = _position(e)
        return f"{line + self.body_line - 1}:{column}"

    def uses(self) -> list[Use]:
        """Variables the template prints or reads without a guard (`default`, an enclosing `if`)."""
        out: dict[str, Use] = {}
        for part, text, line0, col0 in self._parts():
            guarded = _guarded_indices(part)
            for name, refs in part.analyze(include_partials=False).globals.items():
                for ref in refs:
                    if ref.span.index in guarded:
                        continue
                    line, column = ref.span.line_col(text)
                    use = Use(name, line + line0 - 1, column + 1 + (col0 - 1 if line == 1 else 0), len(str(ref)))
                    if name not in out or (use.line, use.column) < (out[name].line, out[name].column):
                        out[name] = use
        return sorted(out.values(), key=lambda u: (u.line, u.column))

    def _parts(self):
        if self.subject is not None:
            yield self.subject, self.subject_text, self.subject_at[0], self.subject_at[1]
        if self.body is not None:
            yield self.body, self.body_text, self.body_line, 1


def parse_template(path: str, text: str, name: str, channel: str) -> Template:
    """A template from its file's text; what is wrong with it lands in `problems`."""
    t = Template(name, channel, path, text)
    front, front_line, body, body_line = split_front_matter(text)
    t.body_line = body_line
    meta: dict = {}
    if front is not None:
        meta, problems, subject_at = _front_matter(front, front_line)
        t.problems += problems
        if isinstance(meta.get("subject"), str):
            t.subject_at = subject_at
            t.subject_text = meta["subject"]
            t.subject = _parse(t, meta["subject"], subject_at[0], subject_at[1])
    elif text.startswith("---"):
        t.problems.append(Problem("J204", "the front matter is not closed", 1, 1, 3,
                                  "end it with a line holding only ---"))
    if channel in NEEDS_SUBJECT and "subject" not in meta and not any(p.code == "J204" for p in t.problems):
        t.problems.append(Problem("J204", f"an {channel} template needs a subject", 1, 1, 1,
                                  "start the file with front matter:\n---\nsubject: Welcome, {{ name }}\n---"))
    t.body_text = body
    t.body = _parse(t, body, body_line, 1)
    return t


def _parse(t: Template, text: str, line0: int, col0: int):
    try:
        parsed = ENV.from_string(text, name=t.path)
    except LiquidError as e:
        line, column = _position(e, text)
        width = len(e.token.value) if e.token is not None and e.token.start_index >= 0 else 1
        t.problems.append(Problem("J201", f"Liquid syntax error: {e.message}", line + line0 - 1,
                                  column + (col0 - 1 if line == 1 else 0), max(1, min(width, 40))))
        return None
    for name, spans in parsed.analyze(include_partials=False).filters.items():
        if name not in ENV.filters:
            from journeyctl.dsl.diagnostics import did_you_mean

            close = did_you_mean(name, ENV.filters)
            for span in spans:
                line, column = span.line_col(text)
                t.problems.append(Problem("J201", f"unknown filter {name!r}", line + line0 - 1,
                                          column + 1 + (col0 - 1 if line == 1 else 0), len(name),
                                          f'did you mean "{close}"?' if close else None))
    return parsed


def _position(e: LiquidError, text: str | None = None) -> tuple[int, int]:
    """(line, 1-based column) of a Liquid error; the end of the text when it has no token there."""
    ctx = e.context() if e.token is not None and e.token.start_index >= 0 else None
    if ctx is None:
        source = text if text is not None else (e.token.source if e.token is not None else "")
        lines = source.splitlines() or [""]
        return len(lines), len(lines[-1]) + 1
    return ctx[0], ctx[1] + 1


def _undefined(e: UndefinedError) -> str:
    name = str(e.message).split("'")[1] if "'" in str(e.message) else str(e.message)
    return (f"variable {name} has no value: the send does not pass it, or passes null "
            f"(give a fallback with {{{{ {name} | default: \"...\" }}}})")


def split_front_matter(text: str) -> tuple[str | None, int, str, int]:
    """(front matter text or None, its first line, body text, the body's first line in the file)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != "---":
        return None, 1, text, 1
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n") == "---":
            return "".join(lines[1:i]), 2, "".join(lines[i + 1:]), i + 2
    return None, 1, text, 1


def _front_matter(front: str, line0: int) -> tuple[dict, list[Problem], tuple]:
    try:
        root = yaml.compose(front, Loader=yaml.SafeLoader)
        data = yaml.safe_load(front)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line, column = (mark.line + line0, mark.column + 1) if mark else (line0, 1)
        return {}, [Problem("J204", f"the front matter is not valid YAML: {getattr(e, 'problem', e)}", line, column)], (1, 1)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return {}, [Problem("J204", "the front matter must be key: value lines, like  subject: Hello", line0)], (1, 1)
    problems = []
    at = (line0, 1)
    for key_node, value_node in root.value:
        key = key_node.value
        line, column = key_node.start_mark.line + line0, key_node.start_mark.column + 1
        if key not in FRONT_MATTER_KEYS:
            from journeyctl.dsl.diagnostics import did_you_mean

            close = did_you_mean(str(key), FRONT_MATTER_KEYS)
            problems.append(Problem("J204", f'unknown front matter key "{key}"', line, column, len(str(key)),
                                    f'did you mean "{close}"?' if close else "the front matter holds: subject"))
        elif not isinstance(data.get(key), str):
            problems.append(Problem("J204", "the subject must be a text", line, column, len(str(key))))
        else:
            at = (value_node.start_mark.line + line0, value_node.start_mark.column + 1
                  + (1 if value_node.style in ('"', "'") else 0))
    return data, problems, at


def _guarded_indices(template) -> set[int]:
    """Source offsets of variable references that may be undefined without an error: tested by an
    `if`/`unless`/`elsif`, inside the block such a test guards, or given a `default`."""
    out: set[int] = set()
    ctx = RenderContext(template)

    def paths(expr):
        if isinstance(expr, LiquidPath):
            yield expr
        for child in expr.children():
            yield from paths(child)

    def root(p) -> str:
        return str(p.path[0]) if p.path else ""

    def test(expr) -> set[str]:
        names = set()
        for p in paths(expr):
            out.add(p.token.start_index)
            names.add(root(p))
        return names

    def defaults(expr):
        if isinstance(expr, (FilteredExpression, TernaryFilteredExpression)) and any(
                f.name == "default" for f in (expr.filters or ())):
            for p in paths(expr.left):
                out.add(p.token.start_index)
        for child in expr.children():
            defaults(child)

    def visit(node, names: frozenset):
        if isinstance(node, (IfNode, UnlessNode)):
            tested = test(node.condition)
            is_if = isinstance(node, IfNode)
            visit(node.consequence, names | tested if is_if else names)
            for alt in node.alternatives:
                visit(alt.block, names | test(alt.expression))
            if node.default is not None:
                visit(node.default, names if is_if else names | tested)
            return
        for expr in node.expressions():
            defaults(expr)
            for p in paths(expr):
                if root(p) in names:
                    out.add(p.token.start_index)
        for child in node.children(ctx, include_partials=False):
            visit(child, names)

    for node in template.nodes:
        visit(node, frozenset())
    return out


# ---- a folder of templates --------------------------------------------------------------------

def split_name(filename: str) -> tuple[str, str] | None:
    """("running_picks", "whatsapp") for running_picks.whatsapp.liquid; None for other files."""
    if not filename.endswith(SUFFIX):
        return None
    stem = filename[: -len(SUFFIX)]
    name, dot, channel = stem.rpartition(".")
    return (name, channel) if dot and name and channel else None


def read_text(path: str) -> tuple[str | None, str | None]:
    """(text, None) or (None, why it cannot be read)."""
    try:
        if os.path.getsize(path) > MAX_BYTES:
            return None, f"this template is over {MAX_BYTES // 1024} KB"
        data = Path(path).read_bytes()
    except OSError as e:
        return None, f"cannot read this file: {(e.strerror or str(e)).lower()}"
    if b"\x00" in data:
        return None, "this is a binary file, not a template"
    try:
        return data.decode("utf-8").removeprefix("\ufeff"), None
    except UnicodeDecodeError:
        return None, "this file is not UTF-8 text"


class TemplateSet:
    """The templates of one folder, parsed once each (a file changed on disk is read again)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = os.fspath(folder)
        self._cache: dict[tuple[str, str], tuple[float, Template]] = {}

    def files(self) -> dict[tuple[str, str], str]:
        """(template, channel) -> path, for every template file in the folder."""
        out = {}
        try:
            names = sorted(os.listdir(self.folder))
        except OSError:
            return out
        for filename in names:
            key = split_name(filename)
            if key is not None:
                out[key] = os.path.join(self.folder, filename)
        return out

    def path_of(self, name: str, channel: str) -> str:
        return os.path.join(self.folder, f"{name}.{channel}{SUFFIX}")

    def get(self, name: str, channel: str) -> Template:
        """The parsed template; raises TemplateError when it is missing or broken."""
        path = self.path_of(name, channel)
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            raise TemplateError(f"no template {name!r} for channel {channel}: {path} does not exist") from None
        hit = self._cache.get((name, channel))
        if hit is not None and hit[0] == mtime:
            t = hit[1]
        else:
            text, why = read_text(path)
            if text is None:
                raise TemplateError(f"{path}: {why}")
            t = parse_template(path, text, name, channel)
            self._cache[(name, channel)] = (mtime, t)
        if not t.ok:
            p = t.problems[0]
            raise TemplateError(f"{path}:{p.line}:{p.column}: {p.message}")
        return t

    def render(self, action: dict) -> dict:
        """The message for one action: {"subject"?, "body"}; raises TemplateError."""
        t = self.get(action["template"], action["channel"])
        return t.render({**{k: action.get(k) for k in BUILTINS}, **(action.get("variables") or {})})


def attach_messages(actions: list[dict], templates: TemplateSet) -> list[str]:
    """Give each action its rendered `message` (spec section 9, `simulate --render`); an action whose
    template cannot be rendered gets {"error": why}. Returns the errors, in action order."""
    errors = []
    for a in actions:
        try:
            a["message"] = templates.render(a)
        except TemplateError as e:
            a["message"] = {"error": str(e)}
            errors.append(f"{a['customer_id']} {a['template']}.{a['channel']}: {e}")
    return errors


def templates_folder(project) -> tuple[Path, bool]:
    """(folder, named): the folder journeyctl.yaml names under `templates:`, relative to it, else
    `templates/` beside it (or in the working folder without a config). named: the config said so."""
    named = getattr(project, "templates", None)
    base = project.path.parent if getattr(project, "path", None) is not None else Path(".")
    return base / (named or DEFAULT_FOLDER), bool(named)


def project_templates(project) -> TemplateSet:
    """The project's templates (journeyctl.yaml `templates:`, else templates/ beside it)."""
    return TemplateSet(templates_folder(project)[0])
