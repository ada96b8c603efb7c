// Live Lab: one WebSocket to the bridge (the page's own origin), every channel, live panels,
// commands. See docs/viewer.md. No build step, no network beyond the bridge itself.
"use strict";

const CHANNELS = "face,head,pose,hands,rig,gestures,mask,lab,video";
export const COLORS = { pose: "#39ff14", face: "#29d3ff", left: "#ff9f1a", right: "#ff4df0", e2e: "#ffffff", hands: "#ff9f1a" };
const POSE_EDGES = [[11, 12], [11, 13], [13, 15], [12, 14], [14, 16], [11, 23], [12, 24], [23, 24], [23, 25],
  [25, 27], [24, 26], [26, 28], [27, 29], [29, 31], [27, 31], [28, 30], [30, 32], [28, 32], [15, 17], [15, 19],
  [15, 21], [17, 19], [16, 18], [16, 20], [16, 22], [18, 20], [0, 1], [1, 2], [2, 3], [3, 7], [0, 4], [4, 5],
  [5, 6], [6, 8], [9, 10]];
const HAND_EDGES = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [5, 9], [9, 10], [10, 11],
  [11, 12], [9, 13], [13, 14], [14, 15], [15, 16], [13, 17], [17, 18], [18, 19], [19, 20], [0, 17]];
const FINGERS = ["thumb", "index", "middle", "ring", "little"];
const LAYOUTS = ["pose", "face", "hands", "gesture", "holistic"];
const LAYOUT_OVERLAYS = { pose: ["pose"], face: ["face"], hands: ["hands"], gesture: ["hands", "pose"],
  holistic: ["pose", "face", "hands"] };
const SPARK_N = 150;

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get("token") || "";

const state = {
  ws: null, connected: false, hello: null, last: null, lab: null, stats: null, frames: 0, msgs: 0,
  frameTimes: [], bitmap: null, videoInfo: null, videoFrames: 0, overlays: { pose: true, face: true, hands: true },
  shapes: [], movement: new Float64Array(52), prev: null, spark: { yaw: [], pitch: [], roll: [], lat: { pose: [], face: [], hands: [], e2e: [] } },
  nextId: 1, pending: new Map(), controls: null, avatar: null, skeleton: null, closeReason: "",
};

function rigIsUnity() {
  return !state.hello || !state.hello.rig || state.hello.rig === "unity";
}

// ---------------------------------------------------------------------------- connection
function connect() {
  const q = new URLSearchParams({ channels: CHANNELS });
  if (token) q.set("token", token);
  const ws = new WebSocket(`ws://${location.host}/?${q}`);
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  ws.onopen = () => { state.connected = true; setConn(); };
  ws.onclose = (ev) => {
    state.connected = false;
    state.closeReason = ev.code === 1006 ? "refused or bridge stopped" : `closed ${ev.code} ${ev.reason}`;
    setConn();
    setTimeout(connect, 2000);
  };
  ws.onmessage = (ev) => (typeof ev.data === "string" ? onText(ev.data) : onVideo(ev.data));
}

function setConn() {
  const el = $("conn");
  el.textContent = state.connected ? "connected" : `disconnected (${state.closeReason || "…"})`;
  el.className = "badge " + (state.connected ? "ok" : "bad");
}

function onText(text) {
  const msg = JSON.parse(text);
  state.msgs++;
  switch (msg.type) {
    case "hello": state.hello = msg; buildBlendshapes(msg.blendshape_names); break;
    case "frame": onFrame(msg); break;
    case "lab":
      state.lab = msg; pushLatency(msg.latency_ms);
      // A bone map other than Unity's renames the rig channel: the mannequin then follows the
      // Unity bones the lab channel carries (what VMC sends), at the lab channel's rate.
      if (state.avatar && msg.unity_rig && !rigIsUnity()) state.avatar.apply({ rig: msg.unity_rig, face: state.last && state.last.face });
      break;
    case "stats": onStats(msg); break;
    case "ack": onAck(msg); break;
  }
}

function onVideo(buf) {
  const dv = new DataView(buf);
  if (buf.byteLength < 20 || String.fromCharCode(dv.getUint8(0), dv.getUint8(1), dv.getUint8(2), dv.getUint8(3)) !== "MBV1") return;
  const info = { index: dv.getUint32(4, true), t_ms: dv.getFloat64(8, true), w: dv.getUint16(16, true), h: dv.getUint16(18, true) };
  createImageBitmap(new Blob([new Uint8Array(buf, 20)], { type: "image/jpeg" })).then((bmp) => {
    if (state.bitmap) state.bitmap.close();
    state.bitmap = bmp;
    state.videoInfo = info;
    state.videoFrames++;
  }, () => {});
}

