"""The sandbox page, used in a headless Chromium as a person would use Slack.

`countersign dev` runs without Slack settings (the `dev_sandbox` fixture): its page plays Slack for
the real bot and worker. Each test acts on the page, checks what the page shows, and checks what
the agent did: the tool results in the agent's own checkpoint, or the store's record.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from bot.slack_places import SlackPlaces
from tests.sandbox_stack import DevSandbox
from tests.stack import wait_until

SAM, ALEX, JORDAN, MORGAN = "U0SAM", "U0ALEX", "U0JORDAN", "U0MORGAN"
APPROVALS = "C0APPROVALS"
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "sandbox.png"
# Runs start a real worker job and Slack round trips; give the page a little longer than Playwright's 5 s.
expect.set_options(timeout=10_000)


def act_as(page: Page, user: str) -> None:
    """Switch the person using the page."""
    page.click(f"[data-person={user}]")
    expect(page.locator(f"[data-person={user}]")).to_have_class(re.compile("active"))


def send(page: Page, text: str) -> None:
    """Type in the composer and press Enter."""
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def start_run(page: Page, order: int, amount: int) -> str:
    """Sam asks the payments agent to refund `order`; the run id, as the command's reply shows it."""
    act_as(page, SAM)
    send(page, f"/countersign run payments Refund order #{order} for ${amount}")
    reply = page.locator(".message.ephemeral", has_text=f"Refund order #{order} for")
    expect(reply).to_contain_text("Only visible to you")
    run = re.search(r"run (\w+)", reply.inner_text())
    assert run, reply.inner_text()
    return run.group(1)


def request(page: Page, order: int) -> Locator:
    """The approval request message for `order` in #approvals."""
    return page.locator("#timeline .message:not(.ephemeral)", has_text=f"Refund order #{order} for")


def waiting_request(page: Page, order: int) -> Locator:
    """The request for `order`, once it is posted, waits for a decision, and has the agent's progress in
    its thread (posted just after it: the message changes then, and a click while the page redraws it
    can miss)."""
    message = request(page, order)
    expect(message).to_contain_text("payments wants to call refund")
    expect(message.locator(".replies-link")).to_be_visible()
    return message


def wait_until_dm(dev_sandbox: DevSandbox, run: str, user: str) -> str:
    """The id of `user`'s DM with the app, once the run's request was sent there."""

    def sent() -> str | None:
        posted = SlackPlaces(dev_sandbox.store).dms(dev_sandbox.request(run).id).get(user)
        return posted.channel if posted else None

    return wait_until(sent, 20, f"the request in {user}'s DM")


def thread_of(page: Page, message: Locator) -> Locator:
    """Open the message's thread and return the thread pane."""
    message.locator(".replies-link").click()
    return page.locator("#thread")


