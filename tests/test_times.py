"""One text form of a moment: ``times.iso_z`` and the API's bodies agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sitewatch.times import iso_z
from sitewatch.web.schemas import Attempt


@given(st.datetimes(timezones=st.just(UTC)))
def test_the_api_writes_times_as_iso_z_does(moment: datetime) -> None:
    body = Attempt(at=moment, ok=True, duration_ms=1.0, detail="").model_dump(mode="json")
    assert body["at"] == iso_z(moment)
    assert body["at"].endswith("Z")


def test_iso_z_converts_to_utc_and_the_api_refuses_other_zones() -> None:
    berlin = datetime(2026, 12, 2, 19, 0, tzinfo=timezone(timedelta(hours=1)))
    assert iso_z(berlin) == "2026-12-02T18:00:00Z"
    with pytest.raises(ValidationError):
        Attempt(at=berlin, ok=True, duration_ms=1.0, detail="")
