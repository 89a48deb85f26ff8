"""MQTT ingest: parse, validate, durably append or dead-letter, then score and alert."""
