// The nnjobs playground: a client of the API like any other, with no dependencies.
// Every name it offers (datasets, activations) and every range comes from the API.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const GRID = 50; // the boundary is predicted on GRID x GRID points
  const POLL_MS = 250;
  const LONG_POLL_S = 10; // GET /jobs/<id>?wait=, where the server offers it
  const ENDED = new Set(["succeeded", "failed", "cancelled"]);
  // classes 0 and 1 in TensorFlow Playground's colours, white where p = 0.5
  const C0 = [245, 147, 34];
  const C1 = [8, 119, 189];
  const SWEEP_DEFAULTS = ["linear", "sigmoid", "tanh", "relu"];

  let pointsTimer = null; // a points load waiting for the form to settle
  const state = {
    paths: new Set(), // paths of the API's OpenAPI document: what this server offers
    datasets: [],
    activations: [], // names
    catalogue: new Map(), // name -> GET /activations item
    curves: new Map(), // name -> curve
    layers: [
      { units: 8, activation: "relu", params: {} },
      { units: 8, activation: "relu", params: {} },
    ],
    points: null, // {X, y} of the dataset as set up now
    pointsRequest: 0,
    job: null,
    jobPoints: null,
    pollTimer: null,
    pollAbort: null,
    longPoll: false,
    since: false, // GET /jobs/<id>?since=, where the server offers it
    followed: null, // the job's history read so far: {history, attempts}
    sweep: null,
    sweepPoints: null,
    sweepTimer: null,
    sweepDrawn: new Map(), // job id -> true once its boundary is drawn
  };

  // -- talking to the API -------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(method, path, body, signal) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const key = $("api-key").value.trim();
    if (key) headers.Authorization = `Bearer ${key}`;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (e) {
      if (signal && signal.aborted) throw e;
      throw new ApiError(0, { message: `the service cannot be reached (${e.message})` });
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      if (response.status === 401) askForKey();
      throw new ApiError(response.status, data || { message: `${response.status} ${response.statusText}` });
    }
    return data;
  }

  // {"json": {"layers": {"0": {"units": ["..."]}}}} -> [["layers.0.units", "..."]]
  function flattenErrors(errors) {
    const out = [];
    const walk = (node, path) => {
      if (Array.isArray(node)) {
        node.forEach((item) => (typeof item === "string" ? out.push([path.join("."), item]) : walk(item, path)));
      } else if (node && typeof node === "object") {
        Object.entries(node).forEach(([k, v]) => walk(v, k === "_schema" ? path : [...path, k]));
      } else if (node !== undefined && node !== null) {
        out.push([path.join("."), String(node)]);
      }
    };
    Object.entries(errors || {}).forEach(([location, node]) =>
      walk(node, location === "json" || location === "query" ? [] : [location]),
    );
    return out;
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
    document.querySelectorAll("[aria-invalid]").forEach((el) => {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
  }

  // The API's words, and each field it names marked on the form. ``place`` turns a field
  // of the request into the form's path for it (GET /synthetic's query names n_samples,
  // the form data.synthetic.n_samples; a sweep's request holds the job under job.).
  function showError(what, error, place = (path) => path) {
    const box = $("error");
    box.textContent = "";
    const title = document.createElement("p");
    const status = error.status ? ` (HTTP ${error.status})` : "";
    title.textContent = `${what} failed${status}: ${error.message}`;
    box.append(title);
    const fields = flattenErrors(error.body && error.body.errors);
    if (fields.length) {
      const list = document.createElement("ul");
      for (const [path, message] of fields) {
        const item = document.createElement("li");
        item.textContent = path ? `${path}: ${message}` : message;
        list.append(item);
        const input = document.querySelector(`[data-path="${CSS.escape(place(path))}"]`);
        if (input) {
          input.setAttribute("aria-invalid", "true");
          input.setAttribute("aria-describedby", "error");
        }
      }
      box.append(list);
    }
    box.hidden = false;
  }

  function say(text) {
    $("status").textContent = text;
  }

  function askForKey() {
    const panel = $("key-panel");
    if (panel.hidden) {
      panel.hidden = false;
      $("api-key").focus();
    }
  }

  // -- what the server offers ---------------------------------------------------------

  async function loadFeatures() {
    try {
      const spec = await api("GET", "/openapi.json");
      state.paths = new Set(Object.keys(spec.paths || {}));
      const job = (spec.paths || {})["/jobs/{job_id}"];
      const params = (job && job.get && job.get.parameters) || [];
      state.longPoll = params.some((p) => p.name === "wait" && p.in === "query");
      state.since = params.some((p) => p.name === "since" && p.in === "query");
      const layer = ((spec.components || {}).schemas || {}).Layer;
      const names = layer && layer.properties && layer.properties.activation && layer.properties.activation.enum;
      if (names) state.activations = names.slice();
    } catch (e) {
      state.paths = new Set();
    }
  }

  async function loadActivations() {
    if (!state.paths.has("/activations")) return;
    const body = await api("GET", "/activations");
    // the catalogue also holds output-only functions (softmax), which no hidden layer takes
    const hidden = body.items.filter((item) => !item.usage || item.usage.includes("hidden"));
    state.activations = hidden.map((item) => item.name);
    for (const item of body.items) state.catalogue.set(item.name, item);
  }

  async function loadDatasets() {
    const body = await api("GET", "/synthetic");
    // the boundary is a two-class picture; plane (regression) has none
    state.datasets = body.items.filter((d) => d.task === "classification");
    const box = $("datasets");
    box.querySelectorAll(".choice, #datasets-loading").forEach((el) => el.remove());
    state.datasets.forEach((dataset, i) => {
      const label = document.createElement("label");
      label.className = "choice";
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "dataset";
      input.value = dataset.name;
      input.id = `dataset-${dataset.name}`;
      input.dataset.path = "data.synthetic.name";
      input.checked = i === 0;
      label.title = dataset.description;
      label.append(input, ` ${dataset.name}`);
      box.append(label);
    });
    const first = state.datasets[0] || {};
    const params = new Map((first.params || []).map((p) => [p.name, p]));
    const limits = { n_samples: $("n-samples"), noise: $("noise"), seed: $("seed") };
    for (const [name, input] of Object.entries(limits)) {
      const p = params.get(name);
      if (!p) continue;
      if (p.minimum !== null && p.minimum !== undefined) input.min = p.minimum;
      if (p.maximum !== null && p.maximum !== undefined) input.max = p.maximum;
    }
  }

  // -- the form -----------------------------------------------------------------------

  function selectedDataset() {
    const checked = document.querySelector('input[name="dataset"]:checked');
    return checked ? checked.value : null;
  }

  // a number when the field holds one, else its text, so the API names what is wrong
  function value(input) {
    const text = input.value.trim();
    const number = Number(text);
    return text !== "" && Number.isFinite(number) ? number : text;
  }

  function synthetic() {
    return {
      name: selectedDataset(),
      n_samples: value($("n-samples")),
      noise: value($("noise")),
      seed: value($("seed")),
    };
  }

  function jobSpec() {
    return {
      name: "playground",
      data: { synthetic: synthetic() },
      layers: state.layers.map((layer) => ({ units: layer.units, activation: layer.activation, ...layer.params })),
      training: {
        epochs: value($("epochs")),
        learning_rate: value($("learning-rate")),
        batch_size: value($("batch-size")),
        // the playground runs every epoch asked for, so runs compare at equal length
        early_stopping: false,
      },
    };
  }

  function renderLayers(focus) {
    const list = $("layers");
    list.textContent = "";
    state.layers.forEach((layer, i) => {
      const item = document.createElement("li");
      item.className = "layer";
      const heading = document.createElement("span");
      heading.className = "layer-name";
      heading.textContent = `Layer ${i + 1}`;

      const unitsLabel = document.createElement("label");
      unitsLabel.htmlFor = `layer-${i}-units`;
      unitsLabel.textContent = "Units";
      const units = document.createElement("input");
      units.type = "number";
      units.id = `layer-${i}-units`;
      units.min = "1";
      units.step = "1";
      units.inputMode = "numeric";
      units.value = layer.units;
      units.dataset.path = `layers.${i}.units`;
      units.addEventListener("input", () => {
        layer.units = value(units);
      });

      const actLabel = document.createElement("label");
      actLabel.htmlFor = `layer-${i}-activation`;
      actLabel.textContent = "Activation";
      const select = document.createElement("select");
      select.id = `layer-${i}-activation`;
      select.dataset.path = `layers.${i}.activation`;
      for (const name of state.activations) {
        const option = document.createElement("option");
        option.value = option.textContent = name;
        option.selected = name === layer.activation;
        select.append(option);
      }
      select.addEventListener("change", () => {
        layer.activation = select.value;
        layer.params = {}; // another activation's parameters mean nothing to this one
        renderLayers(select.id);
        showActivation(i);
      });
      select.addEventListener("focus", () => showActivation(i));

      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove layer ${i + 1}`);
      remove.addEventListener("click", () => {
        state.layers.splice(i, 1);
        renderLayers(state.layers.length ? `layer-${Math.max(0, i - 1)}-remove` : "add-layer");
      });
      remove.id = `layer-${i}-remove`;

      const unitsBox = document.createElement("div");
      unitsBox.className = "field";
      unitsBox.append(unitsLabel, units);
      const actBox = document.createElement("div");
      actBox.className = "field";
      actBox.append(actLabel, select);
      item.append(heading, unitsBox, actBox, remove);
      const params = paramsOf(layer.activation);
      if (params.length) {
        const box = document.createElement("div");
        box.className = "params";
        for (const param of params) box.append(paramField(layer, i, param));
        item.append(box);
      }
      list.append(item);
    });
    if (!state.layers.length) {
      const item = document.createElement("li");
      item.className = "hint";
      item.textContent = "No hidden layer: a linear model (logistic regression).";
      list.append(item);
    }
    if (focus) $(focus).focus();
  }

  // an activation's own parameters (leaky_relu's alpha, maxout's pieces), per the catalogue
  function paramsOf(name) {
    const item = state.catalogue.get(name);
    return (item && (item.params || item.parameters)) || [];
  }

  function paramField(layer, i, param) {
    const box = document.createElement("div");
    box.className = "field";
    const label = document.createElement("label");
    label.htmlFor = `layer-${i}-${param.name}`;
    label.textContent = `${param.name} ${param.range ? `(${param.range})` : ""}`;
    const input = document.createElement("input");
    input.type = "number";
    input.id = label.htmlFor;
    input.step = param.type === "integer" ? "1" : "any";
    input.value = param.name in layer.params ? layer.params[param.name] : param.default;
    input.dataset.path = `layers.${i}.${param.name}`;
    input.addEventListener("input", () => {
      layer.params[param.name] = value(input);
    });
    input.addEventListener("change", () => showActivation(i));
    box.append(label, input);
    return box;
  }

  function addLayer() {
    const last = state.layers[state.layers.length - 1];
    state.layers.push({
      units: last ? last.units : 8,
      activation: last ? last.activation : "relu",
      params: last ? { ...last.params } : {},
    });
    renderLayers(`layer-${state.layers.length - 1}-units`);
  }

  // -- the activation's curve and notes -----------------------------------------------

  // the catalogue's entry for layer i's activation, and its curve with the layer's parameters
  async function showActivation(i) {
    const layer = state.layers[i];
    const item = layer && state.catalogue.get(layer.activation);
    const panel = $("activation-info");
    if (!item) {
      panel.hidden = true;
      return;
    }
    const name = layer.activation;
    panel.hidden = false;
    $("activation-info-title").textContent = `Layer ${i + 1}: ${name}`;
    const formula = $("activation-formula");
    formula.textContent = "";
    for (const line of [item.formula, item.derivative, item.output_range && `range: ${item.output_range}`]) {
      if (!line) continue;
      const div = document.createElement("div");
      div.textContent = line;
      formula.append(div);
    }
    const notes = $("activation-notes");
    notes.textContent = "";
    const note = (text, className) => {
      const li = document.createElement("li");
      if (className) li.className = className;
      li.textContent = text;
      notes.append(li);
    };
    if (item.aliases && item.aliases.length) note(`Also called ${item.aliases.join(", ")}.`);
    if (item.init) note(`Weights start with ${item.init} initialization.`);
    const pitfalls = Array.isArray(item.pitfalls) ? item.pitfalls : [item.pitfalls].filter(Boolean);
    for (const text of pitfalls) note(`Pitfall: ${text}`, "pitfall");

    const query = new URLSearchParams({ start: -4, stop: 4, points: 81 });
    for (const param of paramsOf(name)) {
      const v = layer.params[param.name];
      if (typeof v === "number") query.set(param.name, v);
    }
    const key = `${name}?${query}`;
    let curve = state.curves.get(key);
    if (!curve) {
      try {
        curve = (await api("GET", `/activations/${encodeURIComponent(name)}?${query}`)).curve;
        state.curves.set(key, curve);
      } catch (e) {
        curve = null; // a parameter out of range: the job's refusal will say so
      }
    }
    if (state.layers[i] === layer && layer.activation === name) drawCurve($("activation-curve"), curve);
  }

  function svg(tag, attrs, parent) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (parent) parent.append(el);
    return el;
  }

  function pathData(xs, ys, sx, sy) {
    let d = "";
    let pen = false;
    for (let i = 0; i < xs.length; i++) {
      if (!Number.isFinite(ys[i])) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${sx(xs[i]).toFixed(1)},${sy(ys[i]).toFixed(1)}`;
      pen = true;
    }
    return d;
  }

  function drawCurve(root, curve) {
    root.textContent = "";
    delete root.dataset.params;
    if (!curve) return;
    root.dataset.params = JSON.stringify(curve.params || {}); // what the curve is drawn with
    const W = 200, H = 120, pad = 6;
    const x0 = curve.x[0], x1 = curve.x[curve.x.length - 1];
    const all = [...curve.y, ...curve.dy].filter(Number.isFinite);
    const lo = Math.min(-1, ...all), hi = Math.max(1, ...all);
    const sx = (x) => pad + ((x - x0) / (x1 - x0)) * (W - 2 * pad);
    const sy = (y) => H - pad - ((y - lo) / (hi - lo)) * (H - 2 * pad);
    svg("line", { x1: sx(x0), x2: sx(x1), y1: sy(0), y2: sy(0), class: "axis" }, root);
    svg("line", { x1: sx(0), x2: sx(0), y1: sy(lo), y2: sy(hi), class: "axis" }, root);
    svg("path", { d: pathData(curve.x, curve.dy, sx, sy), class: "derivative" }, root);
    svg("path", { d: pathData(curve.x, curve.y, sx, sy), class: "function" }, root);
    for (const x of [x0, 0, x1]) {
      const tick = svg("text", { x: sx(x), y: H - 1, class: "curve-label", "text-anchor": "middle" }, root);
      tick.textContent = String(x);
    }
  }

  // -- data points and boundaries -----------------------------------------------------

  async function loadPoints() {
    const request = ++state.pointsRequest;
    const params = synthetic();
    if (!params.name) return;
    const query = new URLSearchParams({ n_samples: params.n_samples, noise: params.noise, seed: params.seed });
    try {
      const body = await api("GET", `/synthetic/${encodeURIComponent(params.name)}?${query}`);
      if (request !== state.pointsRequest) return; // a newer request is on its way
      clearError();
      state.points = { X: body.X, y: body.y };
      delete $("boundary").dataset.model;
      drawField($("boundary"), null, state.points);
      $("boundary-note").textContent = state.job ? "the setup has changed since the last run" : "";
    } catch (e) {
      if (request === state.pointsRequest) showError("Loading the dataset", e, (path) => `data.synthetic.${path}`);
    }
  }

  // a square around the points, symmetric about the origin as the datasets are
  function extent(points) {
    let m = 1;
    for (const [a, b] of points.X) m = Math.max(m, Math.abs(a), Math.abs(b));
    return m * 1.1;
  }

  function gridInputs(half) {
    const inputs = [];
    for (let r = 0; r < GRID; r++) {
      const y = half - ((r + 0.5) / GRID) * 2 * half;
      for (let c = 0; c < GRID; c++) inputs.push([-half + ((c + 0.5) / GRID) * 2 * half, y]);
    }
    return inputs;
  }

  // the probability of class 1 per grid point, whatever the output layer
  async function boundary(modelId, half) {
    const body = await api("POST", "/predict", { model_id: modelId, inputs: gridInputs(half) });
    if (!body.probabilities) return null; // a regression model has none
    const classes = body.classes || [0, 1];
    const one = Math.max(0, classes.length - 1);
    return body.probabilities.map((p) => (Array.isArray(p) ? p[one] : p));
  }

  function mix(p) {
    const t = Math.abs(p - 0.5) * 2; // 0 at the boundary, 1 where the model is sure
    const c = p >= 0.5 ? C1 : C0;
    return c.map((v) => Math.round(255 + (v - 255) * t * 0.7));
  }

  function drawField(canvas, probs, points, half = points ? extent(points) : 1) {
    canvas.dataset.extent = half; // the input plane shown is [-half, half] squared
    canvas.dataset.grid = GRID; // in GRID x GRID cells, each coloured by its centre's prediction
    const ctx = canvas.getContext("2d");
    const W = canvas.width, H = canvas.height;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    if (probs) {
      const cells = document.createElement("canvas");
      cells.width = cells.height = GRID;
      const cctx = cells.getContext("2d");
      const image = cctx.createImageData(GRID, GRID);
      probs.forEach((p, i) => {
        const [r, g, b] = mix(p);
        image.data.set([r, g, b, 255], i * 4);
      });
      cctx.putImageData(image, 0, 0);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(cells, 0, 0, W, H);
    }
    if (!points) return;
    const radius = Math.max(1.5, W / 140);
    points.X.forEach(([a, b], i) => {
      const x = ((a + half) / (2 * half)) * W;
      const y = ((half - b) / (2 * half)) * H;
      ctx.beginPath();
      ctx.arc(x, y, radius, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${(points.y[i] ? C1 : C0).join(",")})`;
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
    });
  }

  // -- a training job -----------------------------------------------------------------

  const fmt = (v, digits = 4) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "–");

  function last(list) {
    return Array.isArray(list) && list.length ? list[list.length - 1] : undefined;
  }

  // -- a job's history, read a few epochs at a time ----------------------------------

  // the per-epoch series are the history's lists (the diagnostics' per layer)
  const isSeries = (key, value) => key !== "diagnostics" && Array.isArray(value);

  function joined(held, part) {
    const out = {};
    for (const [key, value] of Object.entries(part)) {
      out[key] = isSeries(key, value) ? (held[key] || []).concat(value) : value;
    }
    return out;
  }

  // held (epochs 1 to first_epoch - 1) followed by part, an answer's history from ?since=
  function appendHistory(held, part) {
    const { first_epoch: _, ...rest } = part;
    const out = joined(held, rest);
    if (Array.isArray(part.diagnostics)) {
      const layers = held.diagnostics || [];
      out.diagnostics = part.diagnostics.map((layer, i) => joined(layers[i] || {}, layer));
    }
    return out;
  }

  function epochsHeld(history) {
    let n = 0;
    for (const [key, value] of Object.entries(history)) if (isSeries(key, value)) n = Math.max(n, value.length);
    return n;
  }

  // the job with its whole history from an answer to ?since=; null when another attempt
  // has started it over, whose epochs are not those held (ask again from 0)
  function followed(job) {
    const held = state.followed;
    if (epochsHeld(held.history) && job.attempts !== held.attempts) {
      state.followed = { history: {}, attempts: null };
      return null;
    }
    held.history = appendHistory(held.history, job.history || {});
    held.attempts = job.attempts;
    return { ...job, history: held.history };
  }

  function showMetrics(job) {
    const progress = job.progress || {};
    const metrics = progress.metrics || {};
    const history = job.history || {};
    $("m-epoch").textContent = progress.epoch !== undefined ? `${progress.epoch} / ${progress.epochs}` : "–";
    $("m-loss").textContent = fmt(progress.loss ?? last(history.loss));
    $("m-val-loss").textContent = fmt(progress.val_loss ?? last(history.val_loss));
    $("m-accuracy").textContent = fmt(metrics.accuracy ?? last(history.accuracy), 3);
    $("m-val-accuracy").textContent = fmt(metrics.val_accuracy ?? last(history.val_accuracy), 3);
  }

  function drawLoss(job) {
    const root = $("loss-chart");
    root.textContent = "";
    const history = job.history || {};
    const series = [
      ["train", history.loss || []],
      ["val", history.val_loss || []],
    ];
    const epochs = Math.max(2, (job.spec && job.spec.training && job.spec.training.epochs) || 0, series[0][1].length);
    const values = series.flatMap(([, s]) => s).filter(Number.isFinite);
    const top = values.length ? Math.max(...values) * 1.05 : 1;
    const W = 400, H = 180, left = 40, bottom = 22, pad = 8;
    const sx = (e) => left + ((e - 1) / (epochs - 1)) * (W - left - pad);
    const sy = (v) => H - bottom - (v / top) * (H - bottom - pad);
    for (const t of [0, 0.5, 1]) {
      const v = t * top;
      svg("line", { x1: left, x2: W - pad, y1: sy(v), y2: sy(v), class: "grid" }, root);
      const label = svg("text", { x: left - 4, y: sy(v) + 4, "text-anchor": "end", class: "tick" }, root);
      label.textContent = v.toFixed(2);
    }
    for (const [e, anchor] of [[1, "start"], [epochs, "end"]]) {
      const label = svg("text", { x: sx(e), y: H - 6, "text-anchor": anchor, class: "tick" }, root);
      label.textContent = String(e);
    }
    for (const [name, s] of series) {
      if (!s.length) continue;
      const xs = s.map((_, i) => i + 1);
      svg("path", { d: pathData(xs, s, sx, sy), class: `line ${name}` }, root);
    }
  }

  function showDiagnostics(job) {
    const list = $("warnings");
    list.textContent = "";
    const warnings = job.warnings || [];
    for (const w of warnings) {
      const li = document.createElement("li");
      const where = [w.layer !== undefined && w.layer !== null ? `layer ${w.layer}` : "", w.epoch !== undefined && w.epoch !== null ? `epoch ${w.epoch}` : ""]
        .filter(Boolean)
        .join(", ");
      li.textContent = `${w.code}${where ? ` (${where})` : ""}: ${w.message}`;
      if (w.fix && ENDED.has(job.status)) {
        // the fix's sweep compares the job's own values with the fix's, in the sweep panel
        const button = document.createElement("button");
        button.type = "button";
        button.className = "fix";
        button.textContent = `Test the fix (${sweepLabelOf(w.fix.vary)})`;
        button.addEventListener("click", () => testFix(job.id, warnings.indexOf(w), button));
        li.append(" ", button);
      }
      list.append(li);
    }
    const diagnostics = (job.history && job.history.diagnostics) || [];
    const none = $("warnings-none");
    if (ENDED.has(job.status) && !warnings.length) {
      none.textContent = "warnings" in job ? "No warnings for this job." : "This server reports no diagnostics.";
    }
    none.hidden = warnings.length > 0;
    const wrap = $("diagnostics");
    wrap.textContent = "";
    if (!diagnostics.length) return;
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const title of ["Layer", "Activation", "Units", "Gradient norm", "Dead units", "Saturated units"]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = title;
      head.append(th);
    }
    const body = table.createTBody();
    const pct = (v) => (typeof v === "number" ? `${(v * 100).toFixed(0)}%` : "–");
    for (const d of diagnostics) {
      const row = body.insertRow();
      const cells = [d.layer, d.activation, d.units, fmt(last(d.grad_norm), 4), pct(last(d.dead_fraction)), pct(last(d.saturated_fraction))];
      for (const c of cells) row.insertCell().textContent = c === undefined || c === null ? "–" : String(c);
    }
    const caption = table.createCaption();
    caption.textContent = "Per hidden layer, at the last epoch";
    wrap.append(table);
  }

  // a finished job's confusion matrix on its validation rows (the job's evaluation)
  function showConfusion(job) {
    const wrap = $("confusion-table");
    wrap.textContent = "";
    const ev = job.status === "succeeded" ? job.evaluation : null;
    const matrix = ev && ev.confusion_matrix;
    // multi-label models have one 2 x 2 matrix per label: not a picture of one matrix
    $("confusion").hidden = !(matrix && matrix.length && !Array.isArray(matrix[0][0]));
    if ($("confusion").hidden) return;
    const table = document.createElement("table");
    table.createCaption().textContent =
      `On the ${ev.n_rows} ${ev.rows} rows: a row per true class, a column per predicted class`;
    const head = table.createTHead().insertRow();
    head.append(document.createElement("td"));
    for (const c of ev.classes) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = `predicted ${c}`;
      head.append(th);
    }
    const body = table.createTBody();
    matrix.forEach((counts, i) => {
      const row = body.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = `true ${ev.classes[i]}`;
      row.append(th);
      // weighted rows make fractional counts
      for (const v of counts) row.insertCell().textContent = Number.isInteger(v) ? String(v) : v.toFixed(2);
    });
    wrap.append(table);
  }

  // the points of a change still waiting to be loaded, so that those drawn are the job's
  async function pointsNow() {
    if (pointsTimer === null) return;
    clearTimeout(pointsTimer);
    pointsTimer = null;
    await loadPoints();
  }

  async function train(event) {
    event.preventDefault();
    await pointsNow();
    clearError();
    stopPolling();
    const spec = jobSpec();
    state.jobPoints = state.points;
    $("train").disabled = true;
    try {
      const job = await api("POST", "/jobs", spec);
      state.job = job;
      state.followed = { history: {}, attempts: null };
      $("boundary-note").textContent = "";
      delete $("boundary").dataset.model;
      drawField($("boundary"), null, state.jobPoints);
      say(`Job ${job.id} ${job.status}.`);
      $("cancel").disabled = false;
      showMetrics(job);
      drawLoss(job);
      showDiagnostics(job);
      showConfusion(job);
      state.pollTimer = setTimeout(poll, POLL_MS);
    } catch (e) {
      showError("Starting the job", e);
      say("");
    } finally {
      $("train").disabled = false;
    }
  }

  function stopPolling() {
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
    // a long poll of the previous job would hold a server thread for nothing
    if (state.pollAbort) state.pollAbort.abort();
    state.pollAbort = null;
  }

  async function poll() {
    const id = state.job && state.job.id;
    if (!id) return;
    let job;
    const abort = new AbortController();
    state.pollAbort = abort;
    try {
      // a long poll answers as soon as the job changes; else ask a few times a second
      const query = new URLSearchParams();
      if (state.longPoll) query.set("wait", String(LONG_POLL_S));
      // only the epochs not drawn yet: what an answer carries does not grow with the run
      if (state.since) query.set("since", String(epochsHeld(state.followed.history)));
      const q = query.toString();
      job = await api("GET", `/jobs/${encodeURIComponent(id)}${q ? `?${q}` : ""}`, undefined, abort.signal);
    } catch (e) {
      if (abort.signal.aborted) return;
      showError("Following the job", e);
      if (e.status === 404) return; // deleted meanwhile: nothing more will come
      state.pollTimer = setTimeout(poll, POLL_MS * 4);
      return;
    }
    if (!state.job || state.job.id !== id) return; // another job has started meanwhile
    if (state.since) {
      job = followed(job);
      if (job === null) {
        state.pollTimer = setTimeout(poll, 0); // from the first epoch, at once
        return;
      }
    }
    state.job = job;
    showMetrics(job);
    drawLoss(job);
    showDiagnostics(job);
    showConfusion(job);
    if (!ENDED.has(job.status)) {
      const p = job.progress;
      say(`Job ${id} ${job.status}${p && p.epoch ? `: epoch ${p.epoch} of ${p.epochs}` : ""}.`);
      state.pollTimer = setTimeout(poll, state.longPoll ? 0 : POLL_MS);
      return;
    }
    $("cancel").disabled = true;
    if (job.status === "failed") {
      showError("Training", new ApiError(0, { message: (job.error && job.error.message) || "the job failed" }));
      say(`Job ${id} failed.`);
      return;
    }
    if (job.status === "cancelled") {
      say(`Job ${id} was cancelled.`);
      return;
    }
    say(`Job ${id} succeeded; drawing the decision boundary…`);
    try {
      const half = extent(state.jobPoints);
      const probs = await boundary(job.model_id, half);
      drawField($("boundary"), probs, state.jobPoints, half);
      $("boundary").dataset.model = job.model_id;
      say(`Job ${id} succeeded: validation accuracy ${fmt(job.progress && job.progress.metrics && job.progress.metrics.val_accuracy, 3)}.`);
    } catch (e) {
      showError("Drawing the boundary", e);
    }
  }

  async function cancel() {
    if (!state.job) return;
    try {
      await api("DELETE", `/jobs/${encodeURIComponent(state.job.id)}`);
    } catch (e) {
      showError("Cancelling the job", e);
    }
  }

  // -- an activation sweep ------------------------------------------------------------

  function renderSweepChoices() {
    const box = $("sweep-activations");
    box.textContent = "";
    for (const name of state.activations) {
      const label = document.createElement("label");
      label.className = "choice";
      const input = document.createElement("input");
      input.type = "checkbox";
      input.name = "sweep-activation";
      input.value = name;
      input.id = `sweep-${name}`;
      input.checked = SWEEP_DEFAULTS.includes(name);
      label.append(input, ` ${name}`);
      box.append(label);
    }
  }

  async function runSweep(event) {
    event.preventDefault();
    await pointsNow();
    clearError();
    clearTimeout(state.sweepTimer);
    const chosen = [...document.querySelectorAll('input[name="sweep-activation"]:checked')].map((el) => el.value);
    // the sweep gives every hidden layer each chosen activation in turn
    const body = { job: jobSpec(), vary: { activation: chosen } };
    state.sweepPoints = state.points;
    state.sweepDrawn = new Map();
    $("sweep-results").textContent = "";
    $("run-sweep").disabled = true;
    try {
      const sweep = await api("POST", "/sweeps", body);
      state.sweep = sweep;
      $("cancel-sweep").disabled = false;
      renderSweep(sweep);
      state.sweepTimer = setTimeout(pollSweep, POLL_MS * 2);
    } catch (e) {
      if (e.status === 404 || e.status === 405) {
        $("sweep").hidden = true;
        say("This server runs no sweeps.");
      } else {
        showError("Starting the sweep", e, (path) => path.replace(/^job\./, ""));
      }
    } finally {
      $("run-sweep").disabled = false;
    }
  }

  function sweepLabelOf(vary) {
    return Object.entries(vary || {})
      .map(([k, v]) => `${k}: ${v.map((x) => (typeof x === "object" ? "layers" : String(x))).join(" / ")}`)
      .join("; ");
  }

  async function testFix(jobId, index, button) {
    clearError();
    clearTimeout(state.sweepTimer);
    button.disabled = true;
    try {
      const sweep = await api("POST", `/jobs/${encodeURIComponent(jobId)}/fix?warning=${index}`);
      state.sweepPoints = state.points;
      state.sweepDrawn = new Map();
      state.sweep = sweep;
      $("sweep").hidden = false;
      $("sweep-results").textContent = "";
      $("cancel-sweep").disabled = false;
      renderSweep(sweep);
      state.sweepTimer = setTimeout(pollSweep, POLL_MS * 2);
    } catch (e) {
      showError("Testing the fix", e);
    } finally {
      button.disabled = false;
    }
  }

  async function pollSweep() {
    const id = state.sweep && state.sweep.id;
    if (!id) return;
    let sweep;
    try {
      sweep = await api("GET", `/sweeps/${encodeURIComponent(id)}`);
    } catch (e) {
      showError("Following the sweep", e);
      if (e.status === 404) return;
      state.sweepTimer = setTimeout(pollSweep, POLL_MS * 8);
      return;
    }
    if (!state.sweep || state.sweep.id !== id) return;
    state.sweep = sweep;
    renderSweep(sweep);
    const jobsEnded = (sweep.jobs || []).every((j) => ENDED.has(j.status));
    const pending = (sweep.jobs || []).some((j) => j.model_id && !state.sweepDrawn.has(j.id));
    if (!jobsEnded || !ENDED.has(sweep.status) || pending) {
      await drawSweepBoundaries(sweep);
      state.sweepTimer = setTimeout(pollSweep, POLL_MS * 2);
    } else {
      $("cancel-sweep").disabled = true;
    }
  }

  function sweepLabel(vary) {
    return Object.entries(vary || {})
      .map(([k, v]) => (k === "activation" ? String(v) : `${k}=${v}`))
      .join(", ");
  }

  function renderSweep(sweep) {
    const board = new Map((sweep.leaderboard || []).map((row) => [row.job_id, row]));
    const list = $("sweep-results");
    const done = (sweep.jobs || []).filter((j) => ENDED.has(j.status)).length;
    $("sweep-status").textContent = `Sweep ${sweep.id} ${sweep.status}: ${done} of ${sweep.n_jobs} jobs ended.`;
    for (const job of sweep.jobs || []) {
      let item = list.querySelector(`[data-job="${CSS.escape(job.id)}"]`);
      if (!item) {
        item = document.createElement("li");
        item.className = "multiple";
        item.dataset.job = job.id;
        const title = document.createElement("h3");
        title.textContent = sweepLabel(job.vary);
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = 200;
        canvas.setAttribute("role", "img");
        canvas.setAttribute("aria-label", `Decision boundary with ${sweepLabel(job.vary)}`);
        drawField(canvas, null, state.sweepPoints);
        const score = document.createElement("p");
        score.className = "score";
        const notes = document.createElement("ul");
        notes.className = "warnings";
        item.append(title, canvas, score, notes);
        list.append(item);
      }
      const row = board.get(job.id);
      const score = item.querySelector(".score");
      if (row) {
        score.textContent = `#${row.rank} · ${row.metric.replace(/_/g, " ")} ${fmt(row.value, 3)}`;
        item.dataset.rank = row.rank;
      } else {
        score.textContent = job.status;
      }
    }
  }

  async function drawSweepBoundaries(sweep) {
    const half = extent(state.sweepPoints);
    for (const job of sweep.jobs || []) {
      if (!job.model_id || state.sweepDrawn.has(job.id)) continue;
      state.sweepDrawn.set(job.id, true);
      const item = $("sweep-results").querySelector(`[data-job="${CSS.escape(job.id)}"]`);
      try {
        const probs = await boundary(job.model_id, half);
        drawField(item.querySelector("canvas"), probs, state.sweepPoints, half);
        item.querySelector("canvas").dataset.model = job.model_id;
        const full = await api("GET", `/jobs/${encodeURIComponent(job.id)}`);
        const notes = item.querySelector(".warnings");
        for (const w of full.warnings || []) {
          // the code, and the message on demand: the cards stay comparable
          const li = document.createElement("li");
          const details = document.createElement("details");
          const summary = document.createElement("summary");
          summary.textContent = w.code;
          details.append(summary, w.message);
          li.append(details);
          notes.append(li);
        }
      } catch (e) {
        showError(`Drawing the boundary of ${sweepLabel(job.vary)}`, e);
      }
    }
  }

  async function cancelSweep() {
    if (!state.sweep) return;
    try {
      await api("DELETE", `/sweeps/${encodeURIComponent(state.sweep.id)}`);
    } catch (e) {
      showError("Cancelling the sweep", e);
    }
  }

  // -- start --------------------------------------------------------------------------

  function pointsSoon() {
    clearTimeout(pointsTimer);
    pointsTimer = setTimeout(() => {
      pointsTimer = null;
      loadPoints();
    }, 120);
  }

  let loaded = false;
  async function load() {
    try {
      await loadFeatures();
      await loadActivations();
      await loadDatasets();
    } catch (e) {
      showError("Loading the playground", e);
      return;
    }
    if (!loaded) {
      loaded = true;
      if (state.activations.length && !state.activations.includes("relu")) {
        state.layers.forEach((l) => (l.activation = state.activations[0]));
      }
      renderLayers();
      showActivation(0);
      if (state.paths.has("/sweeps")) {
        renderSweepChoices();
        $("sweep").hidden = false;
      }
      drawLoss({});
    }
    clearError();
    await loadPoints();
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("key-panel").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem("nnjobs-api-key", $("api-key").value.trim());
      load();
    });
    $("noise").addEventListener("input", () => {
      $("noise-value").textContent = Number($("noise").value).toFixed(2);
      pointsSoon();
    });
    for (const id of ["n-samples", "seed"]) $(id).addEventListener("input", pointsSoon);
    $("datasets").addEventListener("change", pointsSoon);
    $("add-layer").addEventListener("click", addLayer);
    $("setup").addEventListener("submit", train);
    $("cancel").addEventListener("click", cancel);
    $("sweep-form").addEventListener("submit", runSweep);
    $("cancel-sweep").addEventListener("click", cancelSweep);
    $("api-key").value = sessionStorage.getItem("nnjobs-api-key") || "";
    if ($("api-key").value) $("key-panel").hidden = false;
    load();
  });
})();
