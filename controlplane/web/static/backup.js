// 系统维护 -> 备份/还原 (/maintenance/backup): the backups, create now, upload, download,
// restore (from the list, or "restore now" in the upload dialog), delete, and the automatic
// backup settings (B1, B2). A restore signs everyone out: the page then goes to the login.
"use strict";
(() => {
  const T = window.BACKUP_T;
  const { api, ApiError, submitForm, clearErrors, showErrors, confirmDialog, resultDialog, toast, listPage, iconButton, fillText } = window.vcbox;
  const $ = (id) => document.getElementById(id);
  const modal = (id) => bootstrap.Modal.getOrCreateInstance($(id));
  const size = (bytes) => bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;

  const list = listPage({
    list: "backups", url: "/api/v1/backups", T: { empty: T.empty },
    key: (b) => b.name, label: (b) => b.name,
    batch: [$("backups-delete")],
    cells: (b) => [b.name, size(b.size), b.created_time],
    actions: (b) => {
      const download = iconButton("download", T.download, "download", () => { location.href = "/api/v1/backups/" + encodeURIComponent(b.name); });
      return [download, iconButton("arrow-counterclockwise", T.restore, "restore", () => restore(b.name)),
        iconButton("trash", T.delete, "delete", () => remove([b.name]), "text-danger")];
    },
  });

  const remove = (names) => list.remove("/api/v1/backups/delete", names,
    { question: T.confirmDelete, done: T.deleted });
  $("backups-delete").onclick = () => remove([...list.selected.keys()]);

  // -- restore: the guide's question, then the data swapped and every config applied ------
  async function restore(name) {
    if (!(await confirmDialog(T.confirmRestore))) return false;
    toast(T.restoring);
    let done;
    try {
      done = await api("POST", `/api/v1/backups/${encodeURIComponent(name)}/restore`, { confirm: true });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      toast(err.message, "danger");
      return false;
    }
    // Everyone is signed out (a backup holds no sessions): on to the login once read.
    document.getElementById("dlg-result").addEventListener("hidden.bs.modal", () => { location.href = "/login"; }, { once: true });
    resultDialog(T.restore, [T.restored, done.secrets_restored ? "" : T.foreign].filter(Boolean).join(" "));
    return true;
  }

  // -- create now: the default name as the guide has it, Backup + YYYYMMDDHHMMSS ----------
  const createForm = $("form-backup-create");
  $("backups-create").onclick = async () => {
    clearErrors(createForm);
    createForm.querySelector('[data-role="title"]').textContent = T.create;
    // The appliance's clock names it (Backup + YYYYMMDDHHMMSS), not the browser's.
    $("backup-name").value = (await api("GET", "/api/v1/backups?limit=1")).default_name;
    modal("dlg-backup-create").show();
  };
  createForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await submitForm(createForm, { method: "POST", url: "/api/v1/backups",
      onOk: () => { modal("dlg-backup-create").hide(); toast(T.created); list.load(); } });
  });

  // -- upload: multipart, checked by the server before it keeps anything -----------------
  const uploadForm = $("form-backup-upload");
  $("backups-upload").onclick = () => {
    clearErrors(uploadForm);
    uploadForm.querySelector('[data-role="title"]').textContent = T.upload;
    $("backup-file").value = "";
    modal("dlg-backup-upload").show();
  };
  // The guide's "立即还原" beside OK: upload, then restore what was kept.
  const okButton = uploadForm.querySelector('[type="submit"]');
  const restoreNow = document.createElement("button");
  restoreNow.type = "button"; restoreNow.className = "btn btn-outline-danger"; restoreNow.id = "backup-restore-now";
  restoreNow.textContent = T.restoreNow;
  okButton.before(restoreNow);

  // The chosen file uploaded (checked by the server); its kept entry, or null (the
  // refusal shown in the dialog).
  async function sendUpload() {
    clearErrors(uploadForm);
    const file = $("backup-file").files[0];
    if (!file) { showErrors(uploadForm, new ApiError(400, { details: { file: T.chooseFile } })); return null; }
    const data = new FormData();
    data.append("file", file);
    const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
    const res = await fetch("/api/v1/backups/upload", { method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) { showErrors(uploadForm, new ApiError(res.status, { details: {}, ...body })); return null; }
    list.load();
    return body;
  }
  async function busy(run) {
    okButton.disabled = restoreNow.disabled = true;
    try { return await run(); } finally { okButton.disabled = restoreNow.disabled = false; }
  }
  uploadForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const kept = await busy(sendUpload);
    if (!kept) return;
    modal("dlg-backup-upload").hide();
    toast(T.uploaded);
  });
  restoreNow.onclick = async () => {
    const kept = await busy(sendUpload);
    if (!kept) return;
    // One dialog at a time: the question once the upload dialog is gone (the file stays
    // in the list when the answer is no).
    const dialog = $("dlg-backup-upload");
    await new Promise((resolve) => { dialog.addEventListener("hidden.bs.modal", resolve, { once: true }); modal("dlg-backup-upload").hide(); });
    await restore(kept.name);
  };

  // -- the automatic backup settings -------------------------------------------------------
  const scheduleForm = $("form-backup-schedule");
  const cycle = scheduleForm.querySelector('[name="cycle"]'), day = scheduleForm.querySelector('[name="day"]');
  function dayOptions(kind, value) {
    const options = kind === "weekly" ? T.weekdays.map((name, i) => [i + 1, name])
      : kind === "monthly" ? Array.from({ length: 28 }, (_, i) => [i + 1, fillText(T.dayOfMonth, { n: i + 1 })])
        : [[value || 1, T.everyDay]];
    day.replaceChildren(...options.map(([v, label]) => new Option(label, v)));
    day.disabled = kind === "daily";
    day.value = String(Math.min(value || 1, options.length === 7 ? 7 : 28));
  }
  cycle.onchange = () => dayOptions(cycle.value, 1);

  function describe(doc) {
    if (!doc.enabled) return T.autoOff;
    const dayText = doc.cycle === "weekly" ? T.weekdays[doc.day - 1] : doc.day;
    return fillText(T.autoOn, { cycle: fillText(T.cycles[doc.cycle], { day: dayText }), time: doc.time, keep: doc.keep });
  }
  async function loadSchedule() {
    const doc = await api("GET", "/api/v1/settings/backup-schedule");
    $("backups-auto").textContent = describe(doc);
    return doc;
  }
  $("backups-schedule").onclick = async () => {
    clearErrors(scheduleForm);
    scheduleForm.querySelector('[data-role="title"]').textContent = T.schedule;
    const doc = await loadSchedule();
    $("schedule-enabled").checked = doc.enabled;
    cycle.value = doc.cycle;
    dayOptions(doc.cycle, doc.day);
    scheduleForm.querySelector('[name="time"]').value = doc.time;
    scheduleForm.querySelector('[name="keep"]').value = doc.keep;
    modal("dlg-backup-schedule").show();
  };
  scheduleForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await submitForm(scheduleForm, { method: "PUT", url: "/api/v1/settings/backup-schedule",
      transform: (data) => ({ ...data, day: data.day === null || data.day === undefined ? 1 : data.day }),
      onOk: async () => { modal("dlg-backup-schedule").hide(); toast(T.saved); await loadSchedule(); } });
  });

  list.load();
  loadSchedule();
})();
