// My desk: the signed-in person's watchlists, price alerts, layouts and custom series.
//
// A plain module: no framework, no build, nothing from another site. Every value
// that comes from the API reaches the page through textContent, attributes or form
// properties, never as markup. Every URL is relative to the page
// (/watchlist-api/desk behind nginx), so "v1/watchlists" is the API under the same
// prefix; Grafana's own paths start from data-grafana-root.

const PROBLEM_PREFIX = "urn:bbdash:problem:";
const CHECK_DELAY_MS = 250;

const page = document.body;
const grafanaRoot = page.dataset.grafanaRoot || "/";
const statusBox = document.getElementById("status");

// --------------------------------------------------------------------------- helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

function announce(text) {
  if (statusBox) statusBox.replaceChildren(String(text));
}

function pluralise(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

// --------------------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }

  get kind() {
    const type = String(this.problem.type || "");
    return type.startsWith(PROBLEM_PREFIX) ? type.slice(PROBLEM_PREFIX.length) : "";
  }
}

let rotation = null; // one rotation at a time, shared by the calls that needed it
let sessionEnded = false;

// Grafana rotates its session tokens from the browser (as its own pages do): a POST
// with the cookie; the answer sets the new cookie.
function rotateSession() {
  if (rotation === null) {
    rotation = fetch(`${grafanaRoot}api/user/auth-tokens/rotate`, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then((answer) => answer.ok)
      .catch(() => false)
      .finally(() => {
        setTimeout(() => {
          rotation = null;
        }, 0);
      });
  }
  return rotation;
}

function showSessionEnded() {
  sessionEnded = true;
  if (!statusBox) return;
  statusBox.classList.add("alert");
  statusBox.replaceChildren(
    "Your Grafana session ended: ",
    el("a", { href: `${grafanaRoot}login` }, "sign in again"),
  );
}

function send(path, { method = "GET", body, version, signal } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (version !== undefined) headers["If-Match"] = `"v${version}"`;
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
    signal,
  });
}

async function problemOf(response) {
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      const doc = await response.json();
      if (doc && typeof doc === "object") return doc;
    } catch {
      // not JSON after all: fall through
    }
  }
  return { detail: `HTTP ${response.status} ${response.statusText}`.trim() };
}

async function sendOrExplain(path, options) {
  try {
    return await send(path, options);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { detail: "the API cannot be reached: check the connection, then retry" });
  }
}

// One API call: JSON in, JSON (or null for 204) out, an ApiError carrying the problem
// document otherwise. A session due for rotation is rotated and the call retried once.
async function api(path, options = {}) {
  let response = await sendOrExplain(path, options);
  if (response.status === 401) {
    const problem = await problemOf(response.clone());
    if (String(problem.type || "").endsWith("session-rotation") && (await rotateSession())) {
      response = await sendOrExplain(path, options);
    }
    if (response.status === 401) showSessionEnded();
  } else if (sessionEnded && response.ok) {
    sessionEnded = false; // signed in again meanwhile (another tab)
    if (statusBox) statusBox.classList.remove("alert");
  }
  if (response.status === 204) return null;
  if (response.ok) return response.json();
  throw new ApiError(response.status, await problemOf(response));
}

async function allPages(path) {
  const rows = [];
  let after = 0;
  for (;;) {
    const separator = path.includes("?") ? "&" : "?";
    const answer = await api(`${path}${separator}limit=200&after=${after}`);
    rows.push(...answer.data);
    if (answer.next_after === null || answer.next_after === undefined) return rows;
    after = answer.next_after;
  }
}

// --------------------------------------------------------------------------- errors

function messageOf(error) {
  if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
  const detail = error.problem.detail || "the request failed";
  switch (error.status) {
    case 401:
      return "your Grafana session ended: sign in again (link above)";
    case 412:
      return "changed elsewhere meanwhile: reloaded, look and try again";
    case 404:
      return `${detail}: it was deleted meanwhile, reloaded`;
    case 503:
      return `${detail} (retry in a few seconds)`;
    default:
      return detail;
  }
}

