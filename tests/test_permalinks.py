"""A request's link: Slack is asked once for each channel; later top-level messages there are linked the way Slack
linked that one, and a reply in a thread is always asked for (through a real slack_sdk client and the emulator)."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.permalinks import Permalinks
from bot.slack_places import Posted
from sandbox.emulator import SlackEmulator

CHANNEL = "C0LINKS"


def _post(client: WebClient, thread_ts: str | None = None) -> Posted:
    response = client.chat_postMessage(channel=CHANNEL, text="Approve?", thread_ts=thread_ts)
    return Posted(response["channel"], response["ts"])


def _slacks_own(client: WebClient, posted: Posted) -> str:
    return str(client.chat_getPermalink(channel=posted.channel, message_ts=posted.ts)["permalink"])


def test_a_channels_later_messages_are_linked_as_slack_links_them_without_asking_again() -> None:
    with SlackEmulator() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        links = Permalinks(client)
        posts = [_post(client) for _ in range(3)]

        made = [links.of(posted, reply=False) for posted in posts]

        assert len(slack.calls_to("chat.getPermalink")) == 1
        assert made == [_slacks_own(client, posted) for posted in posts]


def test_a_reply_in_a_thread_is_always_asked_for() -> None:
    with SlackEmulator() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        links = Permalinks(client)
        thread = _post(client)
        links.of(thread, reply=False)
        reply = _post(client, thread_ts=thread.ts)

        made = links.of(reply, reply=True)

        assert len(slack.calls_to("chat.getPermalink")) == 2
        assert made == _slacks_own(client, reply)
        assert made is not None and f"thread_ts={thread.ts}" in made


def test_a_link_slack_would_not_give_is_none_and_asked_for_again_next_time() -> None:
    with SlackEmulator() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        links = Permalinks(client)
        slack.fail("chat.getPermalink", "message_not_found")
        first, second = _post(client), _post(client)

        assert links.of(first, reply=False) is None
        assert links.of(second, reply=False) == _slacks_own(client, second)
        assert len(slack.calls_to("chat.getPermalink")) == 3  # both asked for (and the test's own look)