def test_the_readme_screenshot_shows_a_request_waiting_beside_a_decided_one(
    page: Page, dev_sandbox: DevSandbox, tmp_path: Path
) -> None:
    start_run(page, 41, 250)
    act_as(page, ALEX)
    waiting_request(page, 41).get_by_role("button", name="Approve").click()
    thread = thread_of(page, request(page, 41))
    expect(thread).to_contain_text("Refunded $250.00 for order #41")
    start_run(page, 42, 2500)
    act_as(page, ALEX)
    expect(waiting_request(page, 42).get_by_role("button", name="Approve")).to_be_visible()

    shot = tmp_path / "sandbox.png"
    page.screenshot(path=str(shot))

    assert shot.stat().st_size > 10_000
    # Times and ids differ on every run: refresh the README's copy only when asked (or when it is missing),
    # so running the tests does not leave a changed file behind.
    if os.environ.get("COUNTERSIGN_REFRESH_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


def test_the_page_says_it_is_a_local_sandbox(page: Page) -> None:
    expect(page.locator("#banner")).to_contain_text("Local sandbox")
    expect(page.locator("#banner")).to_contain_text("127.0.0.1 only")


def test_an_approver_approves_a_run_started_on_the_page_and_the_refund_is_made(page: Page, dev_sandbox: DevSandbox) -> None:
    run = start_run(page, 301, 250)
    act_as(page, ALEX)

    waiting_request(page, 301).get_by_role("button", name="Approve").click()

    expect(request(page, 301)).to_contain_text("Approved by @Alex Chen")
    expect(thread_of(page, request(page, 301))).to_contain_text("Refunded $250.00 for order #301")
    assert dev_sandbox.tool_results(run) == ["Refunded $250.00 for order #301 (reason: Refund order #301 for $250)."]


def test_the_requester_may_not_approve_their_own_run(page: Page, dev_sandbox: DevSandbox) -> None:
    run = start_run(page, 302, 250)

    waiting_request(page, 302).get_by_role("button", name="Approve").click()

    refusal = page.locator(".message.ephemeral", has_text="you asked for this run")
    expect(refusal).to_contain_text("Only visible to you")
    act_as(page, ALEX)
    expect(refusal).to_have_count(0)
    assert dev_sandbox.request(run).is_pending


def test_an_invalid_edit_is_refused_inline_and_a_valid_one_refunds_the_edited_amount(page: Page, dev_sandbox: DevSandbox) -> None:
    run = start_run(page, 303, 250)
    act_as(page, ALEX)
    waiting_request(page, 303).get_by_role("button", name="Edit").click()
    modal = page.locator("#modal")
    expect(modal).to_contain_text("Edit refund")

    modal.get_by_label("amount").fill("a lot")
    modal.get_by_role("button", name="Approve edits").click()

    expect(modal).to_contain_text("Enter a number.")
    assert dev_sandbox.request(run).is_pending
    modal.get_by_label("amount").fill("100")
    modal.get_by_role("button", name="Approve edits").click()
    expect(page.locator("#modal-overlay")).to_be_hidden()
    expect(request(page, 303)).to_contain_text("Approved with edits by @Alex Chen")
    expect(thread_of(page, request(page, 303))).to_contain_text("Refunded $100.00 for order #303")
    results = dev_sandbox.tool_results(run)
    # LangChain tells the agent its call was edited, then gives the tool's own words.
    assert len(results) == 1
    assert results[0].endswith("Refunded $100.00 for order #303 (reason: Refund order #303 for $250).")


def test_a_rejection_with_a_reason_stops_the_refund_and_the_agent_reads_why(page: Page, dev_sandbox: DevSandbox) -> None:
    run = start_run(page, 304, 250)
    act_as(page, JORDAN)
    waiting_request(page, 304).get_by_role("button", name="Reject").click()
    modal = page.locator("#modal")

    modal.get_by_label("Reason").fill("The bank already refunded it")
    modal.get_by_role("button", name="Reject").click()

    expect(request(page, 304)).to_contain_text("Rejected by @Jordan Okafor")
    expect(thread_of(page, request(page, 304))).to_contain_text("I did not refund order #304")
    results = dev_sandbox.tool_results(run)
    assert len(results) == 1 and "The bank already refunded it" in results[0] and "Refunded $" not in results[0]


def test_a_request_sent_by_dm_is_in_the_approvers_direct_messages_only_and_a_decision_there_shows_everywhere(
    page: Page, dev_sandbox: DevSandbox
) -> None:
    # The demo policy's big refunds are posted and sent to Alex and Jordan by DM (notify: both).
    run = start_run(page, 327, 2500)
    expect(waiting_request(page, 327)).to_contain_text("Also sent by DM to @Alex Chen, @Jordan Okafor")
    alexs = wait_until_dm(dev_sandbox, run, ALEX)
    expect(page.locator(f"[data-dm={alexs}]")).to_have_count(0)  # Sam sees only Sam's own DMs
    act_as(page, ALEX)

    page.click(f"[data-dm={alexs}]")
    in_dm = page.locator("#timeline .message", has_text="Refund order #327 for")
    expect(in_dm).to_contain_text("payments wants to call refund")
    expect(page.locator("#composer")).to_be_hidden()  # the app's Messages tab is read-only
    in_dm.get_by_role("button", name="Reject").click()
    modal = page.locator("#modal")
    modal.get_by_label("Reason").fill("Too much at once")
    modal.get_by_role("button", name="Reject").click()

    expect(in_dm).to_contain_text("Rejected by @Alex Chen")
    page.click(f"[data-channel={APPROVALS}]")
    expect(request(page, 327)).to_contain_text("Rejected by @Alex Chen")
    act_as(page, JORDAN)
    page.click("#dms [data-dm]")
    expect(page.locator("#timeline .message", has_text="Refund order #327 for")).to_contain_text("Rejected by @Alex Chen")
    assert "Too much at once" in dev_sandbox.tool_results(run)[0]


def test_a_soft_refund_nobody_rejects_goes_ahead_at_its_deadline(page: Page, dev_sandbox: DevSandbox) -> None:
    run = start_run(page, 305, 15)

    expect(request(page, 305)).to_contain_text("Approved at its deadline")
    expect(request(page, 305)).to_contain_text("Rule small refunds: anyone here but @Sam Rivera may decide (soft)")

    expect(thread_of(page, request(page, 305))).to_contain_text("Refunded $15.00 for order #305")
    assert dev_sandbox.tool_results(run) == ["Refunded $15.00 for order #305 (reason: Refund order #305 for $15)."]


def test_the_app_home_lists_what_waits_on_an_approver_who_approves_from_there(page: Page, dev_sandbox: DevSandbox) -> None:
    run = start_run(page, 306, 250)
    waiting_request(page, 306)  # Home shows what waits when it is opened, as Slack's does
    act_as(page, ALEX)
    page.click("#home-link")
    home = page.locator("#home")
    expect(home).to_contain_text("Waiting on you")
    waiting = home.locator(".bk-section", has_text='"order_id": "306"')
    expect(waiting).to_contain_text("asked by @Sam Rivera")

    waiting.locator("xpath=following-sibling::div[contains(@class, 'bk-actions')][1]").get_by_role(
        "button", name="Approve"
    ).click()

    expect(home.locator(".bk-section", has_text='"order_id": "306"')).to_have_count(0)
    assert dev_sandbox.tool_results(run) == ["Refunded $250.00 for order #306 (reason: Refund order #306 for $250)."]


def test_an_admin_changes_a_timeout_with_a_slash_command(page: Page, dev_sandbox: DevSandbox) -> None:
    act_as(page, MORGAN)

    send(page, "/countersign timeout payments.lookup_order 45m")

    expect(page.locator(".message.ephemeral", has_text="payments.lookup_order")).to_contain_text("now: timeout 45m")
    changes = [e for e in dev_sandbox.store.audit_log.audit_events() if e.event == "setting_changed"]
    assert [(e.actor, e.detail["to"]) for e in changes] == [(MORGAN, {"timeout": "45m"})]


def test_someone_who_is_not_an_admin_is_refused_admin_commands(page: Page, dev_sandbox: DevSandbox) -> None:
    act_as(page, ALEX)

    send(page, "/countersign timeout payments.refund 1m")

    expect(page.locator(".message.ephemeral", has_text="Only Countersign's admins")).to_be_visible()
    assert not [e for e in dev_sandbox.store.audit_log.audit_events() if e.actor == ALEX and e.event == "setting_changed"]


_RENDER = """async (text) => {
    const { mrkdwnHtml } = await import("/static/blockkit.js");
    const ctx = {
        me: "U0ALEX", teamUrl: "https://emulated.slack.com/",
        users: new Map([["U0ALEX", { real_name: "Alex Chen" }]]),
        groups: new Map([["S0FIN", { handle: "finance" }]]),
        channels: new Map([["C0APPROVALS", { name: "approvals" }]]),
    };
    const node = document.createElement("div");
    node.innerHTML = mrkdwnHtml(text, ctx);
    const tags = [...node.querySelectorAll("*")].map((e) => `${e.tagName.toLowerCase()}:${e.textContent}`);
    return { text: node.textContent, tags, scripts: node.querySelectorAll("script, img").length };
}"""


def test_mrkdwn_from_the_app_is_drawn_as_slack_draws_it(page: Page) -> None:
    drawn = page.evaluate(
        _RENDER,
        "*bold* _italic_ ~gone~ `code` <https://example.com|a link> <@U0ALEX> <!subteam^S0FIN> <#C0APPROVALS>"
        " <!date^31579200^{date_num}|fallback> <https://example.com/p|pay `refund`>\n>quoted",
    )

    assert {
        "b:bold",
        "i:italic",
        "s:gone",
        "code:code",
        "a:a link",
        "span:@Alex Chen",
        "span:@finance",
        "a:#approvals",
        "time:1971-01-01",
        "a:pay refund",
        "code:refund",
        "blockquote:quoted",
    } <= set(drawn["tags"])


def test_text_from_the_app_never_becomes_html(page: Page) -> None:
    drawn = page.evaluate(_RENDER, "&lt;script&gt;alert(1)&lt;/script&gt; <img src=x onerror=alert(1)> &amp;lt;")

    assert drawn["scripts"] == 0
    assert drawn["text"].startswith("<script>alert(1)</script> ")
    assert drawn["text"].endswith(" &lt;")


def test_an_update_arriving_while_the_mouse_is_pressed_is_drawn_after_the_release(page: Page, dev_sandbox: DevSandbox) -> None:
    # Drawn at once, it could move what is pressed from under the pointer, and the browser would drop the click.
    act_as(page, ALEX)
    text = "said while Alex held the mouse down"
    box = page.locator("#place-title").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 5, box["y"] + 5)
    page.mouse.down()
    try:
        _gesture(dev_sandbox, "send", {"user": SAM, "channel": "C0APPROVALS", "text": text})
        time.sleep(0.5)  # the page has had the update for a while
        held = page.inner_text("#timeline")
    finally:
        page.mouse.up()

    assert text not in held
    expect(page.locator("#timeline")).to_contain_text(text)


def _gesture(sandbox: DevSandbox, name: str, body: dict[str, str]) -> None:
    """What the page POSTs for a gesture, sent by the test."""
    request = urllib.request.Request(
        f"{sandbox.url.rstrip('/')}/api/{name}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response).get("ok") is not False
