// What the commands print: the result (one JSON document with --json, else text), plain-text
// tables and counters, the one JSON view of a key row (add, list), and the progress of long
// runs on stderr (a bar on a TTY, plain lines otherwise). No view contains a secret.

import cliProgress from 'cli-progress'

/** Print the result: one JSON document with --json, else the human-readable text. */
export function output(opts, json, human) {
  if (opts.json) process.stdout.write(JSON.stringify(json, null, 2) + '\n')
  else process.stdout.write(typeof human === 'function' ? human() : human)
}

/** A plain-text table: columns padded with two spaces, the last column unpadded. */
export function table(headers, rows) {
  const all = [headers, ...rows].map((r) => r.map(String))
  const widths = headers.map((_, i) => Math.max(...all.map((r) => r[i].length)))
  return all
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd())
    .join('\n') + '\n'
}

/** A counter as text: integers as they are, fractions without float noise (0.1 + 0.2 -> 0.3). */
export function num(n) {
  if (n === null || n === undefined) return '-'
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12)))
}

/** A timestamp as `YYYY-MM-DD HH:MM:SSZ`, or `never`. */
export function when(d) {
  if (!d) return 'never'
  return new Date(d).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z')
}

export const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`

// ---------------------------------------------------------------------------------------------
// The JSON view of a key row

/**
 * The fields of a key row that may leave the process (never the encrypted columns). `usage`
 * adds the counters and timestamps (list); `configuration` is the row's unless given (add
 * shows the configuration it stored).
 */
export function keyView(row, { usage = false, configuration = row.configuration } = {}) {
  const max = (configuration && configuration.maxBudget) || {}
  const lim = (v) => (typeof v === 'number' ? v : null)
  const view = {
    id: row.id,
    groupId: row.group_id,
    userId: row.user_id,
    aiModelId: row.ai_model_id ?? null,
    externalApiId: row.external_api_id ?? null,
    active: row.is_active,
  }
  if (usage) view.used = { daily: row.usage.dailyUse, monthly: row.usage.monthlyUse, total: row.usage.totalUse }
  view.limits = { daily: lim(max.perDay), monthly: lim(max.petMonth), total: lim(max.total) }
  if (usage) {
    view.lastUsedAt = row.last_used_at ? row.last_used_at.toISOString() : null
    view.createdAt = row.created_at ? row.created_at.toISOString() : null
  }
  return view
}

// ---------------------------------------------------------------------------------------------
// Progress: a bar on a TTY (stderr), plain lines otherwise

/** A progress reporter { update({ done, total }), stop() } for `label` (off with --no-progress). */
export function progress(label, opts) {
  // --json keeps a redirected stderr machine-readable (only the error document, if any).
  if (opts.progress === false || (opts.json && !process.stderr.isTTY)) return { update() {}, stop() {} }
  const started = Date.now()
  const rate = (done) => {
    const s = (Date.now() - started) / 1000
    return s > 0 ? Math.round(done / s) : 0
  }
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${label} {bar} {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}`,
        barsize: 30,
        etaBuffer: 50,
        fps: 10,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    )
    let active = false
    const onSigint = () => {
      bar.stop()
      process.stderr.write(`\n${label}: interrupted\n`)
      process.exit(130)
    }
    return {
      update(p) {
        if (!active) {
          if (!(p.total > 0)) return
          bar.start(p.total, 0, { rate: 0 })
          process.once('SIGINT', onSigint)
          active = true
        }
        if (bar.getTotal() !== p.total) bar.setTotal(p.total)
        bar.update(p.done, { rate: rate(p.done) })
      },
      stop() {
        if (!active) return
        active = false
        bar.stop()
        process.removeListener('SIGINT', onSigint)
      },
    }
  }
  let lastLine = 0
  let lastDone = -1
  const line = (p) => {
    const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100
    const r = rate(p.done)
    const eta = r > 0 ? `${Math.ceil((p.total - p.done) / r)}s` : '?'
    process.stderr.write(`${label}: ${p.done}/${p.total} rows (${pct}%), ${r} rows/s, ETA ${eta}\n`)
    lastLine = Date.now()
    lastDone = p.done
  }
  let last = null
  return {
    update(p) {
      last = p
      if (p.done === p.total || Date.now() - lastLine >= 1000) line(p)
    },
    stop() {
      if (last !== null && last.done !== lastDone) line(last)
    },
  }
}

/** Run `fn(onProgress)` with a progress reporter for `label`, stopped however `fn` ends. */
export async function withProgress(label, opts, fn) {
  const bar = progress(label, opts)
  try {
    return await fn((p) => bar.update(p))
  } finally {
    bar.stop()
  }
}
