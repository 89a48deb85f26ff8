"""Alert lifecycle: opening from scores and device faults, de-duplication, acknowledgement, escalation."""
