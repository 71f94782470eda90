// The sandbox page: a small Slack client for one pretend workspace. The state comes live from the
// server (server-sent events); every gesture is POSTed to /api/*, where it becomes the signed
// request Slack would send the app. Nothing here decides anything: the app does.

import { collectValues, escapeHtml, mrkdwnHtml, renderBlocks, showErrors, textNode } from "./blockkit.js";

const $ = (selector, root = document) => root.querySelector(selector);

const ui = {
  state: null,
  me: localStorage.getItem("sandbox.me"),
  place: { kind: "channel", id: null }, // or { kind: "home" }
  thread: null, // { channel, ts }
  rendered: {}, // region -> key of what it shows, so typing and scrolling survive live updates
  highlight: null,
};

function person(id) {
  return ui.state.sandbox.people.find((p) => p.id === id);
}

function context() {
  const s = ui.state;
  return {
    me: ui.me,
    teamUrl: s.team.url,
    users: new Map(s.users.map((u) => [u.id, u])),
    groups: new Map(s.usergroups.map((g) => [g.id, g])),
    channels: new Map(s.channels.map((c) => [c.id, c])),
  };
}

async function post(path, body) {
  let outcome;
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: ui.me, ...body }),
    });
    outcome = await response.json();
  } catch (error) {
    outcome = { ok: false, errors: {}, notice: `The sandbox is not answering (${error.message}).` };
  }
  if (outcome.notice) notify(outcome.notice);
  return outcome;
}

function notify(text) {
  const toast = $("#toast");
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { toast.hidden = true; }, 5000);
}

// ---------------------------------------------------------------------- time and names

function clock(ts) {
  return new Date(Number(ts) * 1000).toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" });
}

function author(message) {
  if (message.bot_id || message.user === ui.state.bot.user_id) return { name: ui.state.bot.name, app: true };
  const user = ui.state.users.find((u) => u.id === message.user);
  return { name: user ? user.real_name : message.user, app: false };
}

function initials(name) {
  return name.split(/\s+/).map((w) => w[0]).join("").slice(0, 2).toUpperCase();
}

// ---------------------------------------------------------------------- messages

function messageNode(message, channelId, { ephemeral = false, inThread = false } = {}) {
  const who = ephemeral ? { name: ui.state.bot.name, app: true } : author(message);
  const node = document.createElement("article");
  node.className = `message${ephemeral ? " ephemeral" : ""}${ui.highlight === message.ts ? " highlight" : ""}`;
  node.dataset.ts = message.ts;
  const avatar = document.createElement("div");
  avatar.className = `avatar${who.app ? " app" : ""}`;
  avatar.textContent = who.app ? "✍︎" : initials(who.name);
  const body = document.createElement("div");
  body.className = "message-body";
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.innerHTML = `<span class="author">${escapeHtml(who.name)}</span>${who.app ? '<span class="app-tag">APP</span>' : ""}`
    + `<span class="time">${escapeHtml(clock(message.ts))}</span>${message.edited ? '<span class="edited">(edited)</span>' : ""}`;
  body.append(meta);
  if (ephemeral) {
    const only = document.createElement("div");
    only.className = "only-you";
    only.textContent = "👁 Only visible to you";
    body.prepend(only);
  }
  const ctx = {
    ...context(),
    onAction: (element, blockId, value) => post("/api/act", {
      channel: channelId, ts: message.ts, ephemeral, action_id: element.action_id, block_id: blockId, value,
    }),
  };
  const content = document.createElement("div");
  content.className = "message-content";
  if (message.blocks && message.blocks.length) {
    content.append(renderBlocks(message.blocks, ctx));
  } else {
    content.append(textNode({ type: "mrkdwn", text: message.text }, ctx));
  }
  body.append(content);
  if (!inThread && message.replies && message.replies.length) {
    const link = document.createElement("button");
    link.type = "button";
    link.className = "replies-link";
    const n = message.replies.length;
    link.textContent = `${n} ${n === 1 ? "reply" : "replies"}`;
    link.addEventListener("click", () => { ui.thread = { channel: channelId, ts: message.ts }; render(); });
    body.append(link);
  }
  node.append(avatar, body);
  return node;
}

// Whose DM with the app a channel is (undefined for other channels).
function dmOwner(id) {
  return ui.state.dms[id];
}

function placeName(channel) {
  return dmOwner(channel.id) ? "Countersign" : `#${channel.name}`;
}

function channelOf(id) {
  return ui.state.channels.find((c) => c.id === id) || { id, name: id.toLowerCase(), messages: [] };
}

