// descentlab playground: vanilla JS over the JSON API. No build step, no dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
// Plot padding in CSS pixels; the right side holds the colour bar.
const PAD = { l: 46, r: 66, t: 12, b: 34 };
const LANGS = ["en", "ko"];

const app = {
  meta: null,
  catalogue: [],
  surface: null,       // /api/surface answer
  race: null,          // /api/run answer
  basin: null,         // /api/basin answer
  timeline: [],        // record steps of the longest run: playback goes to its end
  basinIndex: 0,
  frame: 0,
  playing: false,
  heat: null,          // offscreen canvas with the heatmap
  qm: null,            // the surface's quantile map (colour bar ticks)
  contours: [],        // [[x1,y1,x2,y2,...] per level]
  labelBoxes: [],      // critical-point labels drawn (no two overlap)
  explain: null,       // { info, snapped } for the panel and the eigen-direction arrows
  arrows: null,        // { frame, byRun: [[{p, g}]] } gradients at the current iterates
  seq: { surface: 0, run: 0, point: 0, arrows: 0 },  // request counters: only the latest answer counts
  requests: { surface: 0, run: 0, point: 0, arrows: 0 },
  lastExport: null,
  state: {
    source: "catalogue",
    name: "tilted_double_well",
    params: {},
    formula: "x**4 - 2*x**2 + y**2",
    domain: null,
    starts: [],
    optimizers: [
      { name: "gd", hyper: { lr: 0.01 } },
      { name: "momentum", hyper: { lr: 0.01, momentum: 0.9 } },
    ],
    schedule: null,
    steps: 500,
    mode: "race",
    basin_n: 60,
    view: "contour",
    azimuth: -35,
    elevation: 35,
    lang: "en",
  },
};
const DEFAULT_STATE = JSON.parse(JSON.stringify(app.state));

// ------------------------------------------------------------------ messages (en, ko)
function t(key, vars = {}) {
  const msgs = (app.meta && app.meta.messages) || {};
  const table = msgs[app.state.lang] || msgs.en || {};
  let text = key in table ? table[key] : (msgs.en && key in msgs.en ? msgs.en[key] : key);
  return text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

function applyLang() {
  document.documentElement.lang = app.state.lang;
  $("lang-select").value = app.state.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

// ------------------------------------------------------------------ helpers
async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const res = await fetch(path, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { data = { error: `HTTP ${res.status}` }; }
  if (!res.ok) { const err = new Error(data.error || `HTTP ${res.status}`); err.info = data; err.status = res.status; throw err; }
  return data;
}

// A request of one kind ("surface", "run", "point", "arrows"): resolves to null when a newer
// request of the same kind was made meanwhile, so a slow old answer never overwrites a new one.
async function latest(kind, path, body) {
  const my = ++app.seq[kind];
  app.requests[kind] += 1;
  let out;
  try { out = await api(path, body); } catch (err) { if (my !== app.seq[kind]) return null; throw err; }
  return my === app.seq[kind] ? out : null;
}

function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(digits)));
  return v.toExponential(digits - 2);
}

const pt = (p, d = 4) => `(${fmt(p[0], d)}, ${fmt(p[1], d)})`;

function setStatus(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.className = isError ? "error" : "muted";
}

function optimizerColor(name, i) {
  const st = app.meta.style;
  const used = app.state.optimizers.slice(0, i).map((o) => o.name);
  if (st.optimizer_colors[name] && !used.includes(name)) return st.optimizer_colors[name];
  return st.optimizer_palette[i % st.optimizer_palette.length];
}

function debounce(fn, ms) {
  let h = null;
  return (...args) => { clearTimeout(h); h = setTimeout(() => fn(...args), ms); };
}

