"""The HTML, CSS and JavaScript of the trial viewer (one self-contained page).

The page reads its data from ``<script id="vista-data" type="application/json">``
and needs nothing from the network. The URL hash selects a trial and a time,
``#trial=ID&t=MS`` (MS: milliseconds after the trial's start, image onset) or
``#trial=ID&at=MS`` (tracker clock), so a link can point at a moment;
``window.vistaView`` exposes ``show(index)``, ``seek(ms)`` (tracker clock), ``play()``
and ``pause()`` for scripts.
"""

from __future__ import annotations

CSS = """
:root { --bg:#fafafa; --fg:#222; --muted:#777; --accent:#d6336c; --seg:#4c6ef5; --card:#fff; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
       background:var(--bg); color:var(--fg); }
header { padding:8px 16px; background:#fff; border-bottom:1px solid #ddd; }
header h1 { font-size:16px; margin:0 0 4px 0; }
header .help { color:var(--muted); font-size:12px; }
nav#trials { display:flex; flex-wrap:wrap; gap:4px; margin:4px 0; }
nav#trials button { border:1px solid #ccc; background:#fff; border-radius:4px; padding:2px 8px;
                    cursor:pointer; font-size:12px; }
nav#trials button.active { background:var(--fg); color:#fff; border-color:var(--fg); }
main { padding:12px 16px; }
.stage { display:flex; gap:16px; align-items:flex-start; flex-wrap:wrap; }
.imgwrap { position:relative; line-height:0; background:#000; }
.imgwrap img { display:block; }
.imgwrap canvas { position:absolute; left:0; top:0; }
.side { flex:1; min-width:320px; }
.side h2 { font-size:15px; margin:0 0 6px 0; }
.meta { color:var(--muted); font-size:12px; margin-bottom:6px; }
.controls { display:flex; gap:8px; align-items:center; margin:6px 0; }
.controls button { min-width:64px; }
.controls input[type=range] { flex:1; }
#clock { font-variant-numeric:tabular-nums; min-width:110px; text-align:right; }
#timeline { width:100%; height:120px; background:#fff; border:1px solid #ddd; cursor:pointer;
            display:block; }
#words { margin:8px 0; padding:8px; background:#fff; border:1px solid #ddd; min-height:2.4em; }
#words span { padding:1px 2px; border-radius:3px; cursor:pointer; }
#words span.spoken { color:#000; }
#words span.pending { color:#aaa; }
#words span.current { background:var(--accent); color:#fff; }
#words .none { color:var(--muted); font-style:italic; }
#maps { display:flex; flex-wrap:wrap; gap:10px; margin-top:8px; align-items:flex-start; }
.segcard { background:var(--card); border:1px solid #ddd; border-radius:6px; padding:8px; }
.segcard.active { border-color:var(--seg); box-shadow:0 0 0 2px var(--seg) inset; }
.segcard h3 { font-size:13px; margin:0 0 6px 0; max-width:440px; }
.segcard .row { display:flex; gap:10px; flex-wrap:wrap; }
.segcard figure { margin:0; text-align:center; font-size:12px; }
.segcard figure img { display:block; border:1px solid #eee; }
.segcard table { border-collapse:collapse; font-size:11px; margin:2px auto 0 auto; }
.segcard td { padding:0 4px; text-align:right; font-variant-numeric:tabular-nums; }
.segcard td:first-child { text-align:left; color:var(--muted); }
.none { color:var(--muted); }
"""

