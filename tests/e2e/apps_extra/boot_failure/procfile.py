"""An app whose ``settings`` service fails in start(): the boot must fail, not loop.

``store`` starts before it in the same process (so its stop() must run), and ``web`` lives in a
healthy process of its own (which must be stopped too). ``backoff=0`` would turn any missed
"do not restart" into an immediate restart, so the test would see it.
"""


def procfile(app):
    app.process("background").restart(backoff=0)
    app.service("store", "bad_start:Store").publish()
    app.service("settings", "bad_start:BadConfig").depends_on("store").config(level="loud")
    app.service("web", "bad_start:Store").process("web").publish()
