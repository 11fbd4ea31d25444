"""ImageNet weights of the Keras backbones carscout uses, fetched into the Keras cache.

Keras applications download their weights with ``keras.utils.get_file``, which has no timeout:
on a machine without a network a run can wait long before failing. This module fetches the same
no-top file (same name, same MD5 that Keras checks) into the same place, ``$KERAS_HOME/models``
(default ``~/.keras/models``), so both carscout and Keras find it there afterwards, and:

* gives up within seconds when the origin cannot be reached (:data:`CONNECT_TIMEOUT_S`, and
  :data:`READ_TIMEOUT_S` without a byte), raising :class:`WeightsUnavailable`;
* writes to a temporary name in the cache folder, checks the MD5, then renames: an interrupted,
  truncated or wrong download never lies where Keras would take it for the real file;
* reads the origin from ``$CARSCOUT_WEIGHTS_BASE_URL`` (:data:`WEIGHTS_BASE_URL_ENV`) for a
  mirror: it replaces ``https://storage.googleapis.com/`` and the path after it stays Keras' own
  (e.g. ``<base>/tensorflow/keras-applications/mobilenet_v3/<file>``). ``off`` never downloads.
  HTTP proxies come from the usual ``HTTPS_PROXY`` / ``HTTP_PROXY`` variables.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from pipeline.errors import CarscoutError

WEIGHTS_BASE_URL_ENV = "CARSCOUT_WEIGHTS_BASE_URL"
DEFAULT_BASE_URL = "https://storage.googleapis.com/"
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class WeightsFile:
    """One no-top ImageNet weights file as Keras downloads it: ``name`` in the Keras cache,
    ``folder`` of the origin path after the base URL, ``md5`` that Keras verifies."""

    name: str
    folder: str
    md5: str


# keras.applications name -> its no-top ImageNet weights, as the installed Keras fetches them
# (tests/curation/test_weights_download.py checks these against Keras' own constants).
IMAGENET_NO_TOP: dict[str, WeightsFile] = {
    "MobileNetV3Small": WeightsFile(
        "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
        "tensorflow/keras-applications/mobilenet_v3/",
        "d3e8ec802a04aa4fc771ee12a9a9b836",
    ),
    "EfficientNetB0": WeightsFile(
        "efficientnetb0_notop.h5", "keras-applications/", "50bc09e76180e00e4465e1a485ddc09d"
    ),
    "VGG16": WeightsFile(
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "tensorflow/keras-applications/vgg16/",
        "6d6bbae143d832006294945121d1f1fc",
    ),
}


# EfficientNet built with weights="imagenet" scales its normalized input by 1/sqrt(stddev), a
# layer that a model built with weights=None (so that it loads a file) lacks.
EFFICIENTNET_IMAGENET_STDDEV = (0.229, 0.224, 0.225)


def efficientnet_input_rescale(mean: Sequence[float]) -> tuple[list[float], list[float]]:
    """Return per-channel ``(scale, offset)`` for 0–255 pixels fed to an EfficientNet built with
    ``weights=None`` and loaded with ImageNet weights whose normalization ``mean`` is given, so
    that it computes what Keras' ``weights="imagenet"`` model computes.

    Its first layers give ``(x / 255 - mean) / sqrt(var)``; Keras' multiplies that by
    ``c = 1 / sqrt(stddev)``, which equals feeding ``c * x + 255 * mean * (1 - c)`` instead.
    """
    scale = [1.0 / stddev**0.5 for stddev in EFFICIENTNET_IMAGENET_STDDEV]
    offset = [255.0 * float(m) * (1.0 - c) for m, c in zip(mean, scale, strict=True)]
    return scale, offset


class WeightsUnavailable(CarscoutError):
    """ImageNet weights are neither in the Keras cache nor downloadable; ``reason`` says why in a
    few words (e.g. ``cannot resolve storage.googleapis.com``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"ImageNet weights not reachable ({reason})")
        self.reason = reason


def keras_cache_dir() -> Path:
    """Return the folder Keras keeps downloaded weights in (``$KERAS_HOME/models``)."""
    home = os.environ.get("KERAS_HOME") or str(Path.home() / ".keras")
    return Path(home).expanduser() / "models"