BODY = """
<header>
  <h1 id="title"></h1>
  <nav id="trials"></nav>
  <div class="help">&larr;/&rarr; previous/next trial &middot; space play/pause &middot;
    [ and ] slower/faster &middot; Home: start &middot; click the timeline or a word to seek</div>
</header>
<main>
  <div class="stage">
    <div class="imgwrap"><img id="img" alt=""><canvas id="scan"></canvas></div>
    <div class="side">
      <h2 id="trialname"></h2>
      <div class="meta" id="trialmeta"></div>
      <div class="controls">
        <button id="play" type="button">&#9654; play</button>
        <input id="scrub" type="range" min="0" max="1000" step="1" value="0">
        <select id="speed" title="playback speed">
          <option value="0.25">0.25&times;</option><option value="0.5">0.5&times;</option>
          <option value="1" selected>1&times;</option><option value="2">2&times;</option>
          <option value="4">4&times;</option>
        </select>
        <span id="clock"></span>
      </div>
      <svg id="timeline" viewBox="0 0 1000 120" preserveAspectRatio="none"></svg>
      <div id="words"></div>
      <audio id="audio" preload="auto"></audio>
      <section id="maps"></section>
    </div>
  </div>
</main>
"""

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("vista-data").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var SVG = "http://www.w3.org/2000/svg";
  var state = { index: 0, t: 0, playing: false, speed: 1, last: null };

  function trial() { return data.trials[state.index]; }
  function span(tr) { return Math.max(tr.t1 - tr.t0, 1); }
  function fmt(ms) { return (ms / 1000).toFixed(2) + " s"; }
  function el(tag, attrs, text) {
    var e = tag.indexOf("svg:") === 0 ? document.createElementNS(SVG, tag.slice(4))
                                      : document.createElement(tag);
    for (var k in attrs || {}) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function buildNav() {
    var nav = $("trials");
    data.trials.forEach(function (tr, i) {
      var b = el("button", { type: "button", "data-index": i, title: tr.image_name }, tr.label);
      b.addEventListener("click", function () { show(i); });
      nav.appendChild(b);
    });
    $("title").textContent = data.title;
  }

  function buildTimeline(tr) {
    var svg = $("timeline");
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    if (!tr.timed) { return; }
    var x = function (t) { return 1000 * (t - tr.t0) / span(tr); };
    tr.segments.forEach(function (s, k) {
      if (s.window_start === null) { return; }
      var g = el("svg:g", { "class": "seg", "data-segment": k });
      var y = 2 + 15 * (k % 2);
      g.appendChild(el("svg:rect", { x: x(s.window_start), y: y, width: Math.max(x(s.window_end) - x(s.window_start), 1),
                                      height: 14, fill: "#4c6ef5", "fill-opacity": 0.2 }));
      if (s.start !== null) {
        g.appendChild(el("svg:rect", { x: x(s.start), y: y, width: Math.max(x(s.end) - x(s.start), 1),
                                        height: 14, fill: "#4c6ef5", "fill-opacity": 0.5 }));
      }
      g.appendChild(el("svg:text", { x: x(s.window_start) + 3, y: y + 11, "font-size": 10, fill: "#1c2a6b" },
                       k + ": " + (s.text.length > 28 ? s.text.slice(0, 27) + "\u2026" : s.text)));
      var title = el("svg:title", {}, "segment " + k + ": " + s.text + " (window " +
                     fmt(s.window_start - tr.onset) + " to " + fmt(s.window_end - tr.onset) + ")");
      g.appendChild(title);
      svg.appendChild(g);
    });
    tr.words.forEach(function (w) {
      svg.appendChild(el("svg:rect", { x: x(w[1]), y: 40, width: Math.max(x(w[2]) - x(w[1]), 1), height: 16,
                                        fill: "#d6336c", "fill-opacity": 0.6 }));
    });
    tr.fixations.forEach(function (f) {
      if (f[0] === null) { return; }
      svg.appendChild(el("svg:rect", { x: x(f[0]), y: 66, width: Math.max(x(f[1]) - x(f[0]), 1), height: 18,
                                        fill: "#2b8a3e", "fill-opacity": 0.7 }));
    });
    svg.appendChild(el("svg:text", { x: 4, y: 100, "font-size": 10, fill: "#777" },
                       "segment windows (lead, segment) / words / fixations"));
    svg.appendChild(el("svg:line", { id: "playhead", x1: 0, x2: 0, y1: 0, y2: 120,
                                      stroke: "#000", "stroke-width": 2 }));
  }

  function buildWords(tr) {
    var box = $("words");
    box.innerHTML = "";
    if (!tr.words.length) { box.appendChild(el("span", { "class": "none" }, "no transcript")); return; }
    tr.words.forEach(function (w, i) {
      var s = el("span", { "class": "word pending", "data-word": i, "data-start": w[1], "data-end": w[2] }, w[0]);
      s.addEventListener("click", function () { seek(w[1]); });
      box.appendChild(s);
      box.appendChild(document.createTextNode(" "));
    });
  }

  function figure(src, caption, scores) {
    var f = el("figure");
    if (src) { f.appendChild(el("img", { src: src, alt: caption, width: data.map_width })); }
    else { f.appendChild(el("div", { "class": "none" }, "no map")); }
    f.appendChild(el("figcaption", {}, caption));
    if (scores) {
      var tb = el("table");
      Object.keys(scores).forEach(function (m) {
        var r = el("tr");
        r.appendChild(el("td", {}, m));
        var v = scores[m];
        r.appendChild(el("td", {}, v === null ? "n/a" : v.toFixed(3)));
        tb.appendChild(r);
      });
      f.appendChild(tb);
    }
    return f;
  }

  function buildMaps(tr) {
    var box = $("maps");
    box.innerHTML = "";
    tr.segments.forEach(function (s, k) {
      var card = el("div", { "class": "segcard", "data-segment": k });
      var when = s.window_start === null ? "" : " \u00b7 window " + fmt(s.window_start - tr.onset) +
                 " to " + fmt(s.window_end - tr.onset) + (s.start === null ? "" :
                 " (lead " + fmt(s.start - s.window_start) + ", lag " + fmt(s.window_end - s.end) + ")");
      card.appendChild(el("h3", {}, "segment " + k + ": \u201c" + s.text + "\u201d" + when));
      var row = el("div", { "class": "row" });
      row.appendChild(figure(s.human_map, "human", null));
      (s.models || []).forEach(function (m) { row.appendChild(figure(m.map, m.name, m.scores)); });
      card.appendChild(row);
      card.addEventListener("click", function () { if (s.start !== null) { seek(s.start); } });
      box.appendChild(card);
    });
  }

  function drawScan() {
    var tr = trial(), c = $("scan"), img = $("img");
    var w = tr.width, h = tr.height;
    c.width = w; c.height = h;
    var ctx = c.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    var nAreas = 0, rel = state.t - tr.onset;
    ctx.save();
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = 1.5;
    ctx.font = "12px system-ui, sans-serif";
    (tr.areas || []).forEach(function (a) {
      if (a.start !== null && (rel < a.start || rel >= a.end)) { return; }
      var p = a.points;
      ctx.beginPath();
      if (a.shape === "rectangle") {
        ctx.rect(p[0][0] * w, p[0][1] * h, (p[1][0] - p[0][0]) * w, (p[1][1] - p[0][1]) * h);
      } else if (a.shape === "ellipse") {
        ctx.ellipse((p[0][0] + p[1][0]) / 2 * w, (p[0][1] + p[1][1]) / 2 * h,
                    Math.abs(p[1][0] - p[0][0]) / 2 * w, Math.abs(p[1][1] - p[0][1]) / 2 * h, 0, 0, 2 * Math.PI);
      } else {
        p.forEach(function (q, i) { if (i === 0) { ctx.moveTo(q[0] * w, q[1] * h); } else { ctx.lineTo(q[0] * w, q[1] * h); } });
        ctx.closePath();
      }
      ctx.strokeStyle = "rgba(34,184,207,0.95)";
      ctx.stroke();
      var lx = Math.min(p[0][0], p[p.length - 1][0]) * w + 3;
      var ly = Math.min(p[0][1], p[p.length - 1][1]) * h + 13;
      ctx.setLineDash([]);
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(0,0,0,0.75)";
      ctx.strokeText(a.label, lx, ly);
      ctx.fillStyle = "rgb(153,233,242)";
      ctx.fillText(a.label, lx, ly);
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1.5;
      nAreas += 1;
    });
    ctx.restore();
    c.setAttribute("data-areas", String(nAreas));
    var pts = [], current = -1;
    tr.fixations.forEach(function (f, i) {
      if (f[0] === null || f[0] <= state.t) {
        pts.push(f);
        if (f[0] !== null && state.t < f[1]) { current = pts.length - 1; }
      }
    });
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "rgba(255,255,0,0.8)";
    ctx.beginPath();
    pts.forEach(function (f, i) {
      var px = f[2] * w, py = f[3] * h;
      if (i === 0) { ctx.moveTo(px, py); } else { ctx.lineTo(px, py); }
    });
    ctx.stroke();
    pts.forEach(function (f, i) {
      var dur = f[0] === null ? 200 : Math.min(state.t, f[1]) - f[0];
      var r = 3 + 0.25 * Math.sqrt(Math.max(dur, 0));
      ctx.beginPath();
      ctx.arc(f[2] * w, f[3] * h, r, 0, 2 * Math.PI);
      ctx.fillStyle = i === current ? "rgba(214,51,108,0.85)" : "rgba(255,212,59,0.55)";
      ctx.fill();
      ctx.strokeStyle = "rgba(0,0,0,0.7)";
      ctx.stroke();
    });
    c.setAttribute("data-drawn", String(pts.length));
    c.setAttribute("data-current", String(current));
    img.setAttribute("data-t", String(state.t));
  }

  function update() {
    var tr = trial();
    if (tr.timed) {
      var rel = state.t - tr.t0;
      $("clock").textContent = fmt(state.t - tr.onset) + " / " + fmt(tr.t1 - tr.onset);
      $("scrub").value = String(Math.round(1000 * rel / span(tr)));
      var ph = document.getElementById("playhead");
      if (ph) { var x = 1000 * rel / span(tr); ph.setAttribute("x1", x); ph.setAttribute("x2", x); }
    }
    var spans = document.querySelectorAll("#words span.word");
    for (var i = 0; i < spans.length; i++) {
      var w = tr.words[i];
      var cls = state.t >= w[1] && state.t < w[2] ? "current" : (state.t >= w[2] ? "spoken" : "pending");
      spans[i].className = "word " + cls;
    }
    var cards = document.querySelectorAll("#maps .segcard");
    for (var k = 0; k < cards.length; k++) {
      var s = tr.segments[k];
      var on = s.window_start !== null && state.t >= s.window_start && state.t < s.window_end;
      cards[k].className = "segcard" + (on ? " active" : "");
    }
    drawScan();
  }

  function syncAudio() {
    var a = $("audio"), tr = trial();
    if (!tr.audio) { return; }
    var pos = (state.t - tr.audio.start_ms) / 1000;
    if (pos >= 0 && isFinite(pos)) { try { a.currentTime = pos; } catch (e) { /* not loaded */ } }
  }

  function seek(t) {
    var tr = trial();
    if (!tr.timed) { return; }
    state.t = Math.min(Math.max(t, tr.t0), tr.t1);
    syncAudio();
    update();
  }

  function tick(now) {
    if (!state.playing) { return; }
    var tr = trial(), a = $("audio");
    if (tr.audio && !a.paused && a.readyState >= 2) {
      state.t = tr.audio.start_ms + 1000 * a.currentTime;
    } else if (state.last !== null) {
      state.t += (now - state.last) * state.speed;
    }
    state.last = now;
    if (state.t >= tr.t1) { state.t = tr.t1; pause(); }
    update();
    if (state.playing) { requestAnimationFrame(tick); }
  }

  function play() {
    var tr = trial();
    if (!tr.timed) { return; }
    if (state.t >= tr.t1) { state.t = tr.t0; }
    state.playing = true; state.last = null;
    $("play").innerHTML = "&#10074;&#10074; pause";
    var a = $("audio");
    if (tr.audio) {
      syncAudio(); a.playbackRate = state.speed;
      var p = a.play(); if (p && p.catch) { p.catch(function () {}); }
    }
    requestAnimationFrame(tick);
  }

  function pause() {
    state.playing = false;
    $("play").innerHTML = "&#9654; play";
    $("audio").pause();
  }

  function show(i) {
    pause();
    state.index = Math.min(Math.max(i, 0), data.trials.length - 1);
    var tr = trial();
    var img = $("img");
    img.src = tr.image || "";
    img.width = tr.width; img.height = tr.height;
    img.alt = tr.image_name;
    $("trialname").textContent = tr.label + (tr.image_name ? " \u00b7 " + tr.image_name : "");
    $("trialmeta").textContent = tr.meta;
    var buttons = document.querySelectorAll("nav#trials button");
    for (var b = 0; b < buttons.length; b++) {
      buttons[b].className = b === state.index ? "active" : "";
    }
    var a = $("audio");
    if (tr.audio) { a.src = tr.audio.src; a.style.display = ""; } else { a.removeAttribute("src"); a.style.display = "none"; }
    $("play").disabled = !tr.timed; $("scrub").disabled = !tr.timed;
    document.body.setAttribute("data-trial", tr.id);
    buildTimeline(tr); buildWords(tr); buildMaps(tr);
    state.t = tr.timed ? tr.onset : 0;
    update();
  }

  function fromHash() {
    var h = window.location.hash.replace(/^#/, ""), args = {};
    h.split("&").forEach(function (kv) {
      var p = kv.split("=");
      if (p.length === 2) { args[decodeURIComponent(p[0])] = decodeURIComponent(p[1]); }
    });
    var idx = 0;
    if (args.trial !== undefined) {
      data.trials.forEach(function (tr, i) { if (tr.id === args.trial) { idx = i; } });
    }
    show(idx);
    if (args.at !== undefined && trial().timed) { seek(parseFloat(args.at)); }
    else if (args.t !== undefined && trial().timed) { seek(trial().onset + parseFloat(args.t)); }
  }

  $("play").addEventListener("click", function () { if (state.playing) { pause(); } else { play(); } });
  $("scrub").addEventListener("input", function () {
    var tr = trial(); seek(tr.t0 + span(tr) * parseFloat(this.value) / 1000);
  });
  $("speed").addEventListener("change", function () {
    state.speed = parseFloat(this.value); $("audio").playbackRate = state.speed;
  });
  $("timeline").addEventListener("click", function (ev) {
    var r = this.getBoundingClientRect(), tr = trial();
    seek(tr.t0 + span(tr) * (ev.clientX - r.left) / r.width);
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.target && (ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT")) {
      if (ev.key !== " " && ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") { return; }
    }
    var sel = $("speed"), opts = sel.options;
    if (ev.key === "ArrowRight" || ev.key === "PageDown") { show(state.index + 1); }
    else if (ev.key === "ArrowLeft" || ev.key === "PageUp") { show(state.index - 1); }
    else if (ev.key === " ") { if (state.playing) { pause(); } else { play(); } }
    else if (ev.key === "Home") { seek(trial().t0); }
    else if (ev.key === "]" && sel.selectedIndex < opts.length - 1) { sel.selectedIndex += 1; sel.dispatchEvent(new Event("change")); }
    else if (ev.key === "[" && sel.selectedIndex > 0) { sel.selectedIndex -= 1; sel.dispatchEvent(new Event("change")); }
    else { return; }
    ev.preventDefault();
  });
  window.addEventListener("hashchange", fromHash);
  buildNav();
  fromHash();
  window.vistaView = { show: show, seek: seek, play: play, pause: pause, state: state, data: data };
})();
"""
