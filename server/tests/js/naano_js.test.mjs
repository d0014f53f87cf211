// Behaviour of the landing-page script (server/assets/naano.js, served as /naano.js),
// run in a vm context with the browser APIs it touches: location, document.cookie, history.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

const SCRIPT = readFileSync(new URL("../../assets/naano.js", import.meta.url), "utf8");

function idAt(ms, rand = "AAAAAAAAAAAAAAAAAAAAAA") {
  return "naano_session_" + ms.toString(16).padStart(11, "0") + rand;
}

function run(href, cookies = {}, { historyThrows = false } = {}) {
  const jar = { ...cookies };
  const writes = [];
  const replaced = [];
  const location = new URL(href);
  const document = {
    get cookie() {
      return Object.entries(jar).map(([k, v]) => `${k}=${v}`).join("; ");
    },
    set cookie(text) {
      writes.push(text);
      const [pair] = text.split(";");
      const i = pair.indexOf("=");
      jar[pair.slice(0, i)] = pair.slice(i + 1);
    },
  };
  const history = {
    state: { page: 1 },
    replaceState(state, _title, url) {
      if (historyThrows) throw new Error("SecurityError");
      replaced.push({ state, url });
    },
  };
  const window = { location, history };
  vm.runInNewContext(SCRIPT, { window, document, URL });
  return { jar, writes, replaced };
}

test("stores the session from the URL and removes it from the address bar", () => {
  const id = idAt(Date.now());
  const { jar, writes, replaced } = run(`http://saas.test/welcome?plan=pro&naano_session=${id}#top`);
  assert.equal(jar.naano_session, id);
  assert.equal(writes.length, 1);
  assert.match(writes[0], /; Max-Age=7776000; Path=\/; SameSite=Lax$/);
  assert.deepEqual(replaced, [{ state: { page: 1 }, url: "/welcome?plan=pro#top" }]);
});

test("adds Secure on https", () => {
  const { writes } = run(`https://saas.test/?naano_session=${idAt(Date.now())}`);
  assert.match(writes[0], /; Secure$/);
});

test("does not overwrite a newer session with an older one", () => {
  const newer = idAt(1_800_000_000_000);
  const older = idAt(1_700_000_000_000);
  const { jar, writes, replaced } = run(`http://saas.test/?naano_session=${older}`, { naano_session: newer });
  assert.equal(jar.naano_session, newer);
  assert.equal(writes.length, 0);
  assert.equal(replaced[0].url, "/", "the stale parameter is still removed");
});

test("a newer click replaces an older session, and ids without a time replace too", () => {
  const older = idAt(1_700_000_000_000);
  const newer = idAt(1_800_000_000_000);
  assert.equal(run(`http://saas.test/?naano_session=${newer}`, { naano_session: older }).jar.naano_session, newer);
  assert.equal(run(`http://saas.test/?naano_session=${newer}`, { naano_session: "legacy123" }).jar.naano_session, newer);
  assert.equal(run(`http://saas.test/?naano_session=other_issuer`, { naano_session: older }).jar.naano_session, "other_issuer");
});

test("rejects malformed ids but still cleans the URL", () => {
  const { jar, writes, replaced } = run("http://saas.test/p?naano_session=%3Cscript%3E&x=1");
  assert.equal(jar.naano_session, undefined);
  assert.equal(writes.length, 0);
  assert.equal(replaced[0].url, "/p?x=1");
});

test("does nothing without the parameter", () => {
  const { writes, replaced } = run("http://saas.test/p?x=1", { naano_session: idAt(1) });
  assert.equal(writes.length, 0);
  assert.equal(replaced.length, 0);
});

test("never throws into the host page", () => {
  assert.doesNotThrow(() => run(`http://saas.test/?naano_session=${idAt(Date.now())}`, {}, { historyThrows: true }));
});
