#!/usr/bin/env node
// ps-access-store: the operator CLI of @policysynth/private-access-store. This is only the
// installed bin; the program is ../cli/main.mjs (commands in ../cli/commands/).

import { main } from '../cli/main.mjs'

process.exitCode = await main(process.argv.slice(2))
