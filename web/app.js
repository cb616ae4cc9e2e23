// pier's page: plain JavaScript, no build step, no dependencies. User text is only
// ever set with textContent or attributes, never parsed as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "pier-api-token";
  const IMAGE_PAGE = 24;
  const ITEM_PAGE = 20;
  const PARALLEL_UPLOADS = 3;

  /** Creates an element with a class and text, never HTML. */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- API ---------------------------------------------------------------------

  function tokenHeader() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  /** Asks for an API token once (after a 401) and keeps it for this tab's session. */
  function askToken() {
    return new Promise((resolve) => {
      const dialog = $("token-dialog");
      const input = $("token-input");
      input.value = "";
      const finish = (saved) => {
        $("token-form").onsubmit = null;
        $("token-cancel").onclick = null;
        dialog.oncancel = null;
        if (dialog.open) dialog.close();
        resolve(saved);
      };
      $("token-form").onsubmit = (event) => {
        event.preventDefault();
        const token = input.value.trim();
        if (!token) return;
        sessionStorage.setItem(TOKEN_KEY, token);
        finish(true);
      };
      $("token-cancel").onclick = () => finish(false);
      dialog.oncancel = () => finish(false);
      dialog.showModal();
      input.focus();
    });
  }

  /** fetch with JSON, the token on writes, and one retry after asking for a token. */
  async function api(method, path, body, signal) {
    for (let attempt = 0; ; attempt++) {
      const headers = { Accept: "application/json" };
      if (method !== "GET") Object.assign(headers, tokenHeader());
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const response = await fetch(path, { method, headers, body, signal });
      if (response.status === 401 && attempt === 0 && (await askToken())) continue;
      return response;
    }
  }

  /** The API's problem+json as {detail, errors}, whatever the body turns out to be. */
  async function problemOf(response) {
    try {
      const problem = await response.json();
      return { detail: String(problem.detail || problem.title || response.statusText), errors: problem.errors || {} };
    } catch {
      return { detail: `${response.status} ${response.statusText}`, errors: {} };
    }
  }

  function formatBytes(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  }

  // ---- Upload ------------------------------------------------------------------

  function xhrUpload(file, onProgress) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/upload");
      xhr.setRequestHeader("Accept", "application/json");
      const token = sessionStorage.getItem(TOKEN_KEY);
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      xhr.onload = () => resolve(xhr);
      xhr.onerror = () => resolve(null);
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  }

  function problemFromXhr(xhr) {
    try {
      const problem = JSON.parse(xhr.responseText);
      const fileErrors = problem.errors && problem.errors.file;
      return String((fileErrors && fileErrors[0]) || problem.detail || problem.title);
    } catch {
      return `${xhr.status} ${xhr.statusText}`;
    }
  }

  async function uploadOne(file) {
    const row = el("li", "uploading");
    const name = el("span", "name", file.name);
    const state = el("span", "state", "waiting…");
    const bar = el("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Upload progress of ${file.name}`);
    row.append(name, state, bar);
    $("uploads").prepend(row);
    const progress = (fraction) => {
      bar.value = Math.round(fraction * 100);
      state.textContent = `${bar.value} %`;
    };
    let xhr = await xhrUpload(file, progress);
    if (xhr && xhr.status === 401 && (await askToken())) xhr = await xhrUpload(file, progress);
    row.classList.remove("uploading");
    if (xhr && xhr.status === 201) {
      bar.value = 100;
      row.classList.add("done");
      state.textContent = `uploaded (${formatBytes(file.size)})`;
      const result = JSON.parse(xhr.responseText);
      for (const image of result.images) addTile(image, true);
      updateGalleryStatus();
    } else {
      row.classList.add("failed");
      bar.remove();
      state.textContent = xhr ? problemFromXhr(xhr) : "network error: the upload did not reach the server";
    }
  }

  async function uploadAll(files) {
    const queue = Array.from(files);
    const worker = async () => {
      while (queue.length) await uploadOne(queue.shift());
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_UPLOADS, queue.length) }, worker));
  }

  function setUpUpload() {
    const input = $("file-input");
    input.addEventListener("change", () => {
      if (input.files.length) uploadAll(input.files);
      input.value = "";
    });
    const drop = $("drop");
    for (const type of ["dragenter", "dragover"]) {
      drop.addEventListener(type, (event) => {
        event.preventDefault();
        drop.classList.add("over");
      });
    }
    for (const type of ["dragleave", "drop"]) {
      drop.addEventListener(type, () => drop.classList.remove("over"));
    }
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) uploadAll(event.dataTransfer.files);
    });
    // A file dropped next to the zone must not navigate away from the page.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
  }

  // ---- Gallery -----------------------------------------------------------------

  let nextImages = null;

  /** The sizes the server makes (long side, px): GET /image/{id}/thumbnail?size=N. */
  const LADDER = [256, 512, 1024, 2048];

  /** `srcset` of an image's variants up to `largest` px, none past the original. */
  function variantSrcset(image, largest) {
    const longSide = Math.max(image.width, image.height);
    const rungs = LADDER.filter((size, i) => size <= largest && (i === 0 || LADDER[i - 1] < longSide));
    const widthAt = (size) => Math.round(image.width * Math.min(1, size / longSide));
    return rungs.map((size) => `${image.thumbnail_url}?size=${size} ${widthAt(size)}w`).join(", ");
  }

  /**
   * Draws a ThumbHash (base64) into a canvas: a blurred preview shown until the
   * thumbnail has loaded. Decoder of the ThumbHash format (Evan Wallace's, MIT).
   */
  function drawPlaceholder(canvas, base64) {
    const hash = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    if (hash.length < 5) return false;
    const header24 = hash[0] | (hash[1] << 8) | (hash[2] << 16);
    const header16 = hash[3] | (hash[4] << 8);
    const lDc = (header24 & 63) / 63;
    const pDc = ((header24 >> 6) & 63) / 31.5 - 1;
    const qDc = ((header24 >> 12) & 63) / 31.5 - 1;
    const lScale = ((header24 >> 18) & 31) / 31;
    const hasAlpha = header24 >> 23 !== 0;
    const pScale = ((header16 >> 3) & 63) / 63;
    const qScale = ((header16 >> 9) & 63) / 63;
    const isLandscape = header16 >> 15 !== 0;
    const lMax = hasAlpha ? 5 : 7;
    const lx = Math.max(3, isLandscape ? lMax : header16 & 7);
    const ly = Math.max(3, isLandscape ? header16 & 7 : lMax);
    let index = 5;
    let aDc = 1;
    let aScale = 1;
    if (hasAlpha) {
      aDc = (hash[5] & 15) / 15;
      aScale = (hash[5] >> 4) / 15;
      index = 6;
    }
    let nibble = 0;
    const channel = (nx, ny, scale) => {
      const ac = [];
      for (let cy = 0; cy < ny; cy++) {
        for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++, nibble++) {
          const byte = hash[index + (nibble >> 1)] ?? 0;
          ac.push((((byte >> ((nibble & 1) << 2)) & 15) / 7.5 - 1) * scale);
        }
      }
      return ac;
    };
    const lAc = channel(lx, ly, lScale);
    const pAc = channel(3, 3, pScale * 1.25);
    const qAc = channel(3, 3, qScale * 1.25);
    const aAc = hasAlpha ? channel(5, 5, aScale) : [];
    const ratio = lx / ly;
    const w = Math.round(ratio > 1 ? 32 : 32 * ratio);
    const h = Math.round(ratio > 1 ? 32 / ratio : 32);
    canvas.width = w;
    canvas.height = h;
    const context = canvas.getContext("2d");
    const pixels = context.createImageData(w, h);
    const fx = [];
    const fy = [];
    for (let y = 0, i = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i += 4) {
        let l = lDc;
        let p = pDc;
        let q = qDc;
        let a = aDc;
        for (let c = 0; c < Math.max(lx, hasAlpha ? 5 : 3); c++) fx[c] = Math.cos((Math.PI / w) * (x + 0.5) * c);
        for (let c = 0; c < Math.max(ly, hasAlpha ? 5 : 3); c++) fy[c] = Math.cos((Math.PI / h) * (y + 0.5) * c);
        for (let cy = 0, j = 0; cy < ly; cy++) {
          for (let cx = cy ? 0 : 1; cx * ly < lx * (ly - cy); cx++, j++) l += lAc[j] * fx[cx] * fy[cy] * 2;
        }
        for (let cy = 0, j = 0; cy < 3; cy++) {
          for (let cx = cy ? 0 : 1; cx < 3 - cy; cx++, j++) {
            const f = fx[cx] * fy[cy] * 2;
            p += pAc[j] * f;
            q += qAc[j] * f;
          }
        }
        if (hasAlpha) {
          for (let cy = 0, j = 0; cy < 5; cy++) {
            for (let cx = cy ? 0 : 1; cx < 5 - cy; cx++, j++) a += aAc[j] * fx[cx] * fy[cy] * 2;
          }
        }
        const b = l - (2 / 3) * p;
        const r = (3 * l - b + q) / 2;
        const g = r - q;
        const clamp = (v) => Math.max(0, Math.min(255, Math.round(v * 255)));
        pixels.data.set([clamp(r), clamp(g), clamp(b), clamp(a)], i);
      }
    }
    context.putImageData(pixels, 0, 0);
    return true;
  }

  function addTile(image, atTop) {
    const item = el("li");
    item.dataset.id = image.id;
    const button = el("button");
    button.type = "button";
    button.setAttribute("aria-label", `Open ${image.filename}`);
    if (image.placeholder) {
      // Shown until the thumbnail has loaded over it.
      const preview = el("canvas", "placeholder");
      preview.setAttribute("aria-hidden", "true");
      if (drawPlaceholder(preview, image.placeholder)) button.append(preview);
    }
    const img = el("img");
    img.srcset = variantSrcset(image, 512);
    img.sizes = "(max-width: 40rem) 34vw, 10rem";
    img.src = image.thumbnail_url;
    img.alt = image.filename;
    img.loading = "lazy";
    img.decoding = "async";
    img.width = 256;
    img.height = 256;
    button.append(img);
    button.addEventListener("click", () => openViewer(image, button));
    item.append(button);
    if (atTop) $("images").prepend(item);
    else $("images").append(item);
  }

  function updateGalleryStatus() {
    const count = $("images").children.length;
    $("gallery-status").textContent = count ? "" : "No images yet: upload some above.";
  }

  async function loadImages() {
    const more = $("more-images");
    more.disabled = true;
    const query = new URLSearchParams({ limit: String(IMAGE_PAGE) });
    if (nextImages) query.set("after", nextImages);
    try {
      const response = await api("GET", `/images?${query}`);
      if (!response.ok) {
        $("gallery-status").textContent = `Could not load images: ${(await problemOf(response)).detail}`;
        return;
      }
      const page = await response.json();
      for (const image of page.images) addTile(image, false);
      nextImages = page.next;
      more.hidden = !nextImages;
      updateGalleryStatus();
    } catch (error) {
      $("gallery-status").textContent = `Could not load images: ${error.message}`;
    } finally {
      more.disabled = false;
    }
  }

  let viewing = null;

  function openViewer(image, opener) {
    viewing = { image, opener };
    $("viewer-title").textContent = image.filename;
    // A screen-sized variant (upright, re-encoded); the original is a link away.
    const img = $("viewer-image");
    img.srcset = variantSrcset(image, 2048);
    img.sizes = "min(90vw, 60rem)";
    img.src = `${image.thumbnail_url}?size=1024`;
    img.alt = image.filename;
    $("viewer-original").href = image.url;
    $("viewer-size").textContent = formatBytes(image.size);
    $("viewer-dimensions").textContent = `${image.width} × ${image.height} px`;
    $("viewer-type").textContent = image.content_type;
    $("viewer-date").textContent = new Date(image.created_at).toLocaleString();
    $("viewer-error").textContent = "";
    $("viewer-confirm").hidden = true;
    $("viewer-delete").hidden = false;
    $("viewer").showModal();
    $("viewer-close").focus();
  }

  function setUpViewer() {
    const dialog = $("viewer");
    $("viewer-close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      $("viewer-image").removeAttribute("srcset");
      $("viewer-image").removeAttribute("src");
      if (viewing && viewing.opener && viewing.opener.isConnected) viewing.opener.focus();
      viewing = null;
    });
    $("viewer-delete").addEventListener("click", () => {
      $("viewer-delete").hidden = true;
      $("viewer-confirm").hidden = false;
      $("viewer-confirm-no").focus();
    });
    $("viewer-confirm-no").addEventListener("click", () => {
      $("viewer-confirm").hidden = true;
      $("viewer-delete").hidden = false;
      $("viewer-delete").focus();
    });
    $("viewer-confirm-yes").addEventListener("click", async () => {
      if (!viewing) return;
      const { image } = viewing;
      const response = await api("DELETE", `/image/${encodeURIComponent(image.id)}`);
      if (response.status === 204 || response.status === 404) {
        const tile = $("images").querySelector(`li[data-id="${CSS.escape(image.id)}"]`);
        viewing.opener = null;
        if (tile) tile.remove();
        dialog.close();
        updateGalleryStatus();
        $("gallery-status").textContent = `Deleted ${image.filename}.`;
      } else {
        $("viewer-error").textContent = (await problemOf(response)).detail;
      }
    });
  }

  // ---- Items -------------------------------------------------------------------

  let nextItems = null;
  let editing = null;
  const FIELDS = ["name", "price", "description"];

  function formatPrice(price) {
    return price === null || price === undefined ? "—" : Number(price).toFixed(2);
  }

  function itemRow(item) {
    const row = el("tr");
    row.dataset.id = String(item.id);
    row.append(el("td", "", item.name), el("td", "num", formatPrice(item.price)), el("td", "", item.description || ""));
    const actions = el("td", "actions");
    const edit = el("button", "secondary", "Edit");
    edit.type = "button";
    edit.setAttribute("aria-label", `Edit ${item.name}`);
    edit.addEventListener("click", () => startEditing(item, row));
    const remove = el("button", "danger", "Delete");
    remove.type = "button";
    remove.setAttribute("aria-label", `Delete ${item.name}`);
    remove.addEventListener("click", () => confirmDelete(item, row, actions));
    actions.append(edit, " ", remove);
    row.append(actions);
    return row;
  }

  function confirmDelete(item, row, actions) {
    const buttons = Array.from(actions.children);
    buttons.forEach((b) => (b.hidden = true));
    const question = el("span", "", "Delete? ");
    const yes = el("button", "danger", "Yes, delete");
    yes.type = "button";
    const no = el("button", "secondary", "Keep");
    no.type = "button";
    const restore = () => {
      question.remove();
      yes.remove();
      no.remove();
      buttons.forEach((b) => (b.hidden = false));
      buttons[1].focus();
    };
    no.addEventListener("click", restore);
    yes.addEventListener("click", async () => {
      const response = await api("DELETE", `/items/${item.id}`);
      if (response.status === 204 || response.status === 404) {
        if (editing && editing.item.id === item.id) stopEditing();
        row.remove();
        $("items-status").textContent = `Deleted ${item.name}.`;
      } else {
        restore();
        $("items-status").textContent = (await problemOf(response)).detail;
      }
    });
    actions.append(question, yes, " ", no);
    no.focus();
  }

  async function loadItems(reset) {
    const more = $("more-items");
    if (reset) {
      nextItems = null;
      $("items-table").tBodies[0].replaceChildren();
    }
    const query = new URLSearchParams({ limit: String(ITEM_PAGE) });
    if (nextItems) query.set("after", nextItems);
    more.disabled = true;
    try {
      const response = await api("GET", `/items?${query}`);
      if (!response.ok) {
        $("items-status").textContent = `Could not load items: ${(await problemOf(response)).detail}`;
        return;
      }
      const page = await response.json();
      const body = $("items-table").tBodies[0];
      for (const item of page.items) body.append(itemRow(item));
      nextItems = page.next;
      more.hidden = nextItems === null || nextItems === undefined;
      $("items-status").textContent = body.children.length ? "" : "No items yet: create one above.";
    } catch (error) {
      $("items-status").textContent = `Could not load items: ${error.message}`;
    } finally {
      more.disabled = false;
    }
  }

  function clearErrors() {
    for (const field of FIELDS) {
      $(`item-${field}-error`).textContent = "";
      $(`item-${field}`).removeAttribute("aria-invalid");
    }
    $("item-form-error").textContent = "";
  }

  function startEditing(item, row) {
    stopEditing();
    editing = { item, row };
    row.classList.add("editing");
    $("item-name").value = item.name;
    $("item-price").value = item.price === null ? "" : Number(item.price).toFixed(2);
    $("item-description").value = item.description || "";
    $("item-submit").textContent = "Save changes";
    $("item-cancel").hidden = false;
    $("item-name").focus();
  }

  function stopEditing() {
    if (editing) editing.row.classList.remove("editing");
    editing = null;
    $("item-form").reset();
    clearErrors();
    $("item-submit").textContent = "Create item";
    $("item-cancel").hidden = true;
  }

  /** The JSON body, with the price's digits sent as typed so that no float rounds it. */
  function itemBody() {
    const name = $("item-name").value;
    const description = $("item-description").value.trim();
    const price = $("item-price").value.trim();
    const priceJson = price === "" ? "null" : /^\d+(\.\d+)?$/.test(price) ? price : JSON.stringify(price);
    return `{"name":${JSON.stringify(name)},"description":${description ? JSON.stringify(description) : "null"},"price":${priceJson}}`;
  }

  function setUpItems() {
    $("item-cancel").addEventListener("click", stopEditing);
    $("more-items").addEventListener("click", () => loadItems(false));
    $("item-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors();
      const submit = $("item-submit");
      submit.disabled = true;
      try {
        const response = editing
          ? await api("PUT", `/items/${editing.item.id}`, itemBody())
          : await api("POST", "/items", itemBody());
        if (response.ok) {
          const item = await response.json();
          if (editing) {
            const fresh = itemRow(item);
            editing.row.replaceWith(fresh);
            $("items-status").textContent = `Saved ${item.name}.`;
          } else {
            $("items-table").tBodies[0].append(itemRow(item));
            $("items-status").textContent = `Created ${item.name}.`;
          }
          stopEditing();
          return;
        }
        const problem = await problemOf(response);
        let shown = false;
        for (const [field, messages] of Object.entries(problem.errors)) {
          if (FIELDS.includes(field)) {
            $(`item-${field}-error`).textContent = `${field} ${messages.join("; ")}`;
            $(`item-${field}`).setAttribute("aria-invalid", "true");
            shown = true;
          }
        }
        if (!shown) $("item-form-error").textContent = problem.detail;
      } catch (error) {
        $("item-form-error").textContent = `Could not save: ${error.message}`;
      } finally {
        submit.disabled = false;
      }
    });
  }

  // ---- Sentiment ---------------------------------------------------------------

  function setUpSentiment() {
    const text = $("sentiment-text");
    let timer = null;
    let inFlight = null;
    const score = async () => {
      const value = text.value;
      if (inFlight) inFlight.abort();
      if (!value.trim()) {
        $("sentiment-result").hidden = true;
        $("sentiment-error").textContent = "";
        return;
      }
      inFlight = new AbortController();
      try {
        const response = await api("POST", "/predict", JSON.stringify({ text: value }), inFlight.signal);
        if (!response.ok) {
          $("sentiment-error").textContent = (await problemOf(response)).detail;
          return;
        }
        const result = await response.json();
        $("sentiment-error").textContent = "";
        const label = $("sentiment-label");
        label.textContent = result.label;
        label.className = `label ${result.label}`;
        $("sentiment-compound").textContent = result.compound.toFixed(4);
        for (const part of ["pos", "neu", "neg"]) {
          $(`sentiment-${part}`).textContent = result[part].toFixed(3);
          $(`bar-${part}`).style.width = `${(result[part] * 100).toFixed(1)}%`;
        }
        $("sentiment-result").hidden = false;
      } catch (error) {
        if (error.name !== "AbortError") $("sentiment-error").textContent = `Could not score: ${error.message}`;
      }
    };
    text.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(score, 250);
    });
  }

  // ---- Start -------------------------------------------------------------------

  setUpUpload();
  setUpViewer();
  setUpItems();
  setUpSentiment();
  $("more-images").addEventListener("click", loadImages);
  loadImages();
  loadItems(true);
})();
