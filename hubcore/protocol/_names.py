"""Reserved names on the wire: targets and methods that are not published objects.

A published name or method never starts with ``$`` (publish refuses it, and Python attribute
names can't), so these never collide with user names.
"""

from __future__ import annotations

__all__ = (
    "CANCELLED",
    "CONTROL_TARGET",
    "GET_PROPERTY",
    "HUB_TARGET",
    "RESTARTED",
    "RUNNING",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
)

HUB_TARGET = "$hub"  # the hub's own methods: watch, publish, objects, processes, ...
CONTROL_TARGET = "$client"  # what each client serves to the hub: trace, drain, inject, ...
SUBSCRIBE = "$subscribe"  # special methods every published object answers
UNSUBSCRIBE = "$unsubscribe"
GET_PROPERTY = "$get_property"
RESTARTED = "$restarted"  # the event a subscriber gets when an instance came back
CANCELLED = "$cancelled"  # the ERROR type that answers a CANCEL: where the method was waiting
RUNNING = "running"  # its message when the method was not cancelled: a plain one, still running