// ------------------------------------------------------------------ canvases at device pixel ratio
// Each canvas is drawn in CSS pixels (c._w x c._h) onto a backing store dpr times larger.
function fitCanvas(c, w, h) {
  const dpr = window.devicePixelRatio || 1;
  w = Math.max(50, Math.round(w)); h = Math.max(50, Math.round(h));
  if (c._w !== w || c._h !== h || c._dpr !== dpr) {
    c.style.width = `${w}px`; c.style.height = `${h}px`;
    c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
    c._w = w; c._h = h; c._dpr = dpr;
  }
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

function layoutCanvases() {
  const wrap = $("view-wrap");
  const w = wrap.clientWidth || 600;
  const h = Math.min(Math.round(w * 0.84), Math.max(320, window.innerHeight - 150));
  fitCanvas($("view"), w, h);
  for (const [id, ch] of [["loss-curve", 150], ["grad-curve", 150], ["lr-curve", 120]]) {
    const c = $(id), pw = c.parentElement.clientWidth || 320;
    fitCanvas(c, pw, ch);
  }
}

function ctxOf(c) { return fitCanvas(c, c._w || c.width, c._h || c.height); }

// ------------------------------------------------------------------ URL state (shareable, validated)
function encodeState() {
  const json = JSON.stringify(app.state);
  const b64 = btoa(unescape(encodeURIComponent(json)));
  return b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeState(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(decodeURIComponent(escape(atob(b64))));
}

// The address holds the setup. Browsers refuse more than ~100 replaceState calls in 10 s (a
// dragged slider fires far more), so writes closer than 300 ms apart are folded into one.
let lastSave = 0, saveTimer = null;
function saveState() {
  const write = () => { saveTimer = null; lastSave = performance.now(); history.replaceState(null, "", "#s=" + encodeState()); };
  if (saveTimer) return;
  const wait = lastSave + 300 - performance.now();
  if (wait <= 0) write(); else saveTimer = setTimeout(write, wait);
}

function saveStateNow() {
  if (saveTimer) clearTimeout(saveTimer);
  saveTimer = null; lastSave = performance.now();
  history.replaceState(null, "", "#s=" + encodeState());
}

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isInt = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;
const isHyper = (v) => v === null || isNum(v) || typeof v === "boolean" || typeof v === "string" || (Array.isArray(v) && v.every(isNum));

// Which fields of a shared setup are usable: {ok: {...valid fields}, bad: [field names]}.
function validateState(s) {
  const L = app.meta.limits, ok = {}, bad = [];
  if (!isObj(s)) return { ok, bad: ["setup"] };
  const optNames = new Set(app.meta.optimizers.map((o) => o.name));
  const schedNames = new Set(app.meta.schedules.map((o) => o.name));
  const checks = {
    source: (v) => v === "catalogue" || v === "formula",
    name: (v) => typeof v === "string" && !!catalogueEntry(v),
    params: (v) => isObj(v) && Object.values(v).every((x) => isNum(x) || typeof x === "boolean" || typeof x === "string"),
    formula: (v) => typeof v === "string" && v.length <= L.max_formula_chars,
    domain: (v) => v === null || (Array.isArray(v) && v.length === 4 && v.every(isNum) && v[0] < v[1] && v[2] < v[3]),
    starts: (v) => Array.isArray(v) && v.length <= L.max_starts && v.every((p) => Array.isArray(p) && p.length === 2 && p.every(isNum)),
    optimizers: (v) => Array.isArray(v) && v.length >= 1 && v.length <= L.max_optimizers &&
      v.every((o) => isObj(o) && optNames.has(o.name) && isObj(o.hyper) && Object.values(o.hyper).every(isHyper)),
    schedule: (v) => v === null || (isObj(v) && schedNames.has(v.name) && isObj(v.params) && Object.values(v.params).every(isHyper)),
    steps: (v) => isInt(v, 1, L.max_steps),
    mode: (v) => v === "race" || v === "basin",
    basin_n: (v) => isInt(v, 5, L.max_basin_n),
    view: (v) => v === "contour" || v === "3d",
    azimuth: isNum,
    elevation: (v) => isNum(v) && v >= 5 && v <= 89,
    lang: (v) => LANGS.includes(v),
  };
  for (const [k, check] of Object.entries(checks)) {
    if (!(k in s)) continue;
    if (check(s[k])) ok[k] = s[k]; else bad.push(k);
  }
  return { ok, bad };
}

// Read the setup in the address; returns a message for the user when (part of) it was refused.
function loadStateFromUrl() {
  const hash = location.hash;
  if (!hash.startsWith("#s=")) return null;
  let s;
  try {
    if (!/^#s=[A-Za-z0-9_-]+$/.test(hash)) throw new Error("characters");
    s = decodeState(hash.slice(3));
  } catch (e) {
    return t("link.unreadable");
  }
  const { ok, bad } = validateState(s);
  Object.assign(app.state, JSON.parse(JSON.stringify(ok)));
  if (bad.includes("setup")) return t("link.unreadable");
  return bad.length ? t("link.fields", { fields: bad.join(", ") }) : null;
}

// ------------------------------------------------------------------ landscape spec
function landscapeSpec() {
  const s = app.state;
  const spec = s.source === "formula" ? { formula: s.formula } : { name: s.name, params: s.params };
  if (s.domain) spec.domain = s.domain;
  return spec;
}

function readDomain() {
  const vals = ["dom-x0", "dom-x1", "dom-y0", "dom-y1"].map((id) => $(id).value.trim());
  if (vals.every((v) => v === "")) return null;
  return vals.map(Number);
}

function writeDomain(d) {
  ["dom-x0", "dom-x1", "dom-y0", "dom-y1"].forEach((id, i) => { $(id).value = d ? d[i] : ""; });
}

function catalogueEntry(name) { return app.catalogue.find((e) => e.name === name); }

function renderLandscapeParams() {
  const box = $("landscape-params");
  box.innerHTML = "";
  const e = catalogueEntry(app.state.name);
  const desc = e ? (e.description || e.summary || "").replace(/``/g, "") : "";
  $("landscape-desc").textContent = desc;
  $("landscape-desc").title = desc;
  if (!e) return;
  for (const [k, def] of Object.entries(e.params)) {
    if (k === "dim") continue;
    const lab = document.createElement("label");
    lab.textContent = k;
    const inp = document.createElement("input");
    inp.type = typeof def === "number" ? "number" : "text";
    inp.step = "any";
    inp.value = k in app.state.params ? app.state.params[k] : def;
    inp.dataset.param = k;
    inp.addEventListener("change", () => {
      const v = inp.type === "number" ? Number(inp.value) : inp.value;
      if (v === def) delete app.state.params[k]; else app.state.params[k] = v;
    });
    lab.appendChild(inp);
    box.appendChild(lab);
  }
}

// ------------------------------------------------------------------ drawing the surface
function viewGeom() {
  const c = $("view");
  const [x0, x1] = [app.surface.x[0], app.surface.x[app.surface.x.length - 1]];
  const [y0, y1] = [app.surface.y[0], app.surface.y[app.surface.y.length - 1]];
  const w = c._w - PAD.l - PAD.r, h = c._h - PAD.t - PAD.b;
  return {
    x0, x1, y0, y1, w, h,
    px: (x) => PAD.l + (x - x0) / (x1 - x0) * w,
    py: (y) => PAD.t + (1 - (y - y0) / (y1 - y0)) * h,
    dx: (px) => x0 + (px - PAD.l) / w * (x1 - x0),
    dy: (py) => y0 + (1 - (py - PAD.t) / h) * (y1 - y0),
  };
}

// Colours by rank (quantile), so any dynamic range reads well.
function quantileMap(z) {
  const vals = [];
  for (const row of z) for (const v of row) if (v !== null) vals.push(v);
  vals.sort((a, b) => a - b);
  const q = (v) => {
    let lo = 0, hi = vals.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (vals[mid] < v) lo = mid + 1; else hi = mid; }
    return vals.length > 1 ? lo / (vals.length - 1) : 0.5;
  };
  const at = (p) => vals[Math.min(vals.length - 1, Math.max(0, Math.round(p * (vals.length - 1))))];
  return { q, at, n: vals.length };
}

// A grey ramp (low = darker): every optimizer colour, blue and black included, stands out on it.
const CMAP = [[118, 124, 138], [160, 165, 175], [198, 201, 207], [226, 228, 230], [248, 248, 246]];
function cmap(t) {
  t = Math.min(1, Math.max(0, t)) * (CMAP.length - 1);
  const i = Math.min(CMAP.length - 2, Math.floor(t)), f = t - i;
  return CMAP[i].map((c, k) => Math.round(c + (CMAP[i + 1][k] - c) * f));
}

function buildHeat() {
  const s = app.surface, ny = s.y.length, nx = s.x.length;
  const qm = quantileMap(s.z);
  app.qm = qm;
  const off = document.createElement("canvas");
  off.width = nx; off.height = ny;
  const ctx = off.getContext("2d");
  const img = ctx.createImageData(nx, ny);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const v = s.z[j][i];
      const k = ((ny - 1 - j) * nx + i) * 4;
      const [r, g, b] = v === null ? [255, 235, 235] : cmap(qm.q(v));
      img.data[k] = r; img.data[k + 1] = g; img.data[k + 2] = b; img.data[k + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  app.heat = off;
  // contour levels at quantiles, traced by marching squares in grid coordinates
  const levels = [];
  if (qm.n > 1) for (let p = 0.04; p < 0.99; p += 0.07) levels.push(qm.at(p));
  app.contours = [...new Set(levels)].map((lv) => marchingSquares(s.z, lv));
}

function marchingSquares(z, lv) {
  const segs = [], ny = z.length, nx = z[0].length;
  const interp = (a, b) => (lv - a) / (b - a);
  for (let j = 0; j < ny - 1; j++) {
    for (let i = 0; i < nx - 1; i++) {
      const a = z[j][i], b = z[j][i + 1], c = z[j + 1][i + 1], d = z[j + 1][i];
      if (a === null || b === null || c === null || d === null) continue;
      const pts = [];
      if ((a < lv) !== (b < lv)) pts.push([i + interp(a, b), j]);
      if ((b < lv) !== (c < lv)) pts.push([i + 1, j + interp(b, c)]);
      if ((c < lv) !== (d < lv)) pts.push([i + 1 - interp(c, d), j + 1]);
      if ((d < lv) !== (a < lv)) pts.push([i, j + 1 - interp(d, a)]);
      if (pts.length === 2) segs.push(pts[0][0], pts[0][1], pts[1][0], pts[1][1]);
      else if (pts.length === 4) segs.push(...pts[0], ...pts[1], ...pts[2], ...pts[3]);
    }
  }
  return segs;
}

function drawMarker(ctx, kind, x, y, color, r = 7) {
  ctx.save();
  ctx.fillStyle = color; ctx.strokeStyle = "#000"; ctx.lineWidth = r < 4 ? 0.6 : 1.2;
  ctx.beginPath();
  if (kind === "global_minimum") {
    for (let k = 0; k < 10; k++) {
      const ang = -Math.PI / 2 + k * Math.PI / 5, rr = k % 2 ? r * 0.5 : r * 1.35;
      ctx.lineTo(x + rr * Math.cos(ang), y + rr * Math.sin(ang));
    }
  } else if (kind === "local_minimum") {
    ctx.arc(x, y, r * 0.8, 0, 2 * Math.PI);
  } else if (kind === "saddle") {
    const a = r * 0.85, tt = r * 0.32;
    const P = [[-a, -a + tt], [-a + tt, -a], [0, -tt], [a - tt, -a], [a, -a + tt], [tt, 0], [a, a - tt], [a - tt, a], [0, tt], [-a + tt, a], [-a, a - tt], [-tt, 0]];
    P.forEach(([u, v]) => ctx.lineTo(x + u, y + v));
  } else if (kind === "maximum") {
    ctx.moveTo(x, y - r); ctx.lineTo(x + r * 0.9, y + r * 0.7); ctx.lineTo(x - r * 0.9, y + r * 0.7);
  } else {
    ctx.moveTo(x, y - r); ctx.lineTo(x + r * 0.8, y); ctx.lineTo(x, y + r); ctx.lineTo(x - r * 0.8, y);
  }
  ctx.closePath(); ctx.fill(); ctx.stroke();
  ctx.restore();
}

function cpKey(cp) {
  if (cp.kind === "minimum") return cp.is_global ? "global_minimum" : "local_minimum";
  return cp.kind;
}

function cpLabel(cp) {
  if (app.state.lang === "en") return cp.label;
  return t(`cp.${cpKey(cp)}`);
}

const FONT = "'DejaVu Sans', 'Noto Sans CJK KR', 'NanumGothic', 'Malgun Gothic', 'Apple SD Gothic Neo', sans-serif";

function haloText(ctx, text, x, y, size = 11) {
  ctx.save();
  ctx.font = `${size}px ${FONT}`;
  ctx.lineWidth = 3; ctx.strokeStyle = "rgba(255,255,255,.9)"; ctx.fillStyle = "#111";
  ctx.strokeText(text, x, y); ctx.fillText(text, x, y);
  ctx.restore();
}

function niceTicks(lo, hi, n = 6) {
  const span = hi - lo, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(Number(v.toPrecision(10)));
  return out;
}

function drawView() {
  const c = $("view"), ctx = ctxOf(c);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c._w, c._h);
  if (!app.surface) return;
  if (app.state.view === "3d") { draw3d(ctx, c); return; }
  const g = viewGeom(), s = app.surface;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(app.heat, PAD.l, PAD.t, g.w, g.h);
  if (app.state.mode === "basin" && app.basin) drawBasin(ctx, g);
  // contours
  const nx = s.x.length, ny = s.y.length;
  ctx.save();
  ctx.beginPath(); ctx.rect(PAD.l, PAD.t, g.w, g.h); ctx.clip();
  ctx.strokeStyle = "rgba(40,45,60,.38)"; ctx.lineWidth = 0.8;
  for (const segs of app.contours) {
    ctx.beginPath();
    for (let k = 0; k < segs.length; k += 4) {
      ctx.moveTo(PAD.l + segs[k] / (nx - 1) * g.w, PAD.t + (1 - segs[k + 1] / (ny - 1)) * g.h);
      ctx.lineTo(PAD.l + segs[k + 2] / (nx - 1) * g.w, PAD.t + (1 - segs[k + 3] / (ny - 1)) * g.h);
    }
    ctx.stroke();
  }
  ctx.restore();
  drawAxes(ctx, c, g);
  if (!(app.state.mode === "basin" && app.basin)) drawColorBar(ctx, c, g);  // basin colours are outcomes
  const drawLabels = drawCriticalPoints(ctx, g);
  if (app.state.mode === "race") drawRace(ctx, g);
  drawLabels();  // labels above the paths, so a ring or an end marker never hides a name
  if (app.state.mode === "race") drawStepArrows(ctx, g);
  drawExplainArrows(ctx, g);
  // starts
  app.state.starts.forEach((p, i) => {
    const x = g.px(p[0]), y = g.py(p[1]);
    ctx.beginPath(); ctx.arc(x, y, 5.5, 0, 2 * Math.PI);
    ctx.fillStyle = "#fff"; ctx.fill(); ctx.lineWidth = 1.8; ctx.strokeStyle = "#000"; ctx.stroke();
    haloText(ctx, String(i + 1), x - 16, y + 4);
  });
}

function drawAxes(ctx, c, g) {
  ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.strokeRect(PAD.l, PAD.t, g.w, g.h);
  ctx.fillStyle = "#333"; ctx.font = `11px ${FONT}`;
  ctx.textAlign = "center";
  for (const tk of niceTicks(g.x0, g.x1, Math.max(3, Math.round(g.w / 90)))) {
    ctx.fillText(fmt(tk, 3), g.px(tk), PAD.t + g.h + 14);
    ctx.beginPath(); ctx.moveTo(g.px(tk), PAD.t + g.h); ctx.lineTo(g.px(tk), PAD.t + g.h + 4); ctx.stroke();
  }
  ctx.fillText("x", PAD.l + g.w / 2, c._h - 4);
  ctx.textAlign = "right";
  for (const tk of niceTicks(g.y0, g.y1, Math.max(3, Math.round(g.h / 70)))) {
    ctx.fillText(fmt(tk, 3), PAD.l - 6, g.py(tk) + 4);
    ctx.beginPath(); ctx.moveTo(PAD.l - 4, g.py(tk)); ctx.lineTo(PAD.l, g.py(tk)); ctx.stroke();
  }
  ctx.textAlign = "left";
  ctx.fillText("y", 4, PAD.t + g.h / 2);
}

// The colour bar: the ramp by rank, ticked with the values at 0, 25, 50, 75 and 100 % of the grid.
function drawColorBar(ctx, c, g) {
  if (!app.qm || !app.qm.n) return;
  const x = PAD.l + g.w + 10, wBar = 12, top = PAD.t + 18, hBar = g.h - 18;
  for (let k = 0; k < hBar; k++) {
    const [r, gg, b] = cmap(1 - k / (hBar - 1));
    ctx.fillStyle = `rgb(${r},${gg},${b})`; ctx.fillRect(x, top + k, wBar, 1.5);
  }
  ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.strokeRect(x, top, wBar, hBar);
  ctx.fillStyle = "#333"; ctx.font = `10px ${FONT}`; ctx.textAlign = "left";
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + (1 - p) * hBar;
    ctx.beginPath(); ctx.moveTo(x + wBar, y); ctx.lineTo(x + wBar + 3, y); ctx.stroke();
    ctx.fillText(fmt(app.qm.at(p), 3), x + wBar + 4, y + 3);
  }
  ctx.textAlign = "center";
  ctx.fillText(t("colorbar.title"), x + wBar / 2, PAD.t + 9);
}

// Markers for every critical point (smaller when there are many); labels only where they do not
// overlap one another, the most telling kinds first (global minima, saddles, local minima...).
// Places the labels now and returns the function that draws them (after the paths).
const LABEL_ORDER = { global_minimum: 0, saddle: 1, local_minimum: 2, maximum: 3, degenerate: 4 };
function drawCriticalPoints(ctx, g) {
  const cps = app.surface.critical_points, st = app.meta.style.kinds;
  const n = cps.length;
  const r = n > 40 ? Math.max(2.2, Math.min(7, Math.sqrt(g.w * g.h / n) / 3.2)) : 7;
  const order = cps.map((cp, i) => i).sort((a, b) => (LABEL_ORDER[cpKey(cps[b])] ?? 5) - (LABEL_ORDER[cpKey(cps[a])] ?? 5));
  for (const i of order) {
    const cp = cps[i], k = cpKey(cp);
    drawMarker(ctx, k, g.px(cp.point[0]), g.py(cp.point[1]), (st[k] || st.degenerate).color, k === "global_minimum" ? 7 : r);
  }
  const boxes = [], maxLabels = Math.max(6, Math.round(g.w * g.h / 9000));
  // many points (levi13: 3,653): name only the global minima; the others answer on hover
  const ranked = cps.map((cp, i) => i).filter((i) => n <= 40 || cpKey(cps[i]) === "global_minimum").sort((a, b) =>
    (LABEL_ORDER[cpKey(cps[a])] ?? 5) - (LABEL_ORDER[cpKey(cps[b])] ?? 5) || (cps[a].value ?? 0) - (cps[b].value ?? 0));
  ctx.font = `11px ${FONT}`;
  const inside = (b) => b[0] >= PAD.l && b[1] >= PAD.t && b[2] <= PAD.l + g.w && b[3] <= PAD.t + g.h;
  const overlaps = (b) => boxes.some((o) => b[0] < o[2] && o[0] < b[2] && b[1] < o[3] && o[1] < b[3]);
  const texts = [];
  // markers are taken space too (when few enough to matter): a label never covers another point
  const marks = n <= 300 ? cps.map((cp) => { const x = g.px(cp.point[0]), y = g.py(cp.point[1]); return [x - r, y - r, x + r, y + r]; }) : [];
  const onMarker = (b, own) => marks.some((o, k) => k !== own && b[0] < o[2] && o[0] < b[2] && b[1] < o[3] && o[1] < b[3]);
  for (const i of ranked) {
    if (boxes.length >= maxLabels) break;
    const cp = cps[i], x = g.px(cp.point[0]), y = g.py(cp.point[1]), text = cpLabel(cp);
    const tw = ctx.measureText(text).width, th = 12;
    // above, then beside, then below the marker: close enough that the label's owner is plain
    const spots = [[x - tw / 2, y - r * 1.4 - 3], [x + r + 2, y - r - 1], [x - tw / 2, y + r * 1.4 + th],
      [x - r - 2 - tw, y - r - 1], [x + r + 2, y + r + th], [x - r - 2 - tw, y + r + th]];
    for (const [lx, ly] of spots) {
      const box = [lx - 1, ly - th + 1, lx + tw + 1, ly + 3];
      if (!inside(box) || overlaps(box) || onMarker(box, i)) continue;
      boxes.push(box);
      texts.push([text, lx, ly]);
      break;
    }
  }
  app.labelBoxes = boxes;
  return () => texts.forEach(([text, lx, ly]) => haloText(ctx, text, lx, ly));
}

// Position of run row b at the playback frame: runs that stopped early stay at their last point.
function runIndex(run, frame) {
  const step = app.timeline[Math.min(frame, app.timeline.length - 1)] ?? 0;
  const rs = run.record_steps;
  let lo = 0, hi = rs.length - 1;
  while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (rs[mid] <= step) lo = mid; else hi = mid - 1; }
  return lo;
}

