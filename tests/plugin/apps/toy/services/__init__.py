"""Services of the pytest_hub tests' app."""
