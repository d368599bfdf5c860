"""Journeys reloaded while `journeyctl run` runs: on SIGHUP, or with --watch when a journey file or
the config changes.

The reload runs on the loop's own thread between batches (Live calls `poll` once a turn), so the
engine never changes under a batch. New versions take effect for new entries, running instances
keep theirs (the engine keeps every version an instance may still be on); a project with errors is
reported and the journeys loaded before keep running. Loading the project is the command's: it is
handed in as `load`, so the terminal side of a broken journey (its diagnostics, printed as
`validate` prints them) stays in engine/cli/.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable


class ReloadFailed(Exception):
    """The project could not be loaded; the message says why in plain words (the diagnostics, if any,
    have been shown already)."""


class Reloader:
    """Reloads the journeys on SIGHUP (`hup` set by the signal handler) or, with `watch`, when a
    journey file under `paths` or the config changes (mtimes checked every `every` s). `load()`
    returns the project's (journey IRs, segment IRs), or raises ReloadFailed."""

    def __init__(self, paths, config_path, load: Callable[[], tuple[list, list]], watch: bool = False,
                 every: float = 2.0):
        self.paths = list(paths)
        self.config_path = config_path
        self.load = load
        self.watch = watch
        self.every = every
        self.hup = False
        self.reloads = 0
        self._check_at = time.monotonic() + every
        self._mtimes = self._scan() if watch else {}

    def _scan(self) -> dict:
        files = []
        for p in self.paths:
            path = Path(p)
            if path.is_dir():
                files.extend(f for f in path.rglob("*.journey") if not any(x.startswith(".") for x in f.parts))
            else:
                files.append(path)
        files.append(Path(self.config_path or "journeyctl.yaml"))
        out = {}
        for f in files:
            try:
                out[str(f)] = f.stat().st_mtime_ns
            except OSError:
                pass
        return out

    def poll(self, live) -> None:
        reason = None
        if self.hup:
            self.hup, reason = False, "SIGHUP"
        elif self.watch and time.monotonic() >= self._check_at:
            self._check_at = time.monotonic() + self.every
            now = self._scan()
            if now != self._mtimes:
                self._mtimes, reason = now, "a journey file changed"
        if reason is None:
            return
        if self.watch:
            self._mtimes = self._scan()
        try:
            irs, segments = self.load()
        except ReloadFailed as e:
            live.report.note(f"reload ({reason}) failed: {e}; the journeys loaded before keep running")
            return
        except Exception as e:  # noqa: BLE001 - a reload must never stop the loop
            live.report.note(f"reload ({reason}) failed: {type(e).__name__}: {e}; "
                             "the journeys loaded before keep running")
            return
        engine = live.engine
        before = {j: v.version for j, v in engine.current.items()}
        engine.load(irs, segments)
        engine.store.commit()  # the new versions, now: between batches nothing else is pending
        after = {j: v.version for j, v in engine.current.items()}
        self.reloads += 1
        changed = [f"{j} {before[j][:12]} -> {after[j][:12]}" for j in sorted(after)
                   if j in before and before[j] != after[j]]
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        parts = [f"changed: {', '.join(changed)}" if changed else "", f"new: {', '.join(added)}" if added else "",
                 f"removed (running instances finish): {', '.join(removed)}" if removed else ""]
        summary = "; ".join(p for p in parts if p) or "no journey changed"
        live.report.note(f"reloaded {len(after)} journeys ({reason}): {summary}; "
                         "new entries use the new versions, running instances keep theirs")
