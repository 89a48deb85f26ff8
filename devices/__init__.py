"""Device registry, onboarding, pairing, silence/battery tracking and simulators."""
