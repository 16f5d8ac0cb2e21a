"use strict";
// The chat page: joins with a name, shows the server's events (JSON text
// messages, see events.rs) and relays files as binary messages whose first
// two lines are the file's type and name.

const $ = (id) => document.getElementById(id);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Shared with the browser test (and the console): the socket, who we are, the
// server's limits.
const chat = { socket: null, name: null, limits: null, fileFrom: null };
window.chat = chat;

$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("name").value.trim();
  if (name) connect(name);
});

$("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value;
  if (!text || !isOpen()) return;
  chat.socket.send(text);
  $("text").value = "";
});

$("file").addEventListener("change", () => {
  for (const file of $("file").files) sendFile(file);
  $("file").value = "";
});

document.addEventListener("paste", (event) => {
  for (const item of event.clipboardData.items) {
    if (item.kind === "file") sendFile(item.getAsFile());
  }
});

function connect(name) {
  const url = new URL("/ws", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  chat.socket = socket;
  status("connecting…");
  socket.onopen = () => socket.send(name);
  socket.onmessage = (event) => {
    if (typeof event.data === "string") onEvent(JSON.parse(event.data));
    else onFile(event.data);
  };
  socket.onclose = (event) => {
    const reason = event.reason ? ` ${event.reason}` : "";
    status(`disconnected: ${event.code}${reason}`, event.code);
    note(`Disconnected by the server: close code ${event.code}${reason}.`);
    $("online").replaceChildren();
  };
}

function isOpen() {
  return chat.socket && chat.socket.readyState === WebSocket.OPEN;
}

function onEvent(event) {
  switch (event.type) {
    case "welcome":
      chat.name = event.name;
      chat.limits = event;
      $("join").hidden = true;
      $("room").hidden = false;
      $("online").replaceChildren();
      for (const name of [event.name, ...event.online]) addOnline(name);
      status(`connected as ${event.name}`);
      note(`You joined as ${event.name}.`);
      $("text").focus();
      break;
    case "join":
      addOnline(event.name);
      note(`${event.name} joined.`);
      break;
    case "leave":
      for (const li of $("online").children) if (li.textContent === event.name) li.remove();
      note(`${event.name} left${event.why ? ` (${event.why})` : ""}.`);
      break;
    case "text":
      entry("text", event.from).append(span("body", event.text));
      break;
    case "file":
      chat.fileFrom = event.from;
      break;
  }
}

// A file: "type\nname\n", then its bytes.
function onFile(buffer) {
  const bytes = new Uint8Array(buffer);
  const first = bytes.indexOf(10);
  const second = first < 0 ? -1 : bytes.indexOf(10, first + 1);
  const type = second < 0 ? "application/octet-stream" : decoder.decode(bytes.subarray(0, first));
  const name = second < 0 ? "file" : decoder.decode(bytes.subarray(first + 1, second));
  const body = bytes.subarray(second + 1);
  const blob = new Blob([body], { type });
  const url = URL.createObjectURL(blob);
  const li = entry("file", chat.fileFrom ?? "?");
  chat.fileFrom = null;
  li.dataset.size = body.length;
  li.dataset.name = name;
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.textContent = name;
  li.append(link, span("size", ` (${size(body.length)})`));
  if (type.startsWith("image/")) {
    const img = document.createElement("img");
    const log = $("log");
    const atEnd = isAtEnd(log);
    img.onload = () => {
      if (atEnd) log.scrollTop = log.scrollHeight;
    };
    img.src = url;
    img.alt = name;
    li.append(img);
  }
}

async function sendFile(file) {
  if (!isOpen()) return;
  const max = chat.limits.maxFile;
  if (file.size > max) {
    note(`${file.name} is ${size(file.size)}: files may be up to ${size(max)}.`);
    return;
  }
  const name = (file.name || "pasted").replace(/[\r\n]/g, " ").slice(0, 200);
  const header = encoder.encode(`${file.type || "application/octet-stream"}\n${name}\n`);
  const body = new Uint8Array(await file.arrayBuffer());
  const message = new Uint8Array(header.length + body.length);
  message.set(header);
  message.set(body, header.length);
  chat.socket.send(message);
}

function addOnline(name) {
  const li = document.createElement("li");
  li.textContent = name;
  $("online").append(li);
}

function entry(kind, from) {
  const li = document.createElement("li");
  li.className = from === chat.name ? `${kind} mine` : kind;
  li.dataset.from = from;
  li.append(span("from", from));
  return append(li);
}

function note(text) {
  const li = document.createElement("li");
  li.className = "note";
  li.textContent = text;
  append(li);
}

// Adds an entry to the log, following it if the log was scrolled to its end.
function append(li) {
  const log = $("log");
  const atEnd = isAtEnd(log);
  log.append(li);
  if (atEnd) log.scrollTop = log.scrollHeight;
  return li;
}

function isAtEnd(log) {
  return log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
}

function span(className, text) {
  const s = document.createElement("span");
  s.className = className;
  s.textContent = text;
  return s;
}

function status(text, code) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("closed", code !== undefined);
  if (code !== undefined) s.dataset.code = code;
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}
