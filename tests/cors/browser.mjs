#!/usr/bin/env node
// Real-browser test of --connect.cors-origins: Debian's chromium (driven by
// playwright-core) loads a page from one origin that calls Ping and
// PingCount on the gateway's Connect port, another origin, with
// @connectrpc/connect-web (no bundler: the packages' ES modules are served
// with an import map; the service descriptor comes from `buf build`).
//
//   node browser.mjs --connect http://127.0.0.1:PORT --allowed-port A
//                    --other-port B --descriptor FILE [--chromium PATH]
//
// Serves the page on 127.0.0.1:A (an origin the gateway allows) and on
// 127.0.0.1:B (one it does not). Checks: a preflight (OPTIONS) for A gets
// 204 with Access-Control-Allow-Origin, one for B none; from A, Ping answers
// and PingCount counts at least that ping; from B, the browser refuses to hand the answer to the
// page (a CORS failure, no count). The preflights themselves are checked
// with plain OPTIONS requests. Prints one PASS/FAIL line per check and
// "N passed, N failed"; exits 1 if any check failed. Bounded by
// SCRIPT_TIMEOUT_MS.

import { readFileSync } from "node:fs";
import http from "node:http";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

const SCRIPT_TIMEOUT_MS = 60_000;
const PAGE_TIMEOUT_MS = 20_000;
const HERE = dirname(fileURLToPath(import.meta.url));
const MODULES = join(HERE, "node_modules");
const PACKAGES = ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-web"];

const { values: opt } = parseArgs({
  options: {
    connect: { type: "string" },
    "allowed-port": { type: "string" },
    "other-port": { type: "string" },
    descriptor: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
if (!opt.connect || !opt["allowed-port"] || !opt["other-port"] || !opt.descriptor) {
  console.error("usage: node browser.mjs --connect URL --allowed-port A --other-port B --descriptor FILE");
  process.exit(2);
}
setTimeout(() => {
  console.log("FAIL: the test did not finish within", SCRIPT_TIMEOUT_MS, "ms");
  process.exit(1);
}, SCRIPT_TIMEOUT_MS).unref();

let passed = 0;
let failed = 0;
const check = (ok, name, detail = "") => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "PASS" : "FAIL"}: ${name}${detail ? ` (${detail})` : ""}`);
};

// The import map: each package's ESM entry points, from its "exports".
function entry(target) {
  if (typeof target === "string") return target;
  for (const key of ["import", "browser", "default"])
    if (target && target[key]) return entry(target[key]);
  return null;
}
const imports = {};
for (const pkg of PACKAGES) {
  const manifest = JSON.parse(readFileSync(join(MODULES, pkg, "package.json"), "utf8"));
  for (const [sub, target] of Object.entries(manifest.exports)) {
    const file = entry(target);
    if (file && file.endsWith(".js"))
      imports[pkg + sub.slice(1)] = `/node_modules/${pkg}/${file.replace(/^\.\//, "")}`;
  }
}

const page = `<!doctype html>
<meta charset="utf-8">
<title>connect-web CORS test</title>
<script type="importmap">${JSON.stringify({ imports })}</script>
<script type="module">
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
try {
  const bytes = new Uint8Array(await (await fetch("/descriptor.bin")).arrayBuffer());
  const service = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes))
    .getService("ping.v1.PingService");
  const client = createClient(service, createConnectTransport({ baseUrl: ${JSON.stringify(opt.connect)} }));
  const ping = await client.ping({});
  const count = await client.pingCount({});
  window.__result = { ping: ping.$typeName, count: String(count.pingCount) };
} catch (e) {
  window.__result = { error: String(e && e.message || e), code: e && e.code };
}
</script>`;

// The page, the descriptor and the packages' files (nothing else).
function serve(req, res) {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/") {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    return res.end(page);
  }
  if (url.pathname === "/descriptor.bin") {
    res.writeHead(200, { "Content-Type": "application/octet-stream" });
    return res.end(readFileSync(opt.descriptor));
  }
  const file = normalize(join(HERE, decodeURIComponent(url.pathname)));
  if (file.startsWith(MODULES + "/") && file.endsWith(".js")) {
    try {
      const body = readFileSync(file);
      res.writeHead(200, { "Content-Type": "text/javascript" });
      return res.end(body);
    } catch {}
  }
  res.writeHead(404);
  res.end();
}
const listen = (port) =>
  new Promise((ok, fail) => {
    const s = http.createServer(serve);
    s.once("error", fail);
    s.listen(Number(port), "127.0.0.1", () => ok(s));
  });
const servers = [await listen(opt["allowed-port"]), await listen(opt["other-port"])];

const browser = await chromium.launch({
  executablePath: opt.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
async function run(port) {
  const p = await browser.newPage();
  await p.goto(`http://127.0.0.1:${port}/`);
  await p.waitForFunction(() => window.__result !== undefined, null, { timeout: PAGE_TIMEOUT_MS });
  const result = await p.evaluate(() => window.__result);
  await p.close();
  return { result };
}
// The preflight a browser sends before a JSON POST (chromium's own is not
// visible to playwright): its status and Access-Control-Allow-Origin.
async function preflight(port) {
  const res = await fetch(`${opt.connect}/ping.v1.PingService/Ping`, {
    method: "OPTIONS",
    headers: {
      Origin: `http://127.0.0.1:${port}`,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type,connect-protocol-version",
    },
  });
  return { status: res.status, origin: res.headers.get("access-control-allow-origin") };
}
try {
  const pre = await preflight(opt["allowed-port"]);
  check(pre.status === 204 && pre.origin === `http://127.0.0.1:${opt["allowed-port"]}`,
        "preflight from the allowed origin: 204 with Access-Control-Allow-Origin", JSON.stringify(pre));
  const otherPre = await preflight(opt["other-port"]);
  check(otherPre.origin === null, "preflight from another origin: no Access-Control-Allow-Origin",
        JSON.stringify(otherPre));
  const allowed = await run(opt["allowed-port"]);
  check(allowed.result.ping === "ping.v1.PingResponse", "connect-web Ping from the allowed origin",
        JSON.stringify(allowed.result));
  check(Number(allowed.result.count) >= 1, "connect-web PingCount from the allowed origin counts the ping",
        JSON.stringify(allowed.result));
  const other = await run(opt["other-port"]);
  check(other.result.error !== undefined && other.result.count === undefined,
        "an origin not listed gets no answer (the browser blocks it)", JSON.stringify(other.result));
} catch (e) {
  check(false, "browser run", String(e));
} finally {
  await browser.close();
  servers.forEach((s) => s.close());
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
