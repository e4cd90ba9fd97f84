"""pytest11 entry point of pytest_hub (hooks only)."""
