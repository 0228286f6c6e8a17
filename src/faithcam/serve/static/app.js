// faithcam serve: the page. Every piece of state lives in this tab (image key, job key, box):
// the server keeps no "current" anything, so two tabs never meet.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { image: null, size: 224, target: null, box: null, job: null, methods: [] };
const POLL_MS = 300;

// ------------------------------------------------------------------ talking to the server
async function api(path, options = {}) {
  const response = await fetch(path, options);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : `${response.status} ${response.statusText}`;
    throw new Error(detail);
  }
  return body;
}
const postJSON = (path, data) => api(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
});

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}
function clearError() { $("error").hidden = true; }
function setStatus(text) { $("status").textContent = text; }
async function guarded(task) {
  try { clearError(); await task(); } catch (error) { showError(error.message); setStatus(""); }
}

// ------------------------------------------------------------------ start-up
async function init() {
  const menu = await api("/api/catalogue");
  const groups = {};
  for (const model of menu.models) {
    if (!groups[model.group]) {
      groups[model.group] = document.createElement("optgroup");
      groups[model.group].label = model.group;
      $("model").append(groups[model.group]);
    }
    groups[model.group].append(new Option(model.label, model.name));
  }
  $("model").value = menu.default_model;
  buildMethods(menu.methods, menu.default_methods);
  for (const name of menu.photos) {
    const button = document.createElement("button");
    button.type = "button"; button.title = name; button.dataset.photo = name;
    const img = document.createElement("img");
    img.src = `/api/photos/${name}.png`; img.alt = name;
    button.append(img);
    button.addEventListener("click", () => guarded(() => usePhoto(name)));
    $("photos").append(button);
  }
  $("steps").value = menu.steps;
  $("drop").title = `at most ${menu.limits.max_megabytes} MB and ${menu.limits.max_megapixels} megapixels`;
}

function buildMethods(methods, chosen) {
  const legends = { seed: "seed methods", comparator: "comparators", more: "more" };
  const sets = {};
  for (const m of methods) {
    const key = m.slow ? "slow" : m.group;
    if (!sets[key]) {
      sets[key] = document.createElement("fieldset");
      const legend = document.createElement("legend");
      legend.textContent = key === "slow" ? "slow (one forward pass per channel)" : legends[key];
      sets[key].append(legend);
    }
    const label = document.createElement("label");
    label.title = m.citation;
    const box = document.createElement("input");
    box.type = "checkbox"; box.value = m.name; box.checked = chosen.includes(m.name);
    label.append(box, m.name);
    sets[key].append(label);
  }
  for (const key of ["seed", "comparator", "more", "slow"]) if (sets[key]) $("methods").append(sets[key]);
}

// ------------------------------------------------------------------ image
async function usePhoto(name) {
  setStatus(`loading ${name}…`);
  const info = await api(`/api/photos/${name}`, { method: "POST" });
  document.querySelectorAll(".photos button").forEach((b) => b.classList.toggle("chosen", b.dataset.photo === name));
  await setImage(info);
}

async function upload(file) {
  setStatus(`uploading ${file.name}…`);
  document.querySelectorAll(".photos button").forEach((b) => b.classList.remove("chosen"));
  const info = await api(`/api/images?name=${encodeURIComponent(file.name)}`, {
    method: "POST", body: file, headers: { "Content-Type": "application/octet-stream" },
  });
  await setImage(info);
}

async function setImage(info) {
  state.image = info.image;
  const notes = $("notes");
  notes.replaceChildren(...info.notes.map((note) => {
    const li = document.createElement("li"); li.textContent = note; return li;
  }));
  await predict();
}

// ------------------------------------------------------------------ prediction
async function predict() {
  if (!state.image) return;
  const model = $("model").value;
  setStatus(`running ${model}…`);
  $("compare").disabled = true;
  const result = await postJSON("/api/predict", { image: state.image, model });
  state.size = result.size;
  setBox(null);
  const crop = $("crop");
  crop.classList.toggle("pixelated", result.size < 160);
  crop.src = `/api/images/${state.image}/crop.png?model=${encodeURIComponent(model)}`;
  $("view").hidden = false;
  fillTop5(result);
  fillOtherClass(result);
  $("layer").value = "";
  $("layer").placeholder = `automatic: ${result.layer}`;
  $("layers").replaceChildren(...result.layers.map((name) => new Option(name)));
  $("compare").disabled = false;
  setStatus(`${model}: top class ${result.top[0].name}`);
}

