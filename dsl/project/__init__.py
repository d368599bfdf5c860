"""Project loading, in one home: the config (config.py), the event catalog (catalog.py), the journey files
(loader.py), the safe reading they share (files.py, yamlfile.py, yamlcheck.py), and `load_project`
(load.py), which every command that reads journeys goes through."""
from .load import USAGE_CODES, Project, load_project

__all__ = ["USAGE_CODES", "Project", "load_project"]
