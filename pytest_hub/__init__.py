"""pytest_hub: boot a hubcore procfile topology as a pytest fixture."""
