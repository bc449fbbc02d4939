/// The pages' one script, served at `path` (no inline script: the listener's Content-Security-Policy allows
/// scripts from the page's own origin only). It only adds to pages that work without it: every 30 s it
/// reloads the main part of the page in place (not while the reader types in the filter form or the tab is
/// hidden), and the range links of a probe page switch the charts without a full reload.
public enum Script {
    public static let path = "/static/app.js"

    public static let source = """
        "use strict";
        (function () {
          function typing() {
            var active = document.activeElement;
            return !!active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
          }
          function swap(url, push, refresh) {
            return fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
              .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
              .then(function (text) {
                // A refresh that comes back once the reader types in the filter form is dropped: replacing the
                // form would take their focus and what they typed.
                if (refresh && typing()) { return; }
                var next = new DOMParser().parseFromString(text, "text/html");
                var main = next.getElementById("main");
                if (!main) { return; }
                document.getElementById("main").replaceWith(main);
                document.title = next.title;
                if (push) { history.pushState(null, "", url); }
                wire();
              });
          }
          function wire() {
            var links = document.querySelectorAll("nav.ranges a");
            for (var i = 0; i < links.length; i++) {
              links[i].addEventListener("click", function (e) {
                if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) { return; }
                e.preventDefault();
                var href = this.getAttribute("href");
                swap(href, true).catch(function () { location.href = href; });
              });
            }
          }
          window.addEventListener("popstate", function () { swap(location.pathname + location.search, false).catch(function () {}); });
          setInterval(function () {
            if (document.hidden || !document.querySelector("[data-refresh]") || typing()) { return; }
            swap(location.pathname + location.search, false, true).catch(function () {});
          }, 30000);
          wire();
        })();
        """
}
