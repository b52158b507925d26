// modelreg UI, the create-version form: checks as you type, the next versions as buttons,
// and the chosen files with the paths they will get. The form works without any of it,
// and the server checks every field again.
"use strict";

(() => {
  // SEMVER comes from ui.js (loaded first by base.html), the rule of registry_core.versions.

  function versionProblem(typed) {
    const text = typed.trim();
    if (text === "") return "";
    if (text.length > 255) return "A version has at most 255 characters.";
    if (SEMVER.test(text)) return "";
    if (/^[vV]/.test(text)) return "Leave out the leading v: write MAJOR.MINOR.PATCH, such as 1.2.0.";
    if (/\s/.test(text)) return "A version has no spaces.";
    const core = text.split(/[-+]/, 1)[0].split(".");
    if (core.length !== 3 || core.some((n) => !/^\d+$/.test(n))) {
      return "Write three numbers MAJOR.MINOR.PATCH, such as 1.2.0.";
    }
    if (core.some((n) => n.length > 1 && n.startsWith("0"))) return "Numbers have no leading zeros.";
    return "Not a SemVer 2.0.0 version: a prerelease follows -, build metadata follows +, " +
      "each in dot-separated parts of letters, digits and -, and a numeric prerelease part has no leading zero.";
  }

  function paramsProblem(text) {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (line && !/^[^=]*[^=\s][^=]*=/.test(line)) return `line ${i + 1}: '${line.slice(0, 80)}' is not key=value`;
    }
    return "";
  }

  function metricsProblem(text) {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const words = lines[i].trim().split(/\s+/).filter((w) => w);
      if (words.length === 0) continue;
      if (words.length < 2 || words.length > 3) return `line ${i + 1}: write 'key value' or 'key value step'`;
      if (Number.isNaN(Number(words[1])) && !/^[+-]?(nan|inf(inity)?)$/i.test(words[1])) {
        return `line ${i + 1}: the value '${words[1].slice(0, 40)}' is not a number`;
      }
      if (words.length === 3 && !/^[+-]?\d+$/.test(words[2])) {
        return `line ${i + 1}: the step '${words[2].slice(0, 40)}' is not a whole number`;
      }
    }
    return "";
  }

  // Show a field's problem as it is typed, in the paragraph its aria-describedby names last.
  function check(field, problemOf, block) {
    const out = document.getElementById(field.getAttribute("aria-describedby").split(" ").pop());
    const run = () => {
      const problem = problemOf(field.value);
      out.textContent = problem;
      out.removeAttribute("role");
      out.setAttribute("aria-live", "polite");
      field.setAttribute("aria-invalid", problem ? "true" : "false");
      if (block) field.setCustomValidity(problem);
    };
    field.addEventListener("input", run);
    return run;
  }

  function offerButtons(form, input, recheck) {
    for (const item of form.querySelectorAll("[data-offers] li[data-version]")) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = `Use ${item.dataset.version} (${item.dataset.what})`;
      button.addEventListener("click", () => {
        input.value = item.dataset.version;
        recheck();
        input.focus();
      });
      item.replaceChildren(button);
    }
  }

  function size(bytes) {
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
    return `${i ? bytes.toFixed(1) : bytes} ${units[i]}`;
  }

  function showChosen(form) {
    const files = form.querySelector('input[type="file"]');
    const subfolder = form.querySelector('[name="subfolder"]');
    const list = form.querySelector("[data-chosen]");
    const show = () => {
      const folder = subfolder.value.trim().replace(/^\/+|\/+$/g, "");
      list.replaceChildren(...[...files.files].map((file) => {
        const item = document.createElement("li");
        const path = document.createElement("code");
        path.textContent = folder ? `${folder}/${file.name}` : file.name;
        item.append(path, ` (${size(file.size)})`);
        return item;
      }));
    };
    files.addEventListener("change", show);
    subfolder.addEventListener("input", show);
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll('form[data-check="version"]')) {
      const version = form.querySelector('[name="version"]');
      const recheck = check(version, versionProblem, true);
      if (version.value && !version.hasAttribute("aria-invalid")) recheck();  // keep what the server said
      offerButtons(form, version, recheck);
      check(form.querySelector('[name="params"]'), paramsProblem, false);
      check(form.querySelector('[name="metrics"]'), metricsProblem, false);
      showChosen(form);
    }
  });
})();
