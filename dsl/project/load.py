"""A project, loaded: the config (and its catalog) first, then every journey under the given paths.

Every command that reads journeys (validate, compile, simulate, test, run, demo,
graph, fmt) comes through `load_project`, so none can run the journeys under
other settings than another: `demo --offline` once built its engine without
`journeyctl.yaml`, and 5 of its 31 actions went to channels the project says
those customers cannot be reached on. What comes back is plain records;
showing the diagnostics is the command's business.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import ERROR, Diagnostic
from .config import ProjectConfig, load_config
from .files import read_text
from .loader import load_paths

# Codes that mean the check could not be done as asked (a path, the config, the catalog): exit 2, not 1.
USAGE_CODES = frozenset({"J007", "J008", "J009", "J010"})


@dataclass
class Project:
    """config: the settings (ProjectConfig); compiled: one per journey file read, in path order;
    diagnostics: the config's and catalog's, then the journeys', file by file; sources: the text of every
    file a diagnostic points into, for showing its line; files_checked: journey files looked at."""

    config: ProjectConfig
    compiled: list = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    files_checked: int = 0

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def cannot_check(self) -> bool:
        """Whether an error is about the input itself (a path, the config, the catalog), not a journey."""
        return any(d.code in USAGE_CODES for d in self.errors)

    @property
    def irs(self) -> list:
        return [c.ir for c in self.compiled if c.ir is not None]

    @property
    def journeys(self) -> list:
        return [ir for ir in self.irs if ir.kind == "journey"]

    @property
    def segments(self) -> list:
        return [ir for ir in self.irs if ir.kind == "segment"]


def load_project(paths, config: str | Path | None = None, catalog: str | Path | None = None, *,
                 cwd: str | Path | None = None, settings: ProjectConfig | None = None) -> Project:
    """Load the project config (`config`, else ./journeyctl.yaml; `catalog` replaces its catalog) and
    compile every journey under `paths` with it. `settings`, when given, is used instead of reading the
    config (a journey test lays its own overrides over the project's). A broken config stops there:
    journeys judged against half a config would get wrong findings. A config or catalog path named but
    missing raises ConfigError (a usage error); every other problem is a diagnostic."""
    settings = settings if settings is not None else load_config(config, catalog=catalog, cwd=cwd)
    project = Project(settings, diagnostics=list(settings.diagnostics))
    if settings.ok:
        loaded = load_paths(paths, settings.options)
        project.compiled = loaded.compiled
        project.diagnostics += loaded.diagnostics
        project.sources = dict(loaded.sources)
        project.files_checked = loaded.files_checked
    _add_yaml_sources(project)
    return project


def _add_yaml_sources(project: Project) -> None:
    """The text of the config and catalog files its diagnostics point into."""
    for d in project.diagnostics:
        if d.code in ("J009", "J010") and d.path and d.path not in project.sources:
            try:
                project.sources[d.path] = read_text(d.path)
            except (OSError, UnicodeDecodeError):
                pass