function pathOf(run, b, upto) {
  const pts = [];
  for (let tt = 0; tt <= upto; tt++) {
    const p = run.positions[tt][b];
    if (!p || p[0] === null || p[1] === null) break;
    pts.push(p);
  }
  return pts;
}

const DASHES = [[], [7, 4], [2, 3], [9, 3, 2, 3], [4, 4], [1, 2]];

// Paths: the first optimizer at the bottom, widest and solid; each later one thinner and dashed on
// top, so where two paths coincide (gd and perturbed gd up to a saddle) both colours show.
// All white casings go first, so no casing hides another run's colour. Stalls are ringed.
const runWidth = (ri) => Math.max(1.5, 3.6 - 0.7 * ri);
function drawRace(ctx, g) {
  const r = app.race;
  if (!r) return;
  ctx.save();
  ctx.beginPath(); ctx.rect(PAD.l, PAD.t, g.w, g.h); ctx.clip();
  ctx.lineJoin = "round"; ctx.lineCap = "round";
  const runs = r.runs.map((run, ri) => [run, ri]);
  const traces = [];
  for (const [run, ri] of runs) {
    const upto = runIndex(run, app.frame), B = run.positions[0].length;
    for (let b = 0; b < B; b++) {
      const pts = pathOf(run, b, upto);
      if (pts.length) traces.push([run, ri, pts]);
    }
  }
  const trace = (pts) => { ctx.beginPath(); pts.forEach((p, k) => (k ? ctx.lineTo(g.px(p[0]), g.py(p[1])) : ctx.moveTo(g.px(p[0]), g.py(p[1])))); };
  ctx.strokeStyle = "rgba(255,255,255,.8)";
  for (const [, ri, pts] of traces) { ctx.lineWidth = runWidth(ri) + 2.5; trace(pts); ctx.stroke(); }
  for (const [run, ri, pts] of traces) {
    ctx.setLineDash(DASHES[ri % DASHES.length]); ctx.strokeStyle = run.color; ctx.lineWidth = runWidth(ri); trace(pts); ctx.stroke();
  }
  ctx.setLineDash([]);
  // stalls at saddles (told in the diagnosis): a ring in the run's colour once playback gets there
  for (const [run, ri] of runs) {
    run.outcomes.forEach((o, b) => {
      const visits = (o.saddle_visits || []).filter((v) => v.steps >= 10);
      const reached = app.timeline[Math.min(app.frame, app.timeline.length - 1)] ?? 0;
      visits.forEach((v) => {
        const first = firstVisitStep(run, b, v.point);
        if (first === null || first > reached) return;
        const x = g.px(v.point[0]), y = g.py(v.point[1]), rad = 11 + 4 * ri;
        ctx.strokeStyle = "#fff"; ctx.lineWidth = 4; ctx.beginPath(); ctx.arc(x, y, rad, 0, 2 * Math.PI); ctx.stroke();
        ctx.strokeStyle = run.color; ctx.lineWidth = 2; ctx.setLineDash([3, 2]); ctx.beginPath(); ctx.arc(x, y, rad, 0, 2 * Math.PI); ctx.stroke(); ctx.setLineDash([]);
      });
    });
  }
  for (const [run] of [...runs].reverse()) {
    const upto = runIndex(run, app.frame), T = run.positions.length;
    for (let b = 0; b < run.positions[0].length; b++) {
      const p = run.positions[upto][b];
      if (!p || p[0] === null || p[1] === null) continue;
      const x = g.px(p[0]), y = g.py(p[1]);
      ctx.fillStyle = run.color; ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5;
      if (upto === T - 1) { ctx.fillRect(x - 4.5, y - 4.5, 9, 9); ctx.strokeRect(x - 4.5, y - 4.5, 9, 9); }
      else { ctx.beginPath(); ctx.arc(x, y, 4.5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke(); }
    }
  }
  ctx.restore();
}

// The first recorded step at which row b is within 2 % of the domain of point q (or null).
function firstVisitStep(run, b, q) {
  const g = viewGeom(), rad = 0.02 * Math.max(g.x1 - g.x0, g.y1 - g.y0);
  for (let tt = 0; tt < run.positions.length; tt++) {
    const p = run.positions[tt][b];
    if (p && p[0] !== null && Math.hypot(p[0] - q[0], p[1] - q[1]) <= rad) return run.record_steps[tt];
  }
  return null;
}

function arrow(ctx, x0, y0, x1, y1, color, width = 2, dash = []) {
  const len = Math.hypot(x1 - x0, y1 - y0);
  if (len < 1) return;
  const ux = (x1 - x0) / len, uy = (y1 - y0) / len, hl = Math.min(9, 0.45 * len + 3);
  ctx.save();
  ctx.lineCap = "round";
  for (const [col, wd] of [["rgba(255,255,255,.9)", width + 2.5], [color, width]]) {
    ctx.strokeStyle = col; ctx.lineWidth = wd; ctx.setLineDash(col === color ? dash : []);
    ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1 - ux * hl * 0.6, y1 - uy * hl * 0.6); ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = col;
    ctx.beginPath();
    ctx.moveTo(x1 + ux * (col === color ? 0 : 1.5), y1 + uy * (col === color ? 0 : 1.5));
    ctx.lineTo(x1 - ux * hl - uy * hl * 0.5, y1 - uy * hl + ux * hl * 0.5);
    ctx.lineTo(x1 - ux * hl + uy * hl * 0.5, y1 - uy * hl - ux * hl * 0.5);
    ctx.closePath(); ctx.fill();
  }
  ctx.restore();
}

// Along each path at the current frame: the step the optimizer takes next (its velocity, in its
// colour) and the plain gradient step -lr * grad f (black, dashed), both on one scale.
function stepArrowData() {
  const r = app.race;
  if (!r || !$("arrows-toggle").checked || app.playing) return [];
  const out = [];
  r.runs.forEach((run, ri) => {
    const tt = runIndex(run, app.frame);
    for (let b = 0; b < run.positions[0].length; b++) {
      const p = run.positions[tt][b], q = run.positions[tt + 1] && run.positions[tt + 1][b];
      if (!p || p[0] === null) continue;
      const item = { ri, b, p, v: null, g: null };
      if (q && q[0] !== null) {
        const k = run.record_steps[tt + 1] - run.record_steps[tt];
        item.v = [(q[0] - p[0]) / k, (q[1] - p[1]) / k];
      }
      const gr = app.arrows && app.arrows.frame === app.frame && app.arrows.grads[ri] && app.arrows.grads[ri][b];
      const lr = run.lr && run.lr[tt] !== null && run.lr[tt] !== undefined ? run.lr[tt] : (run.hyper.lr ?? null);
      if (gr && gr[0] !== null && lr !== null) item.g = [-lr * gr[0], -lr * gr[1]];
      if (item.v || item.g) out.push(item);
    }
  });
  return out;
}

function drawStepArrows(ctx, g) {
  const items = stepArrowData();
  if (!items.length) return;
  const sx = g.w / (g.x1 - g.x0), sy = g.h / (g.y1 - g.y0);
  let longest = 0;
  for (const it of items) for (const d of [it.v, it.g]) if (d) longest = Math.max(longest, Math.hypot(d[0] * sx, d[1] * sy));
  if (!(longest > 0)) return;
  const scale = 46 / longest;  // the longest arrow is 46 px; all share this scale
  app.arrowScale = scale;
  for (const it of items) {
    const x = g.px(it.p[0]), y = g.py(it.p[1]);
    if (it.g) arrow(ctx, x, y, x + it.g[0] * sx * scale, y - it.g[1] * sy * scale, "#111", 1.6, [4, 3]);
    if (it.v) arrow(ctx, x, y, x + it.v[0] * sx * scale, y - it.v[1] * sy * scale, app.race.runs[it.ri].color, 2.4);
  }
}

// Eigen-directions at the explained point: red where the surface curves down (negative
// eigenvalue), green where it curves up; plus the downhill direction -grad f away from critical points.
function drawExplainArrows(ctx, g) {
  const ex = app.explain;
  if (!ex || app.state.view === "3d") return;
  const info = ex.info, P = info.point;
  if (P[0] < g.x0 || P[0] > g.x1 || P[1] < g.y0 || P[1] > g.y1) return;
  const x = g.px(P[0]), y = g.py(P[1]), L = 34;
  if (info.eigenvalues.every((v) => v !== null)) {
    info.eigenvectors.forEach((v, k) => {
      const lam = info.eigenvalues[k], col = lam < 0 ? "#c62828" : (lam > 0 ? "#1b7a36" : "#555");
      const n = Math.hypot(v[0], v[1]) || 1, ux = v[0] / n, uy = -v[1] / n;
      const wd = ex.snapped ? 2.4 : 1.6;
      arrow(ctx, x, y, x + ux * L, y + uy * L, col, wd);
      arrow(ctx, x, y, x - ux * L, y - uy * L, col, wd);
    });
  }
  if (!ex.snapped && info.grad_norm) {
    const gx = -info.gradient[0], gy = info.gradient[1], n = Math.hypot(gx, gy);
    if (n > 0) arrow(ctx, x, y, x + gx / n * 46, y + gy / n * 46, "#111", 2.4);
  }
  ctx.beginPath(); ctx.arc(x, y, 3.5, 0, 2 * Math.PI); ctx.fillStyle = "#111"; ctx.fill();
}