function fillTop5(result) {
  const list = $("top5");
  list.replaceChildren();
  result.top.forEach((c, i) => {
    const li = document.createElement("li");
    const label = document.createElement("label");
    const radio = document.createElement("input");
    radio.type = "radio"; radio.name = "target"; radio.value = c.class_id; radio.checked = i === 0;
    radio.addEventListener("change", () => { state.target = c.class_id; $("other-class").value = ""; $("other-id").value = ""; });
    const name = document.createElement("span"); name.textContent = `${c.name} (${c.class_id})`;
    const p = document.createElement("span"); p.className = "p"; p.textContent = c.probability.toFixed(3);
    const bar = document.createElement("span"); bar.className = "bar"; bar.style.width = `${Math.max(1, 100 * c.probability)}%`;
    label.append(radio, name, p, bar);
    li.append(label);
    list.append(li);
  });
  state.target = result.top[0].class_id;
}

function fillOtherClass(result) {
  const select = $("other-class"), input = $("other-id");
  select.hidden = !result.class_names; input.hidden = !!result.class_names;
  input.max = result.classes - 1; input.value = "";
  select.replaceChildren(new Option("—", ""));
  if (result.class_names) {
    result.class_names.forEach((name, i) => select.append(new Option(`${i}: ${name}`, i)));
  }
}

function pickOther(value) {
  if (value === "") return;
  state.target = Number(value);
  document.querySelectorAll("#top5 input").forEach((r) => { r.checked = false; });
}

// ------------------------------------------------------------------ the box
function boxStyle(element, box) {
  element.hidden = !box;
  if (!box) return;
  const s = state.size;
  Object.assign(element.style, {
    left: `${(100 * box[0]) / s}%`, top: `${(100 * box[1]) / s}%`,
    width: `${(100 * (box[2] - box[0])) / s}%`, height: `${(100 * (box[3] - box[1])) / s}%`,
  });
}

function setBox(box) {
  state.box = box;
  document.querySelectorAll(".box").forEach((el) => boxStyle(el, box));
  $("clear-box").disabled = !box;
}

function drawing() {
  const frame = $("crop-frame");
  let start = null;
  const point = (event) => {
    const rect = frame.getBoundingClientRect();
    const clamp = (v) => Math.min(state.size, Math.max(0, v));
    return [clamp(Math.round(((event.clientX - rect.left) / rect.width) * state.size)),
            clamp(Math.round(((event.clientY - rect.top) / rect.height) * state.size))];
  };
  const boxOf = (a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
  frame.addEventListener("dragstart", (event) => event.preventDefault());
  frame.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    start = point(event); frame.setPointerCapture(event.pointerId);
  });
  frame.addEventListener("pointercancel", () => { start = null; boxStyle(frame.querySelector(".box"), state.box); });
  frame.addEventListener("pointermove", (event) => {
    if (start) boxStyle(frame.querySelector(".box"), boxOf(start, point(event)));
  });
  frame.addEventListener("pointerup", (event) => {
    if (!start) return;
    const box = boxOf(start, point(event));
    start = null;
    const usable = box[2] - box[0] >= 2 && box[3] - box[1] >= 2;
    guarded(() => changeBox(usable ? box : state.box));
  });
}

async function changeBox(box) {
  setBox(box);
  if (state.job) render(await postJSON(`/api/jobs/${state.job}/box`, { box }));
}

// ------------------------------------------------------------------ comparing
async function compare() {
  const methods = [...document.querySelectorAll("#methods input:checked")].map((el) => el.value);
  const previous = state.job;
  state.job = null;
  if (previous) api(`/api/jobs/${previous}`, { method: "DELETE" }).catch(() => {});
  const body = {
    image: state.image, model: $("model").value, target: state.target, methods,
    layer: $("layer").value.trim() || null, steps: Number($("steps").value), box: state.box,
  };
  setStatus("starting…");
  const started = await postJSON("/api/jobs", body);
  state.job = started.job;
  state.methods = methods;
  buildCards(methods);
  $("csv").href = `/api/jobs/${state.job}/numbers.csv`;
  $("csv").hidden = false;
  $("progress").hidden = false;
  setStatus(`comparing ${methods.length} methods at layer ${started.layer}`);
  poll(state.job);
}

