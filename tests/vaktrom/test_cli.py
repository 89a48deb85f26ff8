"""The `vaktrom` command as a user runs it (`python -m vaktrom` in a subprocess): help, settings errors, tokens,
batch scoring, and Ctrl-C on `vaktrom run`."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import secrets
import signal
import socket
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.clock import utc_now
from core.settings import Settings
from core.types import Role
from dashboard_api.auth import verify_token
from tests.vaktrom.conftest import STARTUP_TIMEOUT_S, VAKTROM_COMMAND, cli_environment, free_port, port_is_open
from vaktrom.wiring import auth_secret_of

COMMAND_TIMEOUT_S = 60.0  # a command that does its work and exits; bounds a hang, never waited out
EXIT_INVALID_SETTINGS = 2
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
DEFAULT_TOKEN_TTL_S = 12 * 3600  # Settings.token_ttl_s: one shift and a bit


@contextlib.contextmanager
def ctrl_c_reaches_children() -> Iterator[None]:
    """A child started meanwhile gets SIGINT's default action, as at a terminal. Tests started in the background by
    a shell without job control (a CI runner) ignore SIGINT, and a child inherits an ignored signal: Ctrl-C would
    never reach `vaktrom run`. A handled signal is reset to the default at exec."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def vaktrom(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VAKTROM_COMMAND, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )


@pytest.mark.parametrize("command", [["--help"], ["run", "--help"], ["ingest", "--help"]])
def test_help_documents_every_setting(command: list[str], tmp_path: Path) -> None:
    result = vaktrom(*command, env=cli_environment(tmp_path), cwd=tmp_path)

    assert result.returncode == 0
    for name in Settings.model_fields:
        assert f"VAKTROM_{name.upper()}" in result.stdout
    assert "mqtt://user:pass@host:1883 of an external broker; unset runs the embedded broker." in result.stdout
    assert "postgresql://... of an external PostgreSQL; unset uses embedded SQLite." in result.stdout


def test_run_help_names_its_options(tmp_path: Path) -> None:
    result = vaktrom("run", "--help", env=cli_environment(tmp_path), cwd=tmp_path)

    assert "--no-simulate    do not run the simulated demo unit" in result.stdout
    assert "--port PORT      API port (VAKTROM_API_PORT)" in result.stdout
    assert "--scenario NAME  a scenario the demo plays" in result.stdout


def test_simulate_help_names_every_scenario_and_a_wrong_one_is_refused(tmp_path: Path) -> None:
    result = vaktrom("simulate", "--help", env=cli_environment(tmp_path), cwd=tmp_path)
    text = " ".join(result.stdout.split())  # as argparse wraps it

    assert result.returncode == 0
    for name in ("sepsis", "opioid-respiratory-depression", "alcohol-withdrawal", "copd-exacerbation"):
        assert f"{name}: " in text
    assert "stops-measuring: home patient 2, followed by the FACT team" in text
    assert "88-92 % target" in text
    refused = vaktrom("simulate", "--scenario", "overdose", env=cli_environment(tmp_path), cwd=tmp_path)
    assert refused.returncode == EXIT_INVALID_SETTINGS
    assert "argument --scenario: invalid choice: 'overdose'" in refused.stderr


def test_ingest_help_says_how_to_scale_out_replace_a_worker_and_stop_it(tmp_path: Path) -> None:
    result = vaktrom("ingest", "--help", env=cli_environment(tmp_path), cwd=tmp_path)
    text = " ".join(result.stdout.split())  # as argparse wraps it

    assert result.returncode == 0
    assert "VAKTROM_INGEST_WORKER_SLOT 1..N (client id vaktrom-ingest-<slot>)" in text
    assert "start a replacement for a dead worker with its slot" in text
    assert "On SIGTERM, stores and acknowledges what it holds (at most VAKTROM_INGEST_SHUTDOWN_GRACE_S)" in text
    assert "Waits for the broker and the database at start" in text


def test_token_is_accepted_with_the_data_directory_key(tmp_path: Path) -> None:
    registered = vaktrom(
        "admin", "users", "add", "u", "--name", "U", "--organisation", "Demo kommune", "--role", "nurse",
        "--site", "demo-sykestue", env=cli_environment(tmp_path / "var"), cwd=tmp_path,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    issued_at = utc_now()
    result = vaktrom(
        "token", "--user", "u", "--role", "nurse", "--site", "demo-sykestue",
        env=cli_environment(tmp_path / "var"), cwd=tmp_path,
    )  # fmt: skip

    assert (result.returncode, result.stderr.count("Traceback")) == (0, 0)
    token = result.stdout.strip()
    principal = verify_token(auth_secret_of(Settings(data_dir=tmp_path / "var")), token, now=utc_now())
    assert (principal.user_id, principal.role, principal.site_ids) == ("u", Role.NURSE, ("demo-sykestue",))
    expected_expiry = issued_at + timedelta(seconds=DEFAULT_TOKEN_TTL_S)
    assert abs(principal.expires_at - expected_expiry) <= timedelta(seconds=5)


def test_token_with_a_damaged_key_file_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "auth_secret").write_text("short")

    result = vaktrom(
        "token", "--user", "u", "--role", "nurse", "--site", "s", env=cli_environment(tmp_path), cwd=tmp_path
    )

    assert result.returncode == EXIT_ERROR
    assert result.stdout == ""
    assert result.stderr == (
        f"vaktrom: {tmp_path / 'auth_secret'} holds a token signing key shorter than 32 characters: "
        "delete it to regenerate\n"
    )


