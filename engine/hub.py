"""Can the Hugging Face hub be used from here?

Asked before a hub model or data set is fetched, so that an offline machine gets one
clear line in seconds rather than the hub client's retries (about 25 s per file) and a
traceback. Users with internet, a proxy or a filled local hub cache go straight through.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

HUB_TIMEOUT_S = 3.0
_OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def hub_reachable(timeout: float = HUB_TIMEOUT_S) -> bool:
    """A quick TCP connect to the hub endpoint (``HF_ENDPOINT`` honoured)."""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((endpoint.hostname or "", port), timeout=timeout).close()
    except OSError:
        return False
    return True


def hub_usable() -> bool:
    """True where hub names may work: the hub answers; a proxy is set (a direct connect says
    nothing then); or offline mode is on, where the local hub cache serves the files and
    the hub libraries say which are missing."""
    offline = any(os.environ.get(flag, "0") not in ("0", "") for flag in _OFFLINE_FLAGS)
    behind_proxy = any(os.environ.get(var) for var in _PROXY_VARS)
    return offline or behind_proxy or hub_reachable()