function onFrame(msg) {
  state.last = msg;
  window.liveLab.last = msg;
  state.frames++;
  const now = performance.now();
  state.frameTimes.push(now);
  while (state.frameTimes.length && now - state.frameTimes[0] > 2000) state.frameTimes.shift();
  if (msg.head && msg.head.ypr) {
    const [y, p, r] = msg.head.ypr;
    push(state.spark.yaw, y); push(state.spark.pitch, p); push(state.spark.roll, r);
  }
  if (state.avatar && rigIsUnity()) state.avatar.apply(msg);
  if (msg.face && msg.face.blendshapes) {
    const bs = msg.face.blendshapes;
    const vals = state.hello ? state.hello.blendshape_names.map((n) => bs[n] || 0) : Object.values(bs);
    if (state.prev) for (let i = 0; i < vals.length; i++) state.movement[i] = 0.9 * state.movement[i] + 0.1 * Math.abs(vals[i] - state.prev[i]);
    state.prev = vals;
  }
}

function push(arr, v) { arr.push(v); if (arr.length > SPARK_N) arr.shift(); }

function pushLatency(lat) {
  if (!lat) return;
  for (const k of ["pose", "face", "hands", "e2e"]) push(state.spark.lat[k], lat[k] == null ? NaN : lat[k]);
}

// ---------------------------------------------------------------------------- commands
function send(cmd) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) { log("not connected", true); return Promise.resolve(null); }
  const id = state.nextId++;
  state.ws.send(JSON.stringify({ ...cmd, id }));
  return new Promise((resolve) => state.pending.set(id, resolve));
}

function onAck(msg) {
  const resolve = state.pending.get(msg.id);
  state.pending.delete(msg.id);
  if (msg.ok) log(`${msg.cmd}: ok ${JSON.stringify(msg.result)}`);
  else log(`${msg.cmd || "command"}: ${msg.error}`, true);
  if (resolve) resolve(msg);
}

function log(text, err = false) {
  const el = document.createElement("div");
  el.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  if (err) el.className = "err";
  $("log").prepend(el);
  while ($("log").childElementCount > 30) $("log").lastChild.remove();
}

const actions = {
  pause: () => send({ cmd: "pause", on: !(state.controls && state.controls.paused) }),
  mirror: () => send({ cmd: "mirror", on: !(state.controls && state.controls.mirror) }),
  record: () => send({ cmd: "record", on: !(state.controls && state.controls.recording) }),
  calibrate: () => send({ cmd: "calibrate", frames: 60 }),
  broadcast: async () => {
    const outs = state.controls ? state.controls.outputs : {};
    const anyOn = Object.values(outs).some(Boolean);
    for (const name of Object.keys(outs)) await send({ cmd: "output", name, on: !anyOn });
  },
  overlay: () => {
    const on = !Object.values(state.overlays).some(Boolean);
    for (const k of Object.keys(state.overlays)) { state.overlays[k] = on; $(`ov-${k}`).checked = on; }
  },
  snapshot: () => snapshot(),
  layout: (name) => setLayout(name),
};

function setLayout(name) {
  document.body.className = `layout-${name}`;
  $("layout").value = name;
  for (const p of document.querySelectorAll(".panel")) p.classList.toggle("hidden", !p.dataset.layouts.split(" ").includes(name));
  for (const k of Object.keys(state.overlays)) { state.overlays[k] = LAYOUT_OVERLAYS[name].includes(k); $(`ov-${k}`).checked = state.overlays[k]; }
  if (state.avatar) state.avatar.resize();
}

function snapshot() {
  const canvas = $("video");
  canvas.toBlob((blob) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `live-lab-${state.last ? state.last.index : 0}.png`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 5000);
    log(`snapshot ${a.download}`);
  }, "image/png");
}

function onStats(msg) {
  state.stats = msg;
  state.controls = msg.controls;
  if (msg.skeleton && !state.skeleton) { state.skeleton = msg.skeleton; if (state.avatar) state.avatar.buildMannequin(msg.skeleton); }
  const c = msg.controls;
  $("source").textContent = msg.source;
  $("btn-pause").classList.toggle("on", c.paused);
  $("btn-pause").textContent = c.paused ? "▶ Resume" : "❚❚ Pause";
  $("btn-mirror").classList.toggle("active", c.mirror);
  $("btn-mirror").disabled = !c.mirror_available;
  $("btn-record").classList.toggle("on", !!c.recording);
  $("btn-record").textContent = c.recording ? `■ Stop (${c.recording.frames})` : "● Record";
  const outs = Object.values(c.outputs);
  $("btn-broadcast").classList.toggle("active", outs.some(Boolean));
  banner(msg);
  renderOutputs(msg);
  renderPerfNumbers(msg);
}