function basinColor(entry, sameKindRank) {
  const oc = app.meta.style.outcome_colors;
  const base = oc[entry.kind] || "#999999";
  const rgb = [1, 3, 5].map((k) => parseInt(base.slice(k, k + 2), 16));
  const f = [0, 0.35, -0.3, 0.55, -0.5, 0.7][sameKindRank % 6];
  return rgb.map((c) => Math.round(f >= 0 ? c + (255 - c) * f : c * (1 + f)));
}

function basinPalette(map) {
  const rank = {}, out = {};
  for (const e of map.legend) {
    rank[e.kind] = (rank[e.kind] ?? -1) + 1;
    out[e.code] = basinColor(e, rank[e.kind]);
  }
  return out;
}

function drawBasin(ctx, g) {
  const b = app.basin, map = b.maps[app.basinIndex];
  if (!map) return;
  const n = b.n, pal = basinPalette(map);
  const off = document.createElement("canvas");
  off.width = n; off.height = n;
  const octx = off.getContext("2d"), img = octx.createImageData(n, n);
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
    const k = ((n - 1 - j) * n + i) * 4, col = pal[map.codes[j][i]] || [150, 150, 150];
    img.data[k] = col[0]; img.data[k + 1] = col[1]; img.data[k + 2] = col[2]; img.data[k + 3] = 205;
  }
  octx.putImageData(img, 0, 0);
  // cells are centred on the starts: extend half a cell beyond the first and last start
  const hx = (b.x[n - 1] - b.x[0]) / (n - 1) / 2, hy = (b.y[n - 1] - b.y[0]) / (n - 1) / 2;
  const X0 = g.px(b.x[0] - hx), X1 = g.px(b.x[n - 1] + hx), Y0 = g.py(b.y[n - 1] + hy), Y1 = g.py(b.y[0] - hy);
  ctx.save(); ctx.imageSmoothingEnabled = false;
  ctx.beginPath(); ctx.rect(PAD.l, PAD.t, g.w, g.h); ctx.clip();
  ctx.drawImage(off, X0, Y0, X1 - X0, Y1 - Y0);
  ctx.restore();
}

// ------------------------------------------------------------------ 3-D view
// The surface as shaded quads (painter's algorithm) under a turntable camera; heights are
// clipped at the 95th percentile so one steep wall does not flatten the rest.
function surface3d() {
  const s = app.surface, ny = s.y.length, nx = s.x.length;
  const step = Math.max(1, Math.ceil(Math.max(nx, ny) / 60));
  const qm = quantileMap(s.z), lo = qm.at(0), hi = qm.at(0.95) > lo ? qm.at(0.95) : lo + 1;
  const [x0, x1, y0, y1] = [s.x[0], s.x[nx - 1], s.y[0], s.y[ny - 1]];
  const H = (z) => (z === null ? null : (Math.min(Math.max(z, lo), hi) - lo) / (hi - lo));
  return { s, nx, ny, step, qm, H, U: (x) => 2 * (x - x0) / (x1 - x0) - 1, V: (y) => 2 * (y - y0) / (y1 - y0) - 1 };
}

function projector(c) {
  const th = app.state.azimuth * Math.PI / 180, ph = app.state.elevation * Math.PI / 180;
  const scale = Math.min(c._w, c._h) * 0.34, cx = c._w / 2, cy = c._h / 2 + 20;
  return (u, v, h) => {
    const w = 1.1 * h - 0.55;
    const xr = u * Math.cos(th) - v * Math.sin(th), yr = u * Math.sin(th) + v * Math.cos(th);
    return [cx + scale * xr, cy - scale * (w * Math.cos(ph) + yr * Math.sin(ph)), yr * Math.cos(ph) - w * Math.sin(ph)];
  };
}

function draw3d(ctx, c) {
  const S = app.s3d || (app.s3d = surface3d()), P = projector(c), z = S.s.z, quads = [];
  for (let j = 0; j + S.step < S.ny; j += S.step) {
    for (let i = 0; i + S.step < S.nx; i += S.step) {
      const idx = [[j, i], [j, i + S.step], [j + S.step, i + S.step], [j + S.step, i]];
      const vals = idx.map(([a, b]) => z[a][b]);
      if (vals.some((v) => v === null)) continue;
      const pts = idx.map(([a, b], k) => P(S.U(S.s.x[b]), S.V(S.s.y[a]), S.H(vals[k])));
      const depth = pts.reduce((acc, p) => acc + p[2], 0) / 4;
      quads.push([depth, pts, (vals[0] + vals[1] + vals[2] + vals[3]) / 4]);
    }
  }
  quads.sort((a, b) => b[0] - a[0]);
  ctx.lineWidth = 0.4; ctx.strokeStyle = "rgba(20,30,60,.35)";
  for (const [, pts, v] of quads) {
    const [r, g, b] = cmap(S.qm.q(v));
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.beginPath(); pts.forEach((p, k) => (k ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])));
    ctx.closePath(); ctx.fill(); ctx.stroke();
  }
  const st = app.meta.style.kinds, many = app.surface.critical_points.length > 40;
  for (const cp of app.surface.critical_points) {
    const k = cpKey(cp), p = P(S.U(cp.point[0]), S.V(cp.point[1]), S.H(cp.value));
    drawMarker(ctx, k, p[0], p[1], (st[k] || st.degenerate).color, many ? 3 : 7);
    if (!many) haloText(ctx, cpLabel(cp), p[0] + 9, p[1] - 7);
  }
  if (app.state.mode === "race" && app.race) {
    for (const run of app.race.runs) {
      const upto = runIndex(run, app.frame);
      for (let b = 0; b < run.positions[0].length; b++) {
        const pts = [];
        for (let tt = 0; tt <= upto; tt++) {
          const q = run.positions[tt][b], f = run.losses[tt][b];
          if (!q || q[0] === null || f === null) break;
          pts.push(P(S.U(q[0]), S.V(q[1]), S.H(f)));
        }
        if (!pts.length) continue;
        for (const [col, wd] of [["rgba(255,255,255,.85)", 4.5], [run.color, 2.2]]) {
          ctx.strokeStyle = col; ctx.lineWidth = wd; ctx.beginPath();
          pts.forEach((p, k) => (k ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1]))); ctx.stroke();
        }
        const last = pts[pts.length - 1];
        ctx.fillStyle = run.color; ctx.beginPath(); ctx.arc(last[0], last[1], 4.5, 0, 2 * Math.PI); ctx.fill();
      }
    }
  }
  ctx.fillStyle = "#555"; ctx.font = `11px ${FONT}`; ctx.textAlign = "left";
  ctx.fillText(t("view3d.clipped", { value: fmt(S.qm.at(0.95)) }), 8, c._h - 8);
}

// ------------------------------------------------------------------ legend, curves, diagnosis
function legendItems() {
  const items = [];
  if (app.state.mode === "basin" && app.basin && app.basin.maps[app.basinIndex]) {
    const map = app.basin.maps[app.basinIndex], pal = basinPalette(map), total = app.basin.n ** 2;
    for (const e of map.legend) items.push({ color: `rgb(${pal[e.code].join(",")})`, text: `${basinLabel(e)}: ${(100 * e.count / total).toFixed(1)}%` });
    return items;
  }
  if (app.surface) {
    const kinds = [...new Set(app.surface.critical_points.map(cpKey))];
    for (const k of kinds) items.push({ color: app.meta.style.kinds[k].color, text: t(`kind.${k}`), marker: k });
  }
  if (app.race && app.state.mode === "race") {
    app.race.runs.forEach((run, ri) => items.push({ color: run.color, text: run.label, line: ri }));
    const stalls = app.race.runs.some((run) => run.outcomes.some((o) => (o.saddle_visits || []).some((v) => v.steps >= 10)));
    if (stalls) items.push({ color: "#333", text: t("legend.stall"), ring: true });
  }
  return items;
}

function basinLabel(e) {
  if (app.state.lang === "en") return e.label;
  const where = e.point ? ` ${pt(e.point)}` : "";
  return t(`outcome.${e.kind}`) + where;
}

function renderLegend() {
  const el = $("legend");
  el.innerHTML = "";
  for (const it of legendItems()) {
    const span = document.createElement("span");
    const sw = document.createElement("span"); sw.className = "sw"; sw.style.background = it.color;
    if (it.ring) { sw.className = "sw ring"; sw.style.background = "none"; }
    if (it.line !== undefined) { sw.className = "sw line"; sw.style.background = "none"; sw.style.borderTop = `3px ${["solid", "dashed", "dotted"][Math.min(2, it.line)]} ${it.color}`; }
    span.appendChild(sw); span.appendChild(document.createTextNode(it.text));
    el.appendChild(span);
  }
  const notes = [];
  if (app.surface && app.state.mode === "race") {
    const n = app.surface.critical_points.length, shown = app.labelBoxes.length;
    if (app.state.view !== "3d" && n > shown) notes.push(t("legend.labels_hidden", { shown, n: n.toLocaleString("en") }));
    if (app.surface.critical_points_source === "found") notes.push(t("legend.found"));
  }
  if (app.race && app.state.mode === "race" && $("arrows-toggle").checked) notes.push(t("legend.arrows"));
  for (const text of notes) {
    const span = document.createElement("span"); span.className = "note"; span.textContent = text; el.appendChild(span);
  }
}

function curveFrameStep() { return app.timeline[Math.min(app.frame, app.timeline.length - 1)] ?? 0; }

function drawCurve(canvasId, key) {
  const c = $(canvasId), ctx = ctxOf(c);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c._w, c._h);
  const r = app.race;
  if (!r || app.state.mode !== "race") return;
  const P = { l: 46, r: 16, t: 8, b: 22 }, w = c._w - P.l - P.r, h = c._h - P.t - P.b;
  let low = Infinity;
  if (key === "losses") for (const run of r.runs) for (const row of run.losses) for (const v of row) if (v !== null && v < low) low = v;
  const tf = (v) => {
    if (v === null) return null;
    const u = key === "losses" ? v - low : v;
    return Math.log10(Math.max(u, 1e-16));
  };
  let lo = Infinity, hi = -Infinity;
  const smax = Math.max(1, app.timeline[app.timeline.length - 1] || 1);
  for (const run of r.runs) {
    for (const row of run[key]) for (const v of row) { const u = tf(v); if (u !== null && isFinite(u)) { lo = Math.min(lo, u); hi = Math.max(hi, u); } }
  }
  if (!isFinite(lo)) return;
  if (hi - lo < 1) { hi += 0.5; lo -= 0.5; }
  const X = (s) => P.l + s / smax * w, Y = (u) => P.t + (1 - (u - lo) / (hi - lo)) * h;
  ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#555"; ctx.font = `10px ${FONT}`; ctx.textAlign = "right"; ctx.lineWidth = 1;
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e += Math.max(1, Math.ceil((hi - lo) / 5))) {
    ctx.beginPath(); ctx.moveTo(P.l, Y(e)); ctx.lineTo(P.l + w, Y(e)); ctx.stroke();
    ctx.fillText(`1e${e}`, P.l - 4, Y(e) + 3);
  }
  ctx.textAlign = "center";
  for (const tk of niceTicks(0, smax, Math.max(3, Math.round(w / 70)))) ctx.fillText(String(tk), X(tk), c._h - 6);
  r.runs.forEach((run, ri) => {
    const B = run[key][0].length;
    for (let b = 0; b < B; b++) {
      ctx.strokeStyle = run.color; ctx.lineWidth = Math.max(1.2, runWidth(ri) - 1); ctx.setLineDash(DASHES[ri % DASHES.length]); ctx.beginPath();
      let started = false;
      run[key].forEach((row, tt) => {
        const u = tf(row[b]);
        if (u === null || !isFinite(u)) return;
        const x = X(run.record_steps[tt]), y = Y(Math.min(hi, Math.max(lo, u)));
        if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
      });
      ctx.stroke(); ctx.setLineDash([]);
    }
  });
  const cur = curveFrameStep();
  ctx.strokeStyle = "rgba(0,0,0,.5)"; ctx.setLineDash([3, 3]);
  ctx.beginPath(); ctx.moveTo(X(cur), P.t); ctx.lineTo(X(cur), P.t + h); ctx.stroke(); ctx.setLineDash([]);
}

