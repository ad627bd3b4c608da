// Node BullMQ peer: same roles, arguments and result files as bench/peers (see
// bench/common.py): node node/bullmq.js <role> <out.json> '<params json>'.
// Worker: `new Worker(queue, processor, { concurrency })`, other options default
// (completed jobs are kept); bulk: Queue.addBulk; results: Job.waitUntilFinished with
// QueueEvents (read from the start of the flushed stream so no event can be missed).
'use strict';

const fs = require('fs');
const { Queue, QueueEvents, Worker } = require('bullmq');

const REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6399/0';
const QUEUE = 'bench';
const IO_MS = 10;
const RESULT_TIMEOUT_MS = 30000;
const WARMUP_TIMEOUT_MS = 60000;

const url = new URL(REDIS_URL);
const connection = {
  host: url.hostname,
  port: Number(url.port || 6379),
  db: Number(url.pathname.slice(1) || 0),
};

// Wall clock in seconds with sub-millisecond resolution, comparable to Python's time.time().
const now = () => (performance.timeOrigin + performance.now()) / 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function emit(path, payload) {
  fs.writeFileSync(`${path}.tmp`, JSON.stringify(payload));
  fs.renameSync(`${path}.tmp`, path);
}

function vmhwmKb() {
  const line = fs.readFileSync('/proc/self/status', 'utf8')
    .split('\n').find((l) => l.startsWith('VmHWM:'));
  return line ? Number(line.split(/\s+/)[1]) : 0;
}

async function enqueueOne({ n }) {
  const queue = new Queue(QUEUE, { connection });
  await queue.waitUntilReady();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await queue.add('noop', { i });
  const seconds = (performance.now() - t0) / 1000;
  await queue.close();
  return { seconds, method: 'await add() each' };
}

async function bulk(n, kind) {
  const queue = new Queue(QUEUE, { connection });
  await queue.waitUntilReady();
  const jobs = Array.from({ length: n }, (_, i) => ({ name: kind, data: { i } }));
  const t0 = performance.now();
  await queue.addBulk(jobs);
  const seconds = (performance.now() - t0) / 1000;
  await queue.close();
  return seconds;
}

async function worker({ n, concurrency }, out) {
  let count = 0;
  let firstStart = null;
  const kinds = {
    noop: async () => {},
    io: () => sleep(IO_MS),
    stamp: async () => now(),
  };
  const processor = async (job) => {
    if (job.name === 'stamp') return kinds.stamp();
    if (firstStart === null) firstStart = now();
    await kinds[job.name]();
    count += 1;
    if (count === n) {
      emit(out, { first_start: firstStart, last_end: now(), count, vmhwm_kb: vmhwmKb() });
    }
    return undefined;
  };
  new Worker(QUEUE, processor, { connection, concurrency });
  await new Promise(() => {}); // runs until the orchestrator terminates the process
}

async function latency({ n, rate }) {
  const queue = new Queue(QUEUE, { connection });
  const events = new QueueEvents(QUEUE, { connection, lastEventId: '0-0' });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  const startMs = [];
  const resultMs = [];
  const waits = [];

  const warm = await queue.add('stamp', { t: now() });
  await warm.waitUntilFinished(events, WARMUP_TIMEOUT_MS);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const delay = t0 + (i * 1000) / rate - performance.now();
    if (delay > 0) await sleep(delay);
    const t = now();
    const job = await queue.add('stamp', { t });
    waits.push(job.waitUntilFinished(events, RESULT_TIMEOUT_MS).then((started) => {
      resultMs.push((now() - t) * 1000);
      startMs.push((started - t) * 1000);
    }));
  }
  await Promise.all(waits);
  await events.close();
  await queue.close();
  return { start_ms: startMs, result_ms: resultMs };
}

async function main() {
  const [role, out, paramsJson] = process.argv.slice(2);
  const params = JSON.parse(paramsJson || '{}');
  const roles = {
    version: async () => ({
      version: require('bullmq/package.json').version,
    }),
    enqueue_one: enqueueOne,
    enqueue_bulk: async ({ n }) => ({ seconds: await bulk(n, 'noop'), method: 'Queue.addBulk' }),
    fill: async ({ n, kind }) => ({ seconds: await bulk(n, kind) }),
    worker,
    latency,
  };
  emit(out, await roles[role](params, out));
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
