#!/usr/bin/env node
// End-to-end client of ping.v1.PingService built on @connectrpc/connect-node,
// with no generated code: the service descriptor comes from `buf build`.
//
//   node client.mjs CONNECT_PORT GRPC_PORT [TRANSPORT...]
//
// TRANSPORT is one of connect-json, connect-proto, connect-get, grpc (all by
// default). For each transport it reserves its own two random minutes in
// year 2100 (nobody else pings there), sends pings inside them and expects
// PingCount over exactly that range to count exactly those pings; then it
// checks that invalid arguments are rejected with Code.InvalidArgument.
//
// PING_E2E_DESCRIPTOR_SET may name a FileDescriptorSet (`buf build -o`);
// without it this script runs `buf build` on the repository's module itself.
// Prints one PASS/FAIL line per check; exits 1 if any check failed.

import { execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import {
  FileDescriptorSetSchema,
  MethodOptions_IdempotencyLevel,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
} from "@connectrpc/connect-node";

const E2E_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = join(E2E_DIR, "..", "..");
const CALL_TIMEOUT_MS = 10_000; // every RPC
const SCRIPT_TIMEOUT_MS = 60_000; // the whole script, as a last resort

const YEAR_2100_MS = 4102444800000; // 2100-01-01T00:00:00Z
const MINUTE_MS = 60_000;
const MAX_TIMESTAMP_MS = 253402300799999n; // 9999-12-31T23:59:59.999Z

const TRANSPORTS = ["connect-json", "connect-proto", "connect-get", "grpc"];

// --- checks -----------------------------------------------------------------

let passed = 0;
let failed = 0;

function pass(name) {
  passed++;
  console.log(`  PASS ${name}`);
}

function fail(name, detail) {
  failed++;
  console.log(`  FAIL ${name}: ${detail}`);
}

function expectEqual(name, actual, expected) {
  if (actual === expected) pass(name);
  else fail(name, `got ${actual}, want ${expected}`);
}

// Runs fn; any exception fails the check `name`.
async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    fail(name, describe(e));
  }
}

async function expectCode(name, code, fn) {
  try {
    await fn();
    fail(name, `succeeded, want ConnectError ${Code[code]}`);
  } catch (e) {
    if (e instanceof ConnectError && e.code === code) pass(name);
    else fail(name, `got ${describe(e)}, want ConnectError ${Code[code]}`);
  }
}

function describe(e) {
  if (e instanceof ConnectError) return `ConnectError ${Code[e.code]}: ${e.rawMessage}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

// --- setup ------------------------------------------------------------------

function usage() {
  console.error(
    `usage: node client.mjs CONNECT_PORT GRPC_PORT [${TRANSPORTS.join("|")}...]`,
  );
  process.exit(2);
}

// The ping.v1.PingService descriptor, from a FileDescriptorSet made by buf.
function loadService() {
  let file = process.env.PING_E2E_DESCRIPTOR_SET;
  let tmp;
  if (!file) {
    tmp = mkdtempSync(join(tmpdir(), "ping-e2e-"));
    file = join(tmp, "set.binpb");
    execFileSync(join(E2E_DIR, "node_modules", ".bin", "buf"), ["build", ROOT, "-o", file], {
      stdio: ["ignore", "inherit", "inherit"],
      timeout: 60_000,
    });
  }
  try {
    const set = fromBinary(FileDescriptorSetSchema, readFileSync(file));
    const service = createFileRegistry(set).getService("ping.v1.PingService");
    if (!service) throw new Error(`ping.v1.PingService not in ${file}`);
    return service;
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

// An HTTP/1.1 agent that records the method of every request it carries, so
// the Connect GET transport can prove that it really sent a GET.
class RecordingAgent extends http.Agent {
  requests = []; // "METHOD /path", without the query
  addRequest(req, options) {
    this.requests.push(`${req.method} ${req.path.split("?")[0]}`);
    return super.addRequest(req, options);
  }
}

function makeTransport(kind, connectPort, grpcPort, agent) {
  const connectUrl = `http://127.0.0.1:${connectPort}`;
  const common = { defaultTimeoutMs: CALL_TIMEOUT_MS };
  switch (kind) {
    case "connect-json":
      return createConnectTransport({ ...common, baseUrl: connectUrl, httpVersion: "1.1" });
    case "connect-proto":
      return createConnectTransport({
        ...common,
        baseUrl: connectUrl,
        httpVersion: "1.1",
        useBinaryFormat: true,
      });
    case "connect-get":
      return createConnectTransport({
        ...common,
        baseUrl: connectUrl,
        httpVersion: "1.1",
        useHttpGet: true,
        nodeOptions: { agent },
      });
    case "grpc":
      return createGrpcTransport({
        ...common,
        baseUrl: `http://127.0.0.1:${grpcPort}`,
        httpVersion: "2",
        connectTimeoutMs: CALL_TIMEOUT_MS,
      });
  }
  throw new Error(`unknown transport ${kind}`);
}

// --- the scenario, per transport --------------------------------------------

