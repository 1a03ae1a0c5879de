"""A turn's chart as a PNG for an email, drawn on the server by vl-convert
(Vega-Lite compiled and rendered in-process, with no network access)."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def chart_png(chart: dict[str, Any] | None) -> bytes | None:
    """Return the chart as PNG, or None when there is none or it cannot be drawn.

    The spec is agent/charts.py's: stored rows and our own constants. No
    external data may be fetched (`allowed_base_urls=[]`).
    """
    if not chart:
        return None
    try:
        import vl_convert
    except ImportError:  # an install without the renderer sends no image
        return None
    try:
        png: bytes = vl_convert.vegalite_to_png(
            vl_spec=chart, scale=2, allowed_base_urls=[]
        )
    except Exception:
        logger.warning("the chart could not be drawn as PNG", exc_info=True)
        return None
    return png
