/*! naano.js: keeps the Naano session of a tracking-link visit as a first-party cookie.
 * Include it on the landing pages of your site:
 *   <script src="https://YOUR-NAANO-SERVER/naano.js" async></script>
 * It reads ?naano_session=... from the URL, stores it as the `naano_session` cookie for
 * 90 days (SameSite=Lax, Secure on https) unless a newer session is already stored, and
 * removes the parameter from the address bar. Your backend reads the cookie at signup.
 */
(function (w, d) {
  "use strict";
  var NAME = "naano_session";
  var MAX_AGE = 90 * 24 * 60 * 60;
  var VALID = /^[A-Za-z0-9_-]{1,128}$/;
  var PREFIX = "naano_session_";

  // Ids we issue carry their issue time (11 hex digits after the prefix); ids of
  // another shape carry none.
  function issuedAt(id) {
    if (id.length !== PREFIX.length + 33 || id.indexOf(PREFIX) !== 0) return null;
    var hex = id.substr(PREFIX.length, 11);
    return /^[0-9a-f]{11}$/.test(hex) ? parseInt(hex, 16) : null;
  }

  function storedSession() {
    var parts = d.cookie ? d.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var kv = parts[i].split("=");
      var key = kv.shift().replace(/^\s+|\s+$/g, "");
      var value = kv.join("=").replace(/^\s+|\s+$/g, "").replace(/^"|"$/g, "");
      if (key === NAME && VALID.test(value)) return value;
    }
    return null;
  }

  // A fresh click always wins; an old landing URL (bookmark, shared link, back button)
  // must not replace the session of a later click.
  function shouldReplace(stored, incoming) {
    if (!stored) return true;
    var a = issuedAt(stored), b = issuedAt(incoming);
    return a === null || b === null || b >= a;
  }

  try {
    var url = new URL(w.location.href);
    var incoming = url.searchParams.get(NAME);
    if (incoming === null) return;
    if (VALID.test(incoming) && shouldReplace(storedSession(), incoming)) {
      d.cookie = NAME + "=" + incoming + "; Max-Age=" + MAX_AGE + "; Path=/; SameSite=Lax" +
        (w.location.protocol === "https:" ? "; Secure" : "");
    }
    url.searchParams["delete"](NAME);
    if (w.history && w.history.replaceState) {
      w.history.replaceState(w.history.state, "", url.pathname + url.search + url.hash);
    }
  } catch (e) {
    // Attribution must never break the host page.
  }
})(window, document);
