"""Infrastructure shared by the wiring and the delivery engine (logging), below every layer that uses it."""