function buildCards(methods) {
  const cards = $("cards");
  cards.replaceChildren();
  for (const method of methods) {
    const card = document.createElement("article");
    card.className = "card"; card.dataset.method = method;
    card.innerHTML = `
      <h3 class="name"></h3>
      <div class="frame"><img class="overlay" alt="" hidden><div class="box" hidden></div>
        <div class="pending"><div class="spinner"></div><span class="phase">queued</span></div></div>
      <table class="numbers">
        <tr><th>deletion AUC ↓</th><td class="deletion waiting">…</td></tr>
        <tr><th>insertion AUC ↑</th><td class="insertion waiting">…</td></tr>
        <tr><th>energy in box ↑</th><td class="energy waiting">draw a box</td></tr>
        <tr class="time-row"><th>map computed in</th><td class="time waiting">…</td></tr>
      </table>
      <p class="downloads" hidden><a class="png" download>map PNG</a><a class="npy" download>map .npy</a></p>
      <p class="error" hidden></p>`;
    card.querySelector(".name").textContent = method;
    card.querySelector(".overlay").alt = `${method} map`;
    card.querySelector(".overlay").classList.toggle("pixelated", state.size < 160);
    const file = `/api/jobs/${state.job}/maps/${encodeURIComponent(method)}`;
    card.querySelector(".png").href = `${file}.png`;
    card.querySelector(".npy").href = `${file}.npy`;
    boxStyle(card.querySelector(".box"), state.box);
    cards.append(card);
  }
}

async function poll(job) {
  if (job !== state.job) return;
  try {
    const snapshot = await api(`/api/jobs/${job}`);
    if (job !== state.job) return;
    render(snapshot);
    if (snapshot.state === "running") setTimeout(() => poll(job), POLL_MS);
  } catch (error) {
    showError(error.message);
  }
}

const fmt = (v) => (v === null || v === undefined ? null : v.toFixed(3));

function setNumber(cell, value, waiting) {
  cell.textContent = value === null ? waiting : value;
  cell.classList.toggle("waiting", value === null);
}

function render(snapshot) {
  const progress = $("progress");
  progress.value = snapshot.progress;
  const done = snapshot.methods.filter((m) => ["done", "failed"].includes(m.state)).length;
  $("summary").textContent = `${done} of ${snapshot.methods.length} methods done · class ` +
    `${snapshot.target_name} (${snapshot.target}) · layer ${snapshot.layer}` +
    (snapshot.state === "cancelled" ? " · cancelled" : "");
  for (const m of snapshot.methods) {
    const card = document.querySelector(`.card[data-method="${CSS.escape(m.method)}"]`);
    if (card) renderCard(card, m, snapshot);
  }
  if (snapshot.state !== "running") setStatus(`finished: ${done} of ${snapshot.methods.length} methods`);
}

function renderCard(card, m, snapshot) {
  const overlay = card.querySelector(".overlay");
  if (m.map && overlay.hidden) {
    overlay.src = card.querySelector(".png").href;
    overlay.hidden = false;
    card.querySelector(".downloads").hidden = false;
  }
  const pending = card.querySelector(".pending");
  pending.hidden = m.map || m.state === "failed";
  const phase = { queued: "queued", explaining: "explaining", scoring: "scoring", cancelled: "cancelled" }[m.state] || m.state;
  const elapsed = m.elapsed === null ? "" : ` · ${m.elapsed.toFixed(1)} s`;
  card.querySelector(".phase").textContent = `${phase}${elapsed}${m.slow && m.state === "explaining" ? " (slow method)" : ""}`;
  setNumber(card.querySelector(".time"), m.seconds === null ? null : `${m.seconds.toFixed(2)} s`, "…");
  const scoring = m.state === "scoring" ? "computing…" : m.state === "done" ? "n/a" : "…";
  setNumber(card.querySelector(".deletion"), fmt(m.deletion), m.state === "failed" ? "—" : scoring);
  setNumber(card.querySelector(".insertion"), fmt(m.insertion), m.state === "failed" ? "—" : scoring);
  const noEnergy = !snapshot.box ? "draw a box" : m.energy_undefined ? "n/a (empty map)" : "…";
  setNumber(card.querySelector(".energy"), fmt(m.energy), noEnergy);
  const error = card.querySelector(".error");
  error.hidden = !m.error;
  error.textContent = m.error || "";
  card.classList.toggle("failed", m.state === "failed");
}

// ------------------------------------------------------------------ wiring
function wire() {
  $("error-close").addEventListener("click", clearError);
  $("file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (file) guarded(() => upload(file));
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault(); drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) guarded(() => upload(file));
  });
  $("model").addEventListener("change", () => guarded(predict));
  $("other-class").addEventListener("change", (event) => pickOther(event.target.value));
  $("other-id").addEventListener("change", (event) => pickOther(event.target.value));
  $("clear-box").addEventListener("click", () => guarded(() => changeBox(null)));
  $("compare").addEventListener("click", () => guarded(compare));
  drawing();
}

wire();
guarded(init);
