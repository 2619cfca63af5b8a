"""Quality gates: one Great Expectations check per publication unit (``checks.py``)."""

#: the name of every unit's gate (an asset check on the table it judges)
GATE_CHECK = "gx_gate"
