// descentlab playground: vanilla JS over the JSON API. No build step, no dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
const PAD = { l: 48, r: 12, t: 12, b: 34 };

const app = {
  meta: null,
  catalogue: [],
  surface: null,       // /api/surface answer
  race: null,          // /api/run answer
  basin: null,         // /api/basin answer
  basinIndex: 0,
  frame: 0,
  playing: false,
  heat: null,          // offscreen canvas with the heatmap
  contours: [],        // [[x1,y1,x2,y2,...] per level]
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
  },
};

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

function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(digits)));
  return v.toExponential(digits - 2);
}

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

// ------------------------------------------------------------------ URL state (shareable)
function encodeState() {
  const json = JSON.stringify(app.state);
  const b64 = btoa(unescape(encodeURIComponent(json)));
  return b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeState(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(decodeURIComponent(escape(atob(b64))));
}

function saveState() {
  history.replaceState(null, "", "#s=" + encodeState());
}

function loadStateFromUrl() {
  const m = location.hash.match(/^#s=([A-Za-z0-9_-]+)$/);
  if (!m) return;
  try {
    const s = decodeState(m[1]);
    Object.assign(app.state, s);
  } catch (e) {
    setStatus("the link's setup could not be read; starting fresh", true);
  }
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
  const w = c.width - PAD.l - PAD.r, h = c.height - PAD.t - PAD.b;
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

const CMAP = [[8, 48, 107], [33, 113, 181], [107, 174, 214], [198, 219, 239], [247, 251, 255]];
function cmap(t) {
  t = Math.min(1, Math.max(0, t)) * (CMAP.length - 1);
  const i = Math.min(CMAP.length - 2, Math.floor(t)), f = t - i;
  return CMAP[i].map((c, k) => Math.round(c + (CMAP[i + 1][k] - c) * f));
}

function buildHeat() {
  const s = app.surface, ny = s.y.length, nx = s.x.length;
  const qm = quantileMap(s.z);
  const off = document.createElement("canvas");
  off.width = nx; off.height = ny;
  const ctx = off.getContext("2d");
  const img = ctx.createImageData(nx, ny);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const v = s.z[j][i];
      const k = ((ny - 1 - j) * nx + i) * 4;
      const [r, g, b] = v === null ? [230, 230, 230] : cmap(0.15 + 0.85 * qm.q(v));
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
  ctx.fillStyle = color; ctx.strokeStyle = "#000"; ctx.lineWidth = 1.2;
  ctx.beginPath();
  if (kind === "global_minimum") {
    for (let k = 0; k < 10; k++) {
      const ang = -Math.PI / 2 + k * Math.PI / 5, rr = k % 2 ? r * 0.5 : r * 1.35;
      ctx.lineTo(x + rr * Math.cos(ang), y + rr * Math.sin(ang));
    }
  } else if (kind === "local_minimum") {
    ctx.arc(x, y, r * 0.8, 0, 2 * Math.PI);
  } else if (kind === "saddle") {
    const a = r * 0.85, t = r * 0.32;
    const P = [[-a, -a + t], [-a + t, -a], [0, -t], [a - t, -a], [a, -a + t], [t, 0], [a, a - t], [a - t, a], [0, t], [-a + t, a], [-a, a - t], [-t, 0]];
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

function haloText(ctx, text, x, y) {
  ctx.save();
  ctx.font = "11px 'DejaVu Sans', sans-serif";
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
  const c = $("view"), ctx = c.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
  if (!app.surface) return;
  if (app.state.view === "3d") { draw3d(ctx, c); return; }
  const g = viewGeom(), s = app.surface;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(app.heat, PAD.l, PAD.t, g.w, g.h);
  // basin overlay
  if (app.state.mode === "basin" && app.basin) drawBasin(ctx, g);
  // contours
  const nx = s.x.length, ny = s.y.length;
  ctx.save();
  ctx.beginPath(); ctx.rect(PAD.l, PAD.t, g.w, g.h); ctx.clip();
  ctx.strokeStyle = "rgba(20,30,60,.45)"; ctx.lineWidth = 0.8;
  for (const segs of app.contours) {
    ctx.beginPath();
    for (let k = 0; k < segs.length; k += 4) {
      ctx.moveTo(PAD.l + segs[k] / (nx - 1) * g.w, PAD.t + (1 - segs[k + 1] / (ny - 1)) * g.h);
      ctx.lineTo(PAD.l + segs[k + 2] / (nx - 1) * g.w, PAD.t + (1 - segs[k + 3] / (ny - 1)) * g.h);
    }
    ctx.stroke();
  }
  ctx.restore();
  // axes
  ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.strokeRect(PAD.l, PAD.t, g.w, g.h);
  ctx.fillStyle = "#333"; ctx.font = "11px 'DejaVu Sans', sans-serif";
  ctx.textAlign = "center";
  for (const t of niceTicks(g.x0, g.x1)) {
    ctx.fillText(fmt(t, 3), g.px(t), PAD.t + g.h + 14);
    ctx.beginPath(); ctx.moveTo(g.px(t), PAD.t + g.h); ctx.lineTo(g.px(t), PAD.t + g.h + 4); ctx.stroke();
  }
  ctx.fillText("x", PAD.l + g.w / 2, c.height - 4);
  ctx.textAlign = "right";
  for (const t of niceTicks(g.y0, g.y1)) {
    ctx.fillText(fmt(t, 3), PAD.l - 6, g.py(t) + 4);
    ctx.beginPath(); ctx.moveTo(PAD.l - 4, g.py(t)); ctx.lineTo(PAD.l, g.py(t)); ctx.stroke();
  }
  ctx.textAlign = "left";
  ctx.fillText("y", 6, PAD.t + g.h / 2);
  // critical points, every one marked and labelled
  const st = app.meta.style.kinds;
  for (const cp of s.critical_points) {
    const k = cpKey(cp), x = g.px(cp.point[0]), y = g.py(cp.point[1]);
    drawMarker(ctx, k, x, y, (st[k] || st.degenerate).color);
    haloText(ctx, cp.label, x + 9, y - 7);
  }
  if (app.state.mode === "race") drawRace(ctx, g);
  // starts
  app.state.starts.forEach((p, i) => {
    const x = g.px(p[0]), y = g.py(p[1]);
    ctx.beginPath(); ctx.arc(x, y, 5.5, 0, 2 * Math.PI);
    ctx.fillStyle = "#fff"; ctx.fill(); ctx.lineWidth = 1.8; ctx.strokeStyle = "#000"; ctx.stroke();
    haloText(ctx, String(i + 1), x - 16, y + 4);
  });
}

function drawRace(ctx, g) {
  const r = app.race;
  if (!r) return;
  ctx.save();
  ctx.beginPath(); ctx.rect(PAD.l, PAD.t, g.w, g.h); ctx.clip();
  r.runs.forEach((run) => {
    const T = run.positions.length, upto = Math.min(app.frame, T - 1);
    const B = run.positions[0].length;
    for (let b = 0; b < B; b++) {
      ctx.strokeStyle = run.color; ctx.lineWidth = 2; ctx.beginPath();
      let started = false;
      for (let t = 0; t <= upto; t++) {
        const p = run.positions[t][b];
        if (!p || p[0] === null || p[1] === null) break;
        const x = g.px(p[0]), y = g.py(p[1]);
        if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
      }
      ctx.stroke();
      const p = run.positions[upto][b];
      if (p && p[0] !== null && p[1] !== null) {
        const x = g.px(p[0]), y = g.py(p[1]);
        ctx.fillStyle = run.color; ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.2;
        if (upto === T - 1) { ctx.fillRect(x - 4.5, y - 4.5, 9, 9); ctx.strokeRect(x - 4.5, y - 4.5, 9, 9); }
        else { ctx.beginPath(); ctx.arc(x, y, 4.5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke(); }
      }
    }
  });
  ctx.restore();
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
  const scale = Math.min(c.width, c.height) * 0.34, cx = c.width / 2, cy = c.height / 2 + 20;
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
    const [r, g, b] = cmap(0.15 + 0.85 * S.qm.q(v));
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.beginPath(); pts.forEach((p, k) => (k ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])));
    ctx.closePath(); ctx.fill(); ctx.stroke();
  }
  const st = app.meta.style.kinds;
  for (const cp of app.surface.critical_points) {
    const k = cpKey(cp), p = P(S.U(cp.point[0]), S.V(cp.point[1]), S.H(cp.value));
    drawMarker(ctx, k, p[0], p[1], (st[k] || st.degenerate).color);
    haloText(ctx, cp.label, p[0] + 9, p[1] - 7);
  }
  if (app.state.mode === "race" && app.race) {
    for (const run of app.race.runs) {
      const upto = Math.min(app.frame, run.positions.length - 1);
      for (let b = 0; b < run.positions[0].length; b++) {
        ctx.strokeStyle = run.color; ctx.lineWidth = 2.2; ctx.beginPath();
        let last = null;
        for (let t = 0; t <= upto; t++) {
          const q = run.positions[t][b], f = run.losses[t][b];
          if (!q || q[0] === null || f === null) break;
          const p = P(S.U(q[0]), S.V(q[1]), S.H(f));
          if (last) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]);
          last = p;
        }
        ctx.stroke();
        if (last) { ctx.fillStyle = run.color; ctx.beginPath(); ctx.arc(last[0], last[1], 4.5, 0, 2 * Math.PI); ctx.fill(); }
      }
    }
  }
  ctx.fillStyle = "#555"; ctx.font = "11px 'DejaVu Sans', sans-serif"; ctx.textAlign = "left";
  ctx.fillText(`height clipped at the 95th percentile (${fmt(S.qm.at(0.95))})`, 8, c.height - 8);
}

// ------------------------------------------------------------------ legend, curves, diagnosis
function renderLegend() {
  const el = $("legend");
  el.innerHTML = "";
  const add = (color, text) => {
    const span = document.createElement("span");
    span.innerHTML = `<span class="sw" style="background:${color}"></span>`;
    span.appendChild(document.createTextNode(text));
    el.appendChild(span);
  };
  if (app.state.mode === "basin" && app.basin && app.basin.maps[app.basinIndex]) {
    const map = app.basin.maps[app.basinIndex], pal = basinPalette(map), total = app.basin.n ** 2;
    for (const e of map.legend) add(`rgb(${pal[e.code].join(",")})`, `${e.label}: ${(100 * e.count / total).toFixed(1)}%`);
    return;
  }
  if (app.surface) {
    const kinds = new Set(app.surface.critical_points.map(cpKey));
    for (const k of kinds) add(app.meta.style.kinds[k].color, app.meta.style.kinds[k].label);
    if (app.surface.critical_points_source === "found") add("#fff", "(critical points found numerically)");
  }
  if (app.race) for (const run of app.race.runs) add(run.color, run.label);
}

function drawCurve(canvasId, key) {
  const c = $(canvasId), ctx = c.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
  const r = app.race;
  if (!r || app.state.mode !== "race") return;
  const P = { l: 46, r: 8, t: 8, b: 22 }, w = c.width - P.l - P.r, h = c.height - P.t - P.b;
  let low = Infinity;
  if (key === "losses") for (const run of r.runs) for (const row of run.losses) for (const v of row) if (v !== null && v < low) low = v;
  const tf = (v) => {
    if (v === null) return null;
    const u = key === "losses" ? v - low : v;
    return Math.log10(Math.max(u, 1e-16));
  };
  let lo = Infinity, hi = -Infinity, smax = 1;
  for (const run of r.runs) {
    smax = Math.max(smax, run.record_steps[run.record_steps.length - 1] || 1);
    for (const row of run[key]) for (const v of row) { const u = tf(v); if (u !== null && isFinite(u)) { lo = Math.min(lo, u); hi = Math.max(hi, u); } }
  }
  if (!isFinite(lo)) return;
  if (hi - lo < 1) { hi += 0.5; lo -= 0.5; }
  const X = (s) => P.l + s / smax * w, Y = (u) => P.t + (1 - (u - lo) / (hi - lo)) * h;
  ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#555"; ctx.font = "10px 'DejaVu Sans', sans-serif"; ctx.textAlign = "right";
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e += Math.max(1, Math.ceil((hi - lo) / 5))) {
    ctx.beginPath(); ctx.moveTo(P.l, Y(e)); ctx.lineTo(P.l + w, Y(e)); ctx.stroke();
    ctx.fillText(`1e${e}`, P.l - 4, Y(e) + 3);
  }
  ctx.textAlign = "center";
  for (const t of niceTicks(0, smax, 5)) ctx.fillText(String(t), X(t), c.height - 6);
  for (const run of r.runs) {
    const B = run[key][0].length;
    for (let b = 0; b < B; b++) {
      ctx.strokeStyle = run.color; ctx.lineWidth = 1.5; ctx.beginPath();
      let started = false;
      run[key].forEach((row, t) => {
        const u = tf(row[b]);
        if (u === null || !isFinite(u)) return;
        const x = X(run.record_steps[t]), y = Y(Math.min(hi, Math.max(lo, u)));
        if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
      });
      ctx.stroke();
    }
  }
  const cur = r.runs[0].record_steps[Math.min(app.frame, r.runs[0].record_steps.length - 1)];
  ctx.strokeStyle = "rgba(0,0,0,.5)"; ctx.setLineDash([3, 3]);
  ctx.beginPath(); ctx.moveTo(X(cur), P.t); ctx.lineTo(X(cur), P.t + h); ctx.stroke(); ctx.setLineDash([]);
}

