"""A local stand-in for Slack: the Web API emulator, the signed-request driver, and the sandbox page.

It plays Slack for Countersign's bot, both ways, and imports nothing of Countersign's own
packages: the tests use it as their Slack, and `countersign dev` serves it in a browser page
when no Slack settings are given.
"""