function banner(msg) {
  const c = msg.controls;
  let text;
  if (msg.replay) text = "Replay: hands keep the labels they were recorded with (mirror is fixed at recording time).";
  else if (c.mirror) text = "Mirror ON: the image is flipped before tracking (selfie view). Your right hand appears on the right of the picture, is labelled Left and drives the avatar's left hand, like a mirror.";
  else text = "Mirror OFF: the camera's own view. Your right hand appears on the left of the picture, is labelled Right and drives the avatar's right hand.";
  const extra = [];
  if (c.paused) extra.push("PAUSED: frames are not tracked (Space resumes).");
  if (c.recording) extra.push(`Recording to ${c.recording.path} (${c.recording.frames} frames).`);
  else if (c.last_recording) extra.push(`Last recording: ${c.last_recording.path} (${c.last_recording.frames} frames).`);
  const cal = c.calibration;
  if (cal.state === "capturing") extra.push(`Calibrating: keep a relaxed face, look at the camera (${cal.frames}/${cal.target}).`);
  else if (cal.state === "applied" || cal.state === "saved") extra.push(`Calibration ${cal.state}: ${cal.path} (${cal.frames} frames).`);
  else if (cal.state === "failed") extra.push(`Calibration failed: ${cal.error}`);
  $("banner").textContent = [text, ...extra].join("  ·  ");
}

function renderOutputs(msg) {
  const body = $("outputs").tBodies[0];
  body.replaceChildren(...msg.outputs.map((o) => {
    const tr = document.createElement("tr");
    const switchable = ["livelink", "vmc", "osc"].includes(o.name);
    const cells = [o.name, "", o.rate.toFixed(0), o.sent, o.dropped, o.refused, o.clients == null ? "–" : o.clients, o.problems || ""];
    cells.forEach((v, i) => {
      const td = document.createElement("td");
      if (i === 1 && switchable) {
        const cb = document.createElement("input");
        cb.type = "checkbox"; cb.checked = o.enabled; cb.dataset.output = o.name;
        cb.onchange = () => send({ cmd: "output", name: o.name, on: cb.checked });
        td.append(cb);
      } else td.textContent = i === 1 ? "·" : String(v);
      tr.append(td);
    });
    return tr;
  }));
}

function renderPerfNumbers(msg) {
  const recv = state.frameTimes.length > 1 ? (state.frameTimes.length - 1) / ((state.frameTimes.at(-1) - state.frameTimes[0]) / 1000) : 0;
  const lat = msg.latency_ms;
  const items = [["fps in", msg.fps_in.toFixed(1)], ["fps out", msg.fps_out.toFixed(1)], ["page fps", recv.toFixed(1)],
    ["e2e ms", lat && lat.e2e != null ? lat.e2e.toFixed(0) : "–"], ["frames", msg.emitted], ["partial", msg.partial],
    ["dropped", msg.dropped], ["errors", msg.errors]];
  $("perf-nums").replaceChildren(...items.map(([k, v]) => { const d = document.createElement("div"); d.innerHTML = `<span class="muted"></span><b></b>`; d.firstChild.textContent = k; d.lastChild.textContent = v; return d; }));
}

// ---------------------------------------------------------------------------- blendshapes
function buildBlendshapes(names) {
  if (state.shapes.length) return;
  const list = $("bs-list");
  state.shapes = names.map((name, i) => {
    const row = document.createElement("div");
    row.className = "bs-row"; row.dataset.name = name;
    row.innerHTML = `<span class="bs-name"></span><div class="bs-bar"><div class="bs-fill"></div></div><span class="bs-value">0.00</span>`;
    row.firstChild.textContent = name;
    list.append(row);
    return { name, i, row, fill: row.querySelector(".bs-fill"), value: row.querySelector(".bs-value") };
  });
}

