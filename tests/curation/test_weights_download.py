"""ImageNet weights fetched into the Keras cache for ``--features auto`` and transfer models.

No ImageNet download is possible here: a no-top MobileNetV3Small with random weights, saved in
Keras' legacy ``.h5`` layout, stands in for the real file. It is served from a real HTTP server
on 127.0.0.1 (``$CARSCOUT_WEIGHTS_BASE_URL`` pointing at it) and, its content being different,
its MD5 replaces the one Keras publishes for the real file.
"""

from __future__ import annotations

import hashlib
import inspect
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from curation.labels.issues import ScoreConfig, resolve_source, score_catalog
from pipeline.errors import ConfigError
from pipeline.weights import (
    IMAGENET_NO_TOP,
    WEIGHTS_BASE_URL_ENV,
    WeightsUnavailable,
    fetch_imagenet_weights,
    weights_url,
)
from pipeline.workspace import Workspace
from tests.curation.label_photos import populate

APP = "MobileNetV3Small"
SPEC = IMAGENET_NO_TOP[APP]
FALLBACK = "scoring with the offline sources — pass --weights FILE to use a saved file"


@dataclass(frozen=True)
class Served:
    """The stand-in weights file: its bytes and the first convolution's kernel."""

    body: bytes
    first_kernel: np.ndarray


@dataclass(frozen=True)
class Origin:
    """A running weights origin: its base ``url`` and the paths it was asked for."""

    url: str
    hits: list[str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    """Return a no-top MobileNetV3Small saved the way Keras publishes its weights (legacy h5)."""
    import keras

    model = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(224, 224, 3)
    )
    path = tmp_path_factory.mktemp("served") / SPEC.name
    model.save(path)
    return Served(path.read_bytes(), np.asarray(model.get_layer("conv").kernel))


@pytest.fixture
def origin() -> Iterator[Callable[..., Origin]]:
    """Return ``start(body, truncate=False)``: an HTTP origin on 127.0.0.1 that serves ``body``
    at Keras' path for the weights under ``/mirror/`` (only half of it with ``truncate``)."""
    servers: list[ThreadingHTTPServer] = []

    def start(body: bytes, truncate: bool = False) -> Origin:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                if self.path != f"/mirror/{SPEC.folder}{SPEC.name}":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if truncate else body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return Origin(f"http://127.0.0.1:{server.server_port}/mirror/", hits)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def weights_site(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    served: Served,
    origin: Callable[..., Origin],
) -> Origin:
    """Return an origin serving the stand-in weights, with ``$CARSCOUT_WEIGHTS_BASE_URL`` pointing
    at it, its MD5 the one expected and an empty Keras cache under ``tmp_path/keras``."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    site = origin(served.body)
    monkeypatch.setenv(WEIGHTS_BASE_URL_ENV, site.url)
    expect_md5_of(monkeypatch, served.body)
    return site


def closed_port() -> int:
    """Return a 127.0.0.1 port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def expect_md5_of(monkeypatch: pytest.MonkeyPatch, body: bytes) -> None:
    """Make ``body`` the file whose MD5 the download checks (the real one is Keras')."""
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    monkeypatch.setitem(IMAGENET_NO_TOP, APP, replace(SPEC, md5=md5))


def test_auto_downloads_imagenet_weights_into_the_keras_cache_and_scores_with_them(
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    served: Served,
    weights_site: Origin,
) -> None:
    populate(workspace, correct=6)

    run = score_catalog(workspace, ScoreConfig())

    cached = tmp_path / "keras" / "models" / SPEC.name
    assert run.feature_source == f"backbone:{APP}({SPEC.name})"
    assert cached.read_bytes() == served.body
    assert [p.name for p in cached.parent.iterdir()] == [SPEC.name]  # no temporary file left
    size = f"{len(served.body) / 1e6:.1f} MB"
    url = f"{weights_site.url}{SPEC.folder}{SPEC.name}"
    assert capsys.readouterr().err.splitlines() == [
        f"downloading ImageNet weights for {APP} ({size}) from {url} into {cached.parent}"
    ]
    # The next run finds them in the cache: no request, no line.
    assert resolve_source(ScoreConfig()) == "backbone"
    assert weights_site.hits == [f"/mirror/{SPEC.folder}{SPEC.name}"]
    assert capsys.readouterr().err == ""


