// Live parts of the console, over Server-Sent Events. The pages work without it (reload to see changes).
"use strict";
document.documentElement.classList.add("js");

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function callerParams(params) {
  const standard = new Set(document.body.dataset.standardParams.split(","));
  return Object.fromEntries(Object.entries(params).filter(([k]) => !standard.has(k)));
}

function eventItem(record) {
  const li = el("li", {class: "ev ev-" + record.event});
  li.append(el("span", {class: "t"}, (record.t || 0).toFixed(2) + "s"), " ", el("b", {}, record.event), " ");
  for (let [k, v] of Object.entries(record)) {
    if (k === "params") v = callerParams(v);
    if (k === "t" || k === "event" || v === null || v === "" ||
        (typeof v === "object" && Object.keys(v).length === 0)) continue;
    const kv = el("span", {class: "kv"}, k + "=");
    kv.append(el("code", {}, typeof v === "object" ? JSON.stringify(v) : String(v)));
    li.append(kv, " ");
  }
  return li;
}

function dashboard(feed) {
  feed.addEventListener("line", (m) => {
    const d = JSON.parse(m.data);
    const state = document.getElementById("line-" + d.n + "-state");
    if (state) { state.textContent = d.state.replace("_", " "); state.className = "state state-" + d.state; }
    const error = document.getElementById("line-" + d.n + "-error");
    if (error) error.textContent = d.error || "none";
  });
  feed.addEventListener("call", (m) => {
    const d = JSON.parse(m.data);
    if (document.getElementById("call-" + d.sid)) return;
    const none = document.getElementById("no-calls");
    if (none) none.remove();
    const section = el("section", {class: "card call", id: "call-" + d.sid});
    const h = el("h3", {}, "line " + d.line + " · " + d.caller + " · ");
    h.append(el("a", {href: "/calls/" + d.sid}, d.sid.slice(0, 12) + "…"));
    section.append(h, el("ol", {class: "events", id: "events-" + d.sid}));
    document.getElementById("calls").append(section);
  });
  feed.addEventListener("event", (m) => {
    const d = JSON.parse(m.data);
    const list = document.getElementById("events-" + d.sid);
    if (list) list.append(eventItem(d.record));
  });
  feed.addEventListener("ended", (m) => {
    const d = JSON.parse(m.data);
    const section = document.getElementById("call-" + d.sid);
    if (section) {
      section.classList.add("ended");
      section.querySelector("h3").append(" · " + d.outcome + ", " + Number(d.duration).toFixed(1) + " s");
      setTimeout(() => section.remove(), 30000);
    }
  });
  feed.addEventListener("status", (m) => {
    const d = JSON.parse(m.data);
    const server = document.getElementById("server-state");
    server.textContent = (d.server_up ? "up" : "down") + " since " + d.server_since;
    server.className = d.server_up ? "ok" : "bad";
    document.getElementById("outbox-pending").textContent = d.pending;
    document.getElementById("outbox-dead").textContent = d.dead;
  });
}

function testCall(feed) {
  const list = document.getElementById("test-events");
  const state = document.getElementById("test-state");
  feed.addEventListener("event", (m) => list.append(eventItem(JSON.parse(m.data).record)));
  feed.addEventListener("ended", (m) => {
    const d = JSON.parse(m.data);
    state.textContent = d.error ? "ended: " + d.error : "ended";
    feed.close();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  const feed = new EventSource(live.dataset.feed);
  if (document.getElementById("test-events")) testCall(feed); else dashboard(feed);
});
