// Drives chaos proxy's Toxiproxy API with the npm toxiproxy-node-client,
// checking each toxic on real traffic. TestToxiproxyNodeClient starts
// chaos proxy and the upstreams, and passes their addresses:
//   TOXIPROXY_URL  http://127.0.0.1:PORT
//   ECHO           an upstream that echoes what it receives
//   SEND           an upstream that sends 50,000 bytes and closes
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { Toxiproxy, ToxiproxyError } from "toxiproxy-node-client";

const toxiproxy = new Toxiproxy(process.env.TOXIPROXY_URL);
const { ECHO, SEND } = process.env;

function split(addr) {
  const i = addr.lastIndexOf(":");
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}

function connect(addr) {
  return new Promise((resolve, reject) => {
    const s = net.connect(split(addr), () => resolve(s));
    s.once("error", reject);
  });
}

// Sends msg and resolves with the milliseconds the echo took.
async function echoTrip(addr, msg = "ping") {
  const s = await connect(addr);
  try {
    const start = performance.now();
    await new Promise((resolve, reject) => {
      let got = "";
      s.on("data", (d) => {
        got += d;
        if (got.length >= msg.length) resolve();
      });
      s.once("error", reject);
      s.once("end", () => reject(new Error(`the end after ${JSON.stringify(got)}`)));
      s.write(msg);
    });
    return performance.now() - start;
  } finally {
    s.destroy();
  }
}

// Reads until the end and resolves with {bytes, reads, ms, error}.
async function readAll(addr, send) {
  const s = await connect(addr);
  const start = performance.now();
  return new Promise((resolve) => {
    let bytes = 0;
    let reads = 0;
    const done = (error) => {
      s.destroy();
      resolve({ bytes, reads, ms: performance.now() - start, error });
    };
    s.setTimeout(10000, () => done(new Error("timed out")));
    s.on("data", (d) => {
      bytes += d.length;
      reads++;
    });
    s.once("end", () => done(null));
    s.once("error", (e) => done(e));
    if (send) s.write(send);
  });
}

test("version", async () => {
  const v = await toxiproxy.getVersion();
  assert.match(v, /"version"/);
});

test("proxies, toxics and their effects", async (t) => {
  const echo = await toxiproxy.createProxy({ name: "echo", listen: "127.0.0.1:0", upstream: ECHO });
  assert.equal(echo.enabled, true);
  assert.doesNotMatch(echo.listen, /:0$/);
  const base = await echoTrip(echo.listen);

  await t.test("latency, updated and removed", async () => {
    const toxic = await echo.addToxic({ type: "latency", stream: "downstream", toxicity: 1, attributes: { latency: 200, jitter: 0 } });
    assert.equal(toxic.name, "latency_downstream");
    assert.deepEqual(toxic.attributes, { latency: 200, jitter: 0 });
    assert.ok((await echoTrip(echo.listen)) >= 190, "latency 200 not felt");
    const got = await echo.getToxic("latency_downstream");
    assert.equal(got.attributes.latency, 200);
    const updated = await got.update({ attributes: { latency: 0 }, toxicity: 1 });
    assert.equal(updated.attributes.latency, 0);
    assert.ok((await echoTrip(echo.listen)) < base + 150, "latency 0 still slow");
    await updated.remove();
    await assert.rejects(echo.getToxic("latency_downstream"), ToxiproxyError);
  });

  await t.test("upstream stream", async () => {
    const toxic = await echo.addToxic({ name: "up", type: "reset_peer", stream: "upstream", toxicity: 1, attributes: { timeout: 0 } });
    const r = await readAll(echo.listen, "x");
    assert.equal(r.error?.code, "ECONNRESET");
    await toxic.remove();
  });

  await t.test("timeout", async () => {
    const toxic = await echo.addToxic({ type: "timeout", stream: "downstream", toxicity: 1, attributes: { timeout: 300 } });
    const r = await readAll(echo.listen, "lost");
    assert.equal(r.bytes, 0);
    assert.equal(r.error, null);
    assert.ok(r.ms >= 280, `closed after ${r.ms} ms`);
    await toxic.remove();
  });

  await t.test("down", async () => {
    await echo.update({ name: "echo", listen: echo.listen, upstream: ECHO, enabled: false });
    await assert.rejects(connect(echo.listen), { code: "ECONNREFUSED" });
    const back = await echo.update({ name: "echo", listen: echo.listen, upstream: ECHO, enabled: true });
    assert.equal(back.enabled, true);
    await echoTrip(echo.listen);
  });

  const send = await toxiproxy.createProxy({ name: "send", listen: "127.0.0.1:0", upstream: SEND });

  await t.test("bandwidth", async () => {
    const toxic = await send.addToxic({ type: "bandwidth", stream: "downstream", toxicity: 1, attributes: { rate: 100 } });
    const r = await readAll(send.listen);
    assert.equal(r.bytes, 50000);
    assert.ok(r.ms >= 400, `50 kB at 100 KB/s in ${r.ms} ms`);
    await toxic.remove();
  });

  await t.test("limit_data", async () => {
    const toxic = await send.addToxic({ type: "limit_data", stream: "downstream", toxicity: 1, attributes: { bytes: 1234 } });
    const r = await readAll(send.listen);
    assert.equal(r.bytes, 1234);
    await toxic.remove();
  });

  await t.test("slicer", async () => {
    const toxic = await send.addToxic({ type: "slicer", stream: "downstream", toxicity: 1, attributes: { average_size: 1000, size_variation: 0, delay: 2000 } });
    const r = await readAll(send.listen);
    assert.equal(r.bytes, 50000);
    assert.ok(r.reads >= 10 && r.ms >= 80, `${r.reads} reads in ${r.ms} ms`);
    await toxic.remove();
  });

  await t.test("slow_close", async () => {
    const toxic = await send.addToxic({ type: "slow_close", stream: "downstream", toxicity: 1, attributes: { delay: 400 } });
    const r = await readAll(send.listen);
    assert.equal(r.bytes, 50000);
    assert.ok(r.ms >= 350, `closed after ${r.ms} ms`);
    await toxic.remove();
  });

  await t.test("populate, list, reset and remove", async () => {
    const made = await toxiproxy.populate([
      { name: "pop", listen: "127.0.0.1:0", upstream: ECHO, enabled: true },
    ]);
    await echoTrip(made.pop.listen);
    await echo.addToxic({ type: "latency", stream: "upstream", toxicity: 1, attributes: { latency: 500 } });
    const all = await toxiproxy.getAll();
    assert.deepEqual(Object.keys(all).sort(), ["echo", "pop", "send"]);
    await toxiproxy.reset();
    assert.ok((await echoTrip(echo.listen)) < 400, "reset left the latency");
    await made.pop.remove();
    await assert.rejects(toxiproxy.get("pop"), /404/);
  });
});