def test_unreachable_weights_fall_back_to_the_offline_cnn_with_one_line(
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    port = closed_port()
    monkeypatch.setenv(WEIGHTS_BASE_URL_ENV, f"http://127.0.0.1:{port}")
    populate(workspace, correct=6)

    run = score_catalog(workspace, ScoreConfig(cnn_epochs=1, cnn_size=16, cnn_folds=2))

    assert not run.feature_source.startswith("backbone")
    assert run.choice.startswith("auto chose the ")  # among the offline sources
    assert capsys.readouterr().err.splitlines() == [
        f"ImageNet weights not reachable (connection to 127.0.0.1:{port} refused); {FALLBACK}"
    ]
    assert not [p for p in (tmp_path / "keras").rglob("*") if p.is_file()]
    # Downloads turned off: the offline path without trying, and without a line each run.
    monkeypatch.setenv(WEIGHTS_BASE_URL_ENV, "off")
    assert resolve_source(ScoreConfig()) == "offline"
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("wrong file", r"does not have the MD5 Keras expects"),
        ("truncated", r"the download from 127\.0\.0\.1 broke off"),
        ("not on the mirror", r"HTTP 404 from http://127\.0\.0\.1:\d+/mirror/elsewhere/"),
    ],
)
def test_a_failed_download_leaves_nothing_keras_would_take_for_the_weights(
    fault: str,
    reason: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    origin: Callable[..., Origin],
) -> None:
    body = b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 64
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    site = origin(body, truncate=fault == "truncated")
    monkeypatch.setenv(WEIGHTS_BASE_URL_ENV, site.url)
    if fault != "wrong file":
        expect_md5_of(monkeypatch, body)
    if fault == "not on the mirror":
        monkeypatch.setitem(
            IMAGENET_NO_TOP, APP, replace(IMAGENET_NO_TOP[APP], folder="elsewhere/")
        )

    with pytest.raises(WeightsUnavailable, match=reason):
        fetch_imagenet_weights(APP, say=lambda line: None)

    assert list((tmp_path / "keras" / "models").iterdir()) == []


@pytest.mark.usefixtures("weights_site")
def test_transfer_model_downloads_imagenet_weights_or_names_the_fix(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    served: Served,
) -> None:
    from training.models import build_model, transfer_base

    model = build_model("mobilenet_v3_small", image_size=32, num_classes=2, weights="imagenet")

    base = transfer_base(model)
    assert base is not None
    np.testing.assert_array_equal(np.asarray(base.get_layer("conv").kernel), served.first_kernel)
    assert (tmp_path / "keras" / "models" / SPEC.name).read_bytes() == served.body
    assert "downloading ImageNet weights for MobileNetV3Small" in capsys.readouterr().err

    # Unreachable: a clear error naming the fix, never a silent switch to other weights.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    port = closed_port()
    monkeypatch.setenv(WEIGHTS_BASE_URL_ENV, f"http://127.0.0.1:{port}/")
    with pytest.raises(
        ConfigError, match=r"\(connection to 127\.0\.0\.1:\d+ refused\).*--weights none"
    ):
        build_model("mobilenet_v3_small", image_size=32, num_classes=2, weights="imagenet")


def test_known_weights_are_the_files_keras_applications_fetch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keras.src.applications import efficientnet, mobilenet_v3, vgg16

    monkeypatch.delenv(WEIGHTS_BASE_URL_ENV)
    assert weights_url(APP) == mobilenet_v3.BASE_WEIGHT_PATH + SPEC.name
    assert SPEC.md5 == mobilenet_v3.WEIGHTS_HASHES["small_224_1.0_float"][1]
    assert (
        weights_url("EfficientNetB0") == efficientnet.BASE_WEIGHTS_PATH + "efficientnetb0_notop.h5"
    )
    assert IMAGENET_NO_TOP["EfficientNetB0"].md5 == efficientnet.WEIGHTS_HASHES["b0"][1]
    assert weights_url("VGG16") == vgg16.WEIGHTS_PATH_NO_TOP
    assert f'file_hash="{IMAGENET_NO_TOP["VGG16"].md5}"' in inspect.getsource(vgg16.VGG16)
    monkeypatch.setenv(WEIGHTS_BASE_URL_ENV, "https://mirror.example/keras/")
    assert weights_url("VGG16") == (
        "https://mirror.example/keras/tensorflow/keras-applications/vgg16/"
        + IMAGENET_NO_TOP["VGG16"].name
    )


def test_efficientnet_loaded_from_a_file_normalizes_like_keras_imagenet_build(
    tmp_path: Path,
) -> None:
    import keras
    from keras.src.applications.efficientnet import IMAGENET_STDDEV_RGB

    from training.models import build_model, transfer_base

    # ImageNet's normalization statistics in a file of the right shape (the rest random).
    mean, variance = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]) ** 2
    saved = keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    norm = next(x for x in saved.layers if isinstance(x, keras.layers.Normalization))
    norm.set_weights([mean, variance, np.array(0)])
    path = tmp_path / "efficientnetb0_notop.h5"
    saved.save(path)

    model = build_model("efficientnet_b0", image_size=32, num_classes=2, weights=str(path))

    base = transfer_base(model)
    assert base is not None
    rescale = next(x for x in model.layers if isinstance(x, keras.layers.Rescaling))
    loaded = next(x for x in base.layers if isinstance(x, keras.layers.Normalization))
    normalized = keras.Model(base.input, loaded.output)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    # Keras' weights="imagenet" build divides the normalized input by sqrt(stddev) once more.
    expected = (pixels / 255 - mean) / np.sqrt(variance) / np.sqrt(IMAGENET_STDDEV_RGB)
    got = np.asarray(normalized(rescale(pixels)))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
