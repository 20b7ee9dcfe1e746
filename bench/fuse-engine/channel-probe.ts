// How should a Node server wait for FUSE requests? A probe over a SOCK_SEQPACKET pair: a
// child echoes 80-byte messages back using one of four waiting strategies, and this process
// measures the round trip (one message in flight) and the pipelined cost (64 in flight).
//   node dist/bench/fuse-engine/channel-probe.js
// Strategies: pool (fs.read on libuv's thread pool), worker (a worker_thread blocking in
// readSync, posting each message to the main thread), spin (non-blocking read polled for
// 50 µs after each message, then one pool read: what session.ts does), sync (blocking
// readSync on the main thread: the floor, unusable in a server since it stalls the loop).
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { readRaw, setNonBlocking } from '../../src/sys/fuse-dev.js';
import { seqpacketPair } from '../../test/support/sockets.js';

const FD = 3;
const EAGAIN = 11;

function child(mode: string): void {
  const buf = Buffer.alloc(1 << 20);
  const echo = (n: number) => fs.writeSync(FD, buf, 0, n);
  switch (mode) {
    case 'sync':
      for (;;) {
        const n = fs.readSync(FD, buf, 0, buf.length, null);
        if (n === 0) process.exit(0);
        echo(n);
      }
    case 'pool': {
      const go = (): void => void fs.read(FD, buf, 0, buf.length, null, (e, n) => {
        if (e || n === 0) process.exit(0);
        echo(n);
        go();
      });
      return go();
    }
    case 'worker': {
      const w = new Worker(`
        const fs = require('node:fs'); const { parentPort } = require('node:worker_threads');
        const buf = Buffer.alloc(1 << 20);
        for (;;) { const n = fs.readSync(${FD}, buf, 0, buf.length, null);
          if (n === 0) { parentPort.postMessage(null); break; }
          parentPort.postMessage(Uint8Array.prototype.slice.call(buf, 0, n)); }`, { eval: true });
      w.on('message', (m: Uint8Array | null) => {
        if (m === null) process.exit(0);
        fs.writeSync(FD, m);
      });
      return;
    }
    case 'spin': {
      const spin = (): void => {
        setNonBlocking(FD, true);
        let last = process.hrtime.bigint();
        for (;;) {
          const n = readRaw(FD, buf);
          if (n > 0) {
            echo(n);
            last = process.hrtime.bigint();
          } else if (n === 0) process.exit(0);
          else if (n !== -EAGAIN || process.hrtime.bigint() - last > 50_000n) break;
        }
        setNonBlocking(FD, false);
        fs.read(FD, buf, 0, buf.length, null, (e, n) => {
          if (e || n === 0) process.exit(0);
          echo(n);
          spin();
        });
      };
      return spin();
    }
  }
}

async function main(): Promise<void> {
  console.log('strategy   round trip µs   pipelined µs/msg');
  for (const mode of ['pool', 'worker', 'spin', 'sync']) {
    const [a, b] = seqpacketPair();
    const c = spawn(process.execPath, [fileURLToPath(import.meta.url), mode], { stdio: ['ignore', 'inherit', 'inherit', b] });
    fs.closeSync(b);
    await new Promise((r) => setTimeout(r, 300));
    const msg = Buffer.alloc(80);
    const rb = Buffer.alloc(4096);
    const N = 20000;
    let t = performance.now();
    for (let i = 0; i < N; i++) {
      fs.writeSync(a, msg);
      fs.readSync(a, rb, 0, rb.length, null);
    }
    const rt = ((performance.now() - t) * 1000) / N;
    t = performance.now();
    for (let i = 0; i < N; i += 64) {
      for (let j = 0; j < 64; j++) fs.writeSync(a, msg);
      for (let j = 0; j < 64; j++) fs.readSync(a, rb, 0, rb.length, null);
    }
    const pl = ((performance.now() - t) * 1000) / N;
    console.log(`${mode.padEnd(10)} ${rt.toFixed(1).padStart(13)} ${pl.toFixed(1).padStart(18)}`);
    fs.closeSync(a);
    await new Promise((r) => (c.exitCode !== null ? r(0) : c.once('exit', r)));
  }
}

if (process.argv[2]) child(process.argv[2]);
else void main();
