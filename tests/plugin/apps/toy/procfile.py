"""The pytest_hub tests' app: the shape of tests/apps/basic without the hog.

The restart policy forgives many crashes: one inner session kills ``background`` several times
on purpose, which would trip the basic app's crash-loop limit (3 within 10 s).
"""


def procfile(app):
    app.process("background").restart(backoff=0.05, max_restarts=50, within=60)
    app.process("worker").scale(2)
    app.service("counter", "services.toy:Counter").publish()
    app.service("caller", "services.toy:Caller").process("worker").depends_on("counter").publish()
