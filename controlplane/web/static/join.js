// The browser join (/join/<id>): camera preview, then the meeting over Janus's SIP plugin
// (janus.js, the maintained client from npm "janus-gateway"). The control plane's join API
// gives a one-time join token, the Janus URL and token, and TURN credentials; the plugin
// handle calls the meeting through FreeSWITCH's loopback profile with the token in a
// header (controlplane/web_join.py), as a SIP guest (no REGISTER, no SIP credentials).
// ?ice=relay forces the media through the TURN relay (iceTransportPolicy "relay").
import Janus from "/static/vendor/janus-gateway/janus.es.js";

const J = window.VCBOX_JOIN;
const W = J.words;
const $ = (id) => document.getElementById(id);
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? ""));
const relay = new URLSearchParams(location.search).get("ice") === "relay";
// How long ICE may take before the page says it failed.
const ICE_TIMEOUT_MS = 20000;

let local = null;        // the preview's MediaStream
let micOn = true, camOn = true;
let janus = null, handle = null;
let iceTimer = null, clock = null, started = 0, leaving = false;
// What a test or a support person can look at: the state and the peer connection.
window.vcboxJoin = { state: "lobby", error: "", events: [], pc: () => handle && handle.webrtcStuff && handle.webrtcStuff.pc };

function setState(state) {
  window.vcboxJoin.state = state;
  const badge = $("call-state");
  badge.classList.toggle("d-none", state === "lobby" || state === "ended");
  badge.className = "badge rounded-pill " + (state === "connected" ? "text-bg-success" : "text-bg-secondary") + (state === "lobby" || state === "ended" ? " d-none" : "");
  badge.textContent = state === "connected" ? W.connected : W.connecting;
}

function lobbyError(message) {
  const alert = $("join-error");
  if (!alert) return;
  alert.textContent = message;
  alert.classList.toggle("d-none", !message);
  window.vcboxJoin.error = message;
}

// -- the preview -------------------------------------------------------------------------

function mediaError(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError") return W.cameraDenied;
  if (name === "NotFoundError" || name === "OverconstrainedError") return W.cameraMissing;
  if (name === "NotReadableError" || name === "AbortError") return W.cameraBusy;
  return fill(W.cameraFailed, { reason: (err && (err.message || err.name)) || String(err) });
}

async function startPreview() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    lobbyError(W.noMediaDevices);
    $("join-submit").disabled = true;
    return;
  }
  try {
    local = await navigator.mediaDevices.getUserMedia({
      audio: true, video: { width: { ideal: 1280 }, height: { ideal: 720 } } });
    $("preview").srcObject = local;
  } catch (err) {
    lobbyError(mediaError(err) + " " + W.noCamera);
    $("join-submit").disabled = true;
    $("preview-off").classList.remove("d-none");
  }
}

function paintToggles() {
  for (const [id, on, onIcon, offIcon, onWord, offWord] of [
    ["preview-mic", micOn, "mic-fill", "mic-mute-fill", W.mute, W.unmute],
    ["btn-mic", micOn, "mic-fill", "mic-mute-fill", W.mute, W.unmute],
    ["preview-cam", camOn, "camera-video-fill", "camera-video-off-fill", W.camOff, W.camOn],
    ["btn-cam", camOn, "camera-video-fill", "camera-video-off-fill", W.camOff, W.camOn],
  ]) {
    const button = $(id);
    button.innerHTML = `<i class="bi bi-${on ? onIcon : offIcon}"></i>`;
    button.title = on ? onWord : offWord;
    button.setAttribute("aria-label", button.title);
    button.setAttribute("aria-pressed", String(!on));
    button.classList.toggle("btn-danger", !on);
    if (id.startsWith("btn-")) button.classList.toggle("btn-secondary", on);
    else button.classList.toggle("btn-light", on);
  }
  $("preview-off").classList.toggle("d-none", camOn || !local);
  $("self-view").classList.toggle("invisible", !camOn);
}

function setMic(on) {
  micOn = on;
  if (local) local.getAudioTracks().forEach((t) => { t.enabled = on; });
  if (handle && handle.webrtcStuff && handle.webrtcStuff.pc) {
    if (on) handle.unmuteAudio(); else handle.muteAudio();
  }
  paintToggles();
}

function setCam(on) {
  camOn = on;
  if (local) local.getVideoTracks().forEach((t) => { t.enabled = on; });
  if (handle && handle.webrtcStuff && handle.webrtcStuff.pc) {
    if (on) handle.unmuteVideo(); else handle.muteVideo();
  }
  paintToggles();
}

// -- the call ----------------------------------------------------------------------------

async function askToJoin(form) {
  vcbox.clearErrors(form);
  lobbyError("");
  const data = { name: form.name.value };
  if (form.password) data.password = form.password.value;
  busy(true);
  try {
    return await vcbox.api("POST", `/api/v1/join/${encodeURIComponent(J.meeting)}`, data);
  } catch (err) {
    if (!(err instanceof vcbox.ApiError)) throw err;
    vcbox.showErrors(form, err);
    window.vcboxJoin.error = err.message;
    return null;
  } finally {
    busy(false);
  }
}

function busy(on) {
  $("join-submit").disabled = on;
  $("join-spinner").classList.toggle("d-none", !on);
  $("join-icon").classList.toggle("d-none", on);
}

function callError(message) {
  const el = $("call-error");
  el.textContent = message;
  el.classList.toggle("d-none", !message);
  if (message) window.vcboxJoin.error = message;
}

function showCall() {
  $("stage-lobby").classList.add("d-none");
  $("stage-call").classList.remove("d-none");
  $("self-view").srcObject = local;
  $("call-timer").classList.remove("d-none");
  started = Date.now();
  clock = setInterval(() => {
    const s = Math.floor((Date.now() - started) / 1000);
    $("call-timer").textContent = vcbox.hms(s).replace(/^00:(?=\d\d:\d\d$)/, "");
  }, 1000);
  setState("connecting");
}

