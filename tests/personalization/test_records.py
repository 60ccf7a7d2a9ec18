"""Records: plain answers stored as served; secret values never in clear in Redis."""

from __future__ import annotations

import orjson
import pytest

from orchestrator.errors import SecretsUnavailable
from orchestrator.personalization import records
from orchestrator.secretbox import SecretBox

KEY = SecretBox.generate_key()
ANSWER = {"type": "conversation_initiation_client_data", "dynamic_variables": {"name": "Ada"}}


def test_plain_answer_round_trips_as_the_same_bytes() -> None:
    record = records.encode(ANSWER, SecretBox([]))
    assert record == b"J" + orjson.dumps(ANSWER)
    assert records.decode(record, SecretBox([])) == orjson.dumps(ANSWER)


def test_secret_is_sealed_in_the_record_and_opened_in_the_answer() -> None:
    box = SecretBox([KEY])
    answer = {**ANSWER, "dynamic_variables": {"name": "Ada", "secret__pin": "PIN_9981"}}
    record = records.encode(answer, box)
    assert b"PIN_9981" not in record
    assert orjson.loads(records.decode(record, box)) == answer


def test_secret_without_key_cannot_be_stored() -> None:
    answer = {**ANSWER, "dynamic_variables": {"secret__pin": "1"}}
    with pytest.raises(SecretsUnavailable):
        records.encode(answer, SecretBox([]))


def test_foreign_record_is_refused() -> None:
    with pytest.raises(ValueError, match="not a personalization record"):
        records.decode(b"{}", SecretBox([]))
