#!/usr/bin/env node
// Real-browser test of the admin console (admin/console/index.html)
// against a running node's admin port, driven by playwright-core and
// Debian's chromium.
//
//   node browser.mjs --url http://127.0.0.1:PORT/ --screenshot PATH
//                    [--expect-binary ping-processor] [--token T]
//                    [--expect-actor windowing.window] [--chromium /usr/bin/chromium]
//                    [--expect-cluster-nodes N]
//
// The caller sends pings for the current minute before starting, so the
// minute chart has live data. The checks: the header shows the binary; the
// actor table lists actors, --expect-actor among them; the pipeline shows
// stages; the minute chart has a count in its current minute; no error banner; Flush
// asks for confirmation in the page's modal and the toast reports success;
// no console error, page error or request off the node's origin. With
// --expect-cluster-nodes N: the Cluster tab lists N nodes, all up, two or
// more of each binary's hops, every partition owned by one processor, and
// Flush on another processor, forwarded through the cluster view, reports
// success (screenshot: the same path with "-cluster" before ".png").
// Ends with a 1280x800 screenshot. Every wait polls against a deadline; the whole run
// is bounded by SCRIPT_TIMEOUT_MS.
//
// Prints one PASS/FAIL line per check; exits 1 if any check failed.

import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

const SCRIPT_TIMEOUT_MS = 60_000; // the whole run, as a last resort
const CHECKS_TIMEOUT_MS = 50_000; // all checks, leaving time for the screenshot
const CHECK_TIMEOUT_MS = 15_000; // each check's deadline
const AFTER_FAILURE_MS = 2_000; // each check's deadline once one has failed
const COMMAND_TIMEOUT_MS = 30_000; // Flush, from Confirm to the toast
const POLL_MS = 100; // how often a check looks again
const VIEWPORT = { width: 1280, height: 800 };
const TOKEN_KEY = "ping-admin-token"; // the page's sessionStorage key

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    screenshot: { type: "string" },
    "expect-binary": { type: "string" },
    "expect-actor": { type: "string", default: "windowing.window" },
    token: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    "expect-cluster-nodes": { type: "string" },
  },
});
if (!opt.url || !opt.screenshot) {
  console.error(
    "usage: node browser.mjs --url http://127.0.0.1:PORT/ --screenshot PATH " +
      "[--expect-binary NAME] [--token T] [--expect-actor NAME] [--chromium PATH]",
  );
  process.exit(2);
}

const started = Date.now();
const deadline = started + CHECKS_TIMEOUT_MS;
let failures = 0;

function pass(check) {
  console.log(`PASS ${check}`);
}
function fail(check, detail) {
  failures++;
  console.log(`FAIL ${check}${detail ? `: ${detail}` : ""}`);
}

