// aiproxy admin UI behaviour: no framework, loaded with `defer` after htmx.
//
// - Theme: a button with data-theme-toggle switches <html data-theme> between
//   light and dark, remembered in localStorage ("aiproxy:theme"); without a
//   choice the page follows prefers-color-scheme.
// - Copy: <button data-copy="ID"> copies the text (or the value, for an
//   input) of the element with that id and announces "Copied" in the live
//   region #live-status (created when the layout has none).
// - Confirm: a <form data-confirm="Delete this channel?"> (or a button with
//   data-confirm) asks before submitting, for plain and HTMX requests alike.
// - CSRF: every HTMX request carries X-CSRF-Token from
//   <meta name="csrf-token" content="...">.
(function () {
  "use strict";

  var themeKey = "aiproxy:theme";
  var root = document.documentElement;
  // The stylesheet keeps the narrow-window nav open without JavaScript.
  root.classList.add("js");

  function storedTheme() {
    try {
      return localStorage.getItem(themeKey);
    } catch (e) {
      return null;
    }
  }

  function currentTheme() {
    var t = root.getAttribute("data-theme");
    if (t === "light" || t === "dark") return t;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function applyTheme(t) {
    if (t === "light" || t === "dark") root.setAttribute("data-theme", t);
    var buttons = document.querySelectorAll("[data-theme-toggle]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].setAttribute("aria-pressed", currentTheme() === "dark" ? "true" : "false");
    }
  }

  // Applied as soon as the script runs, so a stored choice wins before the
  // first paint of the body when the script is in <head>.
  applyTheme(storedTheme());

  function liveRegion() {
    var el = document.getElementById("live-status");
    if (!el) {
      el = document.createElement("div");
      el.id = "live-status";
      el.className = "visually-hidden";
      el.setAttribute("role", "status");
      el.setAttribute("aria-live", "polite");
      document.body.appendChild(el);
    }
    return el;
  }

  function announce(text) {
    var el = liveRegion();
    el.textContent = "";
    // A fresh text node after a tick makes screen readers repeat the
    // message when the same button is pressed twice.
    window.setTimeout(function () {
      el.textContent = text;
    }, 50);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.className = "visually-hidden";
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      document.body.removeChild(ta);
      if (ok) resolve();
      else reject(new Error("copy failed"));
    });
  }

  document.addEventListener("click", function (ev) {
    var toggle = ev.target.closest("[data-theme-toggle]");
    if (toggle) {
      var next = currentTheme() === "dark" ? "light" : "dark";
      try {
        localStorage.setItem(themeKey, next);
      } catch (e) {
        // Private mode: the choice lasts for this page only.
      }
      applyTheme(next);
      return;
    }

    var copy = ev.target.closest("[data-copy]");
    if (copy) {
      ev.preventDefault();
      var src = document.getElementById(copy.getAttribute("data-copy"));
      if (!src) return;
      var text = "value" in src && src.tagName !== "BUTTON" ? src.value : src.textContent;
      copyText(text.trim()).then(
        function () {
          copy.setAttribute("data-copied", "");
          window.setTimeout(function () {
            copy.removeAttribute("data-copied");
          }, 2000);
          announce("Copied");
        },
        function () {
          announce("Copy failed: select the text and copy it by hand");
        }
      );
      return;
    }

    var nav = ev.target.closest("[data-nav-toggle]");
    if (nav) {
      var open = nav.getAttribute("aria-expanded") === "true";
      nav.setAttribute("aria-expanded", open ? "false" : "true");
      root.classList.toggle("nav-open", !open);
      return;
    }

    // A button of its own data-confirm, outside HTMX (htmx asks itself,
    // through hx-confirm, and the htmx:confirm hook below).
    var btn = ev.target.closest("button[data-confirm], input[type=submit][data-confirm]");
    if (btn && !btn.hasAttribute("hx-confirm") && !window.confirm(btn.getAttribute("data-confirm"))) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
    }
  });

  // Plain form submissions of data-confirm forms.
  document.addEventListener(
    "submit",
    function (ev) {
      var form = ev.target;
      if (!form.hasAttribute || !form.hasAttribute("data-confirm")) return;
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        ev.preventDefault();
        ev.stopImmediatePropagation();
        return;
      }
      // Asked once: htmx:confirm below lets the request this submit
      // starts go without asking again.
      form.setAttribute("data-confirmed", "");
    },
    true
  );

  // HTMX requests from inside a data-confirm form not started by a submit
  // (an hx-delete button in it, say): htmx:confirm fires before each
  // request and waits for issueRequest.
  document.addEventListener("htmx:confirm", function (ev) {
    var elt = ev.detail && ev.detail.elt;
    if (!elt || !elt.closest) return;
    var form = elt.closest("[data-confirm]");
    if (!form || elt.hasAttribute("hx-confirm")) return;
    if (form.hasAttribute("data-confirmed")) {
      form.removeAttribute("data-confirmed");
      return;
    }
    ev.preventDefault();
    if (window.confirm(form.getAttribute("data-confirm"))) ev.detail.issueRequest(true);
  });

  document.addEventListener("htmx:configRequest", function (ev) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) ev.detail.headers["X-CSRF-Token"] = meta.content;
  });

  // Pages showing times (the dashboard, the logs) mark themselves with
  // data-browser-tz; without a tz parameter they are shown once more in
  // the browser's time zone.
  function browserZone(root) {
    var el = root && root.querySelector ? root.querySelector("[data-browser-tz]") : null;
    if (!el) return;
    var tz = "";
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
    var u = new URL(window.location.href);
    if (!tz || tz === "UTC" || u.searchParams.has("tz")) return;
    u.searchParams.set("tz", tz);
    window.location.replace(u.toString());
  }
  document.addEventListener("htmx:load", function (ev) { browserZone(ev.target); });

  document.addEventListener("DOMContentLoaded", function () {
    applyTheme(storedTheme());
    browserZone(document);
  });
})();
