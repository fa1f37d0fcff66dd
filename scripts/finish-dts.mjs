// napi-rs cannot mark a static method private; the documented API lists the three validators
// as private statics, so they are marked here, right after `napi build` generated the file.
import { readFileSync, writeFileSync } from 'node:fs'

const file = new URL('../index.d.ts', import.meta.url)
let dts = readFileSync(file, 'utf8')
for (const name of ['isValidEncryptedFormat', 'isValidHex', 'isValidBase64']) {
  dts = dts.replace(new RegExp(`^(\\s*)static ${name}\\(`, 'm'), `$1private static ${name}(`)
}
writeFileSync(file, dts)