function drawLr() {
  const box = $("lr-box"), r = app.race;
  box.hidden = !(r && app.state.mode === "race" && r.schedule);
  if (box.hidden) return;
  const c = $("lr-curve"), ctx = c.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
  const P = { l: 46, r: 8, t: 8, b: 22 }, w = c.width - P.l - P.r, h = c.height - P.t - P.b;
  let hi = 0, smax = 1;
  for (const run of r.runs) {
    smax = Math.max(smax, run.record_steps[run.record_steps.length - 1] || 1);
    for (const v of run.lr) if (v !== null && v > hi) hi = v;
  }
  if (!(hi > 0)) return;
  const X = (s) => P.l + s / smax * w, Y = (v) => P.t + (1 - v / hi) * h;
  ctx.fillStyle = "#555"; ctx.strokeStyle = "#ccc"; ctx.font = "10px 'DejaVu Sans', sans-serif"; ctx.textAlign = "right";
  for (const t of niceTicks(0, hi, 4)) { ctx.beginPath(); ctx.moveTo(P.l, Y(t)); ctx.lineTo(P.l + w, Y(t)); ctx.stroke(); ctx.fillText(fmt(t, 3), P.l - 4, Y(t) + 3); }
  ctx.textAlign = "center";
  for (const t of niceTicks(0, smax, 5)) ctx.fillText(String(t), X(t), c.height - 6);
  for (const run of r.runs) {
    ctx.strokeStyle = run.color; ctx.lineWidth = 1.5; ctx.beginPath();
    run.lr.forEach((v, t) => { if (v === null) return; const x = X(run.record_steps[t]), y = Y(v); if (t) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    ctx.stroke();
  }
}

function renderDiagnosis() {
  const ul = $("diagnosis");
  ul.innerHTML = "";
  const oc = app.meta.style.outcome_colors, ol = app.meta.style.outcome_labels;
  if (app.state.mode === "basin" && app.basin) {
    for (const m of app.basin.maps) {
      const li = document.createElement("li");
      li.innerHTML = `<span class="who"></span>: reaches a global minimum from ${(100 * m.global_fraction).toFixed(1)}% of the ${app.basin.n}×${app.basin.n} starts`;
      li.querySelector(".who").textContent = m.label;
      if (m.note) {
        const note = document.createElement("div");
        note.className = "muted";
        note.textContent = m.note;
        li.appendChild(note);
      }
      ul.appendChild(li);
    }
    return;
  }
  if (!app.race) {
    ul.innerHTML = '<li class="muted">Click the map to place a start, then Run.</li>';
    return;
  }
  app.race.runs.forEach((run, ri) => {
    run.outcomes.forEach((o, b) => {
      const li = document.createElement("li");
      li.style.borderLeftColor = run.color;
      li.dataset.run = ri; li.dataset.start = b; li.dataset.kind = o.kind;
      const who = document.createElement("span"); who.className = "who"; who.textContent = run.label;
      const kind = document.createElement("span"); kind.className = "kind";
      kind.style.background = oc[o.kind] || "#777"; kind.textContent = ol[o.kind] || o.kind;
      const p = app.race.starts[b];
      li.append(who, document.createTextNode(` from start ${b + 1} (${fmt(p[0], 3)}, ${fmt(p[1], 3)}): `), kind);
      const txt = document.createElement("span"); txt.className = "text"; txt.textContent = o.text;
      li.appendChild(txt);
      ul.appendChild(li);
    });
  });
}

function renderAll() {
  $("curves").hidden = app.state.mode !== "race";
  drawView();
  drawCurve("loss-curve", "losses");
  drawCurve("grad-curve", "grad_norms");
  drawLr();
  renderLegend();
  renderDiagnosis();
  renderPlayer();
}

function renderPlayer() {
  const sc = $("scrubber");
  const race = app.state.mode === "race" && app.race;
  const T = race ? app.race.runs[0].record_steps.length : 1;
  sc.max = String(T - 1);
  sc.value = String(Math.min(app.frame, T - 1));
  sc.disabled = !race;
  $("play-btn").disabled = !race;
  $("step-label").textContent = race ? `step ${app.race.runs[0].record_steps[Math.min(app.frame, T - 1)]} / ${app.race.steps}` : "";
  $("player").hidden = app.state.mode !== "race";
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
    li.textContent = `(${fmt(p[0], 4)}, ${fmt(p[1], 4)})`;
    const b = document.createElement("button");
    b.type = "button"; b.textContent = "×"; b.title = "remove";
    b.addEventListener("click", () => { app.state.starts.splice(i, 1); afterSetupChange(); });
    li.appendChild(b);
    ol.appendChild(li);
  });
}

