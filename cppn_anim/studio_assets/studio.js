// cppn-anim studio: the page. The server validates and renders; we edit, play and show.
// Frames arrive over the WebSocket as [4-byte header length][JSON {key, index}][PNG] and
// are kept here per scene key, so playback never waits on the server once a loop is in.
"use strict";

const $ = (id) => document.getElementById(id);
const editor = $("editor"), gutter = $("gutter"), mark = $("mark"), errorBox = $("error");
const canvas = $("preview"), ctx = canvas.getContext("2d");
const timeInput = $("time"), playButton = $("play"), frameLabel = $("frame");

const token = new URLSearchParams(location.search).get("token");
if (token) history.replaceState(null, "", "/");  // keep it out of the address bar; the cookie carries it now

let ws = null;
let scene = null;        // the server's "scene" message for what we show: key, count, fps, ...
let frames = new Map();  // index -> ImageBitmap, for scene.key only
let pos = 0, playing = true, lastStep = 0, shown = -1;
let sliderDefs = [];
let draws = [], pendingEdit = false;
const stats = (window.studioStats = { drawn: 0 });  // for benchmarks/studio.py

// ---------------------------------------------------------------- connection

function connect() {
  ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws${token ? "?token=" + encodeURIComponent(token) : ""}`);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (event) => (typeof event.data === "string" ? onMessage(JSON.parse(event.data)) : onFrame(event.data));
  ws.onclose = () => status("disconnected: is cppn-anim studio still running?");
}

function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

function sendEdit() {  // at most once per animation frame, always the latest text
  if (pendingEdit) return;
  pendingEdit = true;
  requestAnimationFrame(() => { pendingEdit = false; send({ type: "edit", text: editor.value, index: pos }); });
}

function onMessage(m) {
  switch (m.type) {
    case "hello":
      $("overrides").textContent = m.overrides.length ? "overrides: " + m.overrides.join(" ") : "";
      buildSliders(m.sliders);
      if (m.scenes.length) picker(m.scenes, !m.path);
      if (m.path) opened(m.path, m.text);
      break;
    case "opened": opened(m.path, m.text); break;
    case "scene": showScene(m); break;
    case "valid": setError(null); break;
    case "error": setError(m); break;
    case "text": replaceText(m.text); break;
    case "disk":
      if (m.text !== editor.value) { replaceText(m.text); sendEdit(); status("reloaded: the file changed on disk"); }
      break;
    case "saved": status(`saved ${m.path} at ${new Date().toLocaleTimeString()}`); break;
    case "notice": status(m.message); break;
    case "progress": renderProgress(m); break;
    case "rendered": renderDone(m); break;
    case "render_error": renderFailed(m.message); break;
  }
}

async function onFrame(data) {
  const length = new DataView(data).getUint32(0);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(data, 4, length)));
  if (!scene || header.key !== scene.key) return;
  const bitmap = await createImageBitmap(new Blob([new Uint8Array(data, 4 + length)], { type: "image/png" }));
  if (!scene || header.key !== scene.key) { bitmap.close(); return; }
  frames.set(header.index, bitmap);
  if (header.index === pos) draw();
}

// ---------------------------------------------------------------- the file

function opened(path, text) {
  $("path").textContent = path;
  $("picker").value = "";
  document.title = `${path} · cppn-anim studio`;
  replaceText(text ?? "");
  sendEdit();
}

function picker(names, noneOpen) {  // the studio was started without a scene: any of scenes/ can be opened
  const select = $("picker");
  select.hidden = false;
  select.innerHTML = "";
  select.append(new Option("open a scene…", ""));
  for (const name of names) select.append(new Option(name, name));
  select.onchange = () => select.value && send({ type: "open", name: select.value });
  if (noneOpen) setError({ message: "no scene is open: pick one above", line: null });
}

function replaceText(text) {  // keep the caret and the scroll where they were
  if (text === editor.value) return;
  const { selectionStart: a, selectionEnd: b, scrollTop } = editor;
  editor.value = text;
  editor.setSelectionRange(Math.min(a, text.length), Math.min(b, text.length));
  editor.scrollTop = scrollTop;
  updateGutter();
}

// ---------------------------------------------------------------- editor

let gutterLines = 0;
function updateGutter() {
  const lines = editor.value.split("\n").length;
  if (lines !== gutterLines) {
    gutterLines = lines;
    gutter.innerHTML = Array.from({ length: lines }, (_, i) => `<span data-line="${i + 1}">${i + 1}</span>`).join("\n");
  }
  gutter.scrollTop = editor.scrollTop;
  placeMark();
}

let errorLine = null;
function setError(m) {
  errorBox.textContent = m ? m.message : "";
  errorLine = m && m.line ? m.line : null;
  canvas.classList.toggle("stale", !!m);
  for (const el of gutter.querySelectorAll(".bad")) el.classList.remove("bad");
  if (errorLine) gutter.querySelector(`[data-line="${errorLine}"]`)?.classList.add("bad");
  placeMark();
}

function placeMark() {
  mark.hidden = !errorLine;
  if (!errorLine) return;
  const lineHeight = parseFloat(getComputedStyle(editor).lineHeight);
  mark.style.top = `${8 + (errorLine - 1) * lineHeight - editor.scrollTop}px`;
}

editor.addEventListener("input", () => { updateGutter(); sendEdit(); });
editor.addEventListener("scroll", () => { gutter.scrollTop = editor.scrollTop; placeMark(); });
editor.addEventListener("keydown", (e) => {
  if (e.key === "Tab") {  // two spaces, as YAML wants
    e.preventDefault();
    editor.setRangeText("  ", editor.selectionStart, editor.selectionEnd, "end");
    updateGutter(); sendEdit();
  }
});

// ---------------------------------------------------------------- playback

function showScene(m) {
  const changedSize = !scene || scene.width !== m.width || scene.height !== m.height;
  for (const bitmap of frames.values()) bitmap.close();
  frames = new Map();
  scene = m;
  setError(null);
  if (changedSize) { canvas.width = m.width; canvas.height = m.height; canvas.style.aspectRatio = `${m.width} / ${m.height}`; }
  pos = Math.min(pos, m.count - 1);
  timeInput.max = String(m.duration);
  $("still-w").value ||= m.size[0];
  $("still-h").value ||= m.size[1];
  updateSliders(m);
  showTime();
}

function draw() {
  const bitmap = frames.get(pos);
  if (!bitmap) return;
  ctx.drawImage(bitmap, 0, 0);
  shown = pos;
  stats.drawn++;
  draws.push(performance.now());
}

function showTime() {
  if (!scene) return;
  if (document.activeElement !== timeInput) timeInput.value = String(pos / scene.fps);
  frameLabel.textContent = `frame ${pos} / ${scene.count - 1} · ${(pos / scene.fps).toFixed(2)} s`;
}

function seek(index) {
  if (!scene) return;
  pos = ((index % scene.count) + scene.count) % scene.count;
  draw();
  showTime();
  send({ type: "seek", index: pos });
}

function setPlaying(on) {
  playing = on;
  playButton.textContent = on ? "pause" : "play";
}

function tick(now) {
  const interval = 1000 / (scene ? scene.fps : 30);
  if (scene && playing && now - lastStep >= interval) {
    const next = (pos + 1) % scene.count;
    if (frames.has(next)) {  // not rendered yet: hold the picture rather than show a gap
      pos = next;
      // keep the scene's pace on a display whose refresh is not a multiple of it; after a stall, restart the clock
      lastStep = now - lastStep > 3 * interval ? now : lastStep + interval;
      draw();
      showTime();
    }
  }
  if (scene && shown !== pos && frames.has(pos)) draw();
  while (draws.length && now - draws[0] > 1000) draws.shift();
  $("fps").textContent = playing ? `${draws.length} fps` : "";
  requestAnimationFrame(tick);
}

playButton.addEventListener("click", () => setPlaying(!playing));
timeInput.addEventListener("input", () => scene && seek(Math.min(scene.count - 1, Math.round(parseFloat(timeInput.value) * scene.fps))));
timeInput.addEventListener("change", () => timeInput.blur());

document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); save(); return; }
  const typing = e.target === editor || (e.target.tagName === "INPUT" && e.target.type === "number") || e.target.tagName === "SELECT";
  if (typing) return;
  if (e.key === " ") { e.preventDefault(); setPlaying(!playing); }
  else if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
    e.preventDefault();
    setPlaying(false);
    seek(pos + (e.key === "ArrowRight" ? 1 : -1));
  }
});

// ---------------------------------------------------------------- sliders (generic over key paths)

function sliderToValue(def, u) {
  if (def.int) return Math.round(u);
  const v = def.log ? def.min * Math.pow(def.max / def.min, u / 1000) : def.min + (def.max - def.min) * u / 1000;
  return Number(v.toPrecision(3));
}

function valueToSlider(def, v) {
  if (def.int) return v;
  const u = def.log ? 1000 * Math.log(v / def.min) / Math.log(def.max / def.min) : 1000 * (v - def.min) / (def.max - def.min);
  return Math.max(0, Math.min(1000, u));
}

function buildSliders(defs) {
  sliderDefs = defs;
  const box = $("sliders");
  box.innerHTML = "";
  for (const def of defs) {
    const label = document.createElement("label");
    label.textContent = def.label;
    const input = document.createElement("input");
    input.type = "range";
    input.min = def.int ? def.min : 0;
    input.max = def.int ? def.max : 1000;
    input.step = 1;
    input.dataset.key = def.key;
    input.setAttribute("aria-label", def.key);
    const value = document.createElement("span");
    value.className = "value";
    const note = document.createElement("div");
    note.className = "animated";
    note.hidden = true;
    note.textContent = `animated: animate.${def.key} overrides ${def.key}`;
    input.addEventListener("input", () => {
      const v = sliderToValue(def, parseFloat(input.value));
      value.textContent = String(v);
      send({ type: "set", key: def.key, value: v, text: editor.value });
    });
    def.input = input; def.value = value; def.note = note;
    label.htmlFor = input.id = `slider-${def.key}`;
    box.append(label, input, value, note);
    setSlider(def, def.default);
  }
}

function setSlider(def, v) {
  if (document.activeElement === def.input) return;  // the user is dragging it
  def.input.value = String(valueToSlider(def, v));
  def.value.textContent = String(v);
}

function updateSliders(m) {
  for (const def of sliderDefs) {
    const v = m.values[def.key];
    setSlider(def, v ?? def.default);
    def.note.hidden = !m.animated.includes(def.key);
  }
}

// ---------------------------------------------------------------- save, render, still

function status(text) { $("status").textContent = text; }

function save() { send({ type: "save", text: editor.value }); }
$("save").addEventListener("click", save);

$("render").addEventListener("click", () => {
  $("result").hidden = true;
  send({ type: "render", text: editor.value });
});

function renderProgress(m) {
  const bar = $("progress");
  bar.hidden = false;
  bar.max = m.total;
  bar.value = m.done;
  $("render").disabled = true;
  status(`rendering${m.path ? " " + m.path : ""}: frame ${m.done} / ${m.total}`);
}

function renderDone(m) {
  $("progress").hidden = true;
  $("render").disabled = false;
  const link = $("result");
  link.href = m.url;
  link.textContent = m.path;
  link.hidden = false;
  status("rendered");
}

function renderFailed(message) {
  $("progress").hidden = true;
  $("render").disabled = false;
  status(message);
}

$("still").addEventListener("click", async () => {
  if (!scene) return;
  const w = $("still-w").value, h = $("still-h").value, t = pos / scene.fps;
  const link = $("still-link");
  status(`rendering a ${w}×${h} still at ${t.toFixed(2)} s…`);
  const response = await fetch(`/still.png?key=${scene.key}&t=${t}&w=${w}&h=${h}`);
  if (!response.ok) { status(await response.text()); return; }
  const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "")?.[1] || "still.png";
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(await response.blob());
  link.download = link.textContent = name;
  link.hidden = false;
  status("");
});

updateGutter();
connect();
requestAnimationFrame(tick);
