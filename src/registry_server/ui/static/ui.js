// modelreg UI: small enhancements on top of pages that work without JavaScript.
"use strict";

// Where the app is mounted: this script is served from <root>/-/static/ui.js.
const APP_ROOT = new URL(document.currentScript.src).pathname.replace(/\/-\/static\/ui\.js$/, "");

const modelreg = {
  root: APP_ROOT,
  csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  },
};

// The model name rules, as registry_core.names checks them (the server checks again).
const SEGMENT = /^[A-Za-z0-9_.+-]+$/;
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

function modelNameProblem(name) {
  if (name.length === 0) return "";
  if (name.length > 255) return "A name has at most 255 characters.";
  const segments = name.split("/");
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    if (s === "") return "No segment may be empty (no leading, trailing or double /).";
    if (s === "." || s === "..") return `The segment '${s}' is not allowed.`;
    if (!SEGMENT.test(s)) {
      const bad = [...s].find((c) => !/[A-Za-z0-9_.+-]/.test(c));
      return `'${bad}' is not allowed: use letters, digits and _ . - +.`;
    }
    if (i > 0 && SEMVER.test(s)) return `The segment '${s}' after the first is a version number.`;
    if (i === 0 && s.toLowerCase() === ".modelreg") return "The first segment '.modelreg' is reserved.";
  }
  return "";
}

function checkAsYouType(form, field, problemOf) {
  const input = form.querySelector(`[name="${field}"]`);
  const out = document.getElementById(input.getAttribute("aria-describedby").split(" ").pop());
  const check = () => {
    const problem = problemOf(input.value.trim());
    out.textContent = problem;
    input.setAttribute("aria-invalid", problem ? "true" : "false");
    input.setCustomValidity(problem);
  };
  input.addEventListener("input", check);
  if (input.value && !out.textContent.trim()) check();  // keep what the server said
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll('form[data-check="model-name"]')) {
    checkAsYouType(form, "name", modelNameProblem);
  }
  followRunLink();
});

// Links printed by the mlflow client: /#/experiments/<id>/runs/<run id>
function followRunLink() {
  const run = /^#\/experiments\/[^/]+\/runs\/([0-9A-Za-z_-]+)/.exec(location.hash);
  if (run) location.replace(`${APP_ROOT}/runs/${run[1]}`);
}
window.addEventListener("hashchange", followRunLink);
