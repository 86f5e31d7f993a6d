// System upgrade (G1): the running version, a bundle uploaded and confirmed, then the
// upgrade's progress task by task, polled while the control plane restarts under it.
(() => {
  const T = window.UPGRADE_T;
  const $ = (id) => document.getElementById(id);
  const form = $("upgrade-form");
  const fileInput = $("upgrade-file");
  const ICON = { running: "bi-arrow-repeat text-primary", ok: "bi-check-circle text-success",
    changed: "bi-check-circle-fill text-success", skipped: "bi-dash-circle text-secondary",
    failed: "bi-x-circle-fill text-danger" };
  const BADGE = { running: "text-bg-primary", done: "text-bg-success", failed: "text-bg-danger",
    interrupted: "text-bg-warning" };
  let polling = null;
  let lastRun = null;
  let version = null;

  function showRun(run, unreachable) {
    if (!run) return;
    lastRun = run;
    $("upgrade-progress").classList.remove("d-none");
    $("upgrade-title").textContent = vcbox.fillText(T.title, { from: run.from, to: run.to });
    const state = $("upgrade-state");
    state.className = `badge ${BADGE[run.state] || "text-bg-secondary"}`;
    state.textContent = T[run.state] || run.state;
    const note = $("upgrade-note");
    note.className = "small mb-2 " + (run.state === "failed" ? "text-danger" : "text-secondary");
    if (unreachable) note.textContent = T.restarting;
    else if (run.state === "done") note.textContent = vcbox.fillText(T.doneNote, { version: run.to });
    else if (run.state === "failed") note.textContent = vcbox.fillText(T.failedNote, { step: run.failed_step || "", version: version || run.from });
    else if (run.state === "interrupted") note.textContent = T.interruptedNote;
    else note.textContent = "";
    $("upgrade-steps").replaceChildren(...(run.steps || []).map((s) => {
      const li = document.createElement("li");
      li.className = "list-group-item d-flex gap-2 align-items-start";
      li.dataset.status = s.status;
      const icon = document.createElement("i");
      icon.className = `bi ${ICON[s.status] || "bi-circle"}`;
      const text = document.createElement("div");
      text.className = "flex-grow-1";
      text.textContent = s.name;
      if (s.status === "failed" && s.message) {
        const why = document.createElement("div");
        why.className = "text-danger text-break";
        why.textContent = s.message;
        text.append(why);
      }
      const status = document.createElement("span");
      status.className = "text-secondary text-nowrap";
      status.textContent = T.status[s.status] || s.status;
      li.append(icon, text, status);
      return li;
    }));
    if (run.state === "running") poll();
  }

  function showState(doc) {
    version = doc.version;
    $("upgrade-version").textContent = doc.version;
    $("upgrade-build-time").textContent = doc.build_time || T.sourceCheckout;
    $("upgrade-signature").textContent = doc.signature_required ? T.required : T.notRequired;
    const off = $("upgrade-unavailable");
    off.classList.toggle("d-none", doc.available);
    off.textContent = doc.unavailable || "";
    fileInput.disabled = !doc.available;
    $("upgrade-start").disabled = !doc.available || (doc.run && doc.run.state === "running");
    showRun(doc.run, false);
  }

  async function refresh() {
    try {
      showState(await vcbox.api("GET", "/api/v1/system/upgrade", null, { background: true }));
    } catch (err) {
      // The control plane restarts during an upgrade: keep the last progress, say why.
      if (lastRun && lastRun.state === "running") { showRun(lastRun, true); return; }
      throw err;
    }
  }

  function poll() {
    if (polling) return;
    polling = setTimeout(async () => { polling = null; await refresh(); }, 1000);
  }

  async function send(file, confirm) {
    const data = new FormData();
    data.append("file", file);
    if (confirm) data.append("confirm", "true");
    return vcbox.upload("/api/v1/system/upgrade", data);
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    vcbox.clearErrors(form);
    const file = fileInput.files[0];
    if (!file) { vcbox.showErrors(form, { message: "", body: { details: { file: T.chooseFile } } }); return; }
    const button = $("upgrade-start");
    button.disabled = true;
    try {
      let run;
      try {
        vcbox.toast(T.uploading, "info");
        run = await send(file, false);
      } catch (err) {
        if (!(err instanceof vcbox.ApiError) || err.status !== 409 || err.body.error_id !== "confirm_required") throw err;
        if (!(await vcbox.confirmDialog(err.message))) return;
        run = await send(file, true);
      }
      showRun(run, false);
    } catch (err) {
      if (!(err instanceof vcbox.ApiError)) throw err;
      if (Object.keys(err.body.details || {}).length) vcbox.showErrors(form, err);
      else vcbox.toast(err.message, "danger");
    } finally {
      button.disabled = false;
    }
  });

  refresh();
})();
