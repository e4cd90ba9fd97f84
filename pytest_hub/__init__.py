"""pytest_hub: boot a hubcore procfile topology as a pytest fixture.

``hub_app`` is a :class:`HubApp` in a sync test and an :class:`AsyncHubApp` in an async one;
its ``calls`` are :class:`Calls` and :class:`AsyncCalls` respectively. Import these names for
type hints.
"""

from __future__ import annotations

from pytest_hub._async_handle import AsyncHubApp
from pytest_hub._calls import AsyncCalls, Calls
from pytest_hub._handle import HubApp

__all__ = ("AsyncCalls", "AsyncHubApp", "Calls", "HubApp")

for _value in (AsyncCalls, AsyncHubApp, Calls, HubApp):
    _value.__module__ = __name__  # reports and type hints say pytest_hub.HubApp
