"""An app whose service starts a detached child and takes a while to stop.

The child runs in a session of its own, as a browser launched by a driver often does, so only
the worker's own exit path (stop the services, then kill the children) can end it once the
worker's process group is out of the picture.
"""


def procfile(app):
    app.process("background").restart(backoff=0.05)
    app.service("launcher", "launcher:Launcher").config(stop_seconds=1.0).publish()
