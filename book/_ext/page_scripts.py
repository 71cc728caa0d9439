"""A Sphinx extension for the built book's scripts: each once per page, and widgets beside MathJax 3.

* Jupyter Book 1 registers sphinx-thebe's and sphinx-togglebutton's inline configuration
  twice (once with the filename ``None``, once ``""``), and its ``const`` declarations then throw "Identifier 'THEBE_JS_URL' has
  already been declared" in the browser. :func:`drop_duplicate_scripts` drops every later
  copy of a script with the same source and attributes, whatever its priority.
* The widget embedder (``@jupyter-widgets/html-manager`` 1.x) typesets Label and HTML
  widgets with MathJax 2's ``MathJax.Hub.Queue`` whenever ``window.MathJax`` exists; the
  book loads MathJax 3, which has no ``Hub``, so every such widget threw a TypeError.
  :data:`MATHJAX_HUB_SHIM`, loaded first on every page, gives whatever object becomes
  ``window.MathJax`` a ``Hub.Queue`` that calls MathJax 3's ``typesetPromise`` when MathJax
  has loaded, and does nothing before.
* The embedder finds its icon fonts relative to where RequireJS says it lives, and
  RequireJS's default base is the page's folder. :func:`set_requirejs_base` points it at
  ``_static/widgets/`` on every page that loads RequireJS.
* Slide-ready figures: :data:`FIGURE_DOWNLOADS` puts "Download: SVG PNG" under every figure
  a notebook drew, widgets' figures included (drawn later, watched for). The chapters draw SVG (:func:`splicer_tutorial.plots.use_book_style`);
  the PNG is made in the browser from it, at twice its size on a white ground
  (``window.figureToPng(img)``, a promise of a ``data:`` URL).
"""

from __future__ import annotations

import json
from typing import Any


def _script_key(script: Any) -> tuple:
    """Source and attributes; an inline script's filename is None or "" depending on who added it."""
    attributes = getattr(script, "attributes", {}) or {}
    return (getattr(script, "filename", str(script)) or None, tuple(sorted(attributes.items())))


def drop_duplicate_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def set_requirejs_base(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files") or []
    if any(str(getattr(script, "filename", "") or "").endswith("widgets/require.js") for script in scripts):
        base = context["pathto"]("_static/widgets/", 1)
        app.add_js_file(None, body=f"var require = {{baseUrl: {json.dumps(base)}}};", priority=499)


MATHJAX_HUB_SHIM = """(function () {
  function shim(mathjax) {
    if (mathjax && typeof mathjax === "object" && !mathjax.Hub) {
      mathjax.Hub = {Queue: function (job) {
        var element = job && job[2];
        if (window.MathJax && window.MathJax.typesetPromise) {
          window.MathJax.typesetPromise(element ? [element] : undefined).catch(function () {});
        }
      }};
    }
  }
  var current = window.MathJax;
  shim(current);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) { current = value; shim(value); }
  });
})();"""


FIGURE_DOWNLOADS = """(function () {
  function fileName(src, extension) {
    var base = src.startsWith("data:") ? "figure" : src.split("/").pop().split("?")[0].replace(/\\.[a-z]+$/i, "");
    return base + "." + extension;
  }
  function link(text, href, name) {
    var a = document.createElement("a");
    a.textContent = text; a.href = href; a.download = name; a.style.marginLeft = "0.5em";
    return a;
  }
  window.figureToPng = function (img) {
    return new Promise(function (resolve, reject) {
      var image = new Image();
      image.onload = function () {
        var scale = 2, canvas = document.createElement("canvas");
        canvas.width = (image.naturalWidth || img.width) * scale;
        canvas.height = (image.naturalHeight || img.height) * scale;
        var context = canvas.getContext("2d");
        context.fillStyle = "#ffffff"; context.fillRect(0, 0, canvas.width, canvas.height);
        context.drawImage(image, 0, 0, canvas.width, canvas.height);
        resolve(canvas.toDataURL("image/png"));
      };
      image.onerror = reject;
      image.src = img.src;
    });
  };
  function addDownloads() {
    document.querySelectorAll(".cell_output img").forEach(function (img) {
      var src = img.getAttribute("src") || "";
      var next = img.nextElementSibling;
      if (next && next.classList.contains("figure-downloads")) return;
      var svg = /\\.svg$/i.test(src) || src.startsWith("data:image/svg");
      var png = /\\.png$/i.test(src) || src.startsWith("data:image/png");
      if (!svg && !png) return;
      var bar = document.createElement("div");
      bar.className = "figure-downloads";
      bar.style.fontSize = "0.8em"; bar.style.textAlign = "right";
      bar.appendChild(document.createTextNode("Download:"));
      if (svg) {
        bar.appendChild(link("SVG", src, fileName(src, "svg")));
        var asPng = link("PNG", "#", fileName(src, "png"));
        asPng.addEventListener("click", function (event) {
          if (asPng.dataset.ready) return;  // the second click is the real download
          event.preventDefault();
          window.figureToPng(img).then(function (url) { asPng.href = url; asPng.dataset.ready = "1"; asPng.click(); });
        });
        bar.appendChild(asPng);
      } else {
        bar.appendChild(link("PNG", src, fileName(src, "png")));
      }
      img.insertAdjacentElement("afterend", bar);
    });
  }
  function start() {
    addDownloads();
    // widgets draw their figures after the page has loaded, and again on every change
    new MutationObserver(addDownloads).observe(document.body, {childList: true, subtree: true});
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();"""


def setup(app: Any) -> dict[str, Any]:
    app.add_js_file(None, body=MATHJAX_HUB_SHIM, priority=100)
    app.add_js_file(None, body=FIGURE_DOWNLOADS, priority=900)
    app.connect("html-page-context", set_requirejs_base, priority=800)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
