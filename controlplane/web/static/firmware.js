// 系统维护 -> 设备升级 (/maintenance/firmware, SPEC U1): the models with their registered
// devices, the firmware files (tabs per model), add (the file checked first: its model and
// version shown before OK), update a file that is not the latest, the latest switch,
// delete one or many, and "update now" with the guide's 确定升级？ question.
"use strict";
(() => {
  const T = window.FIRMWARE_T;
  const { api, upload, ApiError, clearErrors, showErrors, confirmDialog, confirmed, toast, listPage, iconButton, fillText } = window.vcbox;
  const $ = (id) => document.getElementById(id);
  const modal = (id) => bootstrap.Modal.getOrCreateInstance($(id));
  const size = (bytes) => bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
  const element = (tag, className, ...content) => {
    const el = document.createElement(tag);
    if (className) el.className = className;
    el.append(...content);
    return el;
  };

  // -- the models: registered devices, the latest version, update now -----------------------
  function drawModels(models) {
    $("firmware-models").replaceChildren(...models.map((m) => {
      const button = element("button", "btn btn-sm btn-outline-primary mt-2", element("i", "bi bi-arrow-repeat"), " ", T.update);
      button.type = "button"; button.dataset.model = m.model; button.disabled = !m.latest;
      button.onclick = () => updateNow(m.model, m.latest);
      const state = !m.latest ? T.noLatest
        : m.outdated ? fillText(T.outdated, { n: m.outdated }) : T.upToDate;
      return element("div", "col", element("div", "border rounded p-2 h-100",
        element("div", "fw-semibold", m.model),
        element("div", "small text-secondary", fillText(T.devices, { n: m.registered })),
        element("div", "small font-monospace", m.latest || "—"),
        element("div", `small ${m.outdated ? "text-warning-emphasis" : "text-secondary"}`, state),
        button));
    }));
  }

  async function updateNow(model, version) {
    let done;
    try {
      done = await confirmed("POST", `/api/v1/firmware/${encodeURIComponent(model)}/update`);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      toast(err.message, "danger");
      return;
    }
    if (done === null) return;  // the administrator said no
    toast(done.notified.length ? fillText(T.updated, { n: done.notified.length, version: done.version })
      : fillText(T.noneToUpdate, { version: version || done.version }));
    list.load();
  }

  // -- the files ------------------------------------------------------------------------------
  function latestSwitch(f) {
    const input = element("input", "form-check-input");
    input.type = "checkbox"; input.role = "switch"; input.checked = f.latest; input.dataset.role = "latest";
    input.setAttribute("aria-label", T.latestOn);
    input.onchange = async () => {
      try {
        await api("POST", `/api/v1/firmware/${encodeURIComponent(f.name)}/latest`, { latest: input.checked });
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        toast(err.message, "danger");
      }
      list.load();
    };
    const td = document.createElement("td");
    td.append(element("div", "form-check form-switch mb-0", input));
    return td;
  }

  const list = listPage({
    list: "firmware", url: "/api/v1/firmware", kind: "all", T: { empty: T.empty },
    key: (f) => f.name, label: (f) => f.name,
    batch: [$("firmware-delete")],
    selectable: (f) => !f.latest,
    cells: (f) => [element("td", "font-monospace", f.name), f.model, element("td", "font-monospace", f.version),
      size(f.size), element("td", "text-nowrap", f.uploaded_time.replace("T", " ")), latestSwitch(f)],
    actions: (f) => {
      const replace = iconButton("upload", T.replaceAction, "replace", () => openDialog(f));
      const remove = iconButton("trash", T.delete, "delete", () => removeFiles([f.name]), "text-danger");
      replace.disabled = remove.disabled = f.latest;
      if (f.latest) remove.title = T.cannotDeleteLatest;
      return [replace, remove];
    },
    onLoad: (page) => drawModels(page.models || []),
  });

  const removeFiles = (names) => list.remove("/api/v1/firmware/delete", names,
    { question: T.confirmDelete, done: T.deleted });
  $("firmware-delete").onclick = () => removeFiles([...list.selected.keys()]);

  // -- add / update a file: checked by the server first (?check=1), then sent -------------
  const form = $("form-firmware-file"), fileInput = $("firmware-input");
  const okButton = form.querySelector('[type="submit"]');
  let replacing = null;

  function formOf(check) {
    const data = new FormData();
    data.append("file", fileInput.files[0]);
    if ($("firmware-model").value) data.append("model", $("firmware-model").value);
    if (replacing) data.append("replace", replacing.name);
    return upload("/api/v1/firmware" + (check ? "?check=1" : ""), data);
  }

  function openDialog(file) {
    replacing = file || null;
    clearErrors(form);
    form.querySelector('[data-role="title"]').textContent = file ? `${T.replace}: ${file.name}` : T.add;
    fileInput.value = "";
    $("firmware-model").value = "";
    $("firmware-model-row").classList.add("d-none");
    $("firmware-found").classList.add("d-none");
    modal("dlg-firmware-file").show();
  }
  $("firmware-add").onclick = () => openDialog(null);

  async function inspect() {
    clearErrors(form);
    $("firmware-found").classList.add("d-none");
    if (!fileInput.files[0]) return false;
    try {
      const found = await formOf(true);
      $("firmware-found-model").textContent = found.model;
      $("firmware-found-version").textContent = found.version;
      $("firmware-found").classList.remove("d-none");
      return true;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      // a file whose name names no model: the model is chosen here
      if ("model" in (err.body.details || {})) $("firmware-model-row").classList.remove("d-none");
      showErrors(form, err);
      return false;
    }
  }
  fileInput.onchange = inspect;
  $("firmware-model").onchange = inspect;

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!fileInput.files[0]) { showErrors(form, new ApiError(400, { details: { file: T.chooseFile } })); return; }
    okButton.disabled = true;
    try {
      await formOf(false);
      modal("dlg-firmware-file").hide();
      toast(replacing ? T.replaced : T.added);
      list.load();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if ("model" in (err.body.details || {})) $("firmware-model-row").classList.remove("d-none");
      showErrors(form, err);
    } finally {
      okButton.disabled = false;
    }
  });

  list.load();
})();
