"""The pieces of the Slack Web API emulator (`sandbox.emulator` assembles them into `SlackEmulator`).

One module a surface: chat and threads, views and modals, the directory (users, user groups, channel
members), the recorded calls, the response_urls, and the HTTP layer in front of them all.
"""
