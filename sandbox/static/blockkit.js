// Block Kit, drawn the way Slack draws it: the blocks and elements Countersign uses and the common
// others, with Slack's mrkdwn. Everything the app sends is treated as text: markup is built from
// DOM nodes or from HTML-escaped text, so nothing in a message can become HTML.

const EMOJI = {
  hourglass_flowing_sand: "⏳", white_check_mark: "✅", pencil2: "✏️", no_entry: "⛔",
  ballot_box_with_check: "☑️", alarm_clock: "⏰", arrow_heading_up: "⤴️", speech_balloon: "💬",
  triangular_flag_on_post: "🚩", robot_face: "🤖", warning: "⚠️", x: "❌", lock: "🔒",
  information_source: "ℹ️", tada: "🎉", eyes: "👀", heavy_check_mark: "✔️", bell: "🔔",
  hourglass: "⌛", moneybag: "💰", credit_card: "💳", wave: "👋", thumbsup: "👍", "+1": "👍",
  envelope_with_arrow: "📩", raising_hand: "🙋",
};

const HTML_ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** HTML-escape any text. */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** Slack escapes &, < and > in message text; this gives the characters back (as text, never markup). */
function decodeSlack(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function emojify(escaped) {
  return escaped.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
}

// ---------------------------------------------------------------------- dates

function dayDifference(date, now) {
  const start = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  return Math.round((start(date) - start(now)) / 86400000);
}

function ago(date, now) {
  const seconds = Math.round((now - date) / 1000);
  const future = seconds < 0;
  const abs = Math.abs(seconds);
  const [value, unit] = abs < 60 ? [abs, "second"] : abs < 3600 ? [Math.round(abs / 60), "minute"]
    : abs < 86400 ? [Math.round(abs / 3600), "hour"] : [Math.round(abs / 86400), "day"];
  const words = `${value} ${unit}${value === 1 ? "" : "s"}`;
  return future ? `in ${words}` : `${words} ago`;
}

/** A `<!date^…>` token in the viewer's own time zone, as Slack renders it. */
export function formatSlackDate(seconds, format) {
  const date = new Date(seconds * 1000);
  const now = new Date();
  const fmt = (options) => new Intl.DateTimeFormat(undefined, options).format(date);
  const pretty = (fallback) => {
    const days = dayDifference(date, now);
    return days === 0 ? "today" : days === -1 ? "yesterday" : days === 1 ? "tomorrow" : fallback;
  };
  const tokens = {
    date_num: () => `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`,
    date: () => fmt({ year: "numeric", month: "long", day: "numeric" }),
    date_short: () => fmt({ year: "numeric", month: "short", day: "numeric" }),
    date_long: () => fmt({ weekday: "long", year: "numeric", month: "long", day: "numeric" }),
    date_pretty: () => pretty(fmt({ year: "numeric", month: "long", day: "numeric" })),
    date_short_pretty: () => pretty(fmt({ year: "numeric", month: "short", day: "numeric" })),
    date_long_pretty: () => pretty(fmt({ weekday: "long", year: "numeric", month: "long", day: "numeric" })),
    time: () => fmt({ hour: "numeric", minute: "2-digit" }),
    time_secs: () => fmt({ hour: "numeric", minute: "2-digit", second: "2-digit" }),
    ago: () => ago(date, now),
  };
  return format.replace(/\{(\w+)\}/g, (whole, token) => (tokens[token] ? tokens[token]() : whole));
}

// ---------------------------------------------------------------------- mrkdwn

const MARK = "\u0001"; // placeholders for rendered pieces; never in Slack text (stripped first)

function renderControl(inner, ctx) {
  // `inner` is what was between < and >, still Slack-escaped.
  const [target, ...rest] = inner.split("|");
  const label = rest.length ? decodeSlack(rest.join("|")) : null;
  if (target.startsWith("@")) {
    const id = target.slice(1);
    const user = ctx.users.get(id);
    const name = user ? user.real_name : label || id;
    const me = id === ctx.me ? " me" : "";
    return `<span class="mention${me}" data-user="${escapeHtml(id)}">@${escapeHtml(name)}</span>`;
  }
  if (target.startsWith("#")) {
    const id = target.slice(1);
    const channel = ctx.channels.get(id);
    const name = channel ? channel.name : label || id.toLowerCase();
    return `<a class="channel-link" href="#" data-channel="${escapeHtml(id)}">#${escapeHtml(name)}</a>`;
  }
  if (target.startsWith("!subteam^")) {
    const id = target.slice("!subteam^".length);
    const group = ctx.groups.get(id);
    const handle = group ? `@${group.handle}` : label || `@${id}`;
    return `<span class="mention group">${escapeHtml(handle)}</span>`;
  }
  if (target.startsWith("!date^")) {
    const [seconds, format, link] = target.slice("!date^".length).split("^");
    const text = formatSlackDate(Number(seconds), decodeSlack(format || "{date_num} {time}"));
    const title = new Date(Number(seconds) * 1000).toString();
    const body = `<time class="slack-date" datetime="${new Date(Number(seconds) * 1000).toISOString()}" title="${escapeHtml(title)}">${escapeHtml(text)}</time>`;
    return link && /^https?:/.test(link) ? `<a href="${escapeHtml(decodeSlack(link))}" target="_blank" rel="noopener">${body}</a>` : body;
  }
  if (target.startsWith("!")) {
    const word = target.slice(1).split("^")[0];
    return `<span class="mention">@${escapeHtml(label || word)}</span>`;
  }
  const url = decodeSlack(target);
  const text = escapeHtml(label || url);
  const permalink = ctx.teamUrl && url.startsWith(`${ctx.teamUrl}archives/`);
  if (permalink) {
    const [, channel, p] = url.slice(ctx.teamUrl.length).match(/^archives\/(\w+)\/p(\d+)/) || [];
    if (channel) {
      const ts = `${p.slice(0, -6)}.${p.slice(-6)}`;
      return `<a class="permalink" href="#" data-channel="${escapeHtml(channel)}" data-ts="${escapeHtml(ts)}">${text}</a>`;
    }
  }
  if (/^(https?:|mailto:)/i.test(url)) {
    return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener">${text}</a>`;
  }
  return text;
}

function inline(raw, ctx) {
  const pieces = [];
  const hold = (html) => `${MARK}${pieces.push(html) - 1}${MARK}`;
  let text = raw.replace(/`([^`\n]+)`/g, (whole, code) => hold(`<code>${escapeHtml(decodeSlack(code))}</code>`));
  text = text.replace(/<([^<>\n]+)>/g, (whole, inner) => hold(renderControl(inner, ctx)));
  // What is left is text: give Slack's entities back as characters, then escape it for HTML.
  text = emojify(escapeHtml(decodeSlack(text)));
  text = text.replace(/(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])/g, "<b>$1</b>");
  text = text.replace(/(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])/g, "<i>$1</i>");
  text = text.replace(/(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])/g, "<s>$1</s>");
  // A piece may hold another (code in a link's label): restore until none is left.
  const held = new RegExp(`${MARK}(\\d+)${MARK}`, "g");
  while (text.includes(MARK)) text = text.replace(held, (whole, n) => pieces[Number(n)]);
  return text;
}

function prose(raw, ctx) {
  const out = [];
  let quote = [];
  const flush = () => {
    if (quote.length) out.push(`<blockquote>${quote.join("<br>")}</blockquote>`);
    quote = [];
  };
  const lines = raw.split("\n");
  lines.forEach((line, index) => {
    if (line.startsWith(">")) {
      quote.push(inline(line.slice(1), ctx));
      return;
    }
    flush();
    out.push(inline(line, ctx) + (index < lines.length - 1 ? "<br>" : ""));
  });
  flush();
  return out.join("");
}

/** Slack mrkdwn as safe HTML: bold, italic, strike, code, fences, quotes, links, mentions, dates, emoji. */
export function mrkdwnHtml(text, ctx) {
  const raw = String(text || "").replaceAll(MARK, "");
  const parts = raw.split(/```/);
  return parts
    .map((part, index) => (index % 2 === 1 && index < parts.length - 1
      ? `<pre>${escapeHtml(decodeSlack(part.replace(/^\n/, "")))}</pre>`
      : prose(part, ctx)))
    .join("");
}

