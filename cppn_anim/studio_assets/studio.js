// cppn-anim studio: the page. The server validates and renders; we edit, play and show.
//
// The text is the page's own: every change (typing, a slider, loading from disk) is a new
// revision of the editor (editor.bundle.js, CodeMirror 6), and every edit sent to the server
// carries it. The server answers with that revision, and an answer older than the newest
// edit sent is dropped. The server never sends our text back: a slider edits a value in
// place (editor.setValue), and a key missing from the text comes back as a patch of the
// revision it was asked for, mapped through whatever was typed since (editor.replaceRange).
//
// Frames arrive over the WebSocket as [4-byte header length][JSON {key, index}][PNG] and are
// kept (as bitmaps) only in a window around the playhead (scene.window frames, the server's
// figure: a memory cap); the server sends only what is in it.
"use strict";

const $ = (id) => document.getElementById(id);
const errorBox = $("error"), canvas = $("preview"), ctx = canvas.getContext("2d");
const timeInput = $("time"), playButton = $("play"), frameLabel = $("frame");

const token = new URLSearchParams(location.search).get("token");
if (token) history.replaceState(null, "", "/");  // keep it out of the address bar; the cookie carries it now

let ws = null, connected = false, retry = 250, everConnected = false;
let scene = null;          // the server's "scene" message for what we show: id, key, count, fps, window, ...
let frames = new Map();    // index -> ImageBitmap, for scene.key only, inside the window
let pos = 0, playing = true, lastStep = 0, shown = -1, reported = 0, waitingSince = 0;
let sliderDefs = [];
let draws = [];
let lastSent = -1;         // the newest revision sent in an edit
let editTimer = null;
let path = null;           // the file the studio edits
let base = 0, baseText = null;  // the disk version our text is from, and that version's text (LF)
let pending = null;        // {text, disk, path}: a change on disk not taken in (the conflict)
let saving = new Map();    // rev -> text being saved
let rendering = false;
let gone = false;          // the file was removed on disk: our text is nowhere else
const setsInFlight = new Map();  // slider key -> the value to set once the server's patch is in
const stats = (window.studioStats = { drawn: 0, cached: 0 });  // for benchmarks/studio.py

// ---------------------------------------------------------------- the editor

const editor = CppnEditor.create($("editor-host"), {
  text: "",
  onChange: () => { scheduleEdit(); showDirty(); },
  onSave: () => save(),
});
window.studioEditor = editor;  // for tests and tools

function inEditor(el) { return !!(el && el.closest && el.closest(".cm-editor")); }
function interactive(el) {
  return !!(el && el.closest && el.closest("input, select, textarea, button, a[href], [contenteditable], .cm-editor, .conflict"));
}
function dirty() { return baseText !== null && (gone || editor.getText() !== baseText); }
function showDirty() {
  $("dirty").hidden = !dirty();
  document.title = `${dirty() ? "● " : ""}${path || "cppn-anim studio"} · cppn-anim studio`;
  keep();
}

// ---------------------------------------------------------------- unsaved edits survive a reload
// While the text differs from the file, a copy is kept in the browser (localStorage, under
// the server's port and the file's path): a reload, a closed tab or a crash brings it back as
// unsaved edits. A save, or loading the file from disk, clears it. Leaving the page with
// unsaved edits asks first (beforeunload).

function keptKey() { return path ? `cppn-anim-studio:${location.port}:${path}` : null; }

function keep() {
  const key = keptKey();
  if (!key || baseText === null) return;
  try {
    if (dirty()) localStorage.setItem(key, JSON.stringify({ text: editor.getText(), base: baseText }));
    else localStorage.removeItem(key);
  } catch (e) { /* storage full or off: the beforeunload warning still guards */ }
}

function kept() {
  const key = keptKey();
  try {
    const k = key && JSON.parse(localStorage.getItem(key) || "null");
    return k && typeof k.text === "string" && typeof k.base === "string" ? k : null;
  } catch (e) { return null; }
}

