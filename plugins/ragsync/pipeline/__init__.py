"""The use-cases that DAG tasks and the CLI call: full sync, capture, deliver, maintenance."""