function clearErrors(scope) {
  for (const slot of scope.querySelectorAll("[data-error-for]")) {
    slot.textContent = "";
    slot.classList.remove("ok", "warn", "bad");
  }
  for (const input of scope.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

// The problem's detail next to the form; each of its `errors` next to its field when
// the form has a slot for it, else listed with the detail.
function showError(scope, error) {
  if (error && error.name === "AbortError") return;
  if (!(error instanceof ApiError)) console.error(error);
  const unplaced = [];
  const fieldErrors = error instanceof ApiError ? error.problem.errors || [] : [];
  for (const entry of fieldErrors) {
    const field = String(entry.field || "");
    const base = field.split(/[.[]/)[0];
    const slot = scope.querySelector(`[data-error-for="${CSS.escape(base)}"]`);
    const input = scope.querySelector(`[name="${CSS.escape(base)}"]`);
    if (input) input.setAttribute("aria-invalid", "true");
    if (slot) slot.textContent = String(entry.detail || "");
    else unplaced.push(`${field}: ${entry.detail}`);
  }
  const message = [messageOf(error), ...unplaced].join(" · ");
  const box = scope.querySelector('[data-error-for="form"]');
  if (box) box.textContent = message;
  if (error instanceof ApiError && error.status === 401) showSessionEnded();
  else announce(`Error: ${message}`);
  if (error instanceof ApiError && (error.status === 404 || error.status === 412)) reloadAll();
}

// Runs one user action: clears the form's errors, disables its buttons while it runs.
async function act(scope, work) {
  clearErrors(scope);
  const buttons = [...scope.querySelectorAll("button")];
  for (const button of buttons) button.disabled = true;
  try {
    await work();
  } catch (error) {
    showError(scope, error);
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

// --------------------------------------------------------------------------- symbols

function assetTypes() {
  const select = document.getElementById("alert-asset-type");
  return select ? [...select.options].map((option) => option.value) : ["crypto", "stock"];
}

// Instant validation as the person types: debounced, the previous check cancelled.
function liveCheck(typeSelect, symbolInput, output) {
  let timer = 0;
  let controller = null;
  const run = async () => {
    if (controller) controller.abort();
    const symbol = symbolInput.value.trim();
    output.classList.remove("ok", "warn", "bad");
    if (!symbol) {
      output.textContent = "";
      symbolInput.removeAttribute("aria-invalid");
      return;
    }
    controller = new AbortController();
    const query = new URLSearchParams({ asset_type: typeSelect.value, symbol });
    try {
      const found = await api(`v1/symbols/check?${query}`, { signal: controller.signal });
      const sources = found.sources.length ? found.sources.join(", ") : "no source collects it";
      output.textContent = `${found.symbol} · ${found.exchange ?? "exchange unknown"} · ${sources}`;
      output.classList.add(found.collectable ? "ok" : "warn");
      symbolInput.removeAttribute("aria-invalid");
    } catch (error) {
      if (error.name === "AbortError") return;
      const entry = error instanceof ApiError ? (error.problem.errors || []).find((e) => e.field === "symbol") : null;
      output.textContent = entry ? String(entry.detail) : messageOf(error);
      output.classList.add("bad");
      if (error instanceof ApiError && error.status === 422) symbolInput.setAttribute("aria-invalid", "true");
    }
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(run, CHECK_DELAY_MS);
  };
  symbolInput.addEventListener("input", later);
  typeSelect.addEventListener("change", later);
}

// --------------------------------------------------------------------------- watchlists

// Reordering swaps two neighbours' positions (each PATCH carries its own version).
async function moveWatchlist(all, index, delta) {
  const moved = all[index];
  const other = all[index + delta];
  await api(`v1/watchlists/${moved.id}`, { method: "PATCH", body: { position: other.position }, version: moved.version });
  await api(`v1/watchlists/${other.id}`, { method: "PATCH", body: { position: moved.position }, version: other.version });
  announce(`Watchlist ${moved.name} moved ${delta < 0 ? "up" : "down"}`);
  await loadWatchlists();
  const again = document.getElementById(`wl-${moved.id}-${delta < 0 ? "up" : "down"}`);
  if (again && !again.disabled) again.focus();
}

function renderWatchlist(watchlist, index, all) {
  const id = `wl-${watchlist.id}`;
  const items = watchlist.items || [];
  const order = el(
    "span",
    { class: "order" },
    el("button", { type: "button", id: `${id}-up`, disabled: index === 0, "aria-label": `Move ${watchlist.name} up` }, "↑"),
    el("button", { type: "button", id: `${id}-down`, disabled: index === all.length - 1, "aria-label": `Move ${watchlist.name} down` }, "↓"),
    el("span", { class: "form-error", "data-error-for": "form" }),
  );
  order.querySelector(`#${id}-up`).addEventListener("click", () => act(order, () => moveWatchlist(all, index, -1)));
  order.querySelector(`#${id}-down`).addEventListener("click", () => act(order, () => moveWatchlist(all, index, 1)));

  const renameInput = el("input", { id: `${id}-name`, name: "name", required: true, maxlength: 100 });
  renameInput.value = watchlist.name;
  const renameForm = el(
    "form",
    { class: "row", autocomplete: "off" },
    el("label", { for: renameInput.id }, "Rename"),
    renameInput,
    el("span", { class: "field-error", "data-error-for": "name" }),
    el("button", { type: "submit" }, "Rename"),
    el("button", { type: "button", class: "danger", "aria-label": `Delete watchlist ${watchlist.name}` }, "Delete"),
    el("p", { class: "form-error", "data-error-for": "form" }),
  );
  renameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    act(renameForm, async () => {
      await api(`v1/watchlists/${watchlist.id}`, {
        method: "PATCH",
        body: { name: renameInput.value },
        version: watchlist.version,
      });
      announce(`Watchlist renamed to ${renameInput.value.trim()}`);
      await loadWatchlists();
    });
  });
  renameForm.querySelector("button.danger").addEventListener("click", () => {
    const question = `Delete the watchlist "${watchlist.name}" and its ${pluralise(items.length, "symbol")}?`;
    if (!window.confirm(question)) return;
    act(renameForm, async () => {
      await api(`v1/watchlists/${watchlist.id}`, { method: "DELETE", version: watchlist.version });
      announce(`Watchlist ${watchlist.name} deleted`);
      await loadWatchlists();
    });
  });

  const list = el("ul", { class: "items", "aria-label": `Symbols of ${watchlist.name}` });
  for (const item of items) {
    const row = el(
      "li",
      {},
      el("span", { class: "sym" }, item.symbol),
      el("span", { class: "muted" }, item.source ? `${item.asset_type} · ${item.source}` : item.asset_type),
      el("button", { type: "button", "aria-label": `Remove ${item.symbol} from ${watchlist.name}` }, "Remove"),
      el("span", { class: "form-error", "data-error-for": "form" }),
    );
    row.querySelector("button").addEventListener("click", () =>
      act(row, async () => {
        await api(`v1/watchlists/${watchlist.id}/items/${item.id}`, { method: "DELETE" });
        announce(`${item.symbol} removed from ${watchlist.name}`);
        await loadWatchlists();
      }),
    );
    list.append(row);
  }
  if (!items.length) list.append(el("li", { class: "muted" }, "No symbol yet."));

  const typeSelect = el(
    "select",
    { id: `${id}-type`, name: "asset_type" },
    ...assetTypes().map((type) => el("option", { value: type }, type)),
  );
  const symbolInput = el("input", {
    id: `${id}-symbol`,
    name: "symbol",
    required: true,
    maxlength: 32,
    spellcheck: "false",
    "aria-describedby": `${id}-check`,
  });
  const check = el("output", {
    id: `${id}-check`,
    class: "check",
    for: `${id}-symbol ${id}-type`,
    "data-error-for": "symbol",
    "aria-live": "polite",
  });
  const addForm = el(
    "form",
    { class: "row", autocomplete: "off" },
    el("label", { for: typeSelect.id }, "Asset type"),
    typeSelect,
    el("label", { for: symbolInput.id }, "Symbol"),
    symbolInput,
    el("button", { type: "submit" }, "Add symbol"),
    check,
    el("p", { class: "form-error", "data-error-for": "form" }),
  );
  liveCheck(typeSelect, symbolInput, check);
  addForm.addEventListener("submit", (event) => {
    event.preventDefault();
    act(addForm, async () => {
      const added = await api(`v1/watchlists/${watchlist.id}/items`, {
        method: "POST",
        body: { asset_type: typeSelect.value, symbol: symbolInput.value },
      });
      announce(`${added.symbol} added to ${watchlist.name}`);
      await loadWatchlists();
      const again = document.getElementById(`${id}-symbol`);
      if (again) again.focus();
    });
  });

  return el(
    "article",
    { class: "card", "aria-labelledby": `${id}-title` },
    el(
      "h3",
      { id: `${id}-title` },
      watchlist.name,
      el("span", { class: "muted" }, ` ${pluralise(items.length, "symbol")}${watchlist.enabled ? "" : " · disabled"}`),
      order,
    ),
    list,
    addForm,
    renameForm,
  );
}

async function loadWatchlists() {
  const box = document.getElementById("watchlists");
  box.setAttribute("aria-busy", "true");
  try {
    const summaries = await allPages("v1/watchlists");
    summaries.sort((a, b) => a.position - b.position || a.id - b.id); // the person's order
    const full = await Promise.all(summaries.map((summary) => api(`v1/watchlists/${summary.id}`)));
    box.replaceChildren(
      ...(full.length ? full.map(renderWatchlist) : [el("p", { class: "muted" }, "No watchlist yet: create one above.")]),
    );
  } catch (error) {
    box.replaceChildren(el("p", { class: "form-error" }, `Watchlists: ${messageOf(error)}`));
  } finally {
    box.setAttribute("aria-busy", "false");
  }
}

function wireWatchlistCreate() {
  const form = document.getElementById("watchlist-create");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(form, async () => {
      const name = form.elements.name.value;
      const created = await api("v1/watchlists", { method: "POST", body: { name } });
      form.reset();
      announce(`Watchlist ${created.name} created`);
      await loadWatchlists();
      const symbol = document.getElementById(`wl-${created.id}-symbol`);
      if (symbol) symbol.focus();
    });
  });
}

// --------------------------------------------------------------------------- alerts

function describeRule(rule) {
  if (rule.condition === "above") return `above ${rule.threshold}`;
  if (rule.condition === "below") return `below ${rule.threshold}`;
  return `moves ±${rule.threshold}% within ${rule.window_seconds} s`;
}

function renderRule(rule) {
  const actions = el(
    "td",
    {},
    el(
      "button",
      { type: "button", class: "toggle", "aria-label": `${rule.enabled ? "Disable" : "Enable"} alert ${rule.name}` },
      rule.enabled ? "Disable" : "Enable",
    ),
    el("button", { type: "button", class: "danger", "aria-label": `Delete alert ${rule.name}` }, "Delete"),
    el("span", { class: "form-error", "data-error-for": "form" }),
  );
  actions.querySelector("button.toggle").addEventListener("click", () =>
    act(actions, async () => {
      await api(`v1/alert-rules/${rule.id}`, {
        method: "PATCH",
        body: { enabled: !rule.enabled },
        version: rule.version,
      });
      announce(`Alert ${rule.name} ${rule.enabled ? "disabled" : "enabled"}`);
      await loadAlerts();
    }),
  );
  actions.querySelector("button.danger").addEventListener("click", () => {
    if (!window.confirm(`Delete the alert "${rule.name}"?`)) return;
    act(actions, async () => {
      await api(`v1/alert-rules/${rule.id}`, { method: "DELETE", version: rule.version });
      announce(`Alert ${rule.name} deleted`);
      await loadAlerts();
    });
  });
  return el(
    "tr",
    { class: rule.enabled ? "" : "off" },
    el("th", { scope: "row" }, rule.name),
    el("td", { class: "sym" }, rule.symbol),
    el("td", {}, describeRule(rule)),
    el("td", {}, rule.channels.join(", ")),
    el("td", {}, `${rule.cooldown_seconds} s`),
    el("td", {}, rule.enabled ? "on" : "off"),
    actions,
  );
}

async function loadAlerts() {
  const box = document.getElementById("alerts");
  box.setAttribute("aria-busy", "true");
  try {
    const rules = await allPages("v1/alert-rules");
    if (!rules.length) {
      box.replaceChildren(el("p", { class: "muted" }, "No alert yet."));
      return;
    }
    const head = el(
      "tr",
      {},
      ...["Name", "Symbol", "Condition", "Channels", "Cooldown", "State", "Actions"].map((title) =>
        el("th", { scope: "col" }, title),
      ),
    );
    box.replaceChildren(
      el("table", {}, el("caption", {}, pluralise(rules.length, "alert")), el("thead", {}, head), el("tbody", {}, ...rules.map(renderRule))),
    );
  } catch (error) {
    box.replaceChildren(el("p", { class: "form-error" }, `Alerts: ${messageOf(error)}`));
  } finally {
    box.setAttribute("aria-busy", "false");
  }
}

function integerOrUndefined(value) {
  const text = String(value ?? "").trim();
  return text === "" ? undefined : Number(text);
}

function wireAlertCreate() {
  const form = document.getElementById("alert-create");
  const condition = form.elements.condition;
  const windowInput = form.elements.window_seconds;
  const syncWindow = () => {
    windowInput.disabled = condition.value !== "pct_move";
  };
  condition.addEventListener("change", syncWindow);
  syncWindow();
  liveCheck(form.elements.asset_type, form.elements.symbol, document.getElementById("alert-symbol-check"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(form, async () => {
      const data = new FormData(form);
      const symbol = String(data.get("symbol") || "").trim();
      const threshold = String(data.get("threshold") || "").trim();
      let name = String(data.get("name") || "").trim();
      if (!name) name = `${symbol.toUpperCase().replaceAll("/", "-")} ${data.get("condition")} ${threshold}`;
      const body = {
        name,
        asset_type: data.get("asset_type"),
        symbol,
        condition: data.get("condition"),
        threshold: threshold === "" ? null : Number(threshold),
        channels: data.getAll("channels"),
        enabled: data.get("enabled") === "on",
      };
      const windowSeconds = integerOrUndefined(data.get("window_seconds"));
      if (body.condition === "pct_move") body.window_seconds = windowSeconds ?? null;
      const cooldown = integerOrUndefined(data.get("cooldown_seconds"));
      if (cooldown !== undefined) body.cooldown_seconds = cooldown;
      const created = await api("v1/alert-rules", { method: "POST", body });
      form.reset();
      syncWindow();
      announce(`Alert ${created.name} created`);
      await loadAlerts();
    });
  });
}

// --------------------------------------------------------------------------- layouts

const SYNC_POLL_MS = 1000;
const SYNC_POLL_LIMIT = 30; // then the list says it is still being written
const chosenSymbols = []; // {asset_type, symbol} of the layout being composed

function describeLayout(layout) {
  const panels = Array.isArray(layout.layout.panels) ? layout.layout.panels : [];
  const symbols = [...new Set(panels.map((panel) => panel.symbol))];
  const kinds = [...new Set(panels.map((panel) => panel.kind))];
  return panels.length ? `${symbols.join(", ")} · ${kinds.join(", ")}` : "no panels (saved before layouts had them)";
}

function renderLayout(layout) {
  const actions = el(
    "td",
    {},
    el("button", { type: "button", class: "danger", "aria-label": `Delete layout ${layout.name}` }, "Delete"),
    el("span", { class: "form-error", "data-error-for": "form" }),
  );
  actions.querySelector("button").addEventListener("click", () => {
    if (!window.confirm(`Delete the layout "${layout.name}" and its dashboard?`)) return;
    act(actions, async () => {
      await api(`v1/layouts/${layout.id}`, { method: "DELETE", version: layout.version });
      announce(`Layout ${layout.name} deleted`);
      await loadLayouts();
    });
  });
  const dashboard = layout.dashboard.synced
    ? el("a", { href: layout.dashboard.url, "data-dashboard-uid": layout.dashboard.uid }, "Open dashboard")
    : el("span", { class: "muted", "data-pending": layout.dashboard.uid }, "being written to Grafana…");
  return el(
    "tr",
    {},
    el("th", { scope: "row" }, layout.name),
    el("td", {}, describeLayout(layout)),
    el("td", {}, dashboard),
    actions,
  );
}

let layoutPoll = 0;

async function loadLayouts(polls = 0) {
  const box = document.getElementById("layouts");
  clearTimeout(layoutPoll);
  box.setAttribute("aria-busy", "true");
  try {
    const layouts = await allPages("v1/layouts");
    if (!layouts.length) {
      box.replaceChildren(el("p", { class: "muted" }, "No layout yet."));
      return;
    }
    const head = el("tr", {}, ...["Name", "Panels", "Dashboard", "Actions"].map((t) => el("th", { scope: "col" }, t)));
    box.replaceChildren(
      el("table", {}, el("caption", {}, pluralise(layouts.length, "layout")), el("thead", {}, head), el("tbody", {}, ...layouts.map(renderLayout))),
    );
    // Grafana gets the dashboard right after the save: look again until it has it.
    const pending = layouts.filter((layout) => !layout.dashboard.synced);
    if (pending.length && polls < SYNC_POLL_LIMIT) {
      layoutPoll = setTimeout(() => loadLayouts(polls + 1), SYNC_POLL_MS);
    } else if (polls > 0 && !pending.length) {
      announce("Your dashboard is ready in Grafana");
    }
  } catch (error) {
    box.replaceChildren(el("p", { class: "form-error" }, `Layouts: ${messageOf(error)}`));
  } finally {
    box.setAttribute("aria-busy", "false");
  }
}

function renderChosenSymbols() {
  const list = document.getElementById("layout-symbols");
  list.replaceChildren(
    ...chosenSymbols.map((chosen, index) => {
      const row = el(
        "li",
        {},
        el("span", { class: "sym" }, chosen.symbol),
        el("span", { class: "muted" }, chosen.asset_type),
        el("button", { type: "button", "aria-label": `Remove ${chosen.symbol} from the layout` }, "Remove"),
      );
      row.querySelector("button").addEventListener("click", () => {
        chosenSymbols.splice(index, 1);
        renderChosenSymbols();
      });
      return row;
    }),
  );
  if (!chosenSymbols.length) list.append(el("li", { class: "muted" }, "No symbol yet: add one above."));
}

function wireLayoutCreate() {
  const form = document.getElementById("layout-create");
  const typeSelect = form.elements.asset_type;
  const symbolInput = form.elements.symbol;
  const check = document.getElementById("layout-symbol-check");
  liveCheck(typeSelect, symbolInput, check);
  const addSymbol = () =>
    act(form, async () => {
      const query = new URLSearchParams({ asset_type: typeSelect.value, symbol: symbolInput.value.trim() });
      const found = await api(`v1/symbols/check?${query}`);
      if (!chosenSymbols.some((c) => c.symbol === found.symbol && c.asset_type === typeSelect.value)) {
        chosenSymbols.push({ asset_type: typeSelect.value, symbol: found.symbol });
      }
      symbolInput.value = "";
      check.textContent = "";
      renderChosenSymbols();
      announce(`${found.symbol} added to the layout`);
      symbolInput.focus();
    });
  document.getElementById("layout-add-symbol").addEventListener("click", addSymbol);
  symbolInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault(); // Enter in the symbol field adds it; the button saves
      if (symbolInput.value.trim()) addSymbol();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(form, async () => {
      const kinds = new FormData(form).getAll("kinds");
      const panels = chosenSymbols.flatMap((chosen) => kinds.map((kind) => ({ kind, ...chosen })));
      const body = { name: form.elements.name.value, layout: { panels, range: form.elements.range.value } };
      const created = await api("v1/layouts", { method: "POST", body });
      chosenSymbols.length = 0;
      form.elements.name.value = "";
      renderChosenSymbols();
      announce(`Layout ${created.name} saved; its dashboard is being written to Grafana`);
      await loadLayouts();
    });
  });
  renderChosenSymbols();
}

