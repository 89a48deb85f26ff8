"""`vaktrom run` in-process: embedded broker and store, ingest, API and the demo unit, as a user meets them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from core.clock import utc_now
from core.mqtt import MqttClient, MqttOptions
from core.settings import Settings
from core.store.sqlite import SqliteStore
from core.topics import obs_topic
from core.types import Consciousness, Parameter, Role
from devices.demo import demo_unit, seed_demo_unit
from devices.packs import Record, encode_pack
from devices.scenario_library import ScenarioName, demo_patient_of
from tests.vaktrom.conftest import (
    SQLITE_FILE,
    RunningSystem,
    embedded_settings,
    one_process,
    port_is_open,
    second_store,
    vaktrom_mqtt_threads,
    wait_until,
)
from vaktrom.one_process import team_board_logins
from vaktrom.wiring import with_mqtt_credentials

UNIT = demo_unit()
WARD_ID = UNIT.ward_id  # "Sengepost A" of "Demo sykestue"
BED_NAMES = ["Seng 1", "Seng 2", "Seng 3", "Seng 4", "Seng 5", "Seng 6"]
STABLE_BED = UNIT.beds[0]  # a stable simulated patient: NEWS2 0-2 (devices/simulator.py baselines)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def simulated(tmp_path: Path) -> AsyncIterator[RunningSystem]:
    async with one_process(embedded_settings(tmp_path, simulate=True)) as system:
        yield system


@pytest.fixture
async def api(simulated: RunningSystem) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=simulated.base_url, timeout=10.0) as client:
        yield client


async def test_probes_answer_once_started(api: httpx.AsyncClient) -> None:
    healthz = await api.get("/healthz")
    readyz = await api.get("/readyz")

    assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})
    assert (readyz.status_code, readyz.json()) == (200, {"status": "ok"})


async def test_demo_nurse_reads_the_demo_ward_board(simulated: RunningSystem, api: httpx.AsyncClient) -> None:
    # At once: the banner's links must open a ward with its patients in it.
    response = await api.get(f"/api/v1/wards/{WARD_ID}", headers=_auth(simulated.token_of(Role.NURSE)))
    anonymous = await api.get(f"/api/v1/wards/{WARD_ID}")

    assert response.status_code == 200
    board = response.json()
    assert (board["ward"]["name"], board["ward"]["site_id"]) == ("Sengepost A", "demo-sykestue")
    assert [bed["label"] for bed in board["beds"]] == BED_NAMES
    assert all(bed["patient"] is not None for bed in board["beds"])
    assert anonymous.status_code == 401


async def test_the_banners_team_links_open_each_demo_teams_board_with_its_patients_at_home_and_in_beds(
    simulated: RunningSystem, api: httpx.AsyncClient
) -> None:
    boards = {}
    for team_id, name, user, token in team_board_logins(simulated.settings):
        response = await api.get(f"/api/v1/teams/{team_id}/board", headers=_auth(token))
        assert response.status_code == 200, (user, response.text)
        boards[name] = sorted(row["patient_id"] for row in response.json()["rows"])

    fact_home, lar_home = UNIT.home_patients[1].patient_id, UNIT.home_patients[2].patient_id
    assert boards == {
        "FACT Demo": sorted([fact_home, demo_patient_of(UNIT, ScenarioName.ALCOHOL_WITHDRAWAL)]),
        "LAR Demo": sorted([lar_home, demo_patient_of(UNIT, ScenarioName.OPIOID_RESPIRATORY_DEPRESSION)]),
    }


async def test_simulated_readings_are_stored_and_scored(simulated: RunningSystem, api: httpx.AsyncClient) -> None:
    nurse = simulated.token_of(Role.NURSE)
    async with second_store(simulated.store_path) as store:
        await wait_until(lambda: _more_readings_than(store, 0))
        stored = await store.count_readings()
        await wait_until(lambda: _more_readings_than(store, stored))  # one pack per bed per second keeps coming

    async def bed_is_scored_in_full() -> bool:
        response = await api.get(f"/api/v1/patients/{STABLE_BED.patient_id}/scores", headers=_auth(nurse))
        return response.status_code == 200 and (response.json()["news2"] or {}).get("complete") is True

    # The monitor sends BP and temperature at once and the nurse charts ACVPU and oxygen on admission, from another
    # terminal: the score is complete as soon as both are stored (the first may be scored from the monitor alone,
    # incomplete, as it should be).
    await wait_until(bed_is_scored_in_full)
    scores = (await api.get(f"/api/v1/patients/{STABLE_BED.patient_id}/scores", headers=_auth(nurse))).json()
    news2 = scores["news2"]
    assert 0 <= news2["total"] <= 4
    assert news2["risk"] == "low"


async def _more_readings_than(store: SqliteStore, count: int) -> bool:
    return await store.count_readings() > count


async def test_cancelling_stops_every_part_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = embedded_settings(tmp_path, simulate=True)
    async with one_process(settings) as system, second_store(system.store_path) as store:
        await wait_until(lambda: _more_readings_than(store, 0))  # every part is busy when Ctrl-C comes
    # Anything still pending would be cancelled by asyncio.run on its way out, and uvicorn's lifespan, for one,
    # logs that as a traceback.
    assert [t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    out, err = capfd.readouterr()

    assert f"vaktrom is running. Live ward page: {system.base_url}/" in out
    # Each role's link opens its own work: the ward, the alerts on remote call, the worklist, the devices.
    for user, role, path in (
        ("nurse.demo", Role.NURSE, "/"),
        ("doctor.demo", Role.DOCTOR, "/"),
        ("specialist.demo", Role.SPECIALIST, "/alerts"),
        ("coordinator.demo", Role.COORDINATOR, "/worklist"),
        ("technician.demo", Role.TECHNICIAN, "/devices"),
    ):
        assert f"{role.value:<12} {user:<18} {system.base_url}{path}#token=" in out
    assert "Traceback" not in err
    assert [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
    assert not port_is_open(settings.api_port)
    assert not port_is_open(settings.mqtt_embedded_port)
    assert list(vaktrom_mqtt_threads()) == []  # no client left reconnecting to a broker that is gone


# --- the live ward page in real headless Chromium ------------------------------------------------------------

PAGE_TIMEOUT_MS = 10_000  # first load: page, token check, ward list, socket snapshot
LIVE_TIMEOUT_MS = 5_000  # a reading's effect on the page: well under a second normally ("within a few seconds")
DETERIORATING = UNIT.beds[2]  # Seng 3, Ola Simulert


@pytest.fixture
async def quiet_ward(tmp_path: Path) -> AsyncIterator[RunningSystem]:
    """The demo unit seeded, but no simulator: only the readings the test publishes reach the page."""
    settings = embedded_settings(tmp_path, simulate=False)
    async with second_store(settings.data_dir / SQLITE_FILE) as store:
        await seed_demo_unit(store, now=utc_now())
    async with one_process(settings) as system:
        yield system


@pytest.fixture
async def device(quiet_ward: RunningSystem) -> AsyncIterator[MqttClient]:
    """Publishes like the bed's devices, to the embedded broker (MQTT 3.1.1), with the demo simulator's account: the
    one allowed to speak for the demo unit's devices (its password was generated into data_dir at start)."""
    settings: Settings = with_mqtt_credentials(quiet_ward.settings)
    assert settings.mqtt_password is not None
    client = MqttClient(
        MqttOptions(
            url=settings.effective_mqtt_url(), client_id=settings.mqtt_simulator_client_id, protocol_v5=False,
            password=settings.mqtt_password.get_secret_value(),
        )
    )  # fmt: skip
    await client.connect()
    yield client
    await client.disconnect()


