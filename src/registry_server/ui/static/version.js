// The version page: uploads from the browser, one PUT per file, each with a progress bar.
// Without this script the upload form posts multipart and the page still works.
"use strict";

(() => {
  const csrf = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  function fileItem(list, file) {
    const item = document.createElement("li");
    const progress = document.createElement("progress");
    progress.max = Math.max(file.size, 1);
    progress.value = 0;
    progress.setAttribute("aria-label", `Uploading ${file.name}`);
    const outcome = document.createElement("span");
    outcome.className = "outcome";
    outcome.textContent = `${file.name}: waiting`;
    item.append(progress, outcome);
    list.append(item);
    list.hidden = false;
    return { item, progress, outcome };
  }

  function send(url, file, shown) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        shown.progress.max = Math.max(event.total, 1);
        shown.progress.value = event.loaded;
        const percent = event.total ? Math.floor((100 * event.loaded) / event.total) : 100;
        shown.outcome.textContent = `${file.name}: ${percent}%`;
      });
      const fail = (why) => {
        shown.item.classList.add("failed");
        shown.outcome.setAttribute("role", "alert");
        shown.outcome.textContent = `Could not upload ${file.name}: ${why}`;
        resolve(false);
      };
      xhr.addEventListener("load", () => {
        let answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {}; }
        if (xhr.status === 201) {
          shown.progress.value = shown.progress.max;
          shown.item.classList.add("done");
          shown.outcome.textContent = `Uploaded ${answer.path}`;
          resolve(true);
        } else {
          fail(answer.message || `the server answered ${xhr.status}`);
        }
      });
      xhr.addEventListener("error", () => fail("the connection failed"));
      xhr.addEventListener("abort", () => fail("cancelled"));
      xhr.send(file);
    });
  }

  async function refresh(url) {
    const answer = await fetch(url, { credentials: "same-origin" });
    if (!answer.ok) return;
    const page = new DOMParser().parseFromString(await answer.text(), "text/html");
    const fresh = page.getElementById("files");
    const current = document.getElementById("files");
    if (fresh && current) current.replaceWith(fresh);
  }

  function setUp(form) {
    const input = form.querySelector('input[type="file"]');
    const subfolder = form.querySelector('[name="subfolder"]');
    const drop = form.querySelector(".drop");
    const list = form.querySelector(".uploads");
    let queue = Promise.resolve();
    let pending = 0;

    const enqueue = (files) => {
      const folder = subfolder.value.trim().replace(/^\/+|\/+$/g, "");
      for (const file of files) {
        const path = folder ? `${folder}/${file.name}` : file.name;
        const url = `${form.dataset.put}?path=${encodeURIComponent(path)}`;
        const shown = fileItem(list, file);
        pending += 1;
        queue = queue
          .then(() => send(url, file, shown))
          .then(() => {
            pending -= 1;
            return pending === 0 ? refresh(form.dataset.refresh) : undefined;
          });
      }
    };

    form.querySelector(".upload-submit").hidden = true;  // choosing or dropping starts it
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      enqueue([...input.files]);
      input.value = "";
    });
    input.addEventListener("change", () => {
      enqueue([...input.files]);
      input.value = "";
    });
    drop.hidden = false;
    drop.addEventListener("click", () => input.click());
    drop.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        input.click();
      }
    });
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      if (event.dataTransfer && event.dataTransfer.files.length) enqueue([...event.dataTransfer.files]);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("upload-form");
    if (form) setUp(form);
  });
})();