def test_mqtt_url_that_is_not_mqtt_is_refused_naming_the_variable(tmp_path: Path) -> None:
    env = cli_environment(tmp_path / "var", mqtt_url="http://x", auth_secret="9f86d081884c7d659a2feaa0c55ad015")

    result = vaktrom("run", env=env, cwd=tmp_path)

    assert result.returncode == EXIT_INVALID_SETTINGS
    assert "VAKTROM_MQTT_URL" in result.stderr
    assert "must look like mqtt://user:pass@host:1883, not 'http://x'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists()  # refused before anything started


def test_external_database_without_a_shared_token_key_is_refused(tmp_path: Path) -> None:
    env = cli_environment(tmp_path / "var", database_url="postgresql://vaktrom:hemmelig@db.example/vaktrom")

    result = vaktrom("run", env=env, cwd=tmp_path)

    assert result.returncode == EXIT_INVALID_SETTINGS
    assert "VAKTROM_AUTH_SECRET is required when VAKTROM_MQTT_URL or VAKTROM_DATABASE_URL is set" in result.stderr
    assert "hemmelig" not in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists()


def test_run_on_an_api_port_in_use_says_which_setting_to_change(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = cli_environment(tmp_path / "var", mqtt_embedded_port=str(free_port()))
        result = vaktrom("run", "--port", str(port), env=env, cwd=tmp_path)

    assert result.returncode == EXIT_ERROR
    assert (
        f"vaktrom: the API cannot listen on 127.0.0.1:{port} (Address already in use); "
        "set VAKTROM_API_PORT (or --port) to a free port\n"
    ) in result.stderr
    assert "Traceback" not in result.stderr


async def test_run_against_an_unreachable_broker_waits_for_it_saying_so_without_a_traceback(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]  # nothing listens here once closed
    env = cli_environment(
        tmp_path / "var", mqtt_url=f"mqtt://vaktrom:hemmelig@127.0.0.1:{port}", auth_secret=secrets.token_hex(32)
    )
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        with ctrl_c_reaches_children():
            process = await asyncio.create_subprocess_exec(
                *VAKTROM_COMMAND, "run", "--no-simulate", "--port", str(free_port()), env=env, cwd=tmp_path,
                stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        try:
            # After a power cut the broker may come up last: keep trying (with backoff) rather than exit.
            waiting = (
                f"Waiting for the MQTT broker (try 2: MQTT broker at mqtt://vaktrom:***@127.0.0.1:{port} unavailable"
            )
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                while waiting not in log.read_text():
                    assert process.returncode is None, log.read_text()
                    await asyncio.sleep(0.1)  # the log file has no event to await
            process.send_signal(signal.SIGINT)
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    errors = log.read_text()
    assert process.returncode == EXIT_INTERRUPTED
    assert "hemmelig" not in errors
    assert "Traceback" not in errors


async def test_ctrl_c_stops_run_cleanly(tmp_path: Path) -> None:
    api_port, mqtt_port = free_port(), free_port()
    env = cli_environment(tmp_path / "var", mqtt_embedded_port=str(mqtt_port))
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        with ctrl_c_reaches_children():
            process = await asyncio.create_subprocess_exec(
                *VAKTROM_COMMAND, "run", "--port", str(api_port), env=env, cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE, stderr=stderr,
            )  # fmt: skip
        try:
            banner = await _read_until(process, "Stop with Ctrl-C.")
            process.send_signal(signal.SIGINT)
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    errors = log.read_text()
    assert f"vaktrom is running. Live ward page: http://127.0.0.1:{api_port}/" in banner
    assert f"nurse        nurse.demo         http://127.0.0.1:{api_port}/#token=" in banner
    assert process.returncode == EXIT_INTERRUPTED
    assert "Traceback" not in errors
    assert " ERROR " not in errors
    assert "Simulator stopped" in errors  # the demo devices said goodbye (retained offline status)
    assert not port_is_open(api_port)
    assert not port_is_open(mqtt_port)


async def _read_until(process: asyncio.subprocess.Process, last_line: str) -> str:
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(STARTUP_TIMEOUT_S):
        while not lines or lines[-1].strip() != last_line:
            line = await process.stdout.readline()
            if not line:
                pytest.fail(f"vaktrom run exited before printing {last_line!r}:\n{''.join(lines)}")
            lines.append(line.decode())
    return "".join(lines)


# --- vaktrom score ----------------------------------------------------------------------------------------------

HEADER = "patient_id,time,resp_rate,spo2,spo2_scale,supplemental_o2,systolic_bp,pulse,consciousness,temperature"


def test_score_writes_news2_of_every_row(tmp_path: Path) -> None:
    source, scored = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(
        f"{HEADER}\n"
        "p1,2025-03-04T12:00:00Z,22,94,1,true,105,115,A,38.4\n"  # NEWS2.md worked example: 9, high
        "p2,2025-03-04T12:05:00Z,16,97,,false,120,70,A,37.0\n",  # every parameter normal: 0, low
        encoding="utf-8",
    )

    result = vaktrom(
        "score", "--input", str(source), "--output", str(scored), env=cli_environment(tmp_path), cwd=tmp_path
    )

    assert result.returncode == 0
    assert result.stdout == f"Scored 2 rows into {scored}\n"
    with scored.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["patient_id"], r["news2"], r["news2_complete"], r["risk"], r["single_param_3"]) for r in rows] == [
        ("p1", "9", "true", "high", "false"),
        ("p2", "0", "true", "low", "false"),
    ]


def test_score_names_the_bad_row_and_column(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(f"{HEADER}\np1,t1,16,97,1,false,120,70,X,37.0\n", encoding="utf-8")

    result = vaktrom(
        "score", "--input", str(source), "--output", str(tmp_path / "out.csv"),
        env=cli_environment(tmp_path), cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == EXIT_INVALID_SETTINGS  # 2: bad input, as for bad settings
    assert result.stderr.startswith(f"vaktrom score: {source}: row 2, column consciousness: ")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.csv").exists()