let lastOrder = "";
function renderBlendshapes() {
  const f = state.last && state.last.face;
  if (!f || !f.blendshapes || !state.shapes.length) return;
  const filter = $("bs-filter").value.trim().toLowerCase();
  const sort = $("bs-sort").value;
  const movers = new Set([...state.movement.keys()].sort((a, b) => state.movement[b] - state.movement[a]).slice(0, 5).filter((i) => state.movement[i] > 0.002));
  for (const s of state.shapes) {
    const v = f.blendshapes[s.name] || 0;
    s.v = v;
    s.fill.style.width = `${(Math.min(1, Math.max(0, v)) * 100).toFixed(1)}%`;
    s.value.textContent = v.toFixed(2);
    s.row.dataset.value = v.toFixed(4);
    s.row.classList.toggle("mover", movers.has(s.i));
    s.row.hidden = filter !== "" && !s.name.toLowerCase().includes(filter);
  }
  let order = state.shapes.slice();
  if (sort === "name") order.sort((a, b) => a.name.localeCompare(b.name));
  else if (sort === "value") order.sort((a, b) => b.v - a.v);
  else if (sort === "movement") order.sort((a, b) => state.movement[b.i] - state.movement[a.i]);
  const key = order.map((s) => s.i).join(",");
  if (key !== lastOrder) { $("bs-list").append(...order.map((s) => s.row)); lastOrder = key; }
}