function ephemeralsFor(channelId, threadTs) {
  return ui.state.ephemerals.filter((m) => m.user === ui.me && m.channel === channelId
    && (threadTs ? m.thread_ts === threadTs : !m.thread_ts));
}

function renderChannel() {
  const channel = channelOf(ui.place.id);
  const dm = Boolean(dmOwner(channel.id));
  $("#place-title").textContent = dm ? "✍︎ Countersign" : `# ${channel.name}`;
  $("#place-about").textContent = dm
    ? "Your direct messages with the app: requests sent to you, and news of your runs. It only sends."
    : channel.id === ui.state.sandbox.approvals_channel ? "Where the agent's requests wait for a countersignature." : "";
  const mine = ephemeralsFor(channel.id, null);
  const key = JSON.stringify([ui.me, channel, mine, ui.highlight]);
  if (ui.rendered.timeline === key) return;
  ui.rendered.timeline = key;
  const timeline = $("#timeline");
  const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 40;
  const items = [
    ...channel.messages.map((m) => ({ m, ephemeral: false })),
    ...mine.map((m) => ({ m, ephemeral: true })),
  ].sort((a, b) => Number(a.m.ts) - Number(b.m.ts));
  timeline.replaceChildren();
  if (!items.length) timeline.append(welcomeNode(channel));
  for (const { m, ephemeral } of items) timeline.append(messageNode(m, channel.id, { ephemeral }));
  if (ui.highlight) {
    timeline.querySelector(".message.highlight")?.scrollIntoView({ block: "center" });
  } else if (atBottom || !renderChannel.seen?.has(channel.id)) {
    timeline.scrollTop = timeline.scrollHeight;
  }
  (renderChannel.seen ||= new Set()).add(channel.id);
}

function welcomeNode(channel) {
  const node = document.createElement("div");
  node.className = "welcome";
  const approvals = channel.id === ui.state.sandbox.approvals_channel;
  node.innerHTML = dmOwner(channel.id) ? "<h2>No direct messages yet.</h2>" : approvals
    ? "<h2>Nothing waits for a countersignature yet.</h2><p>Start a run of the demo <code>payments</code> agent "
      + "with one of the commands below the composer. Its refund will appear here with Approve, Edit and Reject.</p>"
    : `<h2>#${escapeHtml(channel.name)} is quiet.</h2>`;
  return node;
}

function renderThread() {
  const pane = $("#thread");
  if (!ui.thread) {
    pane.hidden = true;
    ui.rendered.thread = null;
    return;
  }
  const channel = channelOf(ui.thread.channel);
  const parent = channel.messages.find((m) => m.ts === ui.thread.ts);
  const mine = ephemeralsFor(channel.id, ui.thread.ts);
  const key = JSON.stringify([ui.me, parent, mine]);
  pane.hidden = false;
  if (ui.rendered.thread === key) return;
  ui.rendered.thread = key;
  $("#thread-title").textContent = `Thread in ${placeName(channel)}`;
  const list = $("#thread-messages");
  list.replaceChildren();
  if (!parent) return;
  list.append(messageNode(parent, channel.id, { inThread: true }));
  const replies = [
    ...parent.replies.map((m) => ({ m, ephemeral: false })), ...mine.map((m) => ({ m, ephemeral: true })),
  ].sort((a, b) => Number(a.m.ts) - Number(b.m.ts));
  const divider = document.createElement("div");
  divider.className = "thread-count";
  divider.textContent = `${parent.replies.length} ${parent.replies.length === 1 ? "reply" : "replies"}`;
  list.append(divider);
  for (const { m, ephemeral } of replies) list.append(messageNode(m, channel.id, { ephemeral, inThread: true }));
  list.scrollTop = list.scrollHeight;
}

// ---------------------------------------------------------------------- App Home

function renderHome() {
  $("#place-title").textContent = "Countersign";
  $("#place-about").textContent = "App Home: what waits on you; admins also change settings here.";
  const view = ui.state.home_views[ui.me];
  const key = JSON.stringify([ui.me, view]);
  if (ui.rendered.timeline === key) return;
  ui.rendered.timeline = key;
  const timeline = $("#timeline");
  timeline.replaceChildren();
  const home = document.createElement("div");
  home.className = "home";
  home.id = "home";
  if (!view) {
    home.textContent = "Opening the Home tab…";
  } else {
    const ctx = {
      ...context(),
      onAction: (element, blockId, value) => post("/api/act", {
        view_id: view.id, action_id: element.action_id, block_id: blockId, value,
      }),
    };
    home.append(renderBlocks(view.blocks, ctx));
  }
  timeline.append(home);
}

// ---------------------------------------------------------------------- modals

