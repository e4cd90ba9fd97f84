"""An app whose process boots fine, then exits on its own a moment later, every time."""


def procfile(app):
    app.process("flaky").restart(max_restarts=2, within=30, backoff=0.01)
    app.service("flaky", "exit_soon:ExitSoon").process("flaky").config(after=0.5, code=5).publish()
