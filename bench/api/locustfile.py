"""Locust users for ``bench/api/run.py``: half POST /api/plan, half the patient-view hook.

Reads the patient pool and the pre-signed JWTs from the JSON file named by
``VERTEBRA_BENCH_DATA`` (written by run.py); each user is paced to ``VERTEBRA_BENCH_USER_RPS``.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

from locust import constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

_DATA: dict[str, Any] = json.loads(Path(os.environ["VERTEBRA_BENCH_DATA"]).read_text())
_FACTS = itertools.cycle(_DATA["facts"])
_HOOKS = itertools.cycle(_DATA["hooks"])
_TOKENS = iter(_DATA["tokens"])
_HEADERS = {"Content-Type": "application/json"}


class Clinician(FastHttpUser):
    wait_time = constant_throughput(float(os.environ.get("VERTEBRA_BENCH_USER_RPS", "10")))

    @task
    def plan(self) -> None:
        body = json.dumps(next(_FACTS)).encode()  # bytes: one write (no Nagle stall)
        with self.client.post("/api/plan", data=body, headers=_HEADERS, name="POST /api/plan",
                              catch_response=True) as response:  # fmt: skip
            if response.status_code != 200 or b'"recommendations"' not in response.content:
                response.failure(f"HTTP {response.status_code}")

    @task
    def patient_view(self) -> None:
        body = json.dumps(next(_HOOKS)).encode()
        headers = dict(_HEADERS, Authorization=f"Bearer {next(_TOKENS)}")
        with self.client.post(
            "/cds-services/vertebra-patient-view",
            data=body,
            headers=headers,
            name="POST patient-view",
            catch_response=True,
        ) as response:
            if response.status_code != 200 or b'"cards"' not in response.content:
                response.failure(f"HTTP {response.status_code}")
