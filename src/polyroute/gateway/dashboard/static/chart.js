// polyroute dashboard charts: hand-written SVG, no dependencies.

const SVG = "http://www.w3.org/2000/svg";

// Colours for up to 9 series (colour-blind friendly), then grey for "other".
export const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"];
export const OTHER = "#bab0ac";

export function colour(i, other) {
  return other ? OTHER : PALETTE[i % PALETTE.length];
}

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function clear(svg) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
}

// Round numbers for an axis from 0 to at least `max`: [0, step, 2*step, ...].
export function niceTicks(max, count) {
  if (!(max > 0)) return [0, 1];
  const rough = max / Math.max(count, 1);
  const power = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough);
  const ticks = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

// A money amount for an axis: "$0", "$0.0025", "$1.5", "$1,200".
export function axisMoney(v) {
  if (v === 0) return "$0";
  if (v >= 1000) return "$" + Math.round(v).toLocaleString("en-US");
  return "$" + String(+v.toPrecision(3));
}

function shortDay(day) {
  // "2026-12-02" -> "Dec 2"
  const [, m, d] = day.split("-").map(Number);
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  return months[m - 1] + " " + d;
}

// Stacked bars: one bar per label (day), one segment per series.
// data = {labels: [...], series: [{name, values: [number], other?: bool, title?: [string]}]}
export function stackedBars(svg, data, options) {
  const opts = Object.assign({format: axisMoney, empty: "Nothing in this window"}, options || {});
  clear(svg);
  const width = Math.max(svg.clientWidth || 600, 200);
  const height = Math.max(svg.clientHeight || 220, 120);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const pad = {left: 58, right: 8, top: 8, bottom: 22};
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const n = data.labels.length;
  const sums = data.labels.map((_, i) => data.series.reduce((acc, s) => acc + (s.values[i] || 0), 0));
  const max = Math.max(0, ...sums);
  const ticks = niceTicks(max, 4);
  const top = ticks[ticks.length - 1] || 1;
  const y = (v) => pad.top + h - (v / top) * h;

  const axis = el("g", {class: "axis"}, svg);
  for (const t of ticks) {
    el("line", {x1: pad.left, x2: pad.left + w, y1: y(t), y2: y(t), class: t === 0 ? "base" : "gridline"}, axis);
    const label = el("text", {x: pad.left - 6, y: y(t) + 4, "text-anchor": "end"}, axis);
    label.textContent = opts.format(t);
  }
  const slot = w / Math.max(n, 1);
  const barWidth = Math.max(2, Math.min(48, slot * 0.7));
  const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(w / 56))));
  data.labels.forEach((lab, i) => {
    if ((n - 1 - i) % every !== 0) return; // always label the newest day
    const text = el("text", {x: pad.left + slot * i + slot / 2, y: height - 6, "text-anchor": "middle"}, axis);
    text.textContent = shortDay(lab);
  });

  const bars = el("g", {class: "bars"}, svg);
  for (let i = 0; i < n; i++) {
    let base = 0;
    const x = pad.left + slot * i + (slot - barWidth) / 2;
    data.series.forEach((s, k) => {
      const v = s.values[i] || 0;
      if (v <= 0) return;
      const y0 = y(base);
      const y1 = y(base + v);
      const rect = el("rect", {
        x: x.toFixed(2), y: y1.toFixed(2), width: barWidth.toFixed(2),
        height: Math.max(0.5, y0 - y1).toFixed(2), fill: colour(k, s.other),
        "data-series": s.name, "data-label": data.labels[i],
      }, bars);
      const title = el("title", {}, rect);
      title.textContent = `${data.labels[i]} · ${s.name}: ${s.title ? s.title[i] : opts.format(v)}`;
      base += v;
    });
  }
  if (max <= 0) {
    const text = el("text", {x: pad.left + w / 2, y: pad.top + h / 2, "text-anchor": "middle", class: "empty"}, svg);
    text.textContent = opts.empty;
  }
}

// A horizontal share bar (0-100) inside a small SVG, for table cells.
export function shareBar(percent, colourValue) {
  const svg = el("svg", {class: "sharebar", viewBox: "0 0 100 10", preserveAspectRatio: "none", "aria-hidden": "true"});
  el("rect", {x: 0, y: 0, width: 100, height: 10, class: "track"}, svg);
  el("rect", {x: 0, y: 0, width: Math.max(0.5, Math.min(100, percent)).toFixed(2), height: 10, fill: colourValue}, svg);
  return svg;
}