async function scenario(kind, service, connectPort, grpcPort) {
  const agent = new RecordingAgent({ keepAlive: true });
  const client = createClient(service, makeTransport(kind, connectPort, grpcPort, agent));
  const count = async (range) =>
    (await client.pingCount(range ? { timeRange: range } : {})).pingCount;

  // Two minutes of our own: pings in the first, one at the boundary.
  const start = YEAR_2100_MS + randomInt(0, 365 * 24 * 60 - 2) * MINUTE_MS;
  const end = start + MINUTE_MS; // PingCount ranges are [start, end)
  const mine = { start: BigInt(start), end: BigInt(end) };
  const both = { start: BigInt(start), end: BigInt(end + MINUTE_MS) };
  const inside = [start, start + 1, start + randomInt(2, MINUTE_MS - 1), start + 30_000, end - 1];
  console.log(`  [${kind}] window [${start}, ${end}) = ${new Date(start).toISOString()}`);

  let totalBefore;
  await step("PingCount before (total and own window)", async () => {
    totalBefore = await count();
    expectEqual("own window unused before", await count(both), 0n);
  });

  await step(`Ping x${inside.length} inside the window + 1 at its end`, async () => {
    for (const t of inside) await client.ping({ timestampMs: BigInt(t) });
    await client.ping({ timestampMs: BigInt(end) });
    pass(`Ping x${inside.length + 1} succeeded`);
  });
  await step("Ping without timestamp (now)", async () => {
    await client.ping({});
    pass("Ping {} (timestamp_ms 0 = now) succeeded");
  });

  await step("PingCount over own ranges", async () => {
    expectEqual("PingCount [start, end) == pings sent inside", await count(mine), BigInt(inside.length));
    expectEqual("PingCount [start, end + 1) includes the boundary ping", await count({ start: mine.start, end: mine.end + 1n }), BigInt(inside.length + 1));
    expectEqual("PingCount [end, end + 1min) == the boundary ping", await count({ start: mine.end, end: both.end }), 1n);
    expectEqual("PingCount [start, start) == 0 (empty range)", await count({ start: mine.start, end: mine.start }), 0n);
  });

  await step("PingCount total grew", async () => {
    const totalAfter = await count();
    const sent = BigInt(inside.length + 2);
    if (totalBefore !== undefined && totalAfter >= totalBefore + sent)
      pass(`PingCount total grew by >= ${sent} (${totalBefore} -> ${totalAfter})`);
    else fail("PingCount total grew", `${totalBefore} -> ${totalAfter}, want +${sent} or more`);
  });

  await expectCode("Ping timestamp_ms -1 -> InvalidArgument", Code.InvalidArgument, () =>
    client.ping({ timestampMs: -1n }),
  );
  await expectCode("Ping timestamp_ms past year 9999 -> InvalidArgument", Code.InvalidArgument, () =>
    client.ping({ timestampMs: MAX_TIMESTAMP_MS + 1n }),
  );
  await expectCode("PingCount start > end -> InvalidArgument", Code.InvalidArgument, () =>
    client.pingCount({ timeRange: { start: mine.end, end: mine.start } }),
  );
  await expectCode("PingCount negative start -> InvalidArgument", Code.InvalidArgument, () =>
    client.pingCount({ timeRange: { start: -1n, end: mine.end } }),
  );
  await step("rejected pings were not stored", async () => {
    expectEqual("own window count unchanged after rejections", await count(mine), BigInt(inside.length));
  });

  if (kind === "connect-get") {
    const methodsOf = (rpc) => [
      ...new Set(agent.requests.filter((r) => r.endsWith(`/${rpc}`)).map((r) => r.split(" ")[0])),
    ].join(",");
    expectEqual("HTTP method of every PingCount (useHttpGet)", methodsOf("PingCount"), "GET");
    expectEqual("HTTP method of every Ping (has side effects)", methodsOf("Ping"), "POST");
  }
  agent.destroy();
}

// --- main -------------------------------------------------------------------

async function main() {
  const [connectPort, grpcPort, ...kinds] = process.argv.slice(2);
  if (!/^\d+$/.test(connectPort ?? "") || !/^\d+$/.test(grpcPort ?? "")) usage();
  for (const k of kinds) if (!TRANSPORTS.includes(k)) usage();

  setTimeout(() => {
    console.log(`  FAIL client.mjs did not finish within ${SCRIPT_TIMEOUT_MS} ms`);
    process.exit(1);
  }, SCRIPT_TIMEOUT_MS).unref();

  const service = loadService();
  expectEqual(
    "descriptor: PingCount is NO_SIDE_EFFECTS (Connect GET allowed)",
    service.method.pingCount?.idempotency,
    MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS,
  );

  for (const kind of kinds.length ? kinds : TRANSPORTS) {
    console.log(`  -- ${kind}`);
    await step(`${kind} scenario`, () => scenario(kind, service, connectPort, grpcPort));
  }
  console.log(`  client.mjs: ${passed} passed, ${failed} failed`);
  // Open HTTP/2 sessions would keep the process alive for a while.
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main().catch((e) => {
  console.log(`  FAIL client.mjs: ${describe(e)}`);
  process.exit(1);
});
