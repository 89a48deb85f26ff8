"""FastAPI REST and WebSocket API with auth and audit; reads the store and the event stream."""
