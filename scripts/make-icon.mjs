#!/usr/bin/env node
// Draws media/icon.png, the 128×128 Marketplace icon, from geometry alone: the activity-bar
// glyph (a tunnel arch over a road, a padlock in its mouth) in white on a teal rounded square.
// Deterministic (no timestamps, no dependencies: zlib + CRC32), so rerunning it changes nothing.
//   node scripts/make-icon.mjs [OUT.png]
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';

const SIZE = 128;
const SAMPLES = 4; // per axis, for antialiasing
const out = process.argv[2] ?? new URL('../media/icon.png', import.meta.url);

// Signed distances (negative inside), in a 24-unit box like media/tunnels.svg.
const roundedBox = (x, y, cx, cy, hw, hh, r) => {
  const qx = Math.abs(x - cx) - hw + r;
  const qy = Math.abs(y - cy) - hh + r;
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
};
const segment = (x, y, ax, ay, bx, by) => {
  const [px, py, dx, dy] = [x - ax, y - ay, bx - ax, by - ay];
  const t = Math.max(0, Math.min(1, (px * dx + py * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - t * dx, py - t * dy);
};
/** Distance to the upper half-circle of radius r at (cx, cy) joined to vertical legs down to yEnd. */
const arch = (x, y, cx, cy, r, yEnd) => {
  if (y <= cy) return Math.abs(Math.hypot(x - cx, y - cy) - r);
  return Math.min(segment(x, y, cx - r, cy, cx - r, yEnd), segment(x, y, cx + r, cy, cx + r, yEnd));
};

const STROKE = 0.8; // half the line width, in units
function glyph(x, y) {
  const lines = Math.min(
    arch(x, y, 12, 12, 7, 19.5), // the tunnel
    segment(x, y, 3.5, 19.5, 20.5, 19.5), // the road
    arch(x, y, 12, 12.2, 1.9, 13.5), // the padlock's shackle
  ) - STROKE;
  const body = roundedBox(x, y, 12, 15.6, 3.2, 2.4, 0.6);
  const keyhole = Math.min(Math.hypot(x - 12, y - 15.1) - 0.55, roundedBox(x, y, 12, 16.1, 0.28, 0.9, 0.2));
  return Math.min(lines, Math.max(body, -keyhole));
}

const teal = [0x0f, 0x76, 0x6e];
const tealDark = [0x0b, 0x4f, 0x4a];
const pixels = Buffer.alloc(SIZE * SIZE * 4);
for (let py = 0; py < SIZE; py++) {
  for (let px = 0; px < SIZE; px++) {
    let bg = 0;
    let fg = 0;
    for (let sy = 0; sy < SAMPLES; sy++) {
      for (let sx = 0; sx < SAMPLES; sx++) {
        const x = ((px + (sx + 0.5) / SAMPLES) / SIZE) * 24;
        const y = ((py + (sy + 0.5) / SAMPLES) / SIZE) * 24;
        if (roundedBox(x, y, 12, 12, 12, 12, 4.5) <= 0) {
          bg++;
          if (glyph(x, y) <= 0) fg++;
        }
      }
    }
    const n = SAMPLES * SAMPLES;
    const shade = py / (SIZE - 1); // a soft vertical gradient
    const base = teal.map((c, i) => c + (tealDark[i] - c) * shade);
    const f = bg ? fg / bg : 0;
    const o = (py * SIZE + px) * 4;
    for (let i = 0; i < 3; i++) pixels[o + i] = Math.round(base[i] + (255 - base[i]) * f);
    pixels[o + 3] = Math.round((bg / n) * 255);
  }
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
};
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(SIZE, 0);
ihdr.writeUInt32BE(SIZE, 4);
ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
const raw = Buffer.concat(Array.from({ length: SIZE }, (_, y) =>
  Buffer.concat([Buffer.from([0]), pixels.subarray(y * SIZE * 4, (y + 1) * SIZE * 4)])));
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', ihdr),
  chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
  chunk('IEND', Buffer.alloc(0)),
]);
fs.writeFileSync(out, png);
console.log(`wrote ${out instanceof URL ? out.pathname : out} (${png.length} bytes)`);
