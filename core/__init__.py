"""Core: domain types, settings, storage and broker plumbing shared by every package."""