@pytest.mark.browser
async def test_page_shows_news2_and_alert_after_readings_reach_the_embedded_broker(
    quiet_ward: RunningSystem, device: MqttClient, page: Page
) -> None:
    errors: list[str] = []
    page.on("console", lambda message: _collect_errors(message, errors))
    root, site = quiet_ward.settings.mqtt_topic_root, UNIT.site_id

    await page.goto(f"{quiet_ward.base_url}/#token={quiet_ward.token_of(Role.NURSE)}")
    await expect(page.locator("#ward-picker")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    await page.locator("#ward-select").select_option(WARD_ID)
    bed = page.locator(f'article.bed[data-bed-id="{DETERIORATING.bed_id}"]')
    await expect(bed.locator(".patient")).to_contain_text("Ola Simulert", timeout=PAGE_TIMEOUT_MS)
    await expect(page.locator("#status")).to_have_text("Live")
    await expect(bed.locator(".news2")).to_have_text("–")

    # The nurse charts alert (A) and on oxygen: 2 points, the rest not measured yet, so a lower bound.
    chart = [Record(Parameter.CONSCIOUSNESS, Consciousness.ALERT), Record(Parameter.SUPPLEMENTAL_O2, True)]
    await device.publish(obs_topic(root, site, DETERIORATING.chart_id or ""), encode_pack(chart, at=utc_now()))
    await expect(bed.locator(".news2")).to_have_text("≥2", timeout=LIVE_TIMEOUT_MS)

    # NEWS2.md worked example: RR 22 (2), SpO2 94 scale 1 (1), oxygen (2), systolic 105 (1), pulse 115 (2), A (0),
    # 38.4 °C (1) = 9, high risk.
    monitor = [
        Record(Parameter.RESP_RATE, 22),
        Record(Parameter.SPO2, 94),
        Record(Parameter.SYSTOLIC_BP, 105),
        Record(Parameter.DIASTOLIC_BP, 70),
        Record(Parameter.PULSE, 115),
        Record(Parameter.TEMPERATURE, 38.4),
    ]
    await device.publish(obs_topic(root, site, DETERIORATING.monitor_id), encode_pack(monitor, at=utc_now()))
    await expect(bed.locator(".news2")).to_have_text("9", timeout=LIVE_TIMEOUT_MS)
    await expect(bed).to_have_class("bed band-high")
    await expect(bed.locator('.vital[data-parameter="pulse"] .value')).to_have_text("115")
    # The NEWS2 alert, whatever else is open: on a slow machine the monitor, paired an hour before and silent until
    # now, may have had its own "no readings" alert raised once the start-up silence gate (120 s) ran out.
    news2_alert = bed.locator(".alert.state-open .alert-message", has_text="NEWS2")
    await expect(news2_alert).to_have_text("NEWS2 9 (high risk) — emergency response", timeout=LIVE_TIMEOUT_MS)
    assert errors == []


def _collect_errors(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)
