// The benchmark's short smoke run, so it never rots. It asserts that every scenario and
// variant ran without errors and printed its ratios, never a speed.
'use strict'
const { execFileSync } = require('node:child_process')
const path = require('node:path')

describe('npm run bench -- --smoke', () => {
  test('runs every scenario on both backends and prints the table with ratios', () => {
    const out = execFileSync(process.execPath, [path.join(__dirname, '../benches/bench.mjs'), '--smoke'], {
      encoding: 'utf8',
      timeout: 180000,
      env: process.env,
    })
    const rows = out.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| scenario') && !l.startsWith('| operation'))
    const scenarios = ['hot key, 1 in flight', 'hot key, 8 in flight', 'hot key, 32 in flight', 'hot key, 4 processes × 32', '1,000 groups, random, 32']
    for (const s of scenarios) {
      for (const v of ['package', 'package, no coalescing', 'baseline', 'limit', 'statement']) {
        const row = rows.find((l) => l.startsWith(`| ${s} | ${v} |`))
        expect([s, v, row === undefined]).toEqual([s, v, false])
        const cells = row.split('|').map((c) => c.trim())
        expect(Number(cells[3])).toBeGreaterThan(0) // calls/s
        expect(cells[4]).toMatch(/^\d+–\d+ \(±\d+ %\)$/) // every run, and the spread
        expect(cells[9]).toBe('0') // errors
        if (v === 'package') {
          for (const ratio of cells.slice(10, 14)) expect(ratio).toMatch(/^\d+\.\d\d×$/)
        }
      }
      const sqlite = rows.find((l) => l.startsWith(`| ${s} | `) && l.split('|').length === 10 && Number(l.split('|')[2]) > 0)
      expect([s, sqlite === undefined]).toEqual([s, false])
      expect(sqlite.split('|')[3].trim()).toMatch(/^\d+–\d+ \(±\d+ %\)$/)
    }
    for (const op of ['encryptApiKey', 'decryptApiKey, first use (no cache)', 'decryptApiKey, cached data key']) {
      expect(rows.some((l) => l.startsWith(`| ${op} |`))).toBe(true)
    }
  })
})
