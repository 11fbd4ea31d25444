"""Deployments stored by an older carscout, read as today's.

Before the request objects, ``carscout schedule`` stored one deployment parameter per option
(``site``, ``labels``, ``max_pages`` …, and for a retrain ``train_config``, ``split_sizes``,
``review_budget``). Such a deployment still runs: :func:`upgrade_parameters` turns its
parameters into ``settings`` and ``request`` before Prefect validates them, and
:func:`request_of` gives ``schedule list`` the request either way.
"""

from __future__ import annotations

from typing import Any

from pipeline.errors import ConfigError

# The scrape options an older deployment stored at the top level (today: request fields).
_OLDER_SCRAPE = ("site", "labels", "base_url", "max_listings", "max_pages")
_OLDER_RETRAIN = ("train_config", "split_sizes", "review_budget")


def is_older(parameters: dict[str, Any]) -> bool:
    """Return True for the parameters of a deployment made before the request objects."""
    return "request" not in parameters and "site" in parameters


def upgrade_parameters(flow_name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Return ``parameters`` as the flow ``flow_name`` takes them today.

    Today's parameters come back unchanged. Older ones become ``{"settings": …, "request":
    …}`` (for ``scheduled-retrain`` the request nests the scrape, the split to grow as built,
    the training configuration and the review budget). Raises :class:`ConfigError`, naming the
    fix, for an older parameter this carscout cannot place.
    """
    if not is_older(parameters):
        return parameters
    older = dict(parameters)
    upgraded: dict[str, Any] = {"settings": older.pop("settings", None)}
    scrape = {key: older.pop(key) for key in _OLDER_SCRAPE if key in older}
    if flow_name == "scheduled-retrain":
        retrain = {key: older.pop(key) for key in _OLDER_RETRAIN if key in older}
        request: dict[str, Any] = {
            "scrape": scrape,
            "train": retrain.get("train_config"),
            "split": {"sizes": retrain.get("split_sizes"), "grow_as_built": True},
        }
        if "review_budget" in retrain:
            request["review_budget"] = retrain["review_budget"]
    else:
        request = scrape
    if older:
        raise ConfigError(
            f"this schedule was made by an older carscout and stores {', '.join(sorted(older))}, "
            "which this one does not know: run `carscout schedule remove NAME` and schedule it "
            "again with `carscout schedule scrape|retrain …`"
        )
    upgraded["request"] = request
    return upgraded


def request_of(flow_name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Return a deployment's request as JSON data, from today's parameters or older ones
    (empty when it has none)."""
    try:
        return dict(upgrade_parameters(flow_name, parameters).get("request") or {})
    except ConfigError:
        return {}
