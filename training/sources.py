"""Turn a :class:`~training.config.DataSpec` back into labelled files."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import ConfigError
from pipeline.workspace import Workspace
from training.config import DataSpec
from training.data_sources import LabelledFiles, from_catalog_split, from_folder_tree
from training.stanford import from_stanford


def resolve_data(spec: DataSpec, workspace: Workspace | None = None) -> LabelledFiles:
    """Return the labelled files a data spec names.

    ``catalog`` needs a ``workspace``; ``folder`` and ``stanford`` need ``spec.path``.
    """
    if spec.kind == "catalog":
        if workspace is None:
            raise ConfigError("a catalog data source needs a workspace (pass --home)")
        return from_catalog_split(workspace, spec.split_name)
    if not spec.path:
        raise ConfigError(f"--data PATH is required for a {spec.kind} data source")
    if spec.kind == "folder":
        return from_folder_tree(
            Path(spec.path),
            validation_fraction=spec.validation_fraction,
            test_fraction=spec.test_fraction,
            seed=spec.seed,
        )
    if spec.kind == "stanford":
        return from_stanford(
            Path(spec.path),
            crop=spec.crop,
            validation_fraction=spec.validation_fraction,
            seed=spec.seed,
        )
    raise ConfigError(f"unknown data source {spec.kind!r}; use catalog, folder or stanford")
