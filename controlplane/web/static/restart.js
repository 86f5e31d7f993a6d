// 系统维护 -> 重启/恢复出厂设置 (/maintenance/restart; SPEC G2, G3): a factory reset in one
// of the guide's two modes, and a restart of the operating system, each after the guide's
// question (the server's 409 confirm_required: "确定恢复出厂设置？", "确定重启系统？").
// A reset leaves no administrator: the page goes to the setup wizard. A restart is
// answered before it happens; the page then waits until the server answers again and
// goes to the login. Where the services are the control plane's own processes (`make
// run`) a restart restarts those, and the page lists how each came back.
"use strict";
(() => {
  const T = window.RESTART_T;
  const { api, ApiError, confirmed, resultDialog, toast, fillText } = window.vcbox;
  const $ = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

  // The chosen mode's card stands out (its kept / deleted lists are what the reset does).
  const radios = [...document.querySelectorAll('input[name="reset-mode"]')];
  const mark = () => radios.forEach((r) => {
    const card = r.closest(".reset-mode");
    card.classList.toggle("border-danger", r.checked);
    card.classList.toggle("reset-chosen", r.checked);
  });
  radios.forEach((r) => r.addEventListener("change", mark));
  mark();

  function busy(button, progress, on) {
    button.disabled = on;
    progress.classList.toggle("d-none", !on);
  }

  // -- factory reset ---------------------------------------------------------------------
  $("reset-run").onclick = async () => {
    const mode = radios.find((r) => r.checked).value;
    const button = $("reset-run"), progress = $("reset-progress");
    let done;
    try {
      done = await confirmed("POST", "/api/v1/system/factory-reset", { mode },
        { onConfirm: () => busy(button, progress, true) });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      busy(button, progress, false);
      toast(err.message, "danger");
      return;
    }
    if (!done) return;
    busy(button, progress, false);
    button.disabled = true;  // nothing is left to reset until the wizard ran
    document.getElementById("dlg-result").addEventListener("hidden.bs.modal", () => { location.href = done.next || "/setup"; }, { once: true });
    resultDialog(T.reset, T.resetDone);
  };

  // -- restart ---------------------------------------------------------------------------
  const rebootButton = $("reboot-run"), rebootProgress = $("reboot-progress");
  const say = (text) => { rebootProgress.querySelector('[data-role="text"]').textContent = text; };

  // Whether the server answers (a public endpoint: the session may not survive a restart).
  async function answers() {
    try {
      const res = await fetch("/api/v1/setup", { cache: "no-store", credentials: "same-origin" });
      return res.ok;
    } catch (e) {
      return false;
    }
  }

  // The machine restarts: first it goes away (within a minute), then it answers again.
  async function backAgain() {
    const downBy = Date.now() + 60000;
    while (Date.now() < downBy && (await answers())) await sleep(1000);
    while (!(await answers())) await sleep(2000);
  }

  // The services restart: the state of the reboot until it is over.
  async function servicesRestarted() {
    for (;;) {
      await sleep(500);
      try {
        const state = await api("GET", "/api/v1/system/reboot", null, { background: true });
        if (state.state === "done" || state.state === "failed") return state;
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;  // the web server itself restarting: again
      }
    }
  }

  function outcome(state) {
    if (state.state === "failed") return fillText(T.rebootFailed, { error: state.error });
    if (!state.services.length) return T.noServices;
    const list = document.createElement("ul");
    list.className = "mb-0 mt-2";
    for (const s of state.services) {
      const li = document.createElement("li");
      li.dataset.service = s.service;
      li.textContent = `${s.name}: ${T.status[s.status] || s.status}`;
      list.append(li);
    }
    const p = document.createElement("p");
    p.className = "mb-0";
    p.textContent = T.servicesDone;
    return [p, list];
  }

  rebootButton.onclick = async () => {
    let started;
    try {
      started = await confirmed("POST", "/api/v1/system/reboot", {},
        { onConfirm: () => { say(""); busy(rebootButton, rebootProgress, true); } });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      busy(rebootButton, rebootProgress, false);
      toast(err.message, "danger");
      return;
    }
    if (!started) return;
    if (started.mode === "system") {
      say(T.rebooting);
      await backAgain();
      say(T.back);
      location.href = "/login";
      return;
    }
    say(T.restartingServices);
    const state = await servicesRestarted();
    busy(rebootButton, rebootProgress, false);
    document.getElementById("dlg-result").addEventListener("hidden.bs.modal", () => { location.href = "/login"; }, { once: true });
    resultDialog(T.reboot, outcome(state));
  };
})();