// --------------------------------------------------------------------------- custom series

const customSection = document.getElementById("custom-series");
const customOn = Boolean(customSection && customSection.dataset.custom === "on");

function describeUsage(custom) {
  const quota = `${custom.max_series} series`;
  if (custom.series === null || custom.series === undefined) return `Quota: ${quota} (not measured yet).`;
  const used = `${custom.series} of ${quota} used`;
  return custom.over_quota ? `${used}: over the quota, your tokens are inactive until you are under it.` : `${used}.`;
}

function renderCustomToken(token) {
  const actions = el(
    "td",
    {},
    el("button", { type: "button", class: "danger", "aria-label": `Delete token ${token.description}` }, "Delete"),
    el("span", { class: "form-error", "data-error-for": "form" }),
  );
  actions.querySelector("button").addEventListener("click", () => {
    if (!window.confirm(`Delete the write token "${token.description}"? Scripts using it stop writing.`)) return;
    act(actions, async () => {
      await api(`v1/custom/tokens/${encodeURIComponent(token.id)}`, { method: "DELETE" });
      announce(`Write token ${token.description} deleted`);
      await loadCustom();
    });
  });
  return el(
    "tr",
    { class: token.status === "active" ? null : "off", "data-token-id": token.id },
    el("th", { scope: "row" }, token.description),
    el("td", { "data-status": token.status }, token.status),
    el("td", {}, token.created_at ? token.created_at.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC") : ""),
    actions,
  );
}

async function loadCustom() {
  if (!customOn) return;
  const box = document.getElementById("custom-tokens");
  box.setAttribute("aria-busy", "true");
  try {
    const custom = await api("v1/custom");
    document.getElementById("custom-usage").textContent = describeUsage(custom);
    if (!custom.tokens.length) {
      box.replaceChildren(el("p", { class: "muted" }, "No write token yet."));
      return;
    }
    const head = el("tr", {}, ...["Label", "Status", "Created", "Actions"].map((t) => el("th", { scope: "col" }, t)));
    box.replaceChildren(
      el(
        "table",
        {},
        el("caption", {}, pluralise(custom.tokens.length, "write token")),
        el("thead", {}, head),
        el("tbody", {}, ...custom.tokens.map(renderCustomToken)),
      ),
    );
  } catch (error) {
    box.replaceChildren(el("p", { class: "form-error" }, `Custom series: ${messageOf(error)}`));
  } finally {
    box.setAttribute("aria-busy", "false");
  }
}

function wireCustomCreate() {
  if (!customOn) return;
  const form = document.getElementById("custom-token-form");
  const created = document.getElementById("custom-token-created");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(form, async () => {
      const body = { description: form.elements.description.value };
      const answer = await api("v1/custom/tokens", { method: "POST", body });
      document.getElementById("custom-token-value").textContent = answer.token;
      document.getElementById("custom-token-example").textContent = answer.example;
      created.hidden = false;
      form.elements.description.value = "";
      const inactive = answer.status === "active" ? "" : " (inactive: your bucket is over its quota)";
      announce(`Write token ${answer.description} created${inactive}: copy it now, it is shown once`);
      document.getElementById("custom-token-created-title").focus();
      await loadCustom();
    });
  });
}

// --------------------------------------------------------------------------- start

function reloadAll() {
  return Promise.all([loadWatchlists(), loadAlerts(), loadLayouts(), loadCustom()]);
}

async function rotateThenReload() {
  // The page itself was refused because the session is due for rotation: rotate it
  // and load the page again, at most once a minute (no reload loop).
  const last = Number(sessionStorage.getItem("desk-rotated-at") || 0);
  if (Date.now() - last > 60_000 && (await rotateSession())) {
    sessionStorage.setItem("desk-rotated-at", String(Date.now()));
    window.location.reload();
    return;
  }
  showSessionEnded();
}

if (page.dataset.page === "desk") {
  wireWatchlistCreate();
  wireAlertCreate();
  wireLayoutCreate();
  wireCustomCreate();
  reloadAll();
} else if (page.dataset.page === "rotate") {
  rotateThenReload();
}