function restoreKept(text, disk) {  // the page's first text is the file's: bring back edits kept from before
  const k = kept();
  if (!k || k.text === text) return;
  editor.setText(k.text);  // undoable: Ctrl-Z goes back to the file's text
  if (k.base === text) {
    status("restored your unsaved edits from before the page was reloaded: save to keep them, undo to drop them");
  } else {  // the file changed since those edits: the usual choice
    baseText = k.base; base = -1;  // a save is refused until a choice is made
    showConflict({ text, disk, path });
    status("restored your unsaved edits from before the page was reloaded; the file changed on disk since");
  }
}

window.addEventListener("beforeunload", (e) => {
  if (!dirty()) return;
  keep();
  e.preventDefault();
  e.returnValue = "";  // the browser asks: leave the page with unsaved edits?
});

// ---------------------------------------------------------------- connection

function connect() {
  ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws${token ? "?token=" + encodeURIComponent(token) : ""}`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { connected = true; retry = 250; };
  ws.onmessage = (event) => {
    try {
      if (typeof event.data === "string") onMessage(JSON.parse(event.data)); else onFrame(event.data);
    } catch (e) { console.error(e); }
  };
  ws.onclose = (event) => {
    connected = false;
    if (event.code === 1007 || event.code === 1003) showFailure(`cppn-anim studio closed the connection: ${event.reason}`, "connection");
    status(everConnected ? "disconnected: reconnecting to cppn-anim studio…" : "cannot reach cppn-anim studio: retrying…");
    setTimeout(connect, retry);
    retry = Math.min(2000, retry * 2);
  };
}

function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(message)); return true; }
  return false;
}

function scheduleEdit() {  // the newest text, once per turn of the event loop however fast the typing
  if (editTimer !== null) return;
  editTimer = setTimeout(sendEdit, 0);
}

function sendEdit() {
  editTimer = null;
  if (!path && baseText === null) return;  // nothing open yet
  const rev = editor.revision();
  if (send({ type: "edit", rev, text: editor.getText(), index: pos })) lastSent = rev;
}

function onMessage(m) {
  switch (m.type) {
    case "hello": hello(m); break;
    case "opened": fromDisk(m.text ?? "", m.disk, m.path, true); break;
    case "disk": fromDisk(m.text, m.disk, m.path, false); break;
    case "scene": if (current(m)) showScene(m); break;
    case "signals": showSignals(m); break;
    case "error":
      if (m.action) showFailure(m.message, m.action);  // a save that failed: not about the text
      else if (current(m)) setError(m);
      break;
    case "removed": removed(m); break;
    case "patch": applyPatch(m); break;
    case "saved": saved(m); break;
    case "notice": status(m.message); break;
    case "progress": renderProgress(m); break;
    case "rendered": renderDone(m); break;
    case "cancelled": renderStopped(`render cancelled: nothing written to ${m.path}`); clearFailure("render"); break;
    case "render_error":  // with rev: our request was refused (a running render goes on); without: the render failed
      if (m.rev === undefined || m.rev === null) renderStopped(m.message);
      showFailure(m.message, "render");
      break;
  }
}

function current(m) { return m.rev === null || m.rev === undefined || m.rev >= lastSent; }

async function onFrame(data) {
  const length = new DataView(data).getUint32(0);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(data, 4, length)));
  if (!scene || header.key !== scene.key || !inWindow(header.index, pos)) return;
  const bitmap = await createImageBitmap(new Blob([new Uint8Array(data, 4 + length)], { type: "image/png" }));
  if (!scene || header.key !== scene.key || !inWindow(header.index, pos)) { bitmap.close(); return; }
  frames.get(header.index)?.close();
  frames.set(header.index, bitmap);
  stats.cached = frames.size;
  if (header.index === pos) draw();
}

// ---------------------------------------------------------------- the file

function hello(m) {
  const first = !everConnected;
  everConnected = true;
  status(first ? "" : "reconnected");
  clearFailure("connection");
  $("overrides").textContent = m.overrides.length ? "overrides: " + m.overrides.join(" ") : "";
  editor.setSchema(m.schema);
  buildSliders(m.sliders);
  if (m.scenes.length) picker(m.scenes, !m.path);
  if (m.path) fromDisk(m.text ?? "", m.disk, m.path, true);
  else if (!first) sendEdit();
}

// The file's text (LF) at disk version `disk`: taken in when we hold no unsaved edits,
// else shown as a conflict (load it / keep ours). `opening`: a new file, or a new server.
function fromDisk(text, disk, newPath, opening) {
  if (newPath && newPath !== path) { path = newPath; $("path").textContent = path; $("picker").value = ""; clearFailure("open"); }
  if (gone) { gone = false; clearFailure("removed"); }
  if (baseText === null) {  // the first text of this page: no undo back to an empty editor
    editor.setText(text, { history: false });
    base = disk; baseText = text;
    restoreKept(text, disk);
  } else if (text === editor.getText()) {
    base = disk; baseText = text; hideConflict();
  } else if (!dirty()) {
    editor.setText(text);  // only the lines that differ: the cursor stays where it was
    base = disk; baseText = text; hideConflict();
    if (!opening) status("reloaded: the file changed on disk");
  } else if (text === baseText) {
    base = disk;  // the text ours is from (a restarted server numbers its versions afresh): our edits stay ours
  } else {
    showConflict({ text, disk, path });
  }
  showDirty();
  sendEdit();
}

function showConflict(p) {  // the choice, made afresh each time (empty and hidden while there is none)
  pending = p;
  const box = $("conflict");
  box.replaceChildren();
  const text = document.createElement("span");
  text.textContent = `${p.path} changed on disk, and your edits here are not saved. `;
  const load = document.createElement("button"), keep = document.createElement("button");
  load.id = load.dataset.testid = "conflict-load";
  load.textContent = "load the file from disk";
  keep.id = keep.dataset.testid = "conflict-keep";
  keep.textContent = "keep my text";
  load.addEventListener("click", conflictLoad);
  keep.addEventListener("click", conflictKeep);
  box.append(text, load, " ", keep);
  box.hidden = false;
}

function hideConflict() {
  pending = null;
  $("conflict").hidden = true;
  $("conflict").replaceChildren();
}

function conflictLoad() {
  if (!pending) return;
  const p = pending;
  hideConflict();
  editor.setText(p.text);  // undoable: Ctrl-Z brings the edits back
  base = p.disk; baseText = p.text;
  showDirty();
  status("loaded the file from disk");
}

function conflictKeep() {
  if (!pending) return;
  base = pending.disk; baseText = pending.text;  // save now writes our text over it
  hideConflict();
  showDirty();
  status("kept your text: save writes it over the file");
}

function picker(names, noneOpen) {  // the studio was started without a scene: any of scenes/ can be opened
  const select = $("picker");
  select.hidden = false;
  select.innerHTML = "";
  select.append(new Option("open a scene…", ""));
  for (const name of names) select.append(new Option(name, name));
  select.onchange = () => {
    if (!select.value) return;
    if (dirty()) { status("save your edits first (or undo them)"); select.value = ""; return; }
    send({ type: "open", name: select.value });
  };
  if (noneOpen) showFailure("no scene is open: pick one above", "open");
}

function save() {
  if (!path) { showFailure("not saved: no scene is open (pick one above)", "save"); return; }
  const rev = editor.revision(), text = editor.getText();
  saving.set(rev, text);
  if (!send({ type: "save", rev, text, base })) showFailure("not saved: not connected to cppn-anim studio", "save");
}

function saved(m) {
  const text = saving.get(m.rev);
  saving.delete(m.rev);
  if (text !== undefined) { base = m.disk; baseText = text; }
  gone = false;
  hideConflict();
  showDirty();
  clearFailure("save");
  clearFailure("removed");
  status(`saved ${m.path} at ${new Date().toLocaleTimeString()}`);
}

function removed(m) {  // the file was deleted on disk: the text stays here, and save writes it again
  gone = true;
  showDirty();
  showFailure(`${m.path} was removed on disk; your text is kept here, and saving will create the file again`, "removed");
}

// ---------------------------------------------------------------- errors

// The error bar holds one line, and remembers what showed it: the text (its scene, its
// preview), or an action (save, render, still, the connection, opening, the file removed).
// Each clears what it showed when it next succeeds: a save what a save showed, a render,
// its cancel or its result what a render showed, a still what a still showed.
let errorOf = null;

function showLine(message, of) {
  errorBox.textContent = message;
  errorBox.title = message;  // the whole line, however narrow the pane (the bar shows one line)
  errorOf = message ? of : null;
}

function setError(m) {  // an error about the text (marked at its line and column)
  showLine(m.message, "text");
  canvas.classList.add("stale");
  if (m.line) editor.markError(m.line, m.col || 1, m.message); else editor.clearError();
}

function showFailure(message, of) {  // save, render, still, the connection: the one line, no mark
  showLine(message, of);
}

function clearFailure(of) {  // `of` succeeded: its earlier failure is no longer true
  if (errorOf === of) showLine("", null);
}

function clearError() {  // the text is good again
  canvas.classList.remove("stale");
  editor.clearError();
  if (errorOf === "text" || errorOf === null) showLine("", null);
}

// ---------------------------------------------------------------- playback

function mod(a, n) { return ((a % n) + n) % n; }

function inWindow(i, p) {  // studio_session.in_window
  if (!scene) return false;
  const n = scene.count, w = scene.window;
  if (w >= n) return true;
  const back = Math.floor(w / 4);
  return mod(i - p, n) <= w - 1 - back || mod(p - i, n) <= back;
}

function evict() {
  for (const [i, bitmap] of frames) if (!inWindow(i, pos)) { bitmap.close(); frames.delete(i); }
  stats.cached = frames.size;
}

function showScene(m) {
  const sameFrames = scene && scene.key === m.key;
  const changedSize = !scene || scene.width !== m.width || scene.height !== m.height;
  if (!sameFrames) {
    for (const bitmap of frames.values()) bitmap.close();
    frames = new Map();
    shown = -1;
  }
  scene = m;
  stats.window = m.window;
  clearError();
  if (changedSize) {
    canvas.width = m.width; canvas.height = m.height;
    canvas.style.aspectRatio = `${m.width} / ${m.height}`;
    document.documentElement.style.setProperty("--aspect", `${m.width} / ${m.height}`);
  }
  pos = Math.min(pos, m.count - 1);
  timeInput.max = String(m.duration);
  $("still-w").value ||= m.size[0];
  $("still-h").value ||= m.size[1];
  updateSliders(m);
  showTime();
  if (frames.has(pos)) draw();
  showAudio(m);
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
  pos = mod(index, scene.count);
  evict();
  draw();
  showTime();
  reported = pos;
  send({ type: "seek", index: pos });
  audioSeek();
}

function setPlaying(on) {
  playing = on;
  playButton.textContent = on ? "pause" : "play";
  audioPlay(on);
}

function soundBlocked() {  // the browser wants a click before sound: stop, and say so; one click on play starts both
  if (!playing) return;
  playing = false;
  playButton.textContent = "play";
  status("press play for the sound (the browser waits for a click)");
}

function stepTo(index) {  // playing: the next frame shown
  if (index === 0 && sound && pos !== 0) {  // the loop starts again: the sound with it
    pos = 0;
    audioSeek();
    if (audio.paused && !stalled) audio.play().catch((e) => { if (e && e.name === "NotAllowedError") soundBlocked(); });
  }
  pos = index;
  draw();
  showTime();
  if (scene.window < scene.count) {  // the server sends the window around where we are
    if (frames.size > scene.window) evict();
    if (mod(pos - reported, scene.count) >= Math.max(1, Math.floor(scene.window / 8))) {
      reported = pos;
      send({ type: "at", index: pos });
    }
  }
}

function tick(now) {
  const interval = 1000 / (scene ? scene.fps : 30);
  if (scene && playing && !audioDriven() && now - lastStep >= interval) {
    const next = (pos + 1) % scene.count;
    if (frames.has(next)) {  // not rendered yet: hold the picture rather than show a gap
      waitingSince = 0;
      // keep the scene's pace on a display whose refresh is not a multiple of it; after a stall, restart the clock
      lastStep = now - lastStep > 3 * interval ? now : lastStep + interval;
      stepTo(next);
    } else if (!waitingSince) {
      waitingSince = now;
    } else if (now - waitingSince > 1500) {  // should be here by now: ask again
      waitingSince = now;
      send({ type: "need", index: next });
    }
  }
  if (scene && shown !== pos && frames.has(pos)) draw();
  while (draws.length && now - draws[0] > 1000) draws.shift();
  $("fps").textContent = playing ? `${draws.length} fps` : "";
  audioSync();
  requestAnimationFrame(tick);
}

playButton.addEventListener("click", () => setPlaying(!playing));
timeInput.addEventListener("input", () => scene && seek(Math.min(scene.count - 1, Math.round(parseFloat(timeInput.value) * scene.fps))));
timeInput.addEventListener("change", () => timeInput.blur());
timeInput.addEventListener("keydown", (e) => {  // on the time slider, an arrow is one frame
  if (!scene || !["ArrowRight", "ArrowLeft", "ArrowUp", "ArrowDown"].includes(e.key)) return;
  e.preventDefault();
  setPlaying(false);
  seek(pos + (e.key === "ArrowRight" || e.key === "ArrowUp" ? 1 : -1));
});

document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "s") {
    if (!inEditor(e.target)) { e.preventDefault(); save(); }  // in the editor its own Ctrl-S saves
    return;
  }
  if (e.defaultPrevented || interactive(e.target)) return;  // keys go where the focus is
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

function literal(def, v) {  // as YAML reads it back: a float stays a float
  if (def.int) return String(Math.round(v));
  return Number.isInteger(v) ? v.toFixed(1) : String(v);
}

function buildSliders(defs) {
  if (sliderDefs.length) return;  // a reconnect: the same sliders
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
    input.dataset.testid = "slider";
    input.setAttribute("aria-label", def.key);
    const value = document.createElement("span");
    value.className = "value";
    const note = document.createElement("div");
    note.className = "note";
    note.hidden = true;
    input.addEventListener("input", () => {
      const v = sliderToValue(def, parseFloat(input.value));
      value.textContent = String(v);
      setKey(def, v);
    });
    def.input = input; def.value = value; def.note = note;
    label.htmlFor = input.id = `slider-${def.key}`;
    box.append(label, input, value, note);
    setSlider(def, def.default);
  }
}

function setKey(def, v) {
  if (def.input.disabled) return;
  const lit = literal(def, v);
  if (editor.setValue(def.key, lit, { group: "slider:" + def.key }) !== null) return;  // in place: one undo step per drag
  if (setsInFlight.has(def.key)) { setsInFlight.set(def.key, v); return; }  // the key is being added
  setsInFlight.set(def.key, null);
  send({ type: "set", rev: editor.revision(), key: def.key, value: v, text: editor.getText() });
}

function applyPatch(m) {
  const later = setsInFlight.get(m.key);
  setsInFlight.delete(m.key);
  const r = editor.replaceRange(m.from, m.to, m.insert, { revision: m.rev, group: "slider:" + m.key });
  if (r === null) status(`${m.key}: not set, the text changed there meanwhile`);
  const def = sliderDefs.find((d) => d.key === m.key);
  if (def && later !== null && later !== undefined) setKey(def, later);
}

function setSlider(def, v) {
  if (document.activeElement === def.input) return;  // the user is moving it
  def.input.value = String(valueToSlider(def, v));
  def.value.textContent = String(v);
}

function updateSliders(m) {
  for (const def of sliderDefs) {
    const v = m.values[def.key];
    setSlider(def, v ?? def.default);
    const animated = m.animated.includes(def.key), overridden = (m.overridden || []).includes(def.key);
    def.input.disabled = animated || overridden;
    def.note.hidden = !(animated || overridden);
    def.note.textContent = animated ? `animated: animate.${def.key} sets ${def.key} over time; edit its keyframes in the text`
      : overridden ? `set on the command line (${$("overrides").textContent.replace(/^overrides: /, "")}): the slider edits nothing` : "";
  }
}

// ---------------------------------------------------------------- render, still

function status(text) { $("status").textContent = text; }

$("save").addEventListener("click", save);

$("render").addEventListener("click", () => {
  if (!rendering) { $("result").hidden = true; $("result").textContent = ""; }
  send({ type: "render", rev: editor.revision(), text: editor.getText() });
});

$("cancel").addEventListener("click", () => send({ type: "cancel" }));

function renderProgress(m) {
  if (!rendering && m.done === 0) clearFailure("render");  // a render started: a refusal before it is past
  rendering = true;
  $("result").textContent = "";
  const bar = $("progress");
  bar.hidden = false;
  bar.max = Math.max(1, m.total);
  bar.value = m.done;
  $("cancel").hidden = false;
  $("result").hidden = true;
  status(`rendering ${m.path}: frame ${m.done} / ${m.total}`);
}

function renderStopped(message) {
  rendering = false;
  $("progress").hidden = true;
  $("cancel").hidden = true;
  status(message);
}

function renderDone(m) {
  renderStopped(`rendered ${m.path}`);
  const link = $("result");
  link.href = m.url;
  link.textContent = m.path;
  link.hidden = false;
}

function downloadName(response, fallback) {
  const header = response.headers.get("content-disposition") || "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (star) try { return decodeURIComponent(star[1]); } catch (e) { /* the plain one */ }
  return /filename="([^"]*)"/.exec(header)?.[1] || fallback;
}

$("still").addEventListener("click", async () => {
  if (!scene) return;
  const w = $("still-w").value, h = $("still-h").value, frame = pos;
  const link = $("still-link");
  status(`rendering a ${w}×${h} still of frame ${frame}…`);
  try {
    const response = await fetch(`/still.png?key=${encodeURIComponent(scene.id)}&frame=${frame}&w=${encodeURIComponent(w)}&h=${encodeURIComponent(h)}`);
    if (!response.ok) { showFailure((await response.text()).trim(), "still"); status(""); return; }
    const name = downloadName(response, "still.png");
    if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(await response.blob());
    link.download = link.textContent = name;
    link.hidden = false;  // the same file again, later
    link.click();  // the download itself
    clearFailure("still");
    status(`downloaded ${name}`);
  } catch (e) {
    showFailure(`still: ${e.message || e}`, "still");
  }
});

// ---------------------------------------------------------------- audio (a scene with a soundtrack)
// While a scene with `audio` plays, the picture follows the soundtrack's clock (the frame
// at the audio's time, once it is in); the time slider and the arrows seek both. The
// signals are drawn under the timeline, with the beats and the playhead.

const audio = $("audio"), signalsCanvas = $("signals");
let sound = null;     // the scene's soundtrack: {sha, url, start, duration}, or null
let signals = null;   // the server's "signals" message, or null
let stalled = false;  // the audio waits for the picture to catch up

function showAudio(m) {
  const next = m.audio || null;
  if ((next && next.sha) !== (sound && sound.sha)) {
    stalled = false;
    audio.pause();
    if (next) { audio.src = next.url; audio.load(); } else audio.removeAttribute("src");
  }
  const changed = (next && next.sha) !== (sound && sound.sha) || (next && sound && next.start !== sound.start);
  sound = next;
  if (sound && changed) audioSeek();
  if (sound && playing && audio.paused && !stalled) audioPlay(true);
}

function audioTime() { return sound.start + pos / scene.fps; }
function audioDriven() { return !!(sound && scene && (!audio.paused || stalled)); }

function audioPlay(on) {
  if (!sound || !scene) return;
  stalled = false;
  if (!on) { audio.pause(); return; }
  if (Math.abs(audio.currentTime - audioTime()) > 0.05) audio.currentTime = audioTime();
  audio.play().catch((e) => { if (e && e.name === "NotAllowedError") soundBlocked(); });
}

function audioSeek() {
  if (!sound || !scene) return;
  try { audio.currentTime = audioTime(); } catch (e) { /* not loaded yet: set again on play */ }
}

function audioSync() {  // from tick: the picture follows the audio while both play
  drawSignals();
  if (!sound || !scene || !playing) return;
  if (audio.paused && !stalled) return;
  const t = audio.currentTime - sound.start;
  if (t >= scene.duration - 1e-3) { stepTo(0); return; }  // the loop starts again, the sound with it
  const target = Math.min(scene.count - 1, Math.max(0, Math.floor(t * scene.fps + 1e-6)));
  if (stalled) {
    if (frames.has(mod(pos + 1, scene.count))) { stalled = false; audio.play().catch((e) => { if (e && e.name === "NotAllowedError") soundBlocked(); }); }
    return;
  }
  if (target !== pos) {
    if (frames.has(target)) stepTo(target);
    else { stalled = true; audio.pause(); }  // hold the sound until the picture is there
  }
}

const SIGNAL_ROW = 16, SIGNAL_ROWS_MAX = 12;  // px per signal (a 10 px label and its curve); more signals share the height
function showSignals(m) {
  signals = m.names && m.names.length ? m : null;
  signalsCanvas.hidden = !signals;
  if (signals) {  // the strip grows with the number of signals, within reason
    const h = Math.min(signals.names.length, SIGNAL_ROWS_MAX) * SIGNAL_ROW;
    signalsCanvas.height = h;
    signalsCanvas.style.height = `${h}px`;
  }
  lastSignals = "";
}

function signalsGutter(g) {  // the labels' column, left of the curves: no label covers a curve
  g.font = "10px ui-monospace, monospace";
  return Math.ceil(Math.max(...signals.names.map((n) => g.measureText(n).width))) + 8;
}

const COLOURS = ["#7aa2f7", "#ff9e64", "#9ece6a", "#f7768e", "#bb9af7", "#e0af68", "#2ac3de", "#c0caf5"];
let lastSignals = "";
function drawSignals() {  // each signal a row, beats as ticks, the playhead a line
  if (!signals || !scene) return;
  const key = `${pos}/${signalsCanvas.clientWidth}`;
  if (key === lastSignals) return;
  lastSignals = key;
  const c = signalsCanvas, g = c.getContext("2d");
  const cw = (c.width = Math.max(100, c.clientWidth)), h = c.height;
  g.clearRect(0, 0, cw, h);
  const left = Math.min(signalsGutter(g), Math.floor(cw / 3)), w = cw - left;  // curves in [left, cw)
  const rows = signals.names.length, rowH = h / rows;
  g.textBaseline = "middle";
  signals.names.forEach((name, r) => {
    const values = signals.values[name], n = values.length, top = r * rowH;
    g.fillStyle = COLOURS[r % COLOURS.length];
    for (let i = 0; i < n; i++) {
      const v = Math.max(0, Math.min(1, values[i]));
      const x = left + Math.floor((i * w) / n), x2 = left + Math.floor(((i + 1) * w) / n);
      g.fillRect(x, top + rowH - v * (rowH - 1), Math.max(1, x2 - x), v * (rowH - 1));
    }
    g.fillText(name, 3, top + rowH / 2, left - 6);
  });
  g.fillStyle = "rgba(255,255,255,.25)";
  for (const b of signals.beats) g.fillRect(left + Math.floor((b / signals.duration) * w), 0, 1, h);
  g.fillStyle = "#fff";
  g.fillRect(left + Math.floor((pos / scene.fps / signals.duration) * w), 0, 2, h);
  stats.signals = { rows, rowH, left };  // for tests: each label in its row, left of the curves
}

signalsCanvas.addEventListener("click", (e) => {  // click on the signals: go there
  if (!scene || !signals) return;
  const r = signalsCanvas.getBoundingClientRect(), left = (stats.signals && stats.signals.left) || 0;
  const u = (e.clientX - r.left - left) / Math.max(1, r.width - left);
  if (u < 0) return;  // on the labels
  seek(Math.min(scene.count - 1, Math.floor(u * signals.duration * scene.fps)));
});

connect();
requestAnimationFrame(tick);
