"""A deterministic sample shop: six daily sources with realistic KPI drivers and faults."""

from sample_shop.generator import (
    DEFAULT_FAULTS,
    FAULT_KINDS,
    MANIFEST_NAME,
    generate_shop,
)

__all__ = ["DEFAULT_FAULTS", "FAULT_KINDS", "MANIFEST_NAME", "generate_shop"]
