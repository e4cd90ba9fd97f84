"""A small three-process app for end-to-end tests."""


def procfile(app):
    app.process("background").restart(backoff=0.05, max_restarts=3, within=10)
    app.process("worker").scale(2)
    app.process("hog").memory_limit("200MiB").restart(backoff=0.05, max_restarts=20, within=60)
    app.service("counter", "services.counter:Counter").publish()
    app.service("caller", "services.caller:Caller").process("worker").depends_on(
        "counter"
    ).publish()
    app.service("hog", "services.counter:Hog").process("hog").config(port=app.free_port()).publish()
