"""The Slack app's ``manifest.yml``, read at runtime: what the app is meant to be granted.

``sla-bot doctor`` compares Slack's granted scopes with it, and the Slack stand-in grants
exactly these by default, so there is one list of scopes (the manifest) rather than a copy
in the code that drifts from it. The file sits at the root of the checkout the package is
installed from (``pip install -e .``), found from this module's location, not the working
directory, so the command works wherever it is started.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

#: the repository root: ``bot/`` is one level below it
MANIFEST_PATH = Path(__file__).resolve().parent.parent / "manifest.yml"


class ManifestError(Exception):
    """The manifest is missing or does not say which scopes the bot needs."""


def bot_scopes(path: Path = MANIFEST_PATH) -> tuple[str, ...]:
    """``oauth_config.scopes.bot`` of the manifest, in the manifest's order."""
    return _bot_scopes(path)


@cache
def _bot_scopes(path: Path) -> tuple[str, ...]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError:
        raise ManifestError(f"{path}: not valid YAML") from None
    try:
        scopes = data["oauth_config"]["scopes"]["bot"]
    except (KeyError, TypeError):
        raise ManifestError(f"{path}: no oauth_config.scopes.bot") from None
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ManifestError(f"{path}: oauth_config.scopes.bot is not a list of scopes")
    return tuple(scopes)