function drawLr() {
  const box = $("lr-box"), r = app.race;
  box.hidden = !(r && app.state.mode === "race" && r.schedule);
  if (box.hidden) return;
  const c = $("lr-curve");
  fitCanvas(c, c.parentElement.clientWidth || 320, 120);
  const ctx = ctxOf(c);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c._w, c._h);
  const P = { l: 46, r: 8, t: 8, b: 22 }, w = c._w - P.l - P.r, h = c._h - P.t - P.b;
  let hi = 0;
  const smax = Math.max(1, app.timeline[app.timeline.length - 1] || 1);
  for (const run of r.runs) for (const v of run.lr) if (v !== null && v > hi) hi = v;
  if (!(hi > 0)) return;
  const X = (s) => P.l + s / smax * w, Y = (v) => P.t + (1 - v / hi) * h;
  ctx.fillStyle = "#555"; ctx.strokeStyle = "#ccc"; ctx.font = `10px ${FONT}`; ctx.textAlign = "right";
  for (const tk of niceTicks(0, hi, 4)) { ctx.beginPath(); ctx.moveTo(P.l, Y(tk)); ctx.lineTo(P.l + w, Y(tk)); ctx.stroke(); ctx.fillText(fmt(tk, 3), P.l - 4, Y(tk) + 3); }
  ctx.textAlign = "center";
  for (const tk of niceTicks(0, smax, 5)) ctx.fillText(String(tk), X(tk), c._h - 6);
  for (const run of r.runs) {
    ctx.strokeStyle = run.color; ctx.lineWidth = 1.5; ctx.beginPath();
    run.lr.forEach((v, tt) => { if (v === null) return; const x = X(run.record_steps[tt]), y = Y(v); if (tt) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    ctx.stroke();
  }
}

// The outcome's story: the server's words in English; in another language, told from its fields.
function outcomeText(run, o, b) {
  if (app.state.lang === "en") return o.text;
  const parts = [];
  const visits = (o.saddle_visits || []).filter((v) => v.steps >= 10);
  const end = run.final_points[b];
  const g = viewGeom(), rad = 0.02 * Math.max(g.x1 - g.x0, g.y1 - g.y0);
  const stillAt = (v) => end && end[0] !== null && Math.hypot(end[0] - v.point[0], end[1] - v.point[1]) <= rad;
  for (const v of visits) {
    const what = t(v.kind === "saddle" ? "cp.saddle" : "cp.degenerate");
    if (stillAt(v) && o.kind !== "saddle") parts.push(t("story.stuck_at", { what, point: pt(v.point), steps: v.steps }));
    else if (!stillAt(v)) parts.push(t("story.stalled_then_left", { what, point: pt(v.point), steps: v.steps }));
  }
  const cp = o.critical_point ? pt(o.critical_point) : "";
  const vars = { point: cp, step: o.step, gap: fmt(o.gap ?? 0, 3) };
  parts.push(t(`story.${o.kind}`, vars));
  return parts.join(" ");
}

function renderDiagnosis() {
  const ul = $("diagnosis");
  ul.innerHTML = "";
  const oc = app.meta.style.outcome_colors;
  if (app.state.mode === "basin" && app.basin) {
    for (const m of app.basin.maps) {
      const li = document.createElement("li");
      const who = document.createElement("span"); who.className = "who"; who.textContent = m.label;
      li.append(who, document.createTextNode(t("basin.summary", { pct: (100 * m.global_fraction).toFixed(1), n: app.basin.n })));
      if (m.note) {
        const note = document.createElement("div");
        note.className = "muted";
        note.textContent = app.state.lang === "en" ? m.note : t("basin.still_moving");
        li.appendChild(note);
      }
      ul.appendChild(li);
    }
    return;
  }
  if (!app.race) {
    const li = document.createElement("li"); li.className = "muted"; li.textContent = t("diagnosis.empty");
    ul.appendChild(li);
    return;
  }
  app.race.runs.forEach((run, ri) => {
    run.outcomes.forEach((o, b) => {
      const li = document.createElement("li");
      li.style.borderLeftColor = run.color;
      li.dataset.run = ri; li.dataset.start = b; li.dataset.kind = o.kind;
      const who = document.createElement("span"); who.className = "who"; who.textContent = run.label;
      const kind = document.createElement("span"); kind.className = "kind" + (o.kind === "max_steps" || o.kind === "plateau" ? " light" : "");
      kind.style.background = oc[o.kind] || "#777"; kind.textContent = t(`outcome.${o.kind}`);
      const p = app.race.starts[b];
      li.append(who, document.createTextNode(t("diagnosis.from_start", { i: b + 1, point: pt(p, 3) })), kind);
      const txt = document.createElement("span"); txt.className = "text"; txt.textContent = outcomeText(run, o, b);
      li.appendChild(txt);
      ul.appendChild(li);
    });
  });
}

// ------------------------------------------------------------------ the explanation panel
// What the point under the cursor is: value, gradient, curvature; at a critical point, why it is
// a minimum, a maximum or a saddle (eigenvalues with their directions drawn on the map).
async function explainAt(x, y, snapped) {
  let out;
  try {
    out = await latest("point", "/api/point", { landscape: landscapeSpec(), points: [[x, y]] });
  } catch (err) {
    return;  // the surface already reports landscape errors; the panel keeps its last point
  }
  if (!out) return;
  app.explain = { info: out.points[0], snapped };
  renderExplain();
  drawView();
}

function renderExplain() {
  const box = $("explain-body");
  const ex = app.explain;
  if (!ex) { box.className = "muted"; box.textContent = t("explain.empty"); return; }
  const i = ex.info, [l1, l2] = i.eigenvalues;
  box.className = "";
  box.innerHTML = "";
  const head = document.createElement("div");
  const title = ex.snapped ? t("explain.at_cp", { what: cpLabel(ex.snapped), point: pt(i.point) }) : t("explain.at", { point: pt(i.point, 3) });
  head.innerHTML = `<b></b>`; head.firstChild.textContent = title;
  box.appendChild(head);
  const tbl = document.createElement("table");
  const row = (k, v, cls = "") => {
    const tr = document.createElement("tr");
    const a = document.createElement("td"); a.textContent = k;
    const b = document.createElement("td"); b.className = `num ${cls}`; b.textContent = v;
    tr.append(a, b); tbl.appendChild(tr);
  };
  row("f", fmt(i.value));
  row(t("explain.gradient"), `${pt(i.gradient, 3)}  |∇f| = ${fmt(i.grad_norm, 3)}`);
  if (l1 !== null) {
    row("λ₁", `${fmt(l1, 3)}  ${t("explain.along")} ${pt(i.eigenvectors[0], 2)}`, l1 < 0 ? "neg" : (l1 > 0 ? "pos" : ""));
    row("λ₂", `${fmt(l2, 3)}  ${t("explain.along")} ${pt(i.eigenvectors[1], 2)}`, l2 < 0 ? "neg" : (l2 > 0 ? "pos" : ""));
  }
  box.appendChild(tbl);
  const why = document.createElement("p"); why.className = "why";
  const vars = { l1: fmt(l1, 3), l2: fmt(l2, 3) };
  if (ex.snapped) {
    why.textContent = t(`why.${cpKey(ex.snapped)}`, vars);
  } else {
    why.textContent = `${t(`shape.${i.shape}`, vars)} ${t("explain.downhill")}`;
    if (i.nearest) {
      const near = document.createElement("div"); near.className = "muted";
      near.textContent = t("explain.nearest", { what: cpLabel(i.nearest), point: pt(i.nearest.point), d: fmt(i.nearest.distance, 3) });
      why.appendChild(near);
    }
  }
  box.appendChild(why);
  const key = document.createElement("div"); key.className = "muted small";
  key.textContent = t("explain.arrows_key");
  box.appendChild(key);
}

// Gradients at the current iterates (for the -lr * grad f arrows), fetched when playback pauses.
async function fetchArrowGradients() {
  const r = app.race;
  if (!r || !$("arrows-toggle").checked || app.playing || app.state.mode !== "race") return;
  if (app.arrows && app.arrows.frame === app.frame && app.arrows.race === r) return;
  const pts = [], where = [];
  r.runs.forEach((run, ri) => {
    const tt = runIndex(run, app.frame);
    run.positions[tt].forEach((p, b) => { if (p && p[0] !== null) { pts.push(p); where.push([ri, b]); } });
  });
  if (!pts.length) return;
  const frame = app.frame;
  let out;
  try { out = await latest("arrows", "/api/point", { landscape: landscapeSpec(), points: pts }); } catch (e) { return; }
  if (!out || app.race !== r) return;
  const grads = r.runs.map((run) => run.positions[0].map(() => null));
  out.points.forEach((info, k) => { const [ri, b] = where[k]; grads[ri][b] = info.gradient; });
  app.arrows = { frame, race: r, grads };
  if (app.frame === frame) drawView();
}
const fetchArrowsSoon = debounce(fetchArrowGradients, 120);

function renderAll() {
  $("curves").hidden = app.state.mode !== "race";
  layoutCanvases();
  drawView();
  drawCurve("loss-curve", "losses");
  drawCurve("grad-curve", "grad_norms");
  drawLr();
  renderLegend();
  renderDiagnosis();
  renderExplain();
  renderPlayer();
  fetchArrowsSoon();
}

function stepLabel() {
  if (!app.race) return "";
  return t("player.step", { step: curveFrameStep(), steps: app.race.steps });
}

function renderPlayer() {
  const sc = $("scrubber");
  const race = app.state.mode === "race" && app.race;
  const T = race ? app.timeline.length : 1;
  sc.max = String(T - 1);
  sc.value = String(Math.min(app.frame, T - 1));
  sc.disabled = !race;
  $("play-btn").disabled = !race;
  $("step-btn").hidden = app.state.mode !== "race";
  $("arrows-toggle").parentElement.hidden = app.state.mode !== "race";
  $("step-label").textContent = race ? stepLabel() : "";
  $("play-btn").hidden = app.state.mode !== "race";
  sc.hidden = app.state.mode !== "race";
  const tabs = $("basin-tabs");
  tabs.hidden = !(app.state.mode === "basin" && app.basin);
  tabs.innerHTML = "";
  if (!tabs.hidden) app.basin.maps.forEach((m, i) => {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = m.label; b.className = i === app.basinIndex ? "active" : "";
    b.addEventListener("click", () => { app.basinIndex = i; renderAll(); });
    tabs.appendChild(b);
  });
}

// ------------------------------------------------------------------ controls
function renderStarts() {
  const ol = $("starts-list");
  ol.innerHTML = "";
  app.state.starts.forEach((p, i) => {
    const li = document.createElement("li");
    li.textContent = pt(p);
    const b = document.createElement("button");
    b.type = "button"; b.textContent = "×"; b.title = t("btn.remove");
    b.addEventListener("click", () => { app.state.starts.splice(i, 1); afterSetupChange(); });
    li.appendChild(b);
    ol.appendChild(li);
  });
}

const MAIN_HYPER = ["lr", "momentum", "betas", "alpha", "rho", "weight_decay"];
// Sliders: lr on a log scale (1e-4 .. 1), momentum on a linear one (0 .. 0.99).
const SLIDERS = {
  lr: { min: -4, max: 0, step: 0.01, to: (s) => Number(Math.pow(10, s).toPrecision(3)), from: (v) => Math.log10(Math.max(v, 1e-4)) },
  momentum: { min: 0, max: 0.99, step: 0.01, to: (s) => Number(Number(s).toFixed(2)), from: (v) => v },
};

function renderOptimizers() {
  const box = $("optimizers");
  box.innerHTML = "";
  const names = app.meta.optimizers.map((o) => o.name);
  app.state.optimizers.forEach((opt, i) => {
    const info = app.meta.optimizers.find((o) => o.name === opt.name) || { defaults: {} };
    const card = document.createElement("div");
    card.className = "opt-card";
    card.style.borderLeftColor = optimizerColor(opt.name, i);
    const row = document.createElement("div"); row.className = "row";
    const sel = document.createElement("select");
    sel.className = "opt-name"; sel.setAttribute("aria-label", `optimizer ${i + 1}`);
    for (const n of names) { const o = document.createElement("option"); o.value = n; o.textContent = n; sel.appendChild(o); }
    sel.value = opt.name;
    sel.addEventListener("change", () => {
      const d = (app.meta.optimizers.find((o) => o.name === sel.value) || { defaults: {} }).defaults;
      opt.name = sel.value;
      opt.hyper = "lr" in d ? { lr: d.lr } : {};
      renderOptimizers(); saveState();
    });
    const rm = document.createElement("button");
    rm.type = "button"; rm.textContent = "×"; rm.title = t("btn.remove_optimizer");
    rm.disabled = app.state.optimizers.length <= 1;
    rm.addEventListener("click", () => { app.state.optimizers.splice(i, 1); renderOptimizers(); saveState(); });
    row.append(sel, rm);
    card.appendChild(row);
    const slid = Object.keys(SLIDERS).filter((k) => typeof info.defaults[k] === "number");
    for (const k of slid) card.appendChild(sliderRow(opt, k, info.defaults[k], i));
    const main = document.createElement("div"); main.className = "params";
    const more = document.createElement("details");
    const sum = document.createElement("summary"); sum.textContent = t("optimizers.more"); more.appendChild(sum);
    const moreBox = document.createElement("div"); moreBox.className = "params"; more.appendChild(moreBox);
    for (const [k, def] of Object.entries(info.defaults)) {
      if (slid.includes(k)) continue;
      const target = MAIN_HYPER.includes(k) ? main : moreBox;
      target.appendChild(hyperInput(opt, k, def, i));
    }
    card.appendChild(main);
    if (moreBox.children.length) card.appendChild(more);
    box.appendChild(card);
  });
}

// A slider that sets the hyper-parameter as it moves and re-runs the race (debounced; only the
// answer to the latest request is shown).
const rerunSoon = debounce(() => run({ live: true }), 150);
function sliderRow(opt, k, def, i) {
  const S = SLIDERS[k], rowEl = document.createElement("div");
  rowEl.className = "slider-row";
  const name = document.createElement("span"); name.textContent = k;
  const sl = document.createElement("input");
  sl.type = "range"; sl.min = S.min; sl.max = S.max; sl.step = S.step;
  sl.dataset.slider = k; sl.dataset.opt = i;
  sl.setAttribute("aria-label", `${k} ${i + 1}`);
  const cur = k in opt.hyper ? opt.hyper[k] : def;
  sl.value = String(S.from(cur));
  const num = hyperInput(opt, k, def, i).querySelector("input");
  num.classList.add("sv");
  sl.addEventListener("input", () => {
    const v = S.to(Number(sl.value));
    opt.hyper[k] = v;
    num.value = v;
    saveState();
    if (app.state.mode === "race" && app.state.starts.length && app.surface) rerunSoon();
  });
  rowEl.append(name, sl, num);
  return rowEl;
}

function hyperInput(opt, k, def, i) {
  const lab = document.createElement("label");
  lab.textContent = k;
  const cur = k in opt.hyper ? opt.hyper[k] : def;
  const set = (v) => {
    if (JSON.stringify(v) === JSON.stringify(def)) delete opt.hyper[k]; else opt.hyper[k] = v;
    const sl = document.querySelector(`input[type=range][data-opt='${i}'][data-slider='${k}']`);
    if (sl && typeof v === "number") sl.value = String(SLIDERS[k].from(v));
    saveState();
  };
  if (typeof def === "boolean") {
    const inp = document.createElement("input");
    inp.type = "checkbox"; inp.checked = !!cur;
    inp.addEventListener("change", () => set(inp.checked));
    lab.appendChild(inp);
  } else if (Array.isArray(def)) {
    const ins = def.map((d, j) => {
      const inp = document.createElement("input");
      inp.type = "number"; inp.step = "any"; inp.value = (cur || def)[j];
      inp.dataset.hyper = `${k}.${j}`; inp.dataset.opt = i;
      inp.addEventListener("change", () => set(ins.map((x) => Number(x.value))));
      return inp;
    });
    ins.forEach((x) => lab.appendChild(x));
  } else if (def === null) {
    // optional value (e.g. L-BFGS's max_eval or line_search_fn): empty means none
    const inp = document.createElement("input");
    inp.type = "text"; inp.value = cur === null ? "" : cur; inp.placeholder = "none"; inp.size = 8;
    inp.dataset.hyper = k; inp.dataset.opt = i;
    inp.addEventListener("change", () => {
      const v = inp.value.trim();
      set(v === "" ? null : (isNaN(Number(v)) ? v : Number(v)));
    });
    lab.appendChild(inp);
  } else if (typeof def === "number") {
    const inp = document.createElement("input");
    inp.type = "number"; inp.step = "any"; inp.value = cur === null ? "" : cur;
    inp.dataset.hyper = k; inp.dataset.opt = i;
    inp.addEventListener("change", () => {
      if (inp.value.trim() === "") { set(def); return; }
      set(Number(inp.value));
    });
    inp.addEventListener("keydown", (e) => { if (e.key === "Enter") { inp.dispatchEvent(new Event("change")); run(); } });
    lab.appendChild(inp);
  } else {
    const inp = document.createElement("input");
    inp.type = "text"; inp.value = cur;
    inp.addEventListener("change", () => set(inp.value));
    lab.appendChild(inp);
  }
  return lab;
}

function parseKeyValues(text) {
  const out = {};
  for (const item of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [k, v] = item.split("=").map((s) => s.trim());
    if (!k || v === undefined) throw new Error(t("schedule.expected", { item }));
    if (v.includes(";")) out[k] = v.split(";").map(Number);
    else if (v === "true" || v === "false") out[k] = v === "true";
    else if (v !== "" && !isNaN(Number(v))) out[k] = Number(v);
    else out[k] = v;
  }
  return out;
}

function renderSchedule() {
  const sel = $("schedule-select");
  $("schedule-row").hidden = !app.meta.schedules.length;
  sel.innerHTML = "";
  const none = document.createElement("option"); none.value = ""; none.textContent = t("schedule.constant"); sel.appendChild(none);
  for (const s of app.meta.schedules) { const o = document.createElement("option"); o.value = s.name; o.textContent = s.name; sel.appendChild(o); }
  const s = app.state.schedule;
  sel.value = s ? s.name : "";
  $("schedule-params").value = s ? Object.entries(s.params).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(";") : v}`).join(", ") : "";
  $("schedule-params").disabled = !s;
  const info = s && app.meta.schedules.find((x) => x.name === s.name);
  const params = info ? Object.entries(info.params).map(([k, v]) => `${k}=${v === null ? "none" : v}`).join(", ") : "";
  $("schedule-hint").textContent = info ? `${info.summary}${params ? "; " + t("schedule.parameters") + ": " + params : ""}` : "";
}

// Values to start from for a schedule's required parameters (the user edits them).
function scheduleExample(info) {
  const steps = app.state.steps;
  const ex = { T_max: steps, T_0: Math.max(1, Math.round(steps / 4)), total_steps: steps, total_iters: steps,
    base_lr: 0.001, max_lr: 0.05, gamma: 0.995, step_size: Math.max(1, Math.round(steps / 3)),
    milestones: [Math.round(steps / 3), Math.round(2 * steps / 3)], warmup_steps: Math.max(1, Math.round(steps / 10)) };
  const out = {};
  for (const [k, v] of Object.entries(info.params)) if (v === "required") out[k] = k in ex ? ex[k] : 1;
  return out;
}

function syncControls() {
  const s = app.state;
  applyLang();
  $("source-catalogue").checked = s.source === "catalogue";
  $("source-formula").checked = s.source === "formula";
  $("catalogue-box").hidden = s.source !== "catalogue";
  $("formula-box").hidden = s.source !== "formula";
  $("landscape-select").value = s.name;
  $("formula-input").value = s.formula;
  writeDomain(s.domain);
  $("steps-input").value = s.steps;
  $("basin-n").value = s.basin_n;
  $("view-contour").checked = s.view !== "3d";
  $("view-3d").checked = s.view === "3d";
  $("view").style.cursor = s.view === "3d" ? "grab" : "crosshair";
  $("mode-race").checked = s.mode === "race";
  $("mode-basin").checked = s.mode === "basin";
  $("basin-n-row").hidden = s.mode !== "basin";
  renderLandscapeParams();
  renderStarts();
  renderOptimizers();
  renderSchedule();
}

function afterSetupChange() {
  renderStarts();
  saveState();
  drawView();
}

function showFormulaError(err) {
  const box = $("formula-error");
  const info = err.info || {};
  if (info.field === "formula" && app.state.source === "formula") {
    const f = app.state.formula;
    let text = f + "\n";
    if (Number.isInteger(info.position)) text += " ".repeat(Math.max(0, info.position)) + "^\n";
    box.textContent = text + info.error;
    box.hidden = false;
    const inp = $("formula-input");
    if (Number.isInteger(info.position)) { inp.focus(); inp.setSelectionRange(info.position, Math.min(f.length, info.position + 1)); }
    return true;
  }
  box.hidden = true;
  return false;
}

async function drawSurface() {
  const s = app.state;
  s.domain = readDomain();
  s.formula = $("formula-input").value;
  $("formula-error").hidden = true;
  setStatus(t("status.drawing"));
  // races and explanations still in flight belong to the old surface: drop their answers
  app.seq.run += 1; app.seq.point += 1; app.seq.arrows += 1;
  try {
    const t0 = performance.now();
    const surface = await latest("surface", "/api/surface", { landscape: landscapeSpec(), grid: 120 });
    if (!surface) return false;  // a newer surface was asked for meanwhile
    app.surface = surface;
    app.race = null; app.basin = null; app.frame = 0; app.timeline = []; app.s3d = null; app.explain = null; app.arrows = null;
    stop();
    buildHeat();
    if (!s.domain) writeDomain(app.surface.landscape.domain.flat());
    s.starts = s.starts.filter((p) => inDomain(p));
    renderStarts();
    const n = app.surface.critical_points.length;
    const note = app.surface.critical_points_note ? ` — ${app.surface.critical_points_note}` : "";
    const source = t(`source.${app.surface.critical_points_source}`);
    setStatus(t("status.drawn", { name: app.surface.landscape.name, n: n.toLocaleString("en"), source, ms: Math.round(performance.now() - t0) }) + note);
    saveState();
    renderAll();
    return true;
  } catch (err) {
    showFormulaError(err);
    setStatus(t("status.surface_error", { error: err.message }), true);
    return false;
  }
}

function inDomain(p) {
  if (!app.surface) return true;
  const g = viewGeom();
  return p[0] >= g.x0 && p[0] <= g.x1 && p[1] >= g.y0 && p[1] <= g.y1;
}

function readSetup() {
  const s = app.state;
  s.steps = Math.round(Number($("steps-input").value));
  s.basin_n = Math.round(Number($("basin-n").value));
  const name = $("schedule-select").value;
  s.schedule = name ? { name, params: parseKeyValues($("schedule-params").value) } : null;
}

// Run the race (or the basin map). opts.live: from a slider, show the whole paths at once;
// opts.play === false: stay at the first frame (the step button).
async function run(opts = {}) {
  if (!app.surface) return false;
  let body;
  try { readSetup(); } catch (e) { setStatus(`${t("schedule.params_error")}: ${e.message}`, true); return false; }
  const s = app.state;
  saveState();
  const common = { landscape: landscapeSpec(), optimizers: s.optimizers.map((o) => ({ name: o.name, hyper: o.hyper })), steps: s.steps, schedule: s.schedule };
  if (s.mode === "race") {
    if (!s.starts.length) { setStatus(t("status.need_start"), true); return false; }
    body = { ...common, starts: s.starts };
  } else {
    body = { ...common, n: s.basin_n };
  }
  setStatus(s.mode === "race" ? t("status.racing") : t("status.basin_running"));
  if (!opts.live) stop();
  try {
    const t0 = performance.now();
    if (s.mode === "race") {
      const race = await latest("run", "/api/run", body);
      if (!race) return false;  // a newer run was asked for meanwhile
      app.race = race; app.arrows = null;
      app.timeline = race.runs.reduce((a, r) => (r.record_steps.length > a.length ? r.record_steps : a), []);
      const longest = app.timeline[app.timeline.length - 1];
      setStatus(t("status.raced", { runs: race.runs.length, starts: race.starts.length, steps: race.steps, longest, server: race.server_ms.toFixed(1), total: Math.round(performance.now() - t0) }));
      if (opts.live) { stop(); app.frame = app.timeline.length - 1; } else app.frame = 0;
      renderAll();
      if (!opts.live && opts.play !== false) play();
    } else {
      const basin = await latest("run", "/api/basin", body);
      if (!basin) return false;
      app.basin = basin;
      app.basinIndex = Math.min(app.basinIndex, app.basin.maps.length - 1);
      setStatus(t("status.basin_done", { n: basin.n, maps: basin.maps.length, server: basin.server_ms.toFixed(0) }));
      renderAll();
    }
    return true;
  } catch (err) {
    showFormulaError(err);
    setStatus(err.message, true);
    return false;
  }
}

// ------------------------------------------------------------------ playback (to the longest run)
let timer = null;
function redrawFrame() {
  drawView(); drawCurve("loss-curve", "losses"); drawCurve("grad-curve", "grad_norms"); renderPlayerLight();
}

function play() {
  if (!app.race) return;
  const T = app.timeline.length;
  if (app.frame >= T - 1) app.frame = 0;
  app.playing = true;
  $("play-btn").innerHTML = "&#10074;&#10074;";
  const perFrame = Math.max(8, 2500 / T);
  let last = performance.now();
  const tick = (now) => {
    if (!app.playing) return;
    const adv = Math.floor((now - last) / perFrame);
    if (adv > 0) {
      last += adv * perFrame;
      app.frame = Math.min(T - 1, app.frame + adv);
      redrawFrame();
    }
    if (app.frame >= T - 1) { stop(); redrawFrame(); fetchArrowsSoon(); return; }
    timer = requestAnimationFrame(tick);
  };
  timer = requestAnimationFrame(tick);
}

function stop() {
  app.playing = false;
  if (timer) cancelAnimationFrame(timer);
  timer = null;
  $("play-btn").innerHTML = "&#9654;";
}

// One step forward (one recorded frame: one optimizer step when steps <= the frame bound).
async function stepOnce() {
  stop();
  if (app.state.mode !== "race") return;
  if (!app.race) { if (!(await run({ play: false }))) return; }
  else app.frame = Math.min(app.timeline.length - 1, app.frame + 1);
  redrawFrame();
  fetchArrowsSoon();
}

function renderPlayerLight() {
  $("scrubber").value = String(app.frame);
  $("step-label").textContent = stepLabel();
}

// ------------------------------------------------------------------ export
function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function exportTitle() {
  const s = app.state, sf = app.surface;
  const name = !sf ? "" : (sf.landscape.name === "formula" ? `f(x, y) = ${s.formula}` : sf.landscape.name);
  let sub = "";
  if (s.mode === "basin" && app.basin) {
    const m = app.basin.maps[app.basinIndex];
    sub = t("export.basin_sub", { label: m ? m.label : "", n: app.basin.n, steps: app.basin.steps });
  } else if (app.race) {
    sub = t("export.race_sub", { runs: app.race.runs.length, starts: app.race.starts.length, step: curveFrameStep(), steps: app.race.steps });
  }
  return { title: `descentlab — ${name}`, sub };
}

// One picture for a slide: title, the map, a legend beside it, and (race) the two curves below.
function buildExport() {
  const v = $("view"), dpr = v._dpr || 1, race = app.state.mode === "race" && app.race;
  const items = legendItems(), { title, sub } = exportTitle();
  const legendW = 300, titleH = 54, curveH = race ? 170 : 0;
  const W = v._w + legendW + 20, H = titleH + Math.max(v._h, 28 + 36 * items.length) + curveH + 10;
  const out = document.createElement("canvas");
  out.width = Math.round(W * dpr); out.height = Math.round(H * dpr);
  const ctx = out.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = "#111"; ctx.font = `bold 18px ${FONT}`; ctx.textAlign = "left";
  ctx.fillText(title, 12, 24);
  ctx.fillStyle = "#444"; ctx.font = `13px ${FONT}`;
  ctx.fillText(sub, 12, 44);
  ctx.drawImage(v, 0, titleH, v._w, v._h);
  // legend
  const lx = v._w + 14;
  let ly = titleH + 16;
  ctx.font = `bold 13px ${FONT}`; ctx.fillStyle = "#111"; ctx.fillText(t("export.legend"), lx, ly);
  ly += 20;
  ctx.font = `12px ${FONT}`;
  const drawn = [];
  items.forEach((it) => {
    if (it.marker) drawMarker(ctx, it.marker, lx + 8, ly - 4, it.color, 6);
    else if (it.ring) { ctx.strokeStyle = it.color; ctx.lineWidth = 2; ctx.setLineDash([3, 2]); ctx.beginPath(); ctx.arc(lx + 8, ly - 4, 7, 0, 2 * Math.PI); ctx.stroke(); ctx.setLineDash([]); }
    else if (it.line !== undefined) {
      ctx.strokeStyle = it.color; ctx.lineWidth = 2.5; ctx.setLineDash(DASHES[it.line % DASHES.length]);
      ctx.beginPath(); ctx.moveTo(lx, ly - 4); ctx.lineTo(lx + 18, ly - 4); ctx.stroke(); ctx.setLineDash([]);
    } else { ctx.fillStyle = it.color; ctx.fillRect(lx, ly - 11, 16, 12); ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.strokeRect(lx, ly - 11, 16, 12); }
    ctx.fillStyle = "#111";
    // wrap long entries onto more lines (at spaces; a long word is cut with an ellipsis)
    let line = "";
    for (const word of it.text.split(" ")) {
      const next = line ? `${line} ${word}` : word;
      if (line && ctx.measureText(next).width > legendW - 34) { ctx.fillText(line, lx + 26, ly); ly += 16; line = word; } else line = next;
    }
    while (ctx.measureText(line).width > legendW - 34 && line.length > 4) line = line.slice(0, -2) + "…";
    ctx.fillText(line, lx + 26, ly);
    drawn.push(it.text);
    ly += 20;
  });
  if (race) {
    const y0 = titleH + v._h + 8, l = $("loss-curve"), g = $("grad-curve"), cw = (W - 30) / 2;
    ctx.font = `12px ${FONT}`; ctx.fillStyle = "#333";
    ctx.fillText(t("h.loss") + " (" + t("loss.hint") + ")", 10, y0 + 12);
    ctx.fillText(t("h.grad") + " (" + t("grad.hint") + ")", 20 + cw, y0 + 12);
    ctx.drawImage(l, 10, y0 + 18, cw, cw * l._h / l._w > curveH - 24 ? curveH - 24 : cw * l._h / l._w);
    ctx.drawImage(g, 20 + cw, y0 + 18, cw, cw * g._h / g._w > curveH - 24 ? curveH - 24 : cw * g._h / g._w);
  }
  app.lastExport = { title, sub, legend: drawn, width: out.width, height: out.height };
  return out;
}

function exportPng() {
  buildExport().toBlob((b) => download("descentlab-playground.png", b), "image/png");
}

function exportJson() {
  const data = { setup: app.state, surface: app.surface && { landscape: app.surface.landscape, critical_points: app.surface.critical_points }, race: app.race, basin: app.basin };
  download("descentlab-playground.json", new Blob([JSON.stringify(data, null, 1)], { type: "application/json" }));
}

function csvRows() {
  const rows = [];
  if (app.state.mode === "basin" && app.basin) {
    rows.push("optimizer,x,y,outcome_code,outcome");
    for (const m of app.basin.maps) {
      const label = Object.fromEntries(m.legend.map((e) => [e.code, e.label]));
      for (let j = 0; j < app.basin.n; j++) for (let i = 0; i < app.basin.n; i++) {
        rows.push([JSON.stringify(m.label), app.basin.x[i], app.basin.y[j], m.codes[j][i], JSON.stringify(label[m.codes[j][i]])].join(","));
      }
    }
    return rows;
  }
  rows.push("optimizer,start,step,x,y,loss,grad_norm,outcome");
  if (!app.race) return rows;
  for (const run of app.race.runs) {
    run.record_steps.forEach((step, tt) => {
      run.positions[tt].forEach((p, b) => {
        const cell = (v) => (v === null ? "" : v);
        rows.push([JSON.stringify(run.label), b + 1, step, cell(p[0]), cell(p[1]), cell(run.losses[tt][b]), cell(run.grad_norms[tt][b]), run.outcomes[b].kind].join(","));
      });
    });
  }
  return rows;
}

function exportCsv() {
  download("descentlab-playground.csv", new Blob([csvRows().join("\n") + "\n"], { type: "text/csv" }));
}

// ------------------------------------------------------------------ events
function nearestStart(px, py) {
  const g = viewGeom();
  let best = -1, bd = 10;
  app.state.starts.forEach((p, i) => {
    const d = Math.hypot(g.px(p[0]) - px, g.py(p[1]) - py);
    if (d < bd) { bd = d; best = i; }
  });
  return best;
}

function canvasXY(ev) {
  const c = $("view"), r = c.getBoundingClientRect();
  return [(ev.clientX - r.left) * c._w / r.width, (ev.clientY - r.top) * c._h / r.height];
}

function onViewClick(ev) {
  if (!app.surface) return;
  if (app.state.view === "3d") { if (!app.dragged) setStatus(t("status.contour_for_starts")); return; }
  const [px, py] = canvasXY(ev), g = viewGeom();
  if (px < PAD.l || px > PAD.l + g.w || py < PAD.t || py > PAD.t + g.h) return;
  if (ev.pointerType === "touch" || ev.pointerType === "pen") {
    // no hover on a touch screen: a tap explains the point; a tap on a critical point only explains
    const cp = criticalNear(px, py);
    if (cp) { explainAt(cp.point[0], cp.point[1], cp); return; }
    explainAt(g.dx(px), g.dy(py), null);
  }
  if (ev.shiftKey) {
    const i = nearestStart(px, py);
    if (i >= 0) app.state.starts.splice(i, 1);
  } else {
    if (app.state.starts.length >= app.meta.limits.max_starts) { setStatus(t("status.max_starts", { n: app.meta.limits.max_starts }), true); return; }
    const round = (v, span) => Number(v.toFixed(Math.max(3, 4 - Math.floor(Math.log10(span)))));
    app.state.starts.push([round(g.dx(px), g.x1 - g.x0), round(g.dy(py), g.y1 - g.y0)]);
  }
  afterSetupChange();
}

// The critical point within 10 px of the cursor, if any (nearest first).
function criticalNear(px, py) {
  const g = viewGeom();
  let best = null, bd = 10;
  for (const cp of app.surface.critical_points) {
    const d = Math.hypot(g.px(cp.point[0]) - px, g.py(cp.point[1]) - py);
    if (d < bd) { bd = d; best = cp; }
  }
  return best;
}

const explainSoon = debounce((x, y, snapped) => explainAt(x, y, snapped), 60);

function onViewMove(ev) {
  const tip = $("tooltip");
  if (app.state.view === "3d" && app.drag) {
    const dx = ev.clientX - app.drag[0], dy = ev.clientY - app.drag[1];
    if (Math.abs(dx) + Math.abs(dy) > 2) app.dragged = true;
    app.state.azimuth = app.drag[2] + dx * 0.5;
    app.state.elevation = Math.min(89, Math.max(5, app.drag[3] + dy * 0.4));
    drawView();
    return;
  }
  if (!app.surface || app.state.view === "3d") { tip.hidden = true; return; }
  const [px, py] = canvasXY(ev), g = viewGeom();
  let text = null;
  const cp = criticalNear(px, py);
  if (cp) text = `${cpLabel(cp)} ${pt(cp.point)}, f = ${fmt(cp.value)}, ${t("tooltip.index")} ${cp.index}`;
  const inside = px >= PAD.l && px <= PAD.l + g.w && py >= PAD.t && py <= PAD.t + g.h;
  if (!text && inside) {
    const x = g.dx(px), y = g.dy(py);
    text = pt([x, y], 3);
    const b = app.basin, map = b && app.state.mode === "basin" && b.maps[app.basinIndex];
    if (map) {
      const near = (arr, v) => Math.max(0, Math.min(b.n - 1, Math.round((v - arr[0]) / (arr[b.n - 1] - arr[0]) * (b.n - 1))));
      const code = map.codes[near(b.y, y)][near(b.x, x)];
      const e = map.legend.find((l) => l.code === code);
      if (e) text += ` → ${basinLabel(e)}`;
    }
  }
  if (cp) explainSoon(cp.point[0], cp.point[1], cp);
  else if (inside) explainSoon(g.dx(px), g.dy(py), null);
  if (!text) { tip.hidden = true; return; }
  tip.textContent = text; tip.hidden = false;
  // in the plot's top-left corner (bottom-left when the cursor is up there): never over the
  // arrows drawn at the cursor
  const high = py < PAD.t + 60 && px < PAD.l + 260;
  tip.style.left = `${PAD.l + 6}px`; tip.style.top = high ? `${PAD.t + g.h - 30}px` : `${PAD.t + 6}px`;
}

function wire() {
  $("landscape-select").addEventListener("change", (e) => {
    app.state.name = e.target.value; app.state.params = {}; app.state.domain = null; writeDomain(null);
    renderLandscapeParams(); drawSurface();
  });
  for (const id of ["source-catalogue", "source-formula"]) $(id).addEventListener("change", (e) => {
    app.state.source = e.target.value; app.state.domain = null; writeDomain(null);
    syncControls(); drawSurface();
  });
  $("formula-input").addEventListener("keydown", (e) => { if (e.key === "Enter") drawSurface(); });
  $("draw-btn").addEventListener("click", drawSurface);
  const addTyped = () => {
    const parts = $("start-input").value.split(/[\s,;]+/).filter(Boolean).map(Number);
    if (parts.length !== 2 || !parts.every(Number.isFinite)) { setStatus(t("status.start_two_numbers"), true); return; }
    if (app.state.starts.length >= app.meta.limits.max_starts) { setStatus(t("status.max_starts", { n: app.meta.limits.max_starts }), true); return; }
    app.state.starts.push(parts); $("start-input").value = ""; setStatus(""); afterSetupChange();
  };
  $("add-start").addEventListener("click", addTyped);
  $("start-input").addEventListener("keydown", (e) => { if (e.key === "Enter") addTyped(); });
  $("clear-starts").addEventListener("click", () => { app.state.starts = []; app.race = null; app.timeline = []; afterSetupChange(); renderAll(); });
  $("add-optimizer").addEventListener("click", () => {
    if (app.state.optimizers.length >= app.meta.limits.max_optimizers) return;
    const used = app.state.optimizers.map((o) => o.name);
    const name = ["adam", "nesterov", "rmsprop", "newton", "perturbed_gd", "gd"].find((n) => !used.includes(n) && app.meta.optimizers.some((o) => o.name === n)) || "gd";
    const d = app.meta.optimizers.find((o) => o.name === name).defaults;
    app.state.optimizers.push({ name, hyper: "lr" in d ? { lr: d.lr } : {} });
    renderOptimizers(); saveState();
  });
  $("schedule-select").addEventListener("change", (e) => {
    const name = e.target.value;
    const info = app.meta.schedules.find((x) => x.name === name);
    app.state.schedule = name ? { name, params: info ? scheduleExample(info) : {} } : null;
    renderSchedule(); saveState();
  });
  $("schedule-params").addEventListener("change", () => { try { readSetup(); saveState(); setStatus(""); } catch (e) { setStatus(`${t("schedule.params_error")}: ${e.message}`, true); } });
  for (const id of ["steps-input", "basin-n"]) {
    $(id).addEventListener("change", () => { readSetup(); saveState(); });
    $(id).addEventListener("keydown", (e) => { if (e.key === "Enter") run(); });
  }
  for (const id of ["mode-race", "mode-basin"]) $(id).addEventListener("change", (e) => {
    app.state.mode = e.target.value; $("basin-n-row").hidden = app.state.mode !== "basin"; saveState(); renderAll();
  });
  $("run-btn").addEventListener("click", () => run());
  $("step-btn").addEventListener("click", stepOnce);
  $("arrows-toggle").addEventListener("change", () => { drawView(); renderLegend(); fetchArrowsSoon(); });
  $("view").addEventListener("click", onViewClick);
  $("view").addEventListener("mousemove", onViewMove);
  $("view").addEventListener("mousedown", (e) => {
    if (app.state.view !== "3d") return;
    app.drag = [e.clientX, e.clientY, app.state.azimuth, app.state.elevation]; app.dragged = false;
  });
  window.addEventListener("mouseup", () => { if (app.drag) { app.drag = null; saveState(); } });
  for (const id of ["view-contour", "view-3d"]) $(id).addEventListener("change", (e) => {
    app.state.view = e.target.value; $("view").style.cursor = app.state.view === "3d" ? "grab" : "crosshair";
    $("tooltip").hidden = true;
    saveState(); drawView(); renderLegend();
  });
  $("view").addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
  $("scrubber").addEventListener("input", (e) => {
    stop(); app.frame = Number(e.target.value);
    redrawFrame(); fetchArrowsSoon();
  });
  $("play-btn").addEventListener("click", () => (app.playing ? stop() : play()));
  $("lang-select").addEventListener("change", (e) => {
    app.state.lang = LANGS.includes(e.target.value) ? e.target.value : "en";
    saveState(); syncControls(); renderAll();
    if (app.surface && !app.state.domain) writeDomain(app.surface.landscape.domain.flat());
    if (app.surface) setStatus("");
  });
  $("share-btn").addEventListener("click", async () => {
    saveStateNow();
    try { await navigator.clipboard.writeText(location.href); setStatus(t("status.link_copied")); }
    catch (e) { setStatus(t("status.link_address")); }
  });
  $("export-png").addEventListener("click", exportPng);
  $("export-json").addEventListener("click", exportJson);
  $("export-csv").addEventListener("click", exportCsv);
  window.addEventListener("hashchange", async () => {
    const before = encodeState();
    const problem = loadStateFromUrl();
    if (encodeState() !== before) { syncControls(); await drawSurface(); }
    if (problem) setStatus(problem, true);
  });
  window.addEventListener("resize", debounce(() => { if (app.surface) renderAll(); }, 100));
}

function initialLang() {
  const q = new URLSearchParams(location.search).get("lang");
  if (LANGS.includes(q)) return q;
  const nav = (navigator.language || "en").slice(0, 2);
  return LANGS.includes(nav) ? nav : "en";
}

async function init() {
  try {
    [app.meta, app.catalogue] = await Promise.all([api("/api/meta"), api("/api/landscapes")]);
  } catch (err) {
    setStatus(`cannot reach the server: ${err.message}`, true);
    return;
  }
  const sel = $("landscape-select");
  for (const e of app.catalogue) { const o = document.createElement("option"); o.value = e.name; o.textContent = e.name; sel.appendChild(o); }
  if (!catalogueEntry(app.state.name) && app.catalogue.length) app.state.name = app.catalogue[0].name;
  app.state.lang = initialLang();
  const problem = loadStateFromUrl();
  const names = new Set(app.meta.optimizers.map((o) => o.name));
  app.state.optimizers = app.state.optimizers.filter((o) => names.has(o.name));
  if (!app.state.optimizers.length) app.state.optimizers = JSON.parse(JSON.stringify(DEFAULT_STATE.optimizers));
  wire();
  syncControls();
  layoutCanvases();
  const ok = await drawSurface();
  if (problem) setStatus(problem, true);
  document.body.dataset.ready = "1";
  if (ok && !problem && app.state.starts.length && location.hash) run();
}

init();