def imagenet_file(application: str) -> WeightsFile:
    """Return the :class:`WeightsFile` of ``application`` (a ``keras.applications`` name).

    Raises :class:`CarscoutError` for an application this module does not know.
    """
    try:
        return IMAGENET_NO_TOP[application]
    except KeyError:
        raise CarscoutError(
            f"no known ImageNet weights for {application!r}; use one of "
            f"{', '.join(IMAGENET_NO_TOP)}"
        ) from None


def cached_imagenet_weights(application: str) -> Path:
    """Return where ``application``'s no-top weights lie (or would lie) in the Keras cache."""
    return keras_cache_dir() / imagenet_file(application).name


def weights_url(application: str) -> str | None:
    """Return the URL ``application``'s no-top weights are downloaded from, or None when
    ``$CARSCOUT_WEIGHTS_BASE_URL`` is ``off``."""
    base = os.environ.get(WEIGHTS_BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
    if base.lower() == "off":
        return None
    spec = imagenet_file(application)
    return f"{base.rstrip('/')}/{spec.folder}{spec.name}"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def fetch_imagenet_weights(application: str, say: Callable[[str], None] = _say) -> Path:
    """Return the path of ``application``'s no-top ImageNet weights in the Keras cache,
    downloading them first (one line through ``say``, stderr by default) when missing.

    Raises :class:`WeightsUnavailable` when the file is missing and cannot be downloaded
    (downloads ``off``, no network, an HTTP error, a timeout, a wrong checksum, an unwritable
    cache); nothing is then left in the cache.
    """
    target = cached_imagenet_weights(application)
    if target.is_file():
        return target
    url = weights_url(application)
    if url is None:
        raise WeightsUnavailable(f"downloads are off: {WEIGHTS_BASE_URL_ENV}=off")
    _download(
        url,
        target,
        imagenet_file(application).md5,
        lambda size: say(
            f"downloading ImageNet weights for {application}{size} from {url} into {target.parent}"
        ),
    )
    return target


def _download(url: str, target: Path, md5: str, started: Callable[[str], None]) -> None:
    """Download ``url`` to ``target`` through a temporary file renamed only once its MD5 matches;
    ``started`` gets the size (e.g. ``" (4.3 MB)"``, or ``""``) once the origin has answered."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
    except OSError as exc:
        raise WeightsUnavailable(f"cannot write to {target.parent}: {exc.strerror}") from exc
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with (
            os.fdopen(handle, "wb") as out,
            requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)) as reply,
        ):
            reply.raise_for_status()
            length = reply.headers.get("Content-Length", "")
            started(f" ({int(length) / 1e6:.1f} MB)" if length.isdigit() else "")
            for chunk in reply.iter_content(1 << 20):
                out.write(chunk)
                digest.update(chunk)
        if digest.hexdigest() != md5:
            raise WeightsUnavailable(f"{url} does not have the MD5 Keras expects, {md5}")
        os.replace(temporary, target)
    except requests.RequestException as exc:
        raise WeightsUnavailable(_reason(url, exc)) from exc
    except OSError as exc:
        raise WeightsUnavailable(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        Path(temporary).unlink(missing_ok=True)


def _reason(url: str, exc: requests.RequestException) -> str:
    """Return a few words for why ``url`` could not be fetched (requests' own text is a page)."""
    where = urlsplit(url)
    host = where.hostname or url
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} from {url}"
    if isinstance(exc, requests.ConnectTimeout):
        return f"no answer from {host} within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(exc, requests.ReadTimeout):
        return f"{host} sent nothing for {READ_TIMEOUT_S:g} s"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"the download from {host} broke off"
    text = str(exc)
    if "NameResolution" in text or "resolve" in text:
        return f"cannot resolve {host}"
    if "refused" in text.lower():
        return f"connection to {where.netloc} refused"
    if isinstance(exc, requests.ConnectionError):
        return f"connection to {where.netloc} failed"
    return f"{type(exc).__name__} fetching {url}"
