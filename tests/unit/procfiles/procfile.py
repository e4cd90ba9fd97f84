# procfile.py: the example from DESIGN.md, loaded by tests/unit/test_procfile.py.
def procfile(app):
    app.process("background").memory_limit("512MiB")
    app.service("page_snapshot", "services.page_snapshot:PageSnapshot").publish()
    app.service("web", "services.web:Web").process("worker").config(port=app.free_port())