function el(tag, className, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of [].concat(children)) {
    if (child == null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A text object (plain_text or mrkdwn) as a DOM node. */
export function textNode(object, ctx, className = "") {
  const node = el("span", `bk-text ${className}`.trim());
  if (!object) return node;
  if (object.type === "mrkdwn") {
    node.classList.add("mrkdwn");
    node.innerHTML = mrkdwnHtml(object.text, ctx);
  } else {
    node.innerHTML = object.emoji === false ? escapeHtml(object.text) : emojify(escapeHtml(object.text));
  }
  return node;
}

function plain(object) {
  return object ? String(object.text || "") : "";
}

// ---------------------------------------------------------------------- elements that act

function allOptions(element) {
  const options = [...(element.options || [])];
  for (const group of element.option_groups || []) options.push(...(group.options || []));
  return options;
}

function buttonNode(element, blockId, ctx) {
  const button = el("button", `bk-button ${element.style || ""}`.trim(), [textNode(element.text, ctx)]);
  button.type = "button";
  button.dataset.actionId = element.action_id || "";
  if (element.value != null) button.dataset.value = element.value;
  button.addEventListener("click", async () => {
    if (element.url) window.open(element.url, "_blank", "noopener");
    if (element.confirm && !window.confirm(`${plain(element.confirm.title)}\n\n${plain(element.confirm.text)}`)) return;
    button.disabled = true;
    button.classList.add("busy");
    try {
      await ctx.onAction(element, blockId, element.value ?? null);
    } finally {
      button.disabled = false;
      button.classList.remove("busy");
    }
  });
  return button;
}

function optionLabel(option) {
  return plain(option.text);
}

function selectNode(element, blockId, ctx, { forInput = false } = {}) {
  const kind = element.type;
  const multi = kind.startsWith("multi_");
  const select = el("select", "bk-select");
  select.multiple = multi;
  select.dataset.actionId = element.action_id || "";
  select.dataset.type = kind;
  if (!multi) {
    const placeholder = el("option", "", [plain(element.placeholder) || "Select an item"]);
    placeholder.value = "";
    select.append(placeholder);
  }
  const base = kind.replace(/^multi_/, "");
  let choices = [];
  let initial = [];
  if (base === "static_select" || base === "external_select") {
    const add = (options, parent) => options.forEach((o) => {
      const option = el("option", "", [optionLabel(o)]);
      option.value = o.value;
      parent.append(option);
    });
    if (element.option_groups) {
      for (const group of element.option_groups) {
        const optgroup = el("optgroup");
        optgroup.label = plain(group.label);
        add(group.options || [], optgroup);
        select.append(optgroup);
      }
    } else {
      add(element.options || [], select);
    }
    initial = multi ? (element.initial_options || []).map((o) => o.value)
      : element.initial_option ? [element.initial_option.value] : [];
  } else {
    if (base === "users_select") {
      choices = [...ctx.users.values()].map((u) => [u.id, u.real_name]);
      initial = [].concat(element.initial_user || element.initial_users || []);
    } else {
      choices = [...ctx.channels.values()].map((c) => [c.id, `#${c.name}`]);
      initial = [].concat(element.initial_conversation || element.initial_channel
        || element.initial_conversations || element.initial_channels || []);
    }
    for (const [value, label] of choices) {
      const option = el("option", "", [label]);
      option.value = value;
      select.append(option);
    }
  }
  for (const option of select.options) option.selected = initial.includes(option.value);
  if (!forInput) {
    select.addEventListener("change", async () => {
      const picked = multi ? [...select.selectedOptions].map((o) => o.value) : select.value || null;
      await ctx.onAction(element, blockId, picked);
    });
  }
  return select;
}

function overflowNode(element, blockId, ctx) {
  const wrap = el("span", "bk-overflow");
  const toggle = el("button", "bk-button overflow-toggle", ["⋯"]);
  toggle.type = "button";
  toggle.dataset.actionId = element.action_id || "";
  const menu = el("div", "overflow-menu");
  menu.hidden = true;
  for (const option of element.options || []) {
    const item = el("button", "overflow-item", [optionLabel(option)]);
    item.type = "button";
    item.addEventListener("click", async () => {
      menu.hidden = true;
      await ctx.onAction(element, blockId, option.value);
    });
    menu.append(item);
  }
  toggle.addEventListener("click", () => { menu.hidden = !menu.hidden; });
  wrap.append(toggle, menu);
  return wrap;
}

function choiceListNode(element, blockId, ctx, { forInput = false } = {}) {
  const radio = element.type === "radio_buttons";
  const list = el("div", "bk-choices");
  list.dataset.actionId = element.action_id || "";
  list.dataset.type = element.type;
  const initial = radio ? [element.initial_option?.value] : (element.initial_options || []).map((o) => o.value);
  const name = `${blockId}:${element.action_id}:${Math.random().toString(36).slice(2)}`;
  for (const option of element.options || []) {
    const input = el("input");
    input.type = radio ? "radio" : "checkbox";
    input.name = name;
    input.value = option.value;
    input.checked = initial.includes(option.value);
    if (!forInput) {
      input.addEventListener("change", async () => {
        const picked = [...list.querySelectorAll("input:checked")].map((i) => i.value);
        await ctx.onAction(element, blockId, radio ? picked[0] ?? null : picked);
      });
    }
    const label = el("label", "bk-choice", [input, textNode(option.text, ctx)]);
    if (option.description) label.append(el("span", "bk-hint", [textNode(option.description, ctx)]));
    list.append(label);
  }
  return list;
}

function imageNode(element) {
  const image = el("img", "bk-image");
  image.alt = element.alt_text || "";
  if (/^https?:/.test(element.image_url || "")) image.src = element.image_url;
  return image;
}

/** An interactive element of an actions block, a section accessory or a context. */
export function elementNode(element, blockId, ctx) {
  switch (element.type) {
    case "button": return buttonNode(element, blockId, ctx);
    case "overflow": return overflowNode(element, blockId, ctx);
    case "image": return imageNode(element);
    case "checkboxes": case "radio_buttons": return choiceListNode(element, blockId, ctx);
    case "datepicker": case "timepicker": {
      const input = el("input", "bk-input");
      input.type = element.type === "datepicker" ? "date" : "time";
      input.value = element.initial_date || element.initial_time || "";
      input.addEventListener("change", () => ctx.onAction(element, blockId, input.value || null));
      return input;
    }
    default:
      if (/select$/.test(element.type)) return selectNode(element, blockId, ctx);
      return el("span", "bk-unsupported", [`[${element.type}]`]);
  }
}

// ---------------------------------------------------------------------- inputs (modals)

function inputElementNode(element, blockId, ctx) {
  const kind = element.type;
  if (kind === "plain_text_input" || kind === "number_input" || kind === "email_text_input" || kind === "url_text_input") {
    const field = element.multiline ? el("textarea", "bk-input") : el("input", "bk-input");
    if (!element.multiline) {
      // A number is typed as text: whether it is one is for the app to say, inline.
      field.type = "text";
      if (kind === "number_input") field.inputMode = element.is_decimal_allowed ? "decimal" : "numeric";
    }
    field.value = element.initial_value ?? "";
    if (element.placeholder) field.placeholder = plain(element.placeholder);
    if (element.max_length) field.maxLength = element.max_length;
    field.dataset.type = kind;
    field.dataset.actionId = element.action_id || "";
    if (element.min_length) field.dataset.minLength = element.min_length;
    if (element.focus_on_load) field.autofocus = true;
    return field;
  }
  if (kind === "checkboxes" || kind === "radio_buttons") return choiceListNode(element, blockId, ctx, { forInput: true });
  if (kind === "datepicker" || kind === "timepicker") {
    const input = el("input", "bk-input");
    input.type = kind === "datepicker" ? "date" : "time";
    input.value = element.initial_date || element.initial_time || "";
    input.dataset.type = kind;
    input.dataset.actionId = element.action_id || "";
    return input;
  }
  if (/select$/.test(kind)) return selectNode(element, blockId, ctx, { forInput: true });
  return el("span", "bk-unsupported", [`[${kind}]`]);
}

let inputCount = 0;

function inputBlockNode(block, ctx) {
  const node = el("div", "bk-block bk-input-block");
  node.dataset.blockId = block.block_id || "";
  node.dataset.optional = block.optional ? "true" : "false";
  const label = el("label", "bk-label", [plain(block.label)]);
  const control = inputElementNode(block.element || {}, block.block_id, ctx);
  control.id = `input-${++inputCount}`;
  label.htmlFor = control.id;
  node.append(label);
  if (block.optional) label.append(el("span", "bk-optional", [" (optional)"]));
  node.append(control);
  if (block.hint) node.append(el("div", "bk-hint", [textNode(block.hint, ctx)]));
  node.append(el("div", "bk-error"));
  return node;
}

function optionOf(element, value) {
  return allOptions(element).find((o) => o.value === value) || null;
}

/**
 * What the inputs of a view hold, in Slack's `state.values` shape ({block_id: {action_id: value}}),
 * and the problems Slack itself would point out before sending (required, too short).
 */
export function collectValues(root, view) {
  const values = {};
  const problems = {};
  const blocks = new Map((view.blocks || []).filter((b) => b.type === "input").map((b) => [b.block_id, b]));
  for (const node of root.querySelectorAll(".bk-input-block")) {
    const block = blocks.get(node.dataset.blockId);
    if (!block) continue;
    const element = block.element || {};
    const control = node.querySelector("[data-action-id]");
    let value;
    let empty = true;
    const base = element.type.replace(/^multi_/, "");
    if (["plain_text_input", "number_input", "email_text_input", "url_text_input"].includes(element.type)) {
      const text = control.value;
      empty = text === "";
      value = { type: element.type, value: empty ? null : text };
      const min = Number(control.dataset.minLength || 0);
      if (!empty && text.length < min) problems[block.block_id] = `Must be at least ${min} characters.`;
    } else if (element.type === "checkboxes") {
      const picked = [...control.querySelectorAll("input:checked")].map((i) => optionOf(element, i.value));
      empty = picked.length === 0;
      value = { type: "checkboxes", selected_options: picked };
    } else if (element.type === "radio_buttons") {
      const picked = control.querySelector("input:checked");
      empty = !picked;
      value = { type: "radio_buttons", selected_option: picked ? optionOf(element, picked.value) : null };
    } else if (element.type === "datepicker" || element.type === "timepicker") {
      empty = !control.value;
      value = { type: element.type, [element.type === "datepicker" ? "selected_date" : "selected_time"]: control.value || null };
    } else {
      const multi = element.type.startsWith("multi_");
      const picked = multi ? [...control.selectedOptions].map((o) => o.value) : control.value;
      empty = multi ? picked.length === 0 : !picked;
      if (base === "static_select" || base === "external_select") {
        value = multi ? { type: element.type, selected_options: picked.map((v) => optionOf(element, v)) }
          : { type: element.type, selected_option: picked ? optionOf(element, picked) : null };
      } else {
        const key = {
          conversations_select: "selected_conversation", channels_select: "selected_channel", users_select: "selected_user",
        }[base];
        value = { type: element.type, [multi ? `${key}s` : key]: multi ? picked : picked || null };
      }
    }
    if (empty && !block.optional) problems[block.block_id] = "Please complete this required field.";
    values[block.block_id] = { [element.action_id]: value };
  }
  return { values, problems };
}

/** Show inline errors (by block id) under a view's inputs; an empty map clears them. */
export function showErrors(root, errors) {
  for (const node of root.querySelectorAll(".bk-input-block")) {
    const message = errors[node.dataset.blockId] || "";
    node.querySelector(".bk-error").textContent = message;
    node.classList.toggle("has-error", Boolean(message));
  }
}

// ---------------------------------------------------------------------- blocks

function sectionNode(block, ctx) {
  const node = el("div", "bk-block bk-section");
  const body = el("div", "bk-section-body");
  if (block.text) body.append(el("div", "bk-section-text", [textNode(block.text, ctx)]));
  if (block.fields && block.fields.length) {
    body.append(el("div", "bk-fields", block.fields.map((f) => el("div", "bk-field", [textNode(f, ctx)]))));
  }
  node.append(body);
  if (block.accessory) node.append(el("div", "bk-accessory", [elementNode(block.accessory, block.block_id, ctx)]));
  return node;
}

function contextNode(block, ctx) {
  return el("div", "bk-block bk-context", (block.elements || []).map((e) => (
    e.type === "image" ? imageNode(e) : textNode(e, ctx))));
}

/** One block as a DOM node. */
export function blockNode(block, ctx) {
  let node;
  switch (block.type) {
    case "header": node = el("div", "bk-block bk-header", [textNode(block.text, ctx)]); break;
    case "section": node = sectionNode(block, ctx); break;
    case "context": node = contextNode(block, ctx); break;
    case "divider": node = el("hr", "bk-block bk-divider"); break;
    case "actions":
      node = el("div", "bk-block bk-actions", (block.elements || []).map((e) => elementNode(e, block.block_id, ctx)));
      break;
    case "input": node = inputBlockNode(block, ctx); break;
    case "image": {
      node = el("figure", "bk-block bk-image-block", [imageNode(block)]);
      if (block.title) node.append(el("figcaption", "", [textNode(block.title, ctx)]));
      break;
    }
    case "markdown": node = el("div", "bk-block mrkdwn"); node.textContent = block.text || ""; break;
    default: node = el("div", "bk-block bk-unsupported", [`[${block.type} block]`]);
  }
  if (block.block_id) node.dataset.blockId = block.block_id;
  return node;
}

/** A list of blocks as a DOM fragment. */
export function renderBlocks(blocks, ctx) {
  const fragment = document.createDocumentFragment();
  for (const block of blocks || []) fragment.append(blockNode(block, ctx));
  return fragment;
}