// A header button that closes `view` (the top of the stack): "back" and "×" do the same here.
function closeViewButton(view, className, title, text) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.title = title;
  button.textContent = text;
  button.addEventListener("click", () => post("/api/close", { view_id: view.id }));
  return button;
}

function renderModal() {
  const stack = ui.state.modals[ui.me] || [];
  const view = stack[stack.length - 1];
  const overlay = $("#modal-overlay");
  const key = view ? JSON.stringify([ui.me, view.id, view.hash]) : null;
  if (ui.rendered.modal === key) return;
  ui.rendered.modal = key;
  if (!view) {
    overlay.hidden = true;
    $("#modal").replaceChildren();
    return;
  }
  overlay.hidden = false;
  const modal = $("#modal");
  modal.dataset.viewId = view.id;
  modal.dataset.callbackId = view.callback_id || "";
  const header = document.createElement("header");
  if (stack.length > 1) header.append(closeViewButton(view, "modal-back", "Back", "‹"));
  const title = document.createElement("h2");
  title.append(textNode(view.title, context()));
  header.append(title, closeViewButton(view, "modal-x", "Close", "×"));
  const body = document.createElement("form");
  body.className = "modal-body";
  const ctx = {
    ...context(),
    onAction: (element, blockId, value) => post("/api/act", {
      view_id: view.id, action_id: element.action_id, block_id: blockId, value,
      values: collectValues(body, view).values,
    }),
  };
  body.append(renderBlocks(view.blocks, ctx));
  const banner = document.createElement("div");
  banner.className = "modal-banner";
  banner.hidden = true;
  const footer = document.createElement("footer");
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "bk-button";
  cancel.append(textNode(view.close || { type: "plain_text", text: "Cancel" }, context()));
  cancel.addEventListener("click", () => post("/api/close", { view_id: view.id }));
  footer.append(cancel);
  if (view.submit) {
    const submit = document.createElement("button");
    submit.type = "submit";
    submit.className = "bk-button primary modal-submit";
    submit.append(textNode(view.submit, context()));
    footer.append(submit);
  }
  body.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { values, problems } = collectValues(body, view);
    showErrors(body, problems);
    banner.hidden = true;
    if (Object.keys(problems).length) return;
    const submit = $(".modal-submit", modal);
    submit.disabled = true;
    try {
      const outcome = await post("/api/submit", { view_id: view.id, values });
      showErrors(body, outcome.errors || {});
      if (outcome.notice) {
        banner.textContent = outcome.notice;
        banner.hidden = false;
      }
    } finally {
      submit.disabled = false;
    }
  });
  modal.replaceChildren(header, banner, body);
  body.append(footer);
  $("input, textarea, select", body)?.focus();
}

// ---------------------------------------------------------------------- chrome

function renderSidebar() {
  const s = ui.state;
  const key = JSON.stringify([ui.me, ui.place, s.channels.map((c) => [c.id, c.name, c.messages.length]), s.dms, s.sandbox]);
  if (ui.rendered.sidebar === key) return;
  ui.rendered.sidebar = key;
  const people = $("#people");
  people.replaceChildren();
  for (const p of s.sandbox.people) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `person${p.id === ui.me ? " active" : ""}`;
    button.dataset.person = p.id;
    button.title = p.about;
    button.innerHTML = `<span class="avatar small">${escapeHtml(initials(p.real_name))}</span>`
      + `<span class="person-name">${escapeHtml(p.real_name)}</span><span class="role ${escapeHtml(p.role)}">${escapeHtml(p.role)}</span>`;
    button.addEventListener("click", () => switchTo(p.id));
    people.append(button);
  }
  const me = person(ui.me);
  $("#acting-as").innerHTML = `You are <b>${escapeHtml(me.real_name)}</b> (${escapeHtml(me.role)}): ${escapeHtml(me.about)}.`;
  const channels = $("#channels");
  channels.replaceChildren();
  for (const channel of s.channels.filter((c) => !dmOwner(c.id))) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `nav-item${ui.place.kind === "channel" && ui.place.id === channel.id ? " active" : ""}`;
    button.dataset.channel = channel.id;
    button.textContent = `# ${channel.name}`;
    button.addEventListener("click", () => go({ kind: "channel", id: channel.id }));
    channels.append(button);
  }
  renderDms();
  $("#home-link").classList.toggle("active", ui.place.kind === "home");
  const status = Object.entries(s.sandbox.status);
  $("#status").innerHTML = status.map(([part, state]) => (
    `<span class="status ${escapeHtml(state)}" data-part="${escapeHtml(part)}">${escapeHtml(part)}: ${escapeHtml(state)}</span>`
  )).join("");
  $("#notes").innerHTML = s.sandbox.notes.map((n) => `<li>${mrkdwnHtml(n, context())}</li>`).join("");
  const examples = $("#examples");
  examples.querySelectorAll(".example").forEach((chip) => chip.remove());
  for (const { label, command } of s.sandbox.examples) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "example";
    chip.textContent = label;
    chip.title = command;
    // The command goes into the composer, so it is seen (and can be changed) before it is sent.
    chip.addEventListener("click", () => {
      const composer = $("#composer-input");
      composer.value = command;
      composer.focus();
    });
    examples.append(chip);
  }
}