// Calls probe() until accept(value) holds or the deadline passes; returns
// { ok, value } with the last value seen, for the FAIL line.
async function until(probe, accept, ms = CHECK_TIMEOUT_MS) {
  // Once the page is known to be broken, do not wait out every deadline.
  const end = Math.min(Date.now() + (failures ? Math.min(ms, AFTER_FAILURE_MS) : ms), deadline);
  let value;
  for (;;) {
    try {
      value = await probe();
      if (accept(value)) return { ok: true, value };
    } catch (e) {
      value = `error: ${e.message.split("\n")[0]}`;
    }
    if (Date.now() >= end) return { ok: false, value };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function check(name, probe, accept, describe, ms) {
  const r = await until(probe, accept, ms);
  if (r.ok) pass(name);
  else fail(name, describe(r.value));
  return r.ok;
}

// The Cluster tab: every node up, partitions owned once, a command
// forwarded to another processor.
// Waits for a command's toast to settle (ok, error or warn); returns
// until()'s result with { state, text }.
function settledToast(page) {
  const toast = page.getByTestId("toast");
  return until(
    async () =>
      (await toast.isVisible())
        ? { state: await toast.getAttribute("data-state"),
            text: (await page.locator("#toast-text").textContent()).trim() }
        : { state: "hidden", text: "" },
    (t) => t.state === "ok" || t.state === "error" || t.state === "warn",
    COMMAND_TIMEOUT_MS,
  );
}

async function clusterChecks(page, want, screenshotPath) {
  await page.getByTestId("tab-cluster").click();
  const rows = page.getByTestId("cluster-nodes").getByTestId("cluster-node-row");
  await check(
    `cluster tab lists ${want} nodes, all up`,
    () => rows.evaluateAll((rs) => rs.map((r) => `${r.dataset.binary}@${r.dataset.address}:${r.dataset.up}`)),
    (xs) => Array.isArray(xs) && xs.length === want && xs.every((x) => x.endsWith(":true")),
    (xs) => `rows: ${JSON.stringify(xs)}`,
  );
  await check(
    "cluster pipeline shows every hop",
    () => page.getByTestId("cluster-pipeline").getByTestId("cluster-hop").evaluateAll((hs) => hs.map((h) => h.dataset.name)),
    (names) => JSON.stringify(names) === JSON.stringify(["accept", "commit", "relay", "kafka", "consume", "flush", "cache"]),
    (names) => `hops: ${JSON.stringify(names)}`,
  );
  await check(
    "every partition has exactly one owner",
    () => page.getByTestId("cluster-partitions").getByTestId("cluster-partition-row")
      .evaluateAll((rs) => rs.map((r) => Number(r.dataset.owners))),
    (owners) => Array.isArray(owners) && owners.length > 0 && owners.every((k) => k === 1),
    (owners) => `owners per partition: ${JSON.stringify(owners)}`,
  );
  // Flush on a processor other than the one serving the page.
  const self = new URL(opt.url).host;
  const flush = page.locator(`[data-testid="cluster-cmd"][data-method="Flush"]:not([data-node="${self}"])`).first();
  const shown = await check(
    "cluster view offers Flush on another processor",
    async () => (await flush.count()) > 0 && (await flush.isEnabled()),
    Boolean,
    () => "no enabled Flush button for another node",
  );
  if (shown) {
    const node = await flush.getAttribute("data-node");
    await flush.click();
    await page.getByTestId("confirm-ok").click();
    const r = await settledToast(page);
    if (r.ok && r.value.state === "ok" && r.value.text.includes(node)) pass(`forwarded Flush on ${node} reports success`);
    else fail(`forwarded Flush on ${node} reports success`, `toast ${r.value.state}: ${JSON.stringify(r.value.text)}`);
  }
  await page.mouse.move(0, 0);
  const path = screenshotPath.replace(/\.png$/, "") + "-cluster.png";
  await page.screenshot({ path, fullPage: false });
  pass(`screenshot ${path}`);
}

const watchdog = setTimeout(() => {
  fail("finished in time", `still running after ${SCRIPT_TIMEOUT_MS / 1000} s`);
  process.exit(1); // playwright kills the browser on exit
}, SCRIPT_TIMEOUT_MS);

const origin = new URL(opt.url).origin;
const consoleErrors = [];
const offOrigin = [];
let browser;

try {
  browser = await chromium.launch({
    executablePath: opt.chromium,
    headless: true,
    timeout: CHECK_TIMEOUT_MS,
  });
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
  if (opt.token)
    await context.addInitScript(
      ([key, token]) => sessionStorage.setItem(key, token),
      [TOKEN_KEY, opt.token],
    );
  const page = await context.newPage();
  page.setDefaultTimeout(CHECK_TIMEOUT_MS);
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith("data:") && new URL(u).origin !== origin) offOrigin.push(u);
  });

  const response = await page.goto(opt.url, { waitUntil: "load" });
  if (response && response.ok()) pass("page loads");
  else fail("page loads", `HTTP ${response ? response.status() : "no response"}`);

  const binary = page.getByTestId("status-binary");
  await check(
    "status shows the binary",
    () => binary.textContent(),
    (t) => (opt["expect-binary"] ? t.trim() === opt["expect-binary"] : t.trim() !== ""),
    (t) => `saw ${JSON.stringify(t)}, want ${JSON.stringify(opt["expect-binary"] ?? "any binary")}`,
  );

  const expectActor = opt["expect-actor"];
  await check(
    `actor table has rows${expectActor ? ` including ${expectActor}` : ""}`,
    () =>
      page
        .getByTestId("actor-table")
        .getByTestId("actor-row")
        .evaluateAll((rows) => rows.map((r) => r.dataset.name)),
    (names) => names.length > 0 && (!expectActor || names.includes(expectActor)),
    (names) => `rows: ${JSON.stringify(names)}`,
  );

  await check(
    "pipeline shows stages",
    () =>
      page
        .getByTestId("pipeline")
        .getByTestId("stage")
        .evaluateAll((s) => s.map((e) => e.dataset.name)),
    (names) => Array.isArray(names) && names.length > 0,
    (names) => `stages: ${JSON.stringify(names)}`,
  );

  await check(
    "minute chart shows live data",
    () =>
      page
        .getByTestId("minute-chart")
        .getByTestId("minute-bar")
        .evaluateAll((bars) => bars.map((b) => Number(b.dataset.count))),
    // Live: the pings the caller just sent, in the current (or, across a
    // minute boundary, the previous) minute, the chart's last two bars.
    (counts) => Array.isArray(counts) && counts.slice(-2).some((c) => c > 0),
    (counts) =>
      Array.isArray(counts)
        ? `${counts.length} bars, the last two without data-count > 0`
        : String(counts),
  );

  const banner = page.getByTestId("error-banner");
  await check(
    "no error banner",
    async () =>
      (await banner.isVisible()) ? (await banner.textContent()).replace(/\s+/g, " ").trim() : "",
    (text) => text === "",
    (text) => `banner says ${JSON.stringify(text)}`,
  );

  // Flush: button -> in-page modal -> Confirm -> toast.
  const flush = page.getByTestId("cmd-flush");
  const ok = page.getByTestId("confirm-ok");
  const flushReady = await check(
    "flush button shown",
    async () => (await flush.isVisible()) && (await flush.isEnabled()),
    Boolean,
    () => "no enabled cmd-flush button (does GetStatus.commands list Flush?)",
  );
  if (flushReady) {
    await flush.click();
    const asked = await check(
      "flush asks for confirmation",
      async () =>
        (await ok.isVisible()) && (await page.getByTestId("confirm-cancel").isVisible()),
      Boolean,
      () => "no confirmation dialog with confirm-ok and confirm-cancel",
    );
    if (asked) {
      await ok.click();
      // The toast first says the command is pending, then settles.
      const r = await settledToast(page);
      if (r.ok && r.value.state === "ok" && /flush/i.test(r.value.text)) pass("flush reports success");
      else fail("flush reports success", `toast ${r.value.state}: ${JSON.stringify(r.value.text)}`);
      if (await ok.isVisible()) fail("confirmation dialog closes after Confirm");
    }
  }

  await page.mouse.move(0, 0);
  const path = resolve(opt.screenshot);
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: false });
  pass(`screenshot ${path}`);

  if (opt["expect-cluster-nodes"]) await clusterChecks(page, Number(opt["expect-cluster-nodes"]), path);

  if (consoleErrors.length === 0) pass("no console or page errors");
  else {
    const counts = new Map();
    for (const e of consoleErrors) counts.set(e, (counts.get(e) ?? 0) + 1);
    fail("no console or page errors",
         [...counts].map(([e, k]) => (k > 1 ? `${e} (x${k})` : e)).join(" | "));
  }
  if (offOrigin.length === 0) pass("no requests off the node's origin");
  else fail("no requests off the node's origin", [...new Set(offOrigin)].join(", "));
} catch (e) {
  fail("browser run", e.message.split("\n")[0]);
} finally {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
}

console.log(`${failures ? "FAILED" : "OK"}: ${failures} failure(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failures ? 1 : 0);