const MAIN_HYPER = ["lr", "momentum", "betas", "alpha", "rho", "weight_decay"];

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
    rm.type = "button"; rm.textContent = "×"; rm.title = "remove optimizer";
    rm.addEventListener("click", () => { app.state.optimizers.splice(i, 1); renderOptimizers(); saveState(); });
    row.append(sel, rm);
    card.appendChild(row);
    const main = document.createElement("div"); main.className = "params";
    const more = document.createElement("details");
    const sum = document.createElement("summary"); sum.textContent = "more"; more.appendChild(sum);
    const moreBox = document.createElement("div"); moreBox.className = "params"; more.appendChild(moreBox);
    for (const [k, def] of Object.entries(info.defaults)) {
      const target = MAIN_HYPER.includes(k) ? main : moreBox;
      target.appendChild(hyperInput(opt, k, def, i));
    }
    card.appendChild(main);
    if (moreBox.children.length) card.appendChild(more);
    box.appendChild(card);
  });
}

function hyperInput(opt, k, def, i) {
  const lab = document.createElement("label");
  lab.textContent = k;
  const cur = k in opt.hyper ? opt.hyper[k] : def;
  const set = (v) => {
    if (JSON.stringify(v) === JSON.stringify(def)) delete opt.hyper[k]; else opt.hyper[k] = v;
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
    if (!k || v === undefined) throw new Error(`expected key=value, got "${item}"`);
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
  if (!sel.options.length) {
    const none = document.createElement("option"); none.value = ""; none.textContent = "constant learning rate"; sel.appendChild(none);
    for (const s of app.meta.schedules) { const o = document.createElement("option"); o.value = s.name; o.textContent = s.name; sel.appendChild(o); }
  }
  const s = app.state.schedule;
  sel.value = s ? s.name : "";
  $("schedule-params").value = s ? Object.entries(s.params).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(";") : v}`).join(", ") : "";
  $("schedule-params").disabled = !s;
  const info = s && app.meta.schedules.find((x) => x.name === s.name);
  const params = info ? Object.entries(info.params).map(([k, v]) => `${k}=${v === null ? "none" : v}`).join(", ") : "";
  $("schedule-hint").textContent = info ? `${info.summary}${params ? "; parameters: " + params : ""}` : "";
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
  setStatus("drawing…");
  try {
    const t0 = performance.now();
    app.surface = await api("/api/surface", { landscape: landscapeSpec(), grid: 120 });
    app.race = null; app.basin = null; app.frame = 0; app.s3d = null;
    buildHeat();
    if (!s.domain) writeDomain(app.surface.landscape.domain.flat());
    s.starts = s.starts.filter((p) => inDomain(p));
    renderStarts();
    const n = app.surface.critical_points.length;
    const note = app.surface.critical_points_note ? ` — ${app.surface.critical_points_note}` : "";
    setStatus(`${app.surface.landscape.name}: ${n} critical point${n === 1 ? "" : "s"} (${app.surface.critical_points_source}) in ${Math.round(performance.now() - t0)} ms${note}`);
    saveState();
    renderAll();
    return true;
  } catch (err) {
    if (!showFormulaError(err)) setStatus(err.message, true);
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

async function run() {
  if (!app.surface) return;
  let body;
  try { readSetup(); } catch (e) { setStatus(`schedule parameters: ${e.message}`, true); return; }
  const s = app.state;
  saveState();
  const common = { landscape: landscapeSpec(), optimizers: s.optimizers.map((o) => ({ name: o.name, hyper: o.hyper })), steps: s.steps, schedule: s.schedule };
  if (s.mode === "race") {
    if (!s.starts.length) { setStatus("click the map to place at least one start", true); return; }
    body = { ...common, starts: s.starts };
  } else {
    body = { ...common, n: s.basin_n };
  }
  $("run-btn").disabled = true;
  setStatus(s.mode === "race" ? "racing…" : "computing the basin map…");
  stop();
  try {
    const t0 = performance.now();
    if (s.mode === "race") {
      app.race = await api("/api/run", body);
      app.frame = 0;
      setStatus(`done: ${app.race.runs.length} optimizer(s) × ${app.race.starts.length} start(s) × ${app.race.steps} steps, server ${app.race.server_ms.toFixed(1)} ms, total ${Math.round(performance.now() - t0)} ms`);
      renderAll();
      play();
    } else {
      app.basin = await api("/api/basin", body);
      app.basinIndex = Math.min(app.basinIndex, app.basin.maps.length - 1);
      setStatus(`basin map: ${app.basin.n}×${app.basin.n} starts × ${app.basin.maps.length} optimizer(s), server ${app.basin.server_ms.toFixed(0)} ms`);
      renderAll();
    }
  } catch (err) {
    if (!showFormulaError(err)) setStatus(err.message, true);
  } finally {
    $("run-btn").disabled = false;
  }
}

// ------------------------------------------------------------------ playback
let timer = null;
function play() {
  if (!app.race) return;
  const T = app.race.runs[0].record_steps.length;
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
      drawView(); drawCurve("loss-curve", "losses"); drawCurve("grad-curve", "grad_norms"); renderPlayerLight();
    }
    if (app.frame >= T - 1) { stop(); return; }
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

function renderPlayerLight() {
  const T = app.race.runs[0].record_steps.length;
  $("scrubber").value = String(app.frame);
  $("step-label").textContent = `step ${app.race.runs[0].record_steps[Math.min(app.frame, T - 1)]} / ${app.race.steps}`;
}

// ------------------------------------------------------------------ export
function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function exportPng() {
  const v = $("view"), l = $("loss-curve"), g = $("grad-curve");
  const out = document.createElement("canvas");
  out.width = v.width + l.width + 10; out.height = Math.max(v.height, l.height + g.height + 10);
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(v, 0, 0); ctx.drawImage(l, v.width + 10, 0); ctx.drawImage(g, v.width + 10, l.height + 10);
  out.toBlob((b) => download("descentlab-playground.png", b), "image/png");
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
    run.record_steps.forEach((step, t) => {
      run.positions[t].forEach((p, b) => {
        const cell = (v) => (v === null ? "" : v);
        rows.push([JSON.stringify(run.label), b + 1, step, cell(p[0]), cell(p[1]), cell(run.losses[t][b]), cell(run.grad_norms[t][b]), run.outcomes[b].kind].join(","));
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
  return [(ev.clientX - r.left) * c.width / r.width, (ev.clientY - r.top) * c.height / r.height];
}

function onViewClick(ev) {
  if (!app.surface) return;
  if (app.state.view === "3d") { if (!app.dragged) setStatus("switch to the contour view to place starts"); return; }
  const [px, py] = canvasXY(ev), g = viewGeom();
  if (px < PAD.l || px > PAD.l + g.w || py < PAD.t || py > PAD.t + g.h) return;
  if (ev.shiftKey) {
    const i = nearestStart(px, py);
    if (i >= 0) app.state.starts.splice(i, 1);
  } else {
    if (app.state.starts.length >= app.meta.limits.max_starts) { setStatus(`at most ${app.meta.limits.max_starts} starts`, true); return; }
    const round = (v, span) => Number(v.toFixed(Math.max(3, 4 - Math.floor(Math.log10(span)))));
    app.state.starts.push([round(g.dx(px), g.x1 - g.x0), round(g.dy(py), g.y1 - g.y0)]);
  }
  afterSetupChange();
}

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
  for (const cp of app.surface.critical_points) {
    if (Math.hypot(g.px(cp.point[0]) - px, g.py(cp.point[1]) - py) < 9) {
      text = `${cp.label} at (${fmt(cp.point[0])}, ${fmt(cp.point[1])}), f = ${fmt(cp.value)}, index ${cp.index}`;
    }
  }
  if (!text && px >= PAD.l && px <= PAD.l + g.w && py >= PAD.t && py <= PAD.t + g.h) {
    const x = g.dx(px), y = g.dy(py);
    text = `(${fmt(x, 3)}, ${fmt(y, 3)})`;
    const b = app.basin, map = b && app.state.mode === "basin" && b.maps[app.basinIndex];
    if (map) {
      const near = (arr, v) => Math.max(0, Math.min(b.n - 1, Math.round((v - arr[0]) / (arr[b.n - 1] - arr[0]) * (b.n - 1))));
      const code = map.codes[near(b.y, y)][near(b.x, x)];
      const e = map.legend.find((l) => l.code === code);
      if (e) text += ` → ${e.label}`;
    }
  }
  if (!text) { tip.hidden = true; return; }
  tip.textContent = text; tip.hidden = false;
  tip.style.left = `${Math.min(px + 14, 420)}px`; tip.style.top = `${py + 10}px`;
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
    if (parts.length !== 2 || !parts.every(Number.isFinite)) { setStatus("a start is two numbers: x, y", true); return; }
    if (app.state.starts.length >= app.meta.limits.max_starts) { setStatus(`at most ${app.meta.limits.max_starts} starts`, true); return; }
    app.state.starts.push(parts); $("start-input").value = ""; setStatus(""); afterSetupChange();
  };
  $("add-start").addEventListener("click", addTyped);
  $("start-input").addEventListener("keydown", (e) => { if (e.key === "Enter") addTyped(); });
  $("clear-starts").addEventListener("click", () => { app.state.starts = []; app.race = null; afterSetupChange(); renderAll(); });
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
  $("schedule-params").addEventListener("change", () => { try { readSetup(); saveState(); setStatus(""); } catch (e) { setStatus(`schedule parameters: ${e.message}`, true); } });
  for (const id of ["steps-input", "basin-n"]) {
    $(id).addEventListener("change", () => { readSetup(); saveState(); });
    $(id).addEventListener("keydown", (e) => { if (e.key === "Enter") run(); });
  }
  for (const id of ["mode-race", "mode-basin"]) $(id).addEventListener("change", (e) => {
    app.state.mode = e.target.value; $("basin-n-row").hidden = app.state.mode !== "basin"; saveState(); renderAll();
  });
  $("run-btn").addEventListener("click", run);
  $("view").addEventListener("click", onViewClick);
  $("view").addEventListener("mousemove", onViewMove);
  $("view").addEventListener("mousedown", (e) => {
    if (app.state.view !== "3d") return;
    app.drag = [e.clientX, e.clientY, app.state.azimuth, app.state.elevation]; app.dragged = false;
  });
  window.addEventListener("mouseup", () => { if (app.drag) { app.drag = null; saveState(); } });
  for (const id of ["view-contour", "view-3d"]) $(id).addEventListener("change", (e) => {
    app.state.view = e.target.value; $("view").style.cursor = app.state.view === "3d" ? "grab" : "crosshair";
    saveState(); drawView();
  });
  $("view").addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
  $("scrubber").addEventListener("input", (e) => {
    stop(); app.frame = Number(e.target.value);
    drawView(); drawCurve("loss-curve", "losses"); drawCurve("grad-curve", "grad_norms"); renderPlayerLight();
  });
  $("play-btn").addEventListener("click", () => (app.playing ? stop() : play()));
  $("share-btn").addEventListener("click", async () => {
    saveState();
    try { await navigator.clipboard.writeText(location.href); setStatus("link copied: it holds the whole setup"); }
    catch (e) { setStatus("copy the address bar: it holds the whole setup"); }
  });
  $("export-png").addEventListener("click", exportPng);
  $("export-json").addEventListener("click", exportJson);
  $("export-csv").addEventListener("click", exportCsv);
  window.addEventListener("hashchange", async () => {
    const before = encodeState();
    loadStateFromUrl();
    if (encodeState() !== before) { syncControls(); await drawSurface(); }
  });
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
  loadStateFromUrl();
  const names = new Set(app.meta.optimizers.map((o) => o.name));
  app.state.optimizers = app.state.optimizers.filter((o) => names.has(o.name));
  wire();
  syncControls();
  const ok = await drawSurface();
  document.body.dataset.ready = "1";
  if (ok && app.state.starts.length && location.hash) run();
}

init();
