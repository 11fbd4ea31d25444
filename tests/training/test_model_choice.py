"""``--model auto``: a transfer model when ImageNet weights can be had, else ``baseline_aug``.

The weights are a no-top MobileNetV3Small saved by Keras and served on 127.0.0.1 (the fixtures
of tests/curation/test_weights_download.py); a closed port stands for a machine offline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.weights import WEIGHTS_BASE_URL_ENV
from tests.curation.test_weights_download import (  # noqa: F401  (fixtures used by name)
    SPEC,
    Origin,
    Served,
    closed_port,
    origin,
    served,
    weights_site,
)
from training.config import DEFAULT_MODEL, TrainConfig
from training.model_choice import TRANSFER_APPLICATION, TRANSFER_MODEL, resolve_model


def test_auto_is_the_default_and_fine_tunes_mobilenet_on_downloaded_weights(
    tmp_path: Path,
    served: Served,  # noqa: F811  (the fixture imported above)
    weights_site: Origin,  # noqa: F811
) -> None:
    from training.models import KERAS_APPLICATIONS, build_model

    assert DEFAULT_MODEL == "auto" and TrainConfig().model == "auto"
    assert KERAS_APPLICATIONS[TRANSFER_MODEL] == TRANSFER_APPLICATION

    chosen = resolve_model(TrainConfig())

    cache = tmp_path / "keras" / "models"
    assert (chosen.model, chosen.weights) == (TRANSFER_MODEL, "imagenet")
    assert chosen.model_choice == (
        f"model auto: fine-tuned {TRANSFER_MODEL} ({TRANSFER_APPLICATION} base): its ImageNet "
        f"weights were downloaded into {cache}"
    )
    assert (cache / SPEC.name).read_bytes() == served.body
    # The file fits the transfer model that training builds.
    model = build_model(TRANSFER_MODEL, image_size=64, num_classes=2, weights=chosen.weights)
    assert model.output_shape == (None, 1)
    # Next time the cache decides, without a request; the same model, worded as found.
    again = resolve_model(TrainConfig())
    assert again.model == TRANSFER_MODEL and "in the Keras cache" in again.model_choice
    assert weights_site.hits == [f"/mirror/{SPEC.folder}{SPEC.name}"]
    assert again.with_changes(model_choice="") == chosen.with_changes(model_choice="")


def test_unreachable_weights_train_baseline_aug_and_say_why_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    port = closed_port()
    monkeypatch.setenv(WEIGHTS_BASE_URL_ENV, f"http://127.0.0.1:{port}")

    chosen = resolve_model(TrainConfig(epochs=3))

    assert chosen.model == "baseline_aug" and chosen.epochs == 3
    assert chosen.model_choice.startswith("model auto: trained baseline_aug (the offline CNN): ")
    assert f"(connection to 127.0.0.1:{port} refused)" in chosen.model_choice
    assert "--weights FILE" in chosen.model_choice and "\n" not in chosen.model_choice
    assert not [p for p in (tmp_path / "keras").rglob("*") if p.is_file()]

    monkeypatch.setenv(WEIGHTS_BASE_URL_ENV, "off")
    off = resolve_model(TrainConfig())
    assert off.model == "baseline_aug" and "downloads are off" in off.model_choice
    none = resolve_model(TrainConfig(weights="none"))
    assert none.model == "baseline_aug" and "--weights none" in none.model_choice
    given = resolve_model(TrainConfig(weights=str(tmp_path / "mine.h5")))
    assert given.model == TRANSFER_MODEL and "mine.h5" in given.model_choice
    # A model named explicitly is never replaced.
    assert resolve_model(TrainConfig(model="fast_cnn")) == TrainConfig(model="fast_cnn")


def test_the_model_card_and_the_cli_say_which_model_and_why() -> None:
    from cli.commands.training_cmds import check_model
    from pipeline.errors import CarscoutError
    from training.reports import model_card

    why = "model auto: trained baseline_aug (the offline CNN): ImageNet downloads are off"
    config = TrainConfig(model="baseline_aug", model_choice=why)
    card = model_card(
        name="r",
        config=config.to_dict(),
        description="baseline + augmentation",
        source="catalog:default",
        notes=[],
        class_names=["a", "b"],
        counts={"train": 4, "validation": 2},
        metrics={"validation": {"accuracy": 0.5}},
        runtime="cpu",
    )
    assert f"**Why this model:** {why}." in card
    assert TrainConfig.from_dict(config.to_dict()) == config
    check_model("auto")
    with pytest.raises(CarscoutError, match="choose auto or one of"):
        check_model("resnet")