// Like Slack's sidebar, only your own DMs: the one with the app, once it wrote to you.
function renderDms() {
  const dms = $("#dms");
  dms.replaceChildren();
  for (const channel of ui.state.channels.filter((c) => dmOwner(c.id) === ui.me)) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `nav-item${ui.place.kind === "channel" && ui.place.id === channel.id ? " active" : ""}`;
    button.dataset.dm = channel.id;
    button.innerHTML = `✍︎ Countersign <span class="count">${channel.messages.length}</span>`;
    button.addEventListener("click", () => go({ kind: "channel", id: channel.id }));
    dms.append(button);
  }
  if (!dms.children.length) dms.innerHTML = '<span class="none">None yet</span>';
}

function render() {
  if (!ui.state) return;
  renderSidebar();
  const composer = $("#composer");
  if (ui.place.kind === "home") {
    composer.hidden = true;
    renderHome();
  } else {
    // The app's Messages tab is read-only: nobody writes to it.
    composer.hidden = Boolean(dmOwner(ui.place.id));
    $("#composer-input").placeholder = `Message #${channelOf(ui.place.id).name}, or type /countersign help`;
    renderChannel();
  }
  renderThread();
  renderModal();
}

function go(place) {
  ui.place = place;
  ui.highlight = null;
  ui.rendered.timeline = null;
  if (place.kind === "home") post("/api/home", {});
  render();
}

function switchTo(id) {
  ui.me = id;
  localStorage.setItem("sandbox.me", id);
  ui.rendered = {};
  // Someone else's DM is not yours to read.
  if (ui.place.kind === "channel" && dmOwner(ui.place.id) && dmOwner(ui.place.id) !== id) {
    ui.place = { kind: "channel", id: ui.state.sandbox.approvals_channel };
    ui.thread = null;
  }
  if (ui.place.kind === "home") post("/api/home", {});
  render();
}

function wire() {
  $("#home-link").addEventListener("click", () => go({ kind: "home" }));
  $("#thread-close").addEventListener("click", () => { ui.thread = null; render(); });
  $("#composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("#composer-input");
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    const outcome = await post("/api/send", { channel: ui.place.id, text });
    if (!outcome.ok && outcome.notice) input.value = text;
  });
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-channel]");
    if (!link) return;
    event.preventDefault();
    go({ kind: "channel", id: link.dataset.channel });
    ui.highlight = link.dataset.ts || null;
    render();
  });
}

function receive(state) {
  const first = !ui.state;
  ui.state = state;
  if (first) {
    if (!state.sandbox.people.some((p) => p.id === ui.me)) ui.me = state.sandbox.people[0].id;
    ui.place = { kind: "channel", id: state.sandbox.approvals_channel };
  }
  if (pointer.held()) setTimeout(render, pointer.HOLD_MS);
  else render();
}

// An update drawn between a press and its release can move what was pressed (a message grows as the
// run goes on), and the browser then drops the click. So updates wait for the release and the click
// it makes; a press never released (the pointer left the window) holds them for a few seconds at most.
const pointer = {
  HOLD_MS: 3000,
  since: null,
  held() {
    return pointer.since !== null && performance.now() - pointer.since < pointer.HOLD_MS;
  },
  release() {
    // After this event's click listeners, not before them.
    setTimeout(() => { pointer.since = null; render(); }, 0);
  },
};
document.addEventListener("pointerdown", () => { pointer.since = performance.now(); }, true);
document.addEventListener("pointerup", pointer.release, true);
document.addEventListener("pointercancel", pointer.release, true);

function listen() {
  const events = new EventSource("/api/events");
  events.addEventListener("state", (event) => receive(JSON.parse(event.data)));
  events.addEventListener("error", () => {
    // The browser reconnects by itself; say so while it does.
    $("#status").innerHTML = '<span class="status stopped">sandbox: reconnecting…</span>';
    ui.rendered.sidebar = null;
  });
}

wire();
listen();
