"""Log format, set once per process."""

from __future__ import annotations

import logging

__all__ = ["setup_logging"]

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format=_FORMAT, force=True)
    # paho and amqtt are chatty at INFO; their warnings still show.
    for noisy in ("transitions", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # amqtt warns about every PUBACK of a manually acknowledged message; its errors still show.
    logging.getLogger("amqtt").setLevel(logging.ERROR)