// ---------------------------------------------------------------------------- video + overlays
// The segmentation mask (run lengths, background first) as a translucent tint, kept until the next.
function maskCanvas(m) {
  if (m.encoding !== "rle") return state.mask || null;
  const c = document.createElement("canvas");
  c.width = m.width; c.height = m.height;
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(m.width, m.height);
  let i = 0, on = false;
  for (const run of m.runs) {
    if (on) for (let k = i; k < i + run; k++) { img.data[4 * k] = 80; img.data[4 * k + 1] = 160; img.data[4 * k + 2] = 255; img.data[4 * k + 3] = 90; }
    i += run; on = !on;
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

function renderVideo() {
  const canvas = $("video");
  const ctx = canvas.getContext("2d");
  const bmp = state.bitmap;
  const w = bmp ? bmp.width : 480, h = bmp ? bmp.height : 360;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  if (bmp) ctx.drawImage(bmp, 0, 0);
  else { ctx.fillStyle = "#05070d"; ctx.fillRect(0, 0, w, h); ctx.fillStyle = "#56608a"; ctx.font = "14px system-ui";
    ctx.fillText(state.stats && state.stats.replay ? "replay: no images were recorded, landmarks only" : "waiting for video…", 12, 22); }
  const f = state.last;
  if (!f) return;
  if (f.mask && f.mask.present) state.mask = maskCanvas(f.mask);
  if (state.mask && state.overlays.pose) ctx.drawImage(state.mask, 0, 0, w, h);  // [tracking] segmentation
  // The lab channel comes at most 20 times a second: draw its face mesh while it is this recent.
  if (state.overlays.face && f.face && f.face.present && state.lab && state.lab.face_landmarks && f.index - state.lab.index <= 4) {
    ctx.fillStyle = COLORS.face;
    for (const [x, y] of state.lab.face_landmarks) ctx.fillRect(x * w - 0.8, y * h - 0.8, 1.6, 1.6);
  }
  if (state.overlays.pose && f.pose && f.pose.present) drawSkeleton(ctx, f.pose.landmarks, POSE_EDGES, COLORS.pose, w, h, 3.5, (p) => p[3] > 0.3);
  if (state.overlays.hands && f.hands) {
    for (const side of ["left", "right"]) {
      const hand = f.hands[side];
      if (!hand || !hand.present) continue;
      drawSkeleton(ctx, hand.landmarks, HAND_EDGES, COLORS[side], w, h, 2.5, () => true);
      const [x, y] = hand.landmarks[0];
      ctx.font = "bold 13px system-ui"; ctx.fillStyle = COLORS[side];
      ctx.fillText(`${hand.label} ${hand.score.toFixed(2)}`, x * w + 6, y * h + 16);
    }
  }
  $("video-info").textContent = state.videoInfo ? `${state.videoInfo.w}×${state.videoInfo.h} · frame ${state.videoInfo.index}` : "";
}

function drawSkeleton(ctx, pts, edges, color, w, h, r, visible) {
  ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 2;
  ctx.beginPath();
  for (const [a, b] of edges) {
    if (!visible(pts[a]) || !visible(pts[b])) continue;
    ctx.moveTo(pts[a][0] * w, pts[a][1] * h); ctx.lineTo(pts[b][0] * w, pts[b][1] * h);
  }
  ctx.stroke();
  for (const p of pts) if (visible(p)) { ctx.beginPath(); ctx.arc(p[0] * w, p[1] * h, r, 0, 2 * Math.PI); ctx.fill(); }
}

// ---------------------------------------------------------------------------- head, eyes, sparklines
function dial(id, angle, label) {
  const c = $(id), ctx = c.getContext("2d"), r = c.width / 2 - 8, cx = c.width / 2, cy = c.height - 4;
  ctx.clearRect(0, 0, c.width, c.height);
  ctx.strokeStyle = "#243052"; ctx.lineWidth = 6; ctx.beginPath(); ctx.arc(cx, cy, r, Math.PI, 2 * Math.PI); ctx.stroke();
  ctx.strokeStyle = "#5aa9ff"; ctx.lineWidth = 3; ctx.beginPath();
  const a = -Math.PI / 2 + Math.max(-Math.PI / 2, Math.min(Math.PI / 2, angle * 2)); // ±45° spans the half dial
  ctx.moveTo(cx, cy); ctx.lineTo(cx + r * Math.cos(a), cy + r * Math.sin(a)); ctx.stroke();
  $(label).textContent = `${(angle * 180 / Math.PI).toFixed(1)}°`;
}

function renderHead() {
  const f = state.last;
  if (!f || !f.head) return;
  const [y, p, r] = f.head.ypr || [0, 0, 0];
  dial("dial-yaw", y, "v-yaw"); dial("dial-pitch", p, "v-pitch"); dial("dial-roll", r, "v-roll");
  const g = $("gaze"), ctx = g.getContext("2d");
  ctx.clearRect(0, 0, g.width, g.height);
  const eyes = (f.face && f.face.eyes) || [[0, 0], [0, 0]];
  eyes.forEach(([ey, ep], i) => {
    const cx = 50 + i * 100, cy = 50;
    ctx.strokeStyle = "#243052"; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(cx, cy, 38, 0, 2 * Math.PI); ctx.stroke();
    ctx.fillStyle = "#29d3ff"; ctx.beginPath();
    ctx.arc(cx - Math.max(-1, Math.min(1, ey / 0.5)) * 30, cy + Math.max(-1, Math.min(1, ep / 0.5)) * 30, 7, 0, 2 * Math.PI); ctx.fill();
  });
  spark("spark-head", [[state.spark.yaw, "#5aa9ff"], [state.spark.pitch, "#39ff14"], [state.spark.roll, "#ff9f1a"]], -0.8, 0.8);
}

function spark(id, series, lo, hi) {
  const c = $(id), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  let min = lo, max = hi;
  if (lo == null) { const all = series.flatMap(([s]) => s.filter(Number.isFinite)); min = 0; max = Math.max(50, ...all) * 1.1; }
  ctx.strokeStyle = "#243052"; ctx.beginPath(); ctx.moveTo(0, c.height / 2); ctx.lineTo(c.width, c.height / 2); ctx.stroke();
  for (const [s, color] of series) {
    ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
    let pen = false;
    s.forEach((v, i) => {
      if (!Number.isFinite(v)) { pen = false; return; }
      const x = (i / (SPARK_N - 1)) * c.width, y = c.height - ((v - min) / (max - min)) * c.height;
      if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      pen = true;
    });
    ctx.stroke();
  }
  if (lo == null) { ctx.fillStyle = "#8090b8"; ctx.font = "10px system-ui"; ctx.fillText(`${max.toFixed(0)} ms`, 4, 11); }
}

// ---------------------------------------------------------------------------- hands, tracking
function renderHands() {
  const lab = state.lab;
  const el = $("hands");
  const cards = ["left", "right"].map((side) => {
    const h = lab && lab.hands ? lab.hands[side] : null;
    const d = document.createElement("div");
    d.className = "hand";
    const title = document.createElement("h3");
    title.textContent = h ? `${h.label} · score ${h.score.toFixed(2)}` : `${side} · not seen`;
    title.style.color = COLORS[side];
    d.append(title);
    FINGERS.forEach((name, i) => {
      const row = document.createElement("div");
      row.className = "curl";
      const v = h ? h.curls[i] : 0;
      row.innerHTML = `<span></span><div class="bs-bar"><div class="bs-fill"></div></div><span class="bs-value"></span>`;
      row.firstChild.textContent = name;
      row.querySelector(".bs-fill").style.width = `${(v * 100).toFixed(0)}%`;
      row.lastChild.textContent = v.toFixed(2);
      d.append(row);
    });
    return d;
  });
  el.replaceChildren(...cards);
}

function renderTracking() {
  const lab = state.lab;
  if (!lab) return;
  const body = $("tracking").tBodies[0];
  body.replaceChildren(...Object.entries(lab.parts).map(([name, p]) => {
    const tr = document.createElement("tr");
    tr.dataset.part = name;
    tr.innerHTML = `<td></td><td class="muted"></td><td><span class="st"></span></td><td><div class="conf"><div></div></div></td>`;
    tr.children[0].textContent = name.replace("_", " ");
    tr.children[1].textContent = p.status.replace("_", " ");
    const st = tr.querySelector(".st");
    st.textContent = p.tracking; st.classList.add(`st-${p.tracking}`);
    tr.querySelector(".conf > div").style.width = `${(p.confidence * 100).toFixed(0)}%`;
    return tr;
  }));
}

// ---------------------------------------------------------------------------- loop, keys, boot
let lastSlow = 0;
function tick(t) {
  renderVideo();
  renderBlendshapes();
  renderHead();
  if (t - lastSlow > 150) {
    lastSlow = t;
    renderHands();
    renderTracking();
    const L = state.spark.lat;
    spark("spark-lat", [[L.pose, COLORS.pose], [L.face, COLORS.face], [L.hands, COLORS.hands], [L.e2e, COLORS.e2e]], null, null);
  }
  if (state.avatar) state.avatar.render();
  requestAnimationFrame(tick);
}

function keys(ev) {
  if (ev.target instanceof HTMLInputElement || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const k = ev.key.toLowerCase();
  const map = { " ": "pause", m: "mirror", o: "overlay", r: "record", s: "snapshot", b: "broadcast" };
  if (map[k]) { ev.preventDefault(); actions[map[k]](); }
  else if (k >= "1" && k <= "5") setLayout(LAYOUTS[Number(k) - 1]);
}

async function startAvatar() {
  const msg = $("three-msg");
  try {
    const { AvatarView } = await import("./avatar.js");
    state.avatar = new AvatarView($("three"), msg);
    if (state.skeleton) state.avatar.buildMannequin(state.skeleton);
  } catch (err) {
    msg.textContent = `3D view unavailable: ${err.message}`;
    return;
  }
  const load = async (file) => {
    try { await state.avatar.loadVrm(file); $("btn-mannequin").hidden = false; } catch (err) { log(`VRM: ${err.message}`, true); }
  };
  const wrap = $("three-wrap");
  wrap.addEventListener("dragover", (e) => { e.preventDefault(); wrap.classList.add("drop"); });
  wrap.addEventListener("dragleave", () => wrap.classList.remove("drop"));
  wrap.addEventListener("drop", (e) => { e.preventDefault(); wrap.classList.remove("drop"); if (e.dataTransfer.files[0]) load(e.dataTransfer.files[0]); });
  $("vrm-file").addEventListener("change", (e) => e.target.files[0] && load(e.target.files[0]));
  $("btn-mannequin").addEventListener("click", () => { state.avatar.useMannequin(); $("btn-mannequin").hidden = true; });
}

window.liveLab = {
  last: null,
  stats() {
    const n = state.frameTimes.length;
    const fps = n > 1 ? (n - 1) / ((state.frameTimes[n - 1] - state.frameTimes[0]) / 1000) : 0;
    const lab = state.lab;
    let latency = lab && lab.latency_ms ? lab.latency_ms.e2e : null;
    if (latency == null && state.last) latency = Date.now() - state.last.t_send_unix_ms;
    return { connected: state.connected, frames: state.frames, fps, latency_ms: latency };
  },
  get lab() { return state.lab; },
  get server() { return state.stats; },
  get video() { return { frames: state.videoFrames, info: state.videoInfo }; },
  send,
  actions,
};

for (const [id, act] of [["btn-pause", "pause"], ["btn-mirror", "mirror"], ["btn-overlay", "overlay"], ["btn-record", "record"],
  ["btn-snapshot", "snapshot"], ["btn-broadcast", "broadcast"], ["btn-calibrate", "calibrate"]]) $(id).addEventListener("click", () => actions[act]());
for (const k of ["pose", "face", "hands"]) $(`ov-${k}`).addEventListener("change", (e) => { state.overlays[k] = e.target.checked; });
$("layout").addEventListener("change", (e) => setLayout(e.target.value));
document.addEventListener("keydown", keys);
setLayout("holistic");
setConn();
connect();
startAvatar();
requestAnimationFrame(tick);
