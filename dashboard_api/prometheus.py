"""An API node's live pages as Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dashboard_api.live import LiveHub

__all__ = ["LiveHubCollector"]


class LiveHubCollector(Collector):
    def __init__(self, hub: LiveHub) -> None:
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "vaktrom_websocket_clients", "Live pages connected to this node", value=self._hub.connections
        )
        yield GaugeMetricFamily(
            "vaktrom_websocket_backlog", "Events queued for this node's live pages", value=self._hub.backlog
        )
