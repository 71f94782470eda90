"""The approval API: any agent asks for a decision over HTTP (docs/api.md).

A front-end and an agent runtime in one: it stores each request through the core, as a run that waits on it,
tells the front-end it was given (Slack, wired in `countersign/web.py`), and answers with what the core
recorded. It imports the core alone, never bot/ or worker/.
"""
