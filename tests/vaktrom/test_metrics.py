"""/metrics as Prometheus scrapes it: behind its token, the ingest counters, the timers' backlog, the live pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry
from pydantic import SecretStr, ValidationError

from core.settings import Settings
from ingest.metrics import IngestMetrics, reason_class
from ingest.prometheus import IngestCollector
from tests.vaktrom.conftest import RunningSystem, embedded_settings, free_port, one_process, wait_until

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "vaktrom-rules.yml"
TOKEN = "5f0c2e9a7b41d8e36c7a90b1f2d4e8c3"  # a test's own scrape token (not a deployment's)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and labels, parsed by Prometheus' own client parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _exported(text: str) -> set[str]:
    """Every series name a rule could watch, a labelled counter with no sample yet included."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def test_dead_letter_reasons_are_counted_by_field_or_rule_without_their_particulars() -> None:
    metrics = IngestMetrics()
    metrics.count_dead_letters(["v: the value is not a finite number", "v: out of range (400)", "unknown device"])
    metrics.observe_batch(size=10, latency_s=0.03)
    metrics.observe_batch(size=10, latency_s=45.0)  # a database outage waited out
    metrics.patients_scored, metrics.patients_scored_unchanged = 10, 7
    registry = CollectorRegistry()
    registry.register(IngestCollector(metrics))

    samples = _samples(generate_latest(registry).decode())

    assert samples[("vaktrom_ingest_dead_letters_total", (("reason", "v"),))] == 2
    assert samples[("vaktrom_ingest_dead_letters_total", (("reason", "unknown device"),))] == 1
    assert samples[("vaktrom_ingest_batches_total", ())] == 2
    assert samples[("vaktrom_ingest_patients_scored_total", ())] == 10
    assert samples[("vaktrom_ingest_patients_scored_unchanged_total", ())] == 7
    assert samples[("vaktrom_ingest_batch_latency_seconds_bucket", (("le", "0.05"),))] == 1
    assert samples[("vaktrom_ingest_batch_latency_seconds_bucket", (("le", "30.0"),))] == 1
    assert samples[("vaktrom_ingest_batch_latency_seconds_bucket", (("le", "+Inf"),))] == 2
    assert samples[("vaktrom_ingest_batch_latency_seconds_sum", ())] == pytest.approx(45.03)


@pytest.mark.parametrize(
    ("reason", "label"),
    [("payload: malformed JSON (x)", "payload"), ("duplicate reading", "duplicate reading"), (":", "unknown")],
)
def test_a_reason_class_is_the_part_before_its_particulars(reason: str, label: str) -> None:
    assert reason_class(reason) == label


def test_metrics_need_a_strong_token_and_each_ingest_slot_gets_its_own_port(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="VAKTROM_METRICS_TOKEN is required with VAKTROM_METRICS_PORT"):
        Settings(data_dir=tmp_path, metrics_port=9180)
    with pytest.raises(ValidationError, match="VAKTROM_METRICS_TOKEN is too easy to guess: it repeats"):
        Settings(data_dir=tmp_path, metrics_port=9180, metrics_token=SecretStr("ab" * 16))

    worker = Settings(data_dir=tmp_path, metrics_port=9180, metrics_token=SecretStr(TOKEN), ingest_worker_slot=2)

    assert worker.ingest_metrics_port == 9182  # beside the API node's 9180, from one environment file
    assert Settings(data_dir=tmp_path).ingest_metrics_port == 0


@pytest.fixture
async def system_with_metrics(tmp_path: Path) -> AsyncIterator[tuple[RunningSystem, str]]:
    port = free_port()
    settings = embedded_settings(tmp_path, simulate=True).model_copy(
        update={"metrics_port": port, "metrics_token": TOKEN}
    )
    settings = Settings.model_validate(settings.model_dump())  # validated as a deployment's would be
    async with one_process(settings) as system:
        yield system, f"http://127.0.0.1:{port}/metrics"


@pytest.mark.integration
async def test_a_scrape_shows_readings_stored_the_timers_and_the_live_pages(
    system_with_metrics: tuple[RunningSystem, str],
) -> None:
    _, url = system_with_metrics
    async with httpx.AsyncClient(timeout=10) as client:
        refused = await client.get(url)
        wrong = await client.get(url, headers={"Authorization": f"Bearer {TOKEN[::-1]}"})
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        exported: set[str] = set()

        async def counted_readings_and_read_the_timers() -> bool:
            answer = await client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 200
            samples.update(_samples(answer.text))
            exported.update(_exported(answer.text))
            stored = samples.get(("vaktrom_ingest_readings_stored_total", ()), 0)
            return stored > 0 and ("vaktrom_escalation_steps_due", ()) in samples

        await wait_until(counted_readings_and_read_the_timers)

    assert refused.status_code == 401 and "VAKTROM_METRICS_TOKEN" in refused.text
    assert wrong.status_code == 401
    assert samples[("vaktrom_ingest_broker_connected", ())] == 1
    assert samples[("vaktrom_escalation_steps_late", ())] == 0
    assert ("vaktrom_deliveries", (("state", "failed"),)) in samples  # present at 0, so an alert rule can watch it
    assert samples[("vaktrom_websocket_clients", ())] == 0
    assert samples[("vaktrom_timer_backlog_read_age_seconds", ())] >= 0
    # The shipped alert rules watch metrics that exist (a renamed metric would silence its rule for good).
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    watched = {name for rule in rules for name in re.findall(r"vaktrom_[a-z_]+", rule["expr"])}
    assert watched and watched <= exported
