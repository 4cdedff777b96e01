"""A work order's QC profile: threshold overrides for one hồ sơ (faded carbon copies, maps, photographs
would otherwise raise a flag on every page). The station's own thresholds stay the processing config's
(issue #13); a profile only replaces the named quality thresholds for the pages of its batch. It is kept
as the batch's audit row "batch.qc_profile" (who set what, when) and applied as each page is processed:
the quality flags are judged again from the page's stored metrics with the profile's thresholds, with the
same function the pipeline uses (pipeline.quality_flags); other flags (orientation, errors) stay."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from protocol.errors import UserError
from protocol.i18n import N_
from station.processing.pipeline import quality_flags

THRESHOLDS = ("min_dpi", "residual_skew_max_deg", "max_clipped_white", "max_clipped_black", "min_contrast",
              "min_sharpness", "max_edge_content")


class ProfileError(UserError, ValueError):
    """A QC profile that is not an object of known thresholds (400)."""


def check(profile: Any) -> dict[str, float]:
    """The profile as {threshold: number}; anything else is refused, naming what is wrong."""
    if not isinstance(profile, dict):
        raise ProfileError(N_("qc_profile must be an object of thresholds"))
    unknown = sorted(set(profile) - set(THRESHOLDS))
    if unknown:
        raise ProfileError(N_("The work order has thresholds that are not valid: %(unknown)s (known: %(known)s)."),
                           unknown=", ".join(unknown), known=", ".join(THRESHOLDS))
    out = {}
    for key, value in profile.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProfileError(N_("threshold %(name)s must be a number"), name=key)
        out[key] = float(value)
    return out


def save(store: Any, batch_id: int, profile: dict[str, float], *, actor: str) -> None:
    store.audit(actor, "batch.qc_profile", batch_id, thresholds=profile)


def of(store: Any, batch_id: int) -> dict[str, float] | None:
    row = store.one("SELECT detail FROM audit WHERE batch_id = ? AND action = 'batch.qc_profile'"
                    " ORDER BY id DESC LIMIT 1", (batch_id,))
    return json.loads(row["detail"])["thresholds"] if row else None


def install(station: Any) -> None:
    """Judge each processed page of a batch with a profile again (a listener of the processing pool)."""

    def on_processed(page_id: int, result: dict) -> None:
        metrics = result.get("metrics")
        if not metrics:
            return
        row = station.store.one("SELECT batch_id, flags, blank FROM pages WHERE id = ?", (page_id,))
        profile = of(station.store, row["batch_id"]) if row else None
        if not profile:
            return
        base = station.pool.config
        blank = bool(row["blank"])
        by_station = {f["code"] for f in quality_flags(metrics, blank=blank, config=base)}
        by_profile = quality_flags(metrics, blank=blank, config=dataclasses.replace(base, **profile))
        flags = [f for f in json.loads(row["flags"]) if f.get("code") not in by_station] + by_profile
        with station.store.tx() as conn:
            conn.execute("UPDATE pages SET flags = ? WHERE id = ?",
                         (json.dumps(flags, ensure_ascii=False), page_id))

    station.pool.add_listener(on_processed)