function end(reason, failed) {
  if (window.vcboxJoin.state === "ended") return;
  clearTimeout(iceTimer);
  clearInterval(clock);
  setState("ended");
  if (failed) window.vcboxJoin.error = reason;
  $("stage-call").classList.add("d-none");
  $("stage-lobby").classList.add("d-none");
  $("stage-ended").classList.remove("d-none");
  $("call-timer").classList.add("d-none");
  $("ended-title").textContent = failed ? reason : W.left;
  $("ended-reason").textContent = failed ? "" : (reason && reason !== W.left ? reason : "");
  $("btn-rejoin").href = location.pathname + location.search;
  if (local) local.getTracks().forEach((t) => t.stop());
  try { if (handle) handle.hangup(); } catch (e) { /* already gone */ }
  try { if (janus) janus.destroy({ cleanupHandles: true }); } catch (e) { /* already gone */ }
  handle = null;
}

function fail(message) {
  callError(message);
  end(message, true);
}

function call(join) {
  showCall();
  Janus.init({
    debug: false,
    dependencies: Janus.useDefaultDependencies({ adapter: window.adapter }),
    callback: () => {
      janus = new Janus({
        server: join.janus_url,
        token: join.janus_token,
        iceServers: join.ice_servers,
        iceTransportPolicy: relay ? "relay" : "all",
        success: () => attach(join),
        error: (err) => { if (!leaving) fail(fill(W.janusFailed, { reason: String(err) })); },
        destroyed: () => {},
      });
    },
  });
}

function attach(join) {
  const remote = new MediaStream();
  janus.attach({
    plugin: "janus.plugin.sip",
    opaqueId: "vcbox-join-" + Janus.randomString(8),
    success: (h) => {
      handle = h;
      // A guest: no REGISTER, no SIP credentials at all.
      handle.send({ message: { request: "register", type: "guest", username: join.sip.username,
                               display_name: join.sip.display_name,
                               outbound_proxy: join.sip.proxy, force_udp: true } });
    },
    error: (err) => fail(fill(W.janusFailed, { reason: String(err) })),
    iceState: (state) => {
      if (state === "connected" || state === "completed") {
        clearTimeout(iceTimer);
        setState("connected");
      } else if (state === "failed") {
        fail(W.iceFailed);
      }
    },
    webrtcState: (on) => { if (!on && !leaving && window.vcboxJoin.state !== "ended") end(W.hungUp, false); },
    onmessage: (msg, jsep) => {
      const result = msg.result || {};
      window.vcboxJoin.events.push(msg.error ? { error: msg.error } : { ...result });
      if (msg.error) {
        fail(fill(W.callFailed, { reason: msg.error }));
        return;
      }
      if (result.event === "registration_failed") {
        fail(fill(W.refused, { reason: `${result.code || ""} ${result.reason || ""}`.trim() }));
      } else if (result.event === "registered") {
        offer(join);
      } else if (result.event === "accepted" && jsep) {
        handle.handleRemoteJsep({ jsep, error: (err) => fail(fill(W.callFailed, { reason: String(err) })) });
      } else if (result.event === "hangup") {
        if (leaving) return;
        const code = result.code || 0;
        if (code >= 400) fail(fill(W.refused, { reason: `${code} ${result.reason || ""}`.trim() }));
        else end(W.hungUp, false);
      }
    },
    onlocaltrack: () => {},
    onremotetrack: (track, mid, on) => {
      if (on) {
        remote.getTracks().filter((t) => t.kind === track.kind).forEach((t) => remote.removeTrack(t));
        remote.addTrack(track);
        const video = $("remote");
        if (video.srcObject !== remote) video.srcObject = remote;
        if (track.kind === "video") {
          $("remote-wait-text").textContent = W.waitingPicture;
          video.addEventListener("playing", () => $("remote-wait").classList.add("d-none"), { once: true });
          video.play().catch(() => {});
        }
      } else {
        remote.getTracks().filter((t) => t.id === track.id).forEach((t) => remote.removeTrack(t));
      }
    },
    oncleanup: () => {},
  });
}

function offer(join) {
  const audio = local.getAudioTracks()[0], video = local.getVideoTracks()[0];
  handle.createOffer({
    tracks: [{ type: "audio", capture: audio || false, recv: true },
             { type: "video", capture: video || false, recv: true }],
    success: (jsep) => {
      handle.send({ message: { request: "call", uri: join.sip.uri, headers: join.sip.headers }, jsep });
      iceTimer = setTimeout(() => {
        if (window.vcboxJoin.state !== "connected") fail(W.iceFailed);
      }, ICE_TIMEOUT_MS);
      if (!micOn) handle.muteAudio();
      if (!camOn) handle.muteVideo();
    },
    error: (err) => fail(fill(W.callFailed, { reason: String(err && err.message || err) })),
  });
}

function leave() {
  leaving = true;
  try { if (handle) handle.send({ message: { request: "hangup" } }); } catch (e) { /* gone */ }
  setTimeout(() => end(W.left, false), 300);
}

// -- wiring ------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  const form = $("form-join");
  ["preview-mic", "btn-mic"].forEach((id) => $(id).addEventListener("click", () => setMic(!micOn)));
  ["preview-cam", "btn-cam"].forEach((id) => $(id).addEventListener("click", () => setCam(!camOn)));
  $("btn-leave").addEventListener("click", leave);
  window.addEventListener("beforeunload", () => { if (handle) leave(); });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!local) return;
    const join = await askToJoin(form);
    if (join) call(join);
  });
  paintToggles();
  startPreview().then(paintToggles);
});
